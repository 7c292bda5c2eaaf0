// Accept-Encoding negotiation (RFC 9110 section 12.5.3): pure, no I/O.

/** One parsed coding and its weight. */
interface Weighted {
  coding: string;
  q: number;
}

// RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses an Accept-Encoding value into codings (lower case) and weights. Malformed members
 * (a bad token or qvalue) are skipped. `x-gzip` counts as `gzip` (RFC 9110 section 8.4.1.3).
 */
export function parseAcceptEncoding(header: string): Weighted[] {
  const result: Weighted[] = [];
  for (const member of header.split(",")) {
    const [name = "", ...params] = member.split(";").map((part) => part.trim());
    if (name === "") continue;
    if (!TOKEN.test(name)) continue;
    let q = 1;
    let valid = true;
    for (const param of params) {
      const equals = param.indexOf("=");
      const key = (equals === -1 ? param : param.slice(0, equals)).trim().toLowerCase();
      const value = equals === -1 ? "" : param.slice(equals + 1).trim();
      if (key !== "q") continue;
      if (!QVALUE.test(value)) {
        valid = false;
        break;
      }
      q = Number(value);
    }
    if (!valid) continue;
    const coding = name.toLowerCase();
    result.push({ coding: coding === "x-gzip" ? "gzip" : coding, q });
  }
  return result;
}

/**
 * Picks the coding to use among `supported` (in the server's order of preference): the one
 * with the highest weight above 0, ties going to the server's order. A coding the header
 * does not name takes the weight of `*`, else is not acceptable. Returns `null` when none
 * is acceptable or the header is absent (no header: identity is best, RFC 9110 12.5.3).
 */
export function chooseEncoding(header: string | null, supported: readonly string[]): string | null {
  if (header === null) return null;
  const weights = parseAcceptEncoding(header);
  let wildcard: number | undefined;
  const explicit = new Map<string, number>();
  for (const { coding, q } of weights) {
    if (coding === "*") wildcard = q;
    // A coding named twice (gzip and x-gzip) keeps its lowest weight: a refusal stands.
    else explicit.set(coding, Math.min(q, explicit.get(coding) ?? 1));
  }
  let best: string | null = null;
  let bestQ = 0;
  for (const coding of supported) {
    const q = explicit.get(coding) ?? wildcard ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}
