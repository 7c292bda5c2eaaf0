// Allow-lists of peer addresses: IPv4, IPv6 and CIDR blocks, matched on raw bytes.

/** A compiled allow-list entry: address bytes and prefix length in bits. */
interface Block {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses dotted IPv4 into 4 bytes, or null. */
function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

/** Parses IPv6 (with `::` and an embedded IPv4 tail, zone ids dropped) into 16 bytes, or null. */
function parseIpv6(input: string): Uint8Array | null {
  let text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (!text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const toGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (!v4) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };
  const head = toGroups(halves[0]!);
  const tail = halves.length === 2 ? toGroups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [
    ...head,
    ...new Array<number>(halves.length === 2 ? missing : 0).fill(0),
    ...tail,
  ];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/**
 * Parses an IPv4 or IPv6 address into bytes; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
 * Returns null for anything else (host names are not resolved).
 */
export function parseAddress(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const v6 = parseIpv6(text);
  if (!v6) return null;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

/** An address matcher compiled from an allow-list. */
export interface AddressMatcher {
  /** `true` when `hostname` falls in one of the blocks (always `true` for an empty list). */
  allows(hostname: string): boolean;
}

/**
 * Compiles allow-list entries (`"127.0.0.1"`, `"10.0.0.0/8"`, `"::1"`, `"fd00::/8"`).
 *
 * @throws {TypeError} On an entry that is not an address or CIDR block.
 */
export function compileAllowList(entries: readonly string[]): AddressMatcher {
  const blocks: Block[] = entries.map((entry) => {
    const trimmed = entry.trim();
    const slash = trimmed.indexOf("/");
    const address = slash >= 0 ? trimmed.slice(0, slash) : trimmed;
    const bytes = parseAddress(address);
    if (!bytes) throw new TypeError(`Cannot parse allowed address "${entry}"`);
    const bits = bytes.length * 8;
    const prefix = slash >= 0 ? Number(trimmed.slice(slash + 1)) : bits;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
      throw new TypeError(`Cannot parse allowed address "${entry}": prefix is out of range`);
    }
    // An IPv4-mapped block like ::ffff:10.0.0.0/104 becomes 10.0.0.0/8.
    const mappedPrefix = bytes.length === 4 && address.includes(":") ? prefix - 96 : prefix;
    if (mappedPrefix < 0) throw new TypeError(`Cannot parse allowed address "${entry}"`);
    return { bytes, prefix: mappedPrefix };
  });
  return {
    allows(hostname: string): boolean {
      if (blocks.length === 0) return true;
      const bytes = parseAddress(hostname);
      if (!bytes) return false;
      return blocks.some((block) => matches(block, bytes));
    },
  };
}

function matches(block: Block, bytes: Uint8Array): boolean {
  if (block.bytes.length !== bytes.length) return false;
  const full = block.prefix >> 3;
  for (let i = 0; i < full; i++) if (block.bytes[i] !== bytes[i]) return false;
  const rest = block.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (block.bytes[full]! & mask) === (bytes[full]! & mask);
}

/** `true` for 127.0.0.0/8, ::1, and IPv4-mapped loopback. */
export function isLoopback(hostname: string): boolean {
  if (hostname === "localhost") return true;
  const bytes = parseAddress(hostname);
  if (!bytes) return false;
  if (bytes.length === 4) return bytes[0] === 127;
  return bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1;
}
