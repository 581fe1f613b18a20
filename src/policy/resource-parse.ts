/**
 * Parses one network resource string of a policy (DESIGN §2 "Network
 * resources") into a HostPattern and an optional port range.
 *
 * Why a module of its own: the resource grammar is where a policy author's
 * intent turns into what the engine matches, so every spelling that could be
 * read two ways (an IPv4 address in hex, a bare IPv6 address with what looks
 * like a port, a wildcard over a whole top-level domain, a Unicode name) is
 * refused here with a message that says what to write instead. Nothing
 * downstream parses resource text again.
 *
 * Grammar: HOST[:PORTS]
 *   HOST  = name | *.name | **.name | a.b.c.d | a.b.c.d/P | [v6] | [v6/P] | v6 | v6/P
 *           (bare v6 only without a port, and only when it cannot be read as v6:port)
 *   PORTS = N | LO-HI | *          (no suffix = any port)
 */

import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import type { HostPattern, PortRange } from './types.js';

export const MIN_PORT = 1;
export const MAX_PORT = 65535;
export const MAX_NAME_OCTETS = 253;
export const MAX_LABEL_OCTETS = 63;
export const IPV4_BITS = 32;
export const IPV6_BITS = 128;
const IPV6_GROUPS = 8;
const IPV6_GROUP_BITS = 16;
/** ::ffff:0:0/96 — IPv4-mapped addresses, matched as the IPv4 address they carry. */
const IPV4_MAPPED_PREFIX = 96;
const OCTET_MAX = 255;
/** Longest digit string worth converting to a number; longer is out of range anyway. */
const MAX_NUMERIC_DIGITS = 6;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export interface ParsedResource {
  host: HostPattern;
  ports: PortRange | null;
}

const GRAMMAR_HINT = 'a resource is HOST[:PORTS], e.g. example.com, *.example.com:443, 10.0.0.0/8, "[2001:db8::1]:8000-8100"';
const PORTS_HINT = 'write :443, :8000-8100 or :*';
const NAME_LABEL_RE = /^[a-z0-9_-]+$/;
const STRICT_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const STRICT_QUAD_RE = new RegExp(`^${STRICT_OCTET}(?:\\.${STRICT_OCTET}){3}$`);
const CANONICAL_DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/;
const PORTLIKE_RE = /^(?:\*|[0-9]+(?:-[0-9]+)?)$/;

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
function fail<T>(error: string): Parsed<T> {
  return { ok: false, error };
}

/** Parses one resource as written in a policy. */
export function parseNetworkResource(text: string): Parsed<ParsedResource> {
  if (text === '') return fail(`empty resource; ${GRAMMAR_HINT}`);
  if (text.includes('\0')) return fail(`'${printable(text)}' contains a NUL byte; ${GRAMMAR_HINT}`);
  if (/[\u0000-\u001f\u007f]/.test(text)) return fail(`'${printable(text)}' contains a control character; ${GRAMMAR_HINT}`);
  if (/\s/.test(text)) return fail(`'${text}' contains whitespace; write one resource per list item (${GRAMMAR_HINT})`);
  if (text.includes('://')) return fail(urlMessage(text));
  if (text.includes('@')) {
    return fail(`'${text}' contains '@'; user names are not part of a resource, write only the host (${GRAMMAR_HINT})`);
  }

  let hostText: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail(`'${text}' has '[' without ']'; write "[2001:db8::1]" or "[2001:db8::1]:443"`);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return fail(`unexpected '${rest}' after ']' in '${text}'; write "[ADDRESS]" or "[ADDRESS]:PORTS"`);
      portText = rest.slice(1);
    }
    const bracketed = parseBracketed(text.slice(1, close), text);
    if (!bracketed.ok) return bracketed;
    return withPorts(bracketed.value, portText);
  }
  const colons = countChar(text, ':');
  if (colons >= 2) {
    const bare = parseBareIPv6(text);
    if (!bare.ok) return bare;
    return ok({ host: bare.value, ports: null });
  }
  if (text.startsWith(':')) {
    return fail(`'${text}' has no host; ${GRAMMAR_HINT} (list each host that may use the port)`);
  }
  if (colons === 1) {
    const at = text.indexOf(':');
    hostText = text.slice(0, at);
    portText = text.slice(at + 1);
  } else {
    hostText = text;
  }
  const host = parseUnbracketedHost(hostText, text);
  if (!host.ok) return host;
  return withPorts(host.value, portText);
}

function withPorts(host: HostPattern, portText: string | null): Parsed<ParsedResource> {
  if (portText === null) return ok({ host, ports: null });
  const ports = parsePortSpec(portText);
  if (!ports.ok) return ports;
  return ok({ host, ports: ports.value });
}

/** `443`, `8000-8100`, `*` (→ null = any port). */
export function parsePortSpec(spec: string): Parsed<PortRange | null> {
  if (spec === '') return fail(`empty port after ':'; ${PORTS_HINT}`);
  if (spec === '*') return ok(null);
  const range = /^([^-]*)-([^-]*)$/.exec(spec);
  if (range) {
    const lo = parsePortNumber(range[1]);
    if (!lo.ok) return lo;
    const hi = parsePortNumber(range[2]);
    if (!hi.ok) return hi;
    if (lo.value > hi.value) {
      return fail(`port range ${spec} is reversed; write :${hi.value}-${lo.value}`);
    }
    return ok({ lo: lo.value, hi: hi.value });
  }
  const port = parsePortNumber(spec);
  if (!port.ok) return port;
  return ok({ lo: port.value, hi: port.value });
}

function parsePortNumber(text: string): Parsed<number> {
  if (!/^[0-9]+$/.test(text)) return fail(`invalid port '${text}'; ${PORTS_HINT}`);
  if (text.length > 1 && text.startsWith('0')) {
    const value = Number(text.replace(/^0+/, '') || '0');
    const hint = value >= MIN_PORT && value <= MAX_PORT ? `; write ${value}` : '';
    return fail(`port '${text}' has leading zeros${hint}`);
  }
  const value = text.length > MAX_NUMERIC_DIGITS ? Infinity : Number(text);
  if (value < MIN_PORT || value > MAX_PORT) {
    return fail(`port ${text} is out of range; ports are ${MIN_PORT}-${MAX_PORT}`);
  }
  return ok(value);
}

// ---------------------------------------------------------------------------
// Hosts

function parseUnbracketedHost(host: string, whole: string): Parsed<HostPattern> {
  if (host === '') return fail(`'${whole}' has no host; ${GRAMMAR_HINT}`);
  const slash = host.indexOf('/');
  if (slash >= 0) return parseIPv4Cidr(host.slice(0, slash), host.slice(slash + 1), whole);
  if (looksNumeric(host)) {
    const quad = parseIPv4Address(host);
    if (!quad.ok) return quad;
    return ok({ type: 'cidr', family: 4, address: quad.value, prefix: IPV4_BITS });
  }
  return parseNamePattern(host);
}

/** A host whose last label is a number is an IPv4 address to a resolver, never a name. */
function looksNumeric(host: string): boolean {
  const labels = host.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  const last = labels[labels.length - 1];
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

/** Strict dotted quad only; other spellings a resolver accepts are refused with the quad to write. */
function parseIPv4Address(text: string): Parsed<string> {
  if (STRICT_QUAD_RE.test(text)) return ok(text);
  const value = inetAton(text);
  if (value === null) {
    return fail(`'${text}' is not a valid IPv4 address (write four decimal octets 0-255, e.g. 10.0.0.7), and a host name cannot end in a numeric label`);
  }
  const quad = formatIPv4(value);
  const octal = text.split('.').some((part) => /^0[0-9]/.test(part)) ? ' (a leading 0 makes a part octal)' : '';
  return fail(`'${text}' is an unusual spelling of the IPv4 address ${quad}${octal}; write ${quad}`);
}

function parseIPv4Cidr(addrText: string, prefixText: string, whole: string): Parsed<HostPattern> {
  if (addrText === '' || !looksNumeric(addrText)) {
    return fail(`'${whole}' contains '/': a resource is a host, not a URL path; only an address may have a /prefix (e.g. 10.0.0.0/8)`);
  }
  const address = parseIPv4Address(addrText);
  if (!address.ok) {
    const value = inetAton(addrText);
    if (value !== null && CANONICAL_DECIMAL_RE.test(prefixText)) {
      return fail(`'${addrText}' is an unusual spelling of the IPv4 address ${formatIPv4(value)}; write ${formatIPv4(value)}/${prefixText}`);
    }
    return address;
  }
  const prefix = parsePrefix(prefixText, IPV4_BITS, whole);
  if (!prefix.ok) return prefix;
  const value = inetAton(address.value) as number;
  const network = prefix.value === 0 ? 0 : (value & ipv4Mask(prefix.value)) >>> 0;
  if (network !== value) {
    return fail(`${address.value}/${prefix.value} has host bits set; write ${formatIPv4(network)}/${prefix.value}`);
  }
  return ok({ type: 'cidr', family: 4, address: address.value, prefix: prefix.value });
}

function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (IPV4_BITS - prefix)) >>> 0;
}

function parsePrefix(text: string, max: number, whole: string): Parsed<number> {
  if (!CANONICAL_DECIMAL_RE.test(text)) {
    return fail(`invalid prefix length '/${text}' in '${whole}'; write a decimal number 0-${max} without leading zeros`);
  }
  const value = text.length > MAX_NUMERIC_DIGITS ? Infinity : Number(text);
  if (value > max) return fail(`prefix length /${text} is out of range in '${whole}'; ${max === IPV4_BITS ? 'IPv4' : 'IPv6'} prefixes are 0-${max}`);
  return ok(value);
}

/** Inside `[...]`: an IPv6 address or CIDR, nothing else. */
function parseBracketed(inner: string, whole: string): Parsed<HostPattern> {
  if (inner === '') return fail(`'${whole}' has empty brackets; write "[2001:db8::1]"`);
  if (!inner.includes(':')) {
    const plain = inner.includes('/') || looksNumeric(inner) ? inner : inner.replace(/\.$/, '').toLowerCase();
    return fail(`brackets are only for IPv6 addresses; write ${plain} without them`);
  }
  return parseIPv6Host(inner, whole);
}

/**
 * An unbracketed resource with two or more colons is read as a bare IPv6
 * address or CIDR, without a port. When the text is also a valid
 * "IPv6:port" (`2001:db8::1:443`) it is ambiguous and refused.
 */
function parseBareIPv6(text: string): Parsed<HostPattern> {
  if (text.includes('%')) return parseIPv6Host(text, text);
  const last = text.lastIndexOf(':');
  const before = text.slice(0, last);
  const after = text.slice(last + 1);
  const slash = text.indexOf('/');
  if (slash >= 0 && text.indexOf(':', slash) > slash) {
    // `2001:db8::/32:443`
    const cidrText = text.slice(0, last);
    return fail(`an IPv6 CIDR with a port must be bracketed; write "[${cidrText}]:${after}"`);
  }
  const whole = parseIPv6Host(text, text);
  const beforeIsAddress = PORTLIKE_RE.test(after) && parseIPv6Parts(before) !== null;
  if (whole.ok && beforeIsAddress) {
    return fail(`'${text}' is ambiguous: write "[${text}]" for the address, or "[${before}]:${after}" for address ${before} with port ${after}`);
  }
  if (!whole.ok && beforeIsAddress) {
    return fail(`an IPv6 address with a port must be bracketed; write "[${before}]:${after}"`);
  }
  if (!whole.ok && /^[^:]*:[^:]*:/.test(text) && !/^[0-9a-f:./%]+$/i.test(text)) {
    return fail(`'${text}' has more than one ':'; only IPv6 addresses contain several colons (${GRAMMAR_HINT})`);
  }
  return whole;
}

function parseIPv6Host(text: string, whole: string): Parsed<HostPattern> {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  if (addrText.includes('%')) {
    return fail(`'${whole}' has an IPv6 zone id ('${addrText.slice(addrText.indexOf('%'))}'); zone ids are not allowed, write the address without it`);
  }
  const parts = parseIPv6Parts(addrText);
  if (parts === null) {
    return fail(`'${addrText}' is not a valid IPv6 address; write it like "[2001:db8::1]" (hex groups, at most one '::', an embedded IPv4 part only at the end as a dotted quad)`);
  }
  let prefix = IPV6_BITS;
  if (slash >= 0) {
    const parsed = parsePrefix(text.slice(slash + 1), IPV6_BITS, whole);
    if (!parsed.ok) return parsed;
    prefix = parsed.value;
  }
  const network = maskIPv6(parts, prefix);
  if (slash >= 0 && network.some((group, i) => group !== parts[i])) {
    return fail(`${formatIPv6(parts)}/${prefix} has host bits set; write "[${formatIPv6(network)}/${prefix}]"`);
  }
  const mapped = mappedIPv4(network, prefix);
  if (mapped !== null) {
    return fail(`'${text}' is an IPv4-mapped IPv6 ${slash >= 0 ? 'range' : 'address'}; targets like it are matched as IPv4, so write ${mapped}`);
  }
  return ok({ type: 'cidr', family: 6, address: formatIPv6(network), prefix });
}

/** For an address or CIDR inside ::ffff:0:0/96, the IPv4 form to write instead; else null. */
function mappedIPv4(parts: number[], prefix: number): string | null {
  if (prefix < IPV4_MAPPED_PREFIX) return null;
  if (parts.slice(0, 5).some((g) => g !== 0) || parts[5] !== 0xffff) return null;
  const quad = formatIPv4(((parts[6] << IPV6_GROUP_BITS) >>> 0) + parts[7]);
  return prefix === IPV6_BITS ? quad : `${quad}/${prefix - IPV4_MAPPED_PREFIX}`;
}

/**
 * Strict IPv6 text → 8 groups. Hex groups of 1-4 digits, at most one `::`, an
 * optional trailing strict dotted quad. (ipaddr.js's own parser reads
 * `::1.2.3.4` as IPv4-mapped and accepts octets with leading zeros, so it is
 * only used to format.)
 */
export function parseIPv6Parts(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let body = text;
  const tail: number[] = [];
  if (body.includes('.')) {
    const lastColon = body.lastIndexOf(':');
    const quad = body.slice(lastColon + 1);
    if (!STRICT_QUAD_RE.test(quad)) return null;
    const value = inetAton(quad) as number;
    tail.push(value >>> IPV6_GROUP_BITS, value & 0xffff);
    body = body.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `1:2:3:4:5:6:1.2.3.4` leaves `1:2:3:4:5:6:` → strip the lone colon.
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const groups = s.split(':');
    if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
    return groups.map((g) => parseInt(g, 16));
  };
  const head = parseGroups(halves[0]);
  if (head === null) return null;
  if (halves.length === 1) {
    const all = [...head, ...tail];
    return all.length === IPV6_GROUPS ? all : null;
  }
  const rest = parseGroups(halves[1]);
  if (rest === null) return null;
  const known = head.length + rest.length + tail.length;
  if (known > IPV6_GROUPS - 1) return null;
  return [...head, ...new Array<number>(IPV6_GROUPS - known).fill(0), ...rest, ...tail];
}

function maskIPv6(parts: number[], prefix: number): number[] {
  return parts.map((group, i) => {
    const bitsHere = Math.max(0, Math.min(IPV6_GROUP_BITS, prefix - i * IPV6_GROUP_BITS));
    const mask = bitsHere === 0 ? 0 : (0xffff << (IPV6_GROUP_BITS - bitsHere)) & 0xffff;
    return group & mask;
  });
}

/** RFC 5952 text. */
export function formatIPv6(parts: number[]): string {
  return new ipaddr.IPv6(parts).toRFC5952String();
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & OCTET_MAX).join('.');
}

/**
 * The IPv4 reading a resolver (inet_aton / WHATWG URL) gives `text`: 1-4
 * parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
 * remaining bytes. null when it is not an IPv4 address at all.
 */
export function inetAton(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(part)) n = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) n = parseInt(part.slice(1), 8);
    else if (/^(?:0|[1-9][0-9]*)$/.test(part)) n = Number(part);
    else return null;
    if (!Number.isSafeInteger(n)) return null;
    numbers.push(n);
  }
  const last = numbers.pop() as number;
  if (numbers.some((n) => n > OCTET_MAX)) return null;
  const lastBytes = 4 - numbers.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  let value = 0;
  numbers.forEach((n, i) => {
    value += n * 2 ** (8 * (3 - i));
  });
  return value + last;
}

// ---------------------------------------------------------------------------
// Names

function parseNamePattern(raw: string): Parsed<HostPattern> {
  let text = raw;
  if (text.endsWith('.') && !text.endsWith('..')) text = text.slice(0, -1);
  const labels = text.split('.');
  const first = labels[0];
  let wildcard: '*' | '**' | null = null;
  if (first === '*' || first === '**') {
    wildcard = first;
    labels.shift();
    if (labels.length === 0) {
      return fail(`'${raw}' would match every host; name the domain it applies to, e.g. ${first}.example.com`);
    }
  }
  if (labels.some((l) => l.includes('*'))) {
    return fail(`'${raw}': a wildcard may only be the whole leftmost label, '*.' (exactly one label, as in *.example.com) or '**.' (any depth, as in **.example.com)`);
  }
  const suffix = labels.join('.');
  const prefix = wildcard === null ? '' : `${wildcard}.`;
  const name = parseName(suffix, raw, prefix);
  if (!name.ok) return name;
  if (wildcard === null) return ok({ type: 'exact', name: name.value });
  if (!name.value.includes('.')) {
    return fail(`'${raw}' would match every name under the top-level domain '${name.value}'; a wildcard needs a suffix of at least two labels, e.g. ${wildcard}.example.${name.value}`);
  }
  return ok(wildcard === '*' ? { type: 'one-label', suffix: name.value } : { type: 'any-depth', suffix: name.value });
}

/** Validates a (non-wildcard) name and returns its canonical form: lower-case ASCII, no trailing dot. */
function parseName(name: string, raw: string, wildcardPrefix: string): Parsed<string> {
  if (/[^\x00-\x7f]/.test(name)) {
    const ascii = domainToASCII(name);
    if (ascii === '') return fail(`'${raw}' is not a valid internationalised domain name`);
    return fail(`non-ASCII name: write '${wildcardPrefix}${ascii.replace(/\.$/, '')}' instead of '${raw}'`);
  }
  const labels = name.split('.');
  if (labels.some((l) => l === '')) {
    return fail(`'${raw}' has an empty label; write it without the extra '.'`);
  }
  const lower = name.toLowerCase();
  for (const label of lower.split('.')) {
    if (label.length > MAX_LABEL_OCTETS) {
      return fail(`label '${label.slice(0, 16)}…' in '${raw}' is ${label.length} characters; labels are at most ${MAX_LABEL_OCTETS}`);
    }
    if (!NAME_LABEL_RE.test(label)) {
      const bad = [...label].find((c) => !/[a-z0-9_-]/.test(c)) ?? '?';
      return fail(`invalid character '${bad}' in host name '${raw}'; names are letters, digits, '-' and '_'`);
    }
  }
  const total = wildcardPrefix.length + lower.length;
  if (total > MAX_NAME_OCTETS) {
    return fail(`'${raw.slice(0, 24)}…' is ${total} characters; names are at most ${MAX_NAME_OCTETS}`);
  }
  const ascii = domainToASCII(lower);
  if (ascii === '') {
    return fail(`'${raw}' is not a valid host name (check 'xn--' labels: they must be valid punycode)`);
  }
  return ok(ascii);
}

// ---------------------------------------------------------------------------

function urlMessage(text: string): string {
  try {
    const url = new URL(text);
    const defaultPort = url.protocol === 'https:' || url.protocol === 'wss:' ? '443' : url.protocol === 'http:' || url.protocol === 'ws:' ? '80' : '';
    const port = url.port || defaultPort;
    const host = url.hostname;
    if (host !== '') return `'${text}' is a URL; a resource is HOST[:PORTS], write ${host}${port ? `:${port}` : ''}`;
  } catch {
    // fall through to the generic message
  }
  return `'${text}' looks like a URL; ${GRAMMAR_HINT}`;
}

function countChar(text: string, ch: string): number {
  let n = 0;
  for (const c of text) if (c === ch) n += 1;
  return n;
}

function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
