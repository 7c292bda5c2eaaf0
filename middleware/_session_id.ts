// Session ids: 256 random bits from the platform's CSPRNG, base64url without padding
// (43 characters, safe in cookies, file names and Redis keys).

/** The exact shape of an id this library issues; anything else is refused before any I/O. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** A new random session id (256 bits). */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Whether `id` has the shape of an id this library issues. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** Throws a TypeError unless `id` is a well-formed session id (stores check every id). */
export function checkSessionId(id: string): void {
  if (!isSessionId(id)) throw new TypeError("Cannot use session id: it is malformed");
}
