/**
 * Target canonicalisation (DESIGN §2 "Targets are canonicalised").
 *
 * Every entry path (HTTP, CONNECT, SOCKS5, `cordon check`, the API) turns raw
 * host text into one canonical form before any rule sees it, so that a rule
 * written once matches every spelling of the same destination:
 *
 * - names → lower-case ASCII (punycode, UTS #46 via node:url domainToASCII)
 *   without the trailing dot; anything a resolver or URL parser could read
 *   differently (NUL, CR, LF, `%`, `@`, `\`, `/`, `?`, `#`, spaces, empty
 *   labels, over-long labels or names, a numeric last label) is rejected;
 * - every IPv4 spelling inet_aton or the WHATWG URL parser accepts
 *   (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, fullwidth digits, ...)
 *   → dotted quad;
 * - IPv6 (bracketed or not; zone ids rejected) → RFC 5952 text, with the
 *   IPv4 addresses it embeds listed; IPv4-mapped addresses become IPv4.
 *
 * Pure functions: no DNS, no I/O. They run on every request, so they scan
 * with charCodeAt loops and call domainToASCII only for non-ASCII input or
 * punycode labels.
 */
import { domainToASCII } from 'node:url';
import { formatIPv4, formatIPv6, parseDottedQuad, parseIPv6, parseInetAton } from './ip-text.js';
import { embeddedIPv4Texts } from './special-ranges.js';
import type { Canon, CanonicalHost, CanonicalTarget } from './types.js';

/** Raw host input longer than this is rejected before any IDN work. */
export const MAX_HOST_INPUT_CHARS = 1024;
/** RFC 1035 §2.3.4 limits, in octets of the ASCII (punycode) form. */
export const MAX_LABEL_OCTETS = 63;
export const MAX_NAME_OCTETS = 253;
export const DEFAULT_TARGET_PORT = 443;
const MIN_PORT = 1;
const MAX_PORT = 65535;
const MAX_PORT_DIGITS = 5;
const HTTP_PORT = 80;
const HTTPS_PORT = 443;

const NUL = 0x00;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const HASH = 0x23;
const DOT = 0x2e;
const SLASH = 0x2f;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const COLON = 0x3a;
const QUESTION = 0x3f;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LOWER_X = 0x78;
const DEL = 0x7f;
const ASCII_LIMIT = 0x80;

/** Character classes for ASCII code units in host names. */
const CLASS_NAME = 0; //      a-z 0-9 - _ .
const CLASS_UPPER = 1; //     A-Z (lower-cased)
const CLASS_FORBIDDEN = 2; // everything else

const ASCII_CLASS: Uint8Array = buildAsciiClasses();
const CHAR_MESSAGES: readonly string[] = Object.freeze(
  Array.from({ length: ASCII_LIMIT }, (_, c) => describeForbiddenChar(c)),
);

function buildAsciiClasses(): Uint8Array {
  const classes = new Uint8Array(ASCII_LIMIT).fill(CLASS_FORBIDDEN);
  for (let c = 0x61; c <= 0x7a; c++) classes[c] = CLASS_NAME; // a-z
  for (let c = DIGIT_0; c <= DIGIT_9; c++) classes[c] = CLASS_NAME;
  for (let c = 0x41; c <= 0x5a; c++) classes[c] = CLASS_UPPER; // A-Z
  classes[0x2d] = CLASS_NAME; // '-': resolvers accept leading/trailing hyphens
  classes[0x5f] = CLASS_NAME; // '_': seen in real DNS names (_dmarc, SRV-style hosts)
  classes[DOT] = CLASS_NAME;
  return classes;
}

function describeForbiddenChar(c: number): string {
  switch (c) {
    case NUL:
      return 'contains NUL byte';
    case TAB:
      return 'contains tab';
    case LF:
      return 'contains LF';
    case CR:
      return 'contains CR';
    case SPACE:
      return 'contains space';
    default:
      if (c < SPACE || c === DEL) return `contains control character 0x${c.toString(16).padStart(2, '0')}`;
      return `contains '${String.fromCharCode(c)}'`;
  }
}

function ok<T>(value: T): Canon<T> {
  return { ok: true, value };
}

function fail<T>(error: string): Canon<T> {
  return { ok: false, error };
}

/** The first ASCII code unit (its value) that may not appear in a name, ":" excepted when allowColon; -1 if none. */
function firstForbidden(s: string, allowColon: boolean): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < ASCII_LIMIT && ASCII_CLASS[c] === CLASS_FORBIDDEN && !(allowColon && c === COLON)) return c;
  }
  return -1;
}

function ipv6Host(groups: number[]): CanonicalHost {
  const g = groups;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    // IPv4-mapped: dialing it reaches the IPv4 endpoint, so it *is* that endpoint.
    return { kind: 'ipv4', host: formatIPv4((g[6] * 0x10000 + g[7]) >>> 0) };
  }
  return { kind: 'ipv6', host: formatIPv6(g), embeddedIPv4: embeddedIPv4Texts(g) };
}

/** Error for IPv6 text that did not parse: the most specific reason we can name. */
function ipv6Error(text: string, bracketed: boolean): string {
  if (text.indexOf('%') >= 0) return "zone id not allowed ('%')";
  const bad = firstForbidden(text, true);
  if (bad >= 0) return CHAR_MESSAGES[bad];
  if (bracketed) return 'bracketed host is not an IPv6 address';
  if (text.indexOf(':') === text.lastIndexOf(':')) return "contains ':' (a port is not part of a host)";
  return 'invalid IPv6 address';
}

function hasPunycodeLabel(s: string): boolean {
  return s.startsWith('xn--') || s.indexOf('.xn--') >= 0;
}

/** WHATWG "ends in a number": the label is all digits, or 0x followed by hex digits only. */
function labelLooksNumeric(s: string, start: number, end: number): boolean {
  if (end - start >= 2 && s.charCodeAt(start) === DIGIT_0 && s.charCodeAt(start + 1) === LOWER_X) {
    for (let i = start + 2; i < end; i++) {
      const c = s.charCodeAt(i);
      const hex = (c >= DIGIT_0 && c <= DIGIT_9) || (c >= 0x61 && c <= 0x66);
      if (!hex) return false;
    }
    return true;
  }
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  return true;
}

/** Lower-case ASCII host text (after IDN) → IPv4 or name. */
function canonicalizeAscii(ascii: string): Canon<CanonicalHost> {
  let s = ascii;
  if (s.length > 0 && s.charCodeAt(s.length - 1) === DOT) s = s.slice(0, -1); // one trailing dot: the root
  const n = s.length;
  if (n === 0) return fail('empty host');
  let labelStart = 0;
  let lastLabelStart = 0;
  let longLabel = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (i === labelStart) return fail('empty label');
      if (i - labelStart > MAX_LABEL_OCTETS) longLabel = true;
      lastLabelStart = labelStart;
      labelStart = i + 1;
    } else if (c >= ASCII_LIMIT) {
      return fail('contains non-ASCII character after IDN conversion');
    } else if (ASCII_CLASS[c] !== CLASS_NAME) {
      return fail(c >= 0x41 && c <= 0x5a ? 'contains upper-case letter after IDN conversion' : CHAR_MESSAGES[c]);
    }
  }
  if (labelLooksNumeric(s, lastLabelStart, n)) {
    // A resolver or URL parser reads this as an IPv4 address, or fails; never as a name.
    if (parseDottedQuad(s) >= 0) return ok({ kind: 'ipv4', host: s }); // already canonical
    const value = parseInetAton(s);
    if (value < 0) return fail('numeric last label but not a valid IPv4 address');
    return ok({ kind: 'ipv4', host: formatIPv4(value) });
  }
  if (longLabel) return fail(`label over ${MAX_LABEL_OCTETS} octets`);
  if (n > MAX_NAME_OCTETS) return fail(`name over ${MAX_NAME_OCTETS} octets`);
  return ok({ kind: 'name', host: s });
}

function canonicalizeNameOrIPv4(raw: string): Canon<CanonicalHost> {
  let upper = false;
  let nonAscii = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c >= ASCII_LIMIT) {
      nonAscii = true;
      continue;
    }
    const cls = ASCII_CLASS[c];
    if (cls === CLASS_UPPER) upper = true;
    else if (cls === CLASS_FORBIDDEN) return fail(CHAR_MESSAGES[c]);
  }
  if (nonAscii) {
    // Look for delimiters hidden as compatibility characters (＠ ／ ＼ ？ ...) to name them.
    const bad = firstForbidden(raw.normalize('NFKC'), false);
    if (bad >= 0) return fail(`${CHAR_MESSAGES[bad]} after Unicode normalisation`);
    const ascii = domainToASCII(raw);
    if (ascii === '') return fail('invalid IDN');
    return canonicalizeAscii(ascii);
  }
  const lower = upper ? raw.toLowerCase() : raw;
  if (hasPunycodeLabel(lower)) {
    const checked = domainToASCII(lower);
    if (checked === '') return fail('invalid IDN (malformed punycode label)');
    return canonicalizeAscii(checked);
  }
  return canonicalizeAscii(lower);
}

/**
 * Raw host text (a name, any IPv4 spelling, IPv6 with or without brackets)
 * → canonical host, or a specific error ("contains '@'", "empty label",
 * "label over 63 octets", "invalid IDN", ...).
 */
export function canonicalizeHost(raw: string): Canon<CanonicalHost> {
  const n = raw.length;
  if (n === 0) return fail('empty host');
  if (n > MAX_HOST_INPUT_CHARS) return fail(`host longer than ${MAX_HOST_INPUT_CHARS} characters`);
  if (raw.charCodeAt(0) === OPEN_BRACKET) {
    if (raw.charCodeAt(n - 1) !== CLOSE_BRACKET) return fail("unbalanced '['");
    const inner = raw.slice(1, n - 1);
    const groups = parseIPv6(inner);
    return groups === null ? fail(ipv6Error(inner, true)) : ok(ipv6Host(groups));
  }
  if (raw.indexOf(':') >= 0) {
    const groups = parseIPv6(raw);
    return groups === null ? fail(ipv6Error(raw, false)) : ok(ipv6Host(groups));
  }
  return canonicalizeNameOrIPv4(raw);
}

/**
 * A strict IP literal (resolver output, SOCKS5 address bytes as text):
 * plain dotted quad or RFC 4291 IPv6 text, no brackets, no zone id.
 */
export function canonicalizeAddress(ip: string): Canon<CanonicalHost> {
  if (ip.indexOf(':') >= 0) {
    const groups = parseIPv6(ip);
    if (groups === null) return fail(ip.indexOf('%') >= 0 ? "zone id not allowed ('%')" : 'not an IPv6 address');
    return ok(ipv6Host(groups));
  }
  const value = parseDottedQuad(ip);
  return value < 0 ? fail('not a dotted-quad IPv4 address') : ok({ kind: 'ipv4', host: formatIPv4(value) });
}

/** Port text: digits only, 1..65535, no leading zeros, no sign. */
export function parsePort(text: string): Canon<number> {
  const n = text.length;
  if (n === 0) return fail('empty port');
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return fail('port must be digits only');
    value = value * 10 + (c - DIGIT_0); // inexact past 15 digits; such text is rejected by length below
  }
  if (text.charCodeAt(0) === DIGIT_0 && n > 1) return fail('port has a leading zero');
  if (n > MAX_PORT_DIGITS || value < MIN_PORT || value > MAX_PORT) return fail(`port out of range ${MIN_PORT}-${MAX_PORT}`);
  return ok(value);
}

function schemePort(scheme: string): number | null {
  switch (scheme) {
    case 'http':
    case 'ws':
      return HTTP_PORT;
    case 'https':
    case 'wss':
      return HTTPS_PORT;
    default:
      return null;
  }
}

/** RFC 3986 scheme syntax: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
function validScheme(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20; // fold case for letters
    const letter = c >= 0x61 && c <= 0x7a;
    const other = s.charCodeAt(i);
    const digitOrMark = (other >= DIGIT_0 && other <= DIGIT_9) || other === 0x2b || other === 0x2d || other === DOT;
    if (!letter && (i === 0 || !digitOrMark)) return false;
  }
  return true;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, bare v6 (not inside a URL). */
function parseAuthority(text: string, defaultPort: number, inUrl: boolean): Canon<CanonicalTarget> {
  if (text.length === 0) return fail('empty host');
  let hostText = text;
  let port = defaultPort;
  if (text.charCodeAt(0) === OPEN_BRACKET) {
    const close = text.indexOf(']');
    if (close < 0) return fail("unbalanced '['");
    hostText = text.slice(0, close + 1);
    if (close + 1 < text.length) {
      if (text.charCodeAt(close + 1) !== COLON) return fail("unexpected text after ']'");
      const parsed = parsePort(text.slice(close + 2));
      if (!parsed.ok) return parsed;
      port = parsed.value;
    }
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      if (text.lastIndexOf(':') !== colon) {
        if (inUrl) return fail("more than one ':' in URL authority (an IPv6 address must be in brackets)");
        // bare IPv6 without a port (an IPv6 literal with a port must be bracketed)
      } else {
        hostText = text.slice(0, colon);
        if (hostText.length === 0) return fail('empty host');
        const parsed = parsePort(text.slice(colon + 1));
        if (!parsed.ok) return parsed;
        port = parsed.value;
      }
    }
  }
  const host = canonicalizeHost(hostText);
  if (!host.ok) return host;
  return ok({ host: host.value, port });
}

function parseUrlTarget(input: string, schemeEnd: number): Canon<CanonicalTarget> {
  const rawScheme = input.slice(0, schemeEnd);
  if (!validScheme(rawScheme)) return fail('invalid URL scheme');
  const scheme = rawScheme.toLowerCase();
  const port = schemePort(scheme);
  if (port === null) return fail(`unsupported URL scheme '${scheme}' (http, https, ws, wss)`);
  const start = schemeEnd + 3;
  let end = start;
  for (; end < input.length; end++) {
    const c = input.charCodeAt(end);
    if (c === SLASH || c === QUESTION || c === HASH) break;
  }
  const authority = input.slice(start, end);
  if (authority.indexOf('@') >= 0) return fail("userinfo in URL not allowed ('@')");
  return parseAuthority(authority, port, true);
}

/**
 * A target as typed by a person or sent by a client: a URL (http/https/ws/wss;
 * the scheme gives the port, an explicit port wins; userinfo is rejected),
 * `host:port`, `[v6]:port`, a bare IPv6 address or a bare host (→ defaultPort).
 */
export function parseTarget(input: string, defaultPort = DEFAULT_TARGET_PORT): Canon<CanonicalTarget> {
  if (input.length === 0) return fail('empty target');
  const schemeEnd = input.indexOf('://');
  if (schemeEnd >= 0) return parseUrlTarget(input, schemeEnd);
  return parseAuthority(input, defaultPort, false);
}
