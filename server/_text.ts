// Shared text helpers for the codecs: one module-level encoder/decoder, an ASCII fast path.

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
/** The module's one UTF-8 encoder. */
export const textEncoder: TextEncoder = new TextEncoder();

/**
 * Decodes `bytes[start, end)` as UTF-8 (invalid sequences become U+FFFD). Short ASCII strings,
 * the usual case for CGI variables, skip the TextDecoder call.
 */
export function decodeText(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length < 24) {
    let text = "";
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) return utf8.decode(bytes.subarray(start, end));
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return utf8.decode(bytes.subarray(start, end));
}

/** UTF-8 byte length of `text` without encoding it. */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) length += 1;
    else if (
      code >= 0xd800 && code <= 0xdbff && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      length += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else length += 2; // 3-byte characters, and lone surrogates (written as U+FFFD)
  }
  return length;
}

/**
 * Writes the Latin-1 bytes of a byte string (every char code below 256, ASCII included) into
 * `target` at `offset` (`text.length` bytes); returns the offset after them.
 */
export function encodeLatin1Into(text: string, target: Uint8Array, offset: number): number {
  for (let i = 0; i < text.length; i++) target[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}
