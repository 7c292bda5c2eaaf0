// The params nginx sends to FastCGI and SCGI backends, as its stock files write them: one
// list for the test front ends and the benchmark.

/**
 * nginx's standard `fastcgi_params` (without Debian's `HTTP_HOST $host` override and the
 * PHP-only `REDIRECT_STATUS`) plus `SCRIPT_FILENAME`.
 */
export const NGINX_FASTCGI_PARAMS: readonly (readonly [string, string])[] = [
  ["QUERY_STRING", "$query_string"],
  ["REQUEST_METHOD", "$request_method"],
  ["CONTENT_TYPE", "$content_type"],
  ["CONTENT_LENGTH", "$content_length"],
  ["SCRIPT_NAME", "$fastcgi_script_name"],
  ["SCRIPT_FILENAME", "$document_root$fastcgi_script_name"],
  ["REQUEST_URI", "$request_uri"],
  ["DOCUMENT_URI", "$document_uri"],
  ["DOCUMENT_ROOT", "$document_root"],
  ["SERVER_PROTOCOL", "$server_protocol"],
  ["REQUEST_SCHEME", "$scheme"],
  ["HTTPS", "$https if_not_empty"],
  ["GATEWAY_INTERFACE", "CGI/1.1"],
  ["SERVER_SOFTWARE", "nginx/$nginx_version"],
  ["REMOTE_ADDR", "$remote_addr"],
  ["REMOTE_PORT", "$remote_port"],
  ["REMOTE_USER", "$remote_user"],
  ["SERVER_ADDR", "$server_addr"],
  ["SERVER_PORT", "$server_port"],
  ["SERVER_NAME", "$server_name"],
];

/**
 * nginx's standard `scgi_params` (without Debian's `HTTP_HOST $host` override). nginx itself
 * sends `CONTENT_LENGTH` first, as SCGI requires.
 */
export const NGINX_SCGI_PARAMS: readonly (readonly [string, string])[] = [
  ["REQUEST_METHOD", "$request_method"],
  ["REQUEST_URI", "$request_uri"],
  ["QUERY_STRING", "$query_string"],
  ["CONTENT_TYPE", "$content_type"],
  ["DOCUMENT_URI", "$document_uri"],
  ["DOCUMENT_ROOT", "$document_root"],
  ["SCGI", "1"],
  ["SERVER_PROTOCOL", "$server_protocol"],
  ["REQUEST_SCHEME", "$scheme"],
  ["HTTPS", "$https if_not_empty"],
  ["REMOTE_ADDR", "$remote_addr"],
  ["REMOTE_PORT", "$remote_port"],
  ["SERVER_PORT", "$server_port"],
  ["SERVER_NAME", "$server_name"],
];
