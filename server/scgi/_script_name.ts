// The `scriptName` option: SCRIPT_NAME / PATH_INFO from REQUEST_URI, as flup's SCGI server
// (scgi_base.py) did for front ends that send only REQUEST_URI (nginx `scgi_pass`, lighttpd).

/**
 * Checks a `scriptName` option value: `""` or a path that starts with "/" and does not end
 * with "/".
 *
 * @throws {TypeError} On any other value.
 */
export function checkScriptName(scriptName: string): void {
  if (scriptName !== "" && !/^\/(?:.*[^/])?$/.test(scriptName)) {
    throw new TypeError(
      `Cannot start server: "scriptName" must be "" or start with "/" and not end with "/", ` +
        `got "${scriptName}"`,
    );
  }
  if (scriptName === "/") {
    throw new TypeError(`Cannot start server: "scriptName" "/" is written ""`);
  }
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path; // a malformed %-escape stays as sent
  }
}

/**
 * Rewrites `env` for an application mounted at `scriptName`:
 *
 * - `SCRIPT_NAME` becomes `scriptName`, whatever the front end sent.
 * - When `PATH_INFO` is missing or empty and `REQUEST_URI` is present, `PATH_INFO` becomes the
 *   %-decoded path of `REQUEST_URI` after `scriptName`. A path that is not `scriptName` or
 *   below it (`scriptName + "/..."`) gets `SCRIPT_NAME` `""` and the whole path as
 *   `PATH_INFO`.
 * - When `QUERY_STRING` is missing and `REQUEST_URI` has a query, it is taken from there.
 *
 * `request.url` is not changed: it is always the full URL the client asked for.
 */
export function applyScriptName(env: Record<string, string>, scriptName: string): void {
  env.SCRIPT_NAME = scriptName;
  const uri = env.REQUEST_URI;
  if (uri === undefined || uri === "") return;
  const mark = uri.indexOf("?");
  if (env.QUERY_STRING === undefined) env.QUERY_STRING = mark < 0 ? "" : uri.slice(mark + 1);
  if (env.PATH_INFO) return;
  const path = decodePath(mark < 0 ? uri : uri.slice(0, mark));
  if (path === scriptName || path.startsWith(scriptName + "/")) {
    env.PATH_INFO = path.slice(scriptName.length);
  } else {
    env.SCRIPT_NAME = "";
    env.PATH_INFO = path;
  }
}
