// Editing a Response's headers: Response.redirect(), Response.error() and fetch() answers
// have immutable headers, so those are copied into a new Response (same body stream, status
// and headers) before the edit.

/** Runs `edit` on the response's headers, on a copy of the response when they are immutable. */
export function editHeaders(response: Response, edit: (headers: Headers) => void): Response {
  try {
    edit(response.headers);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  const copy = new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  edit(copy.headers);
  return copy;
}

/** Appends `token` to a comma-separated header (Vary) unless it is there already or `*`. */
export function appendToken(headers: Headers, name: string, token: string): void {
  const current = headers.get(name);
  if (current === null) {
    headers.set(name, token);
    return;
  }
  const tokens = current.split(",").map((item) => item.trim().toLowerCase());
  if (tokens.includes("*") || tokens.includes(token.toLowerCase())) return;
  headers.set(name, `${current}, ${token}`);
}
