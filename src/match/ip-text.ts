/**
 * IP address text parsers and formatters for canonicalisation (DESIGN §2
 * "Targets are canonicalised").
 *
 * Why not ipaddr.js's parser: it reads `::127.0.0.1` (IPv4-compatible) as
 * `::ffff:7f00:1` (IPv4-mapped), reads `::ffff:0177.0.0.1` as decimal 177,
 * and accepts zone ids; a policy engine must not guess. These parsers are
 * hand-written loops (no regex, one small array per IPv6 address) because
 * they run on every request.
 *
 * - parseInetAton: every IPv4 spelling the BSD/glibc inet_aton family and the
 *   WHATWG URL host parser accept (1–4 parts, decimal/octal/hex parts, the
 *   last part filling the remaining bytes, `0x` alone meaning 0).
 * - parseDottedQuad: strict a.b.c.d (decimal, no leading zeros), what
 *   inet_pton accepts.
 * - parseIPv6: RFC 4291 §2.2 text (one `::`, 1–4 hex digits per group,
 *   optional strict dotted-quad tail), no brackets, no zone id.
 * - formatIPv6: RFC 5952 §4 text.
 */

const DOT = 0x2e;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_7 = 0x37;
const DIGIT_9 = 0x39;
const LOWER_A = 0x61;
const LOWER_F = 0x66;
const UPPER_A = 0x41;
const UPPER_F = 0x46;
const LOWER_X = 0x78;
const UPPER_X = 0x58;

const MAX_UINT32 = 0xffffffff;
const MAX_OCTET = 0xff;
const MAX_GROUP_HEX_DIGITS = 4;
const IPV4_PARTS = 4;
const IPV6_GROUPS = 8;
/** Longest RFC 4291 text: 6 groups of 4 hex digits, 6 colons, a 15-char dotted quad. */
export const MAX_IPV6_TEXT_CHARS = 45;
/** Largest value the last inet_aton part may take, by number of parts (1..4). */
const INET_ATON_LAST_PART_MAX = [MAX_UINT32, 0xffffff, 0xffff, MAX_OCTET] as const;

/** Value of a hex digit character code, or -1. */
function hexValue(c: number): number {
  if (c >= DIGIT_0 && c <= DIGIT_9) return c - DIGIT_0;
  if (c >= LOWER_A && c <= LOWER_F) return c - LOWER_A + 10;
  if (c >= UPPER_A && c <= UPPER_F) return c - UPPER_A + 10;
  return -1;
}

/**
 * inet_aton / WHATWG IPv4 number parser over the whole string → unsigned
 * 32-bit value, or -1. No trailing dot (the caller strips one), no
 * whitespace, no sign. Parts: `0x`/`0X` prefix = hex (no digits = 0),
 * leading `0` = octal (8 and 9 invalid), otherwise decimal. Every part but
 * the last must be ≤ 255; the last fills the remaining bytes.
 */
export function parseInetAton(s: string): number {
  const n = s.length;
  let i = 0;
  let parts = 0;
  let high = 0; // value of the parts before the last, already shifted into place
  for (;;) {
    if (i >= n) return -1; // empty part
    let c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return -1;
    let value = 0;
    if (c === DIGIT_0) {
      i++;
      c = i < n ? s.charCodeAt(i) : -1;
      if (c === LOWER_X || c === UPPER_X) {
        i++;
        for (; i < n; i++) {
          const h = hexValue(s.charCodeAt(i));
          if (h < 0) break;
          value = value * 16 + h;
          if (value > MAX_UINT32) return -1;
        }
      } else {
        for (; i < n; i++) {
          const d = s.charCodeAt(i);
          if (d < DIGIT_0 || d > DIGIT_9) break;
          if (d > DIGIT_7) return -1; // 8 or 9 in an octal part
          value = value * 8 + (d - DIGIT_0);
          if (value > MAX_UINT32) return -1;
        }
      }
    } else {
      for (; i < n; i++) {
        const d = s.charCodeAt(i);
        if (d < DIGIT_0 || d > DIGIT_9) break;
        value = value * 10 + (d - DIGIT_0);
        if (value > MAX_UINT32) return -1;
      }
    }
    parts++;
    if (i === n) {
      if (value > INET_ATON_LAST_PART_MAX[parts - 1]) return -1;
      return high + value;
    }
    if (s.charCodeAt(i) !== DOT) return -1; // trailing garbage in a part
    if (parts === IPV4_PARTS || value > MAX_OCTET) return -1;
    high += value * 2 ** (8 * (IPV4_PARTS - parts));
    i++;
  }
}

/** Strict dotted quad over s[start, end) → unsigned 32-bit value, or -1. */
export function parseDottedQuad(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < IPV4_PARTS) {
    const first = i;
    let octet = 0;
    for (; i < end; i++) {
      const d = s.charCodeAt(i);
      if (d < DIGIT_0 || d > DIGIT_9) break;
      if (i > first && octet === 0) return -1; // leading zero
      octet = octet * 10 + (d - DIGIT_0);
      if (octet > MAX_OCTET) return -1;
    }
    if (i === first) return -1;
    value = value * 256 + octet;
    octets++;
    if (octets < IPV4_PARTS) {
      if (i >= end || s.charCodeAt(i) !== DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/**
 * RFC 4291 §2.2 IPv6 text → eight 16-bit groups, or null. Accepts upper and
 * lower case hex, one `::`, and a strict dotted-quad tail in the last 32 bits.
 * Rejects brackets, zone ids (`%`), groups of more than 4 digits, a `::` that
 * stands for no group, and everything else.
 */
export function parseIPv6(s: string): number[] | null {
  const n = s.length;
  if (n < 2 || n > MAX_IPV6_TEXT_CHARS) return null;
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === COLON) {
    if (s.charCodeAt(1) !== COLON) return null;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    if (count === IPV6_GROUPS) return null;
    const start = i;
    let value = 0;
    for (; i < n && i - start <= MAX_GROUP_HEX_DIGITS; i++) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
    }
    const digits = i - start;
    if (digits === 0 || digits > MAX_GROUP_HEX_DIGITS) return null;
    if (i < n && s.charCodeAt(i) === DOT) {
      if (count > IPV6_GROUPS - 2) return null;
      const v4 = parseDottedQuad(s, start, n);
      if (v4 < 0) return null;
      groups[count++] = Math.floor(v4 / 0x10000);
      groups[count++] = v4 % 0x10000;
      i = n;
      break;
    }
    groups[count++] = value;
    if (i === n) break;
    if (s.charCodeAt(i) !== COLON) return null;
    i++;
    if (i === n) return null; // a single trailing colon
    if (s.charCodeAt(i) === COLON) {
      if (gap >= 0) return null; // a second '::'
      gap = count;
      i++;
    }
  }
  if (gap < 0) return count === IPV6_GROUPS ? groups : null;
  if (count === IPV6_GROUPS) return null; // '::' must stand for at least one group
  const tail = count - gap;
  for (let k = 1; k <= tail; k++) groups[IPV6_GROUPS - k] = groups[count - k];
  for (let k = gap; k < IPV6_GROUPS - tail; k++) groups[k] = 0;
  return groups;
}

/** Unsigned 32-bit value → dotted quad. */
export function formatIPv4(v: number): string {
  return `${Math.floor(v / 0x1000000) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * Eight 16-bit groups → RFC 5952 text: lower-case hex without leading zeros,
 * the longest run of two or more zero groups (the first one at a tie)
 * replaced by `::`, a single zero group never compressed.
 */
export function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let k = 0; k <= IPV6_GROUPS; k++) {
    if (k < IPV6_GROUPS && groups[k] === 0) {
      if (runStart < 0) runStart = k;
    } else if (runStart >= 0) {
      if (k - runStart > bestLength) {
        bestStart = runStart;
        bestLength = k - runStart;
      }
      runStart = -1;
    }
  }
  let out = '';
  for (let k = 0; k < IPV6_GROUPS; k++) {
    if (k === bestStart) {
      out += '::';
      k += bestLength - 1;
      continue;
    }
    if (out.length > 0 && k !== bestStart + bestLength) out += ':';
    out += groups[k].toString(16);
  }
  return out;
}
