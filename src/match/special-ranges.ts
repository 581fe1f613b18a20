/**
 * Special address ranges (DESIGN §2 "Names, then addresses").
 *
 * An address that no address rule matches is denied when it lies in a
 * special range: something that is not "the public internet" (loopback,
 * RFC 1918, link-local, CGNAT, ULA, multicast, unspecified, broadcast,
 * reserved/documentation/benchmarking), or an IPv6 address that embeds such
 * an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64,
 * 6to4, Teredo): dialing those can reach the embedded IPv4 endpoint through
 * a translator or tunnel, so `64:ff9b::a9fe:a9fe` is as dangerous as
 * `169.254.169.254`.
 *
 * The ranges named in the design are checked explicitly (so that a change
 * in ipaddr.js cannot silently make them public); everything else is
 * classified by ipaddr.js `range()`, and a range name we do not know is
 * treated as reserved (fail closed).
 */
import ipaddr from 'ipaddr.js';
import { formatIPv4, parseDottedQuad, parseIPv6 } from './ip-text.js';
import type { CanonicalHost } from './types.js';

export type SpecialRangeName =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'reserved';

/** How an IPv6 address carries an IPv4 address. */
export type EmbeddingForm =
  | 'ipv4-mapped' //      ::ffff:a.b.c.d          (RFC 4291 §2.5.5.2)
  | 'ipv4-compatible' //  ::a.b.c.d               (RFC 4291 §2.5.5.1, deprecated)
  | 'ipv4-translated' //  ::ffff:0:a.b.c.d        (RFC 2765 SIIT)
  | 'nat64' //            64:ff9b::/96, 64:ff9b:1::/48 (RFC 6052, RFC 8215)
  | '6to4' //             2002:AABB:CCDD::/48     (RFC 3056)
  | 'teredo'; //          2001:0:SSSS:SSSS:f:p:~CCCC:~CCCC (RFC 4380)

export interface EmbeddedIPv4 {
  form: EmbeddingForm;
  /** Unsigned 32-bit value. */
  ipv4: number;
}

/** Returned for a CanonicalHost whose text does not parse, so that callers fail closed. */
const UNPARSEABLE = 'invalid';

interface V4Range {
  base: number;
  prefix: number;
  name: SpecialRangeName;
}

function v4(a: number, b: number, c: number, d: number, prefix: number, name: SpecialRangeName): V4Range {
  return { base: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0, prefix, name };
}

/** The IPv4 special ranges DESIGN §2 names. Broadcast precedes 240/4. */
const IPV4_SPECIAL: readonly V4Range[] = Object.freeze([
  v4(0, 0, 0, 0, 8, 'unspecified'),
  v4(10, 0, 0, 0, 8, 'private'),
  v4(100, 64, 0, 0, 10, 'cgnat'),
  v4(127, 0, 0, 0, 8, 'loopback'),
  v4(169, 254, 0, 0, 16, 'link-local'),
  v4(172, 16, 0, 0, 12, 'private'),
  v4(192, 0, 0, 0, 24, 'reserved'), //      IETF protocol assignments (RFC 6890)
  v4(192, 0, 2, 0, 24, 'reserved'), //      TEST-NET-1 (RFC 5737)
  v4(192, 168, 0, 0, 16, 'private'),
  v4(198, 18, 0, 0, 15, 'reserved'), //     benchmarking (RFC 2544)
  v4(198, 51, 100, 0, 24, 'reserved'), //   TEST-NET-2
  v4(203, 0, 113, 0, 24, 'reserved'), //    TEST-NET-3
  v4(224, 0, 0, 0, 4, 'multicast'),
  v4(255, 255, 255, 255, 32, 'broadcast'),
  v4(240, 0, 0, 0, 4, 'reserved'), //      future use (RFC 1112)
]);

/** ipaddr.js range names → ours; null = not special by itself. */
const IPADDR_RANGE_NAMES: Readonly<Record<string, SpecialRangeName | null>> = Object.freeze({
  unicast: null,
  // globally reachable anycast services
  as112: null,
  as112v6: null,
  amt: null,
  // IPv6 forms that embed IPv4: special only through the embedded address
  ipv4Mapped: null,
  rfc6145: null,
  rfc6052: null,
  '6to4': null,
  teredo: null,
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'cgnat',
  private: 'private',
  uniqueLocal: 'unique-local',
  reserved: 'reserved',
  benchmarking: 'reserved',
  discard: 'reserved',
  deprecatedSiteLocal: 'reserved',
  deprecatedOrchid: 'reserved',
  orchid2: 'reserved',
  droneRemoteIdProtocolEntityTags: 'reserved',
  segmentRouting: 'reserved',
});

function mapIpaddrRange(name: string): SpecialRangeName | null {
  const mapped = IPADDR_RANGE_NAMES[name];
  return mapped === undefined ? 'reserved' : mapped; // unknown to us: fail closed
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Special range of an unsigned 32-bit IPv4 address, or null when public. */
export function ipv4SpecialRange(value: number): SpecialRangeName | null {
  for (const r of IPV4_SPECIAL) {
    if (((value & maskOf(r.prefix)) >>> 0) === r.base) return r.name;
  }
  const octets = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  return mapIpaddrRange(new ipaddr.IPv4(octets).range());
}

/** The design's IPv6 special ranges, checked before ipaddr.js. */
function ipv6ExplicitRange(g: readonly number[]): SpecialRangeName | null {
  const g0 = g[0];
  if (g0 === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0 && g[6] === 0) {
    if (g[7] === 0) return 'unspecified'; // ::
    if (g[7] === 1) return 'loopback'; // ::1
  }
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local'; // fe80::/10
  if ((g0 & 0xfe00) === 0xfc00) return 'unique-local'; // fc00::/7
  if ((g0 & 0xff00) === 0xff00) return 'multicast'; // ff00::/8
  if (g0 === 0x2001 && g[1] === 0x0db8) return 'reserved'; // 2001:db8::/32 documentation
  if (g0 === 0x0100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return 'reserved'; // 100::/64 discard
  if ((g0 & 0xffc0) === 0xfec0) return 'reserved'; // fec0::/10 deprecated site-local
  return null;
}

function byteAt(g: readonly number[], index: number): number {
  const group = g[index >> 1];
  return index & 1 ? group & 0xff : group >>> 8;
}

function bytesToIPv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function allZeroBytes(g: readonly number[], from: number): boolean {
  for (let k = from; k < 16; k++) if (byteAt(g, k) !== 0) return false;
  return true;
}

/**
 * IPv4 addresses an IPv6 address (eight 16-bit groups) embeds, in the order
 * a reader would find them. Empty for an address that embeds none.
 *
 * 64:ff9b:1::/48 (RFC 8215, local use) may carry the IPv4 address at any
 * RFC 6052 position the operator chose; the /96 position (last 32 bits) is
 * always read, and the /48, /56 and /64 positions are read too when the
 * address is well-formed for them (u-octet and suffix zero).
 */
export function embeddedIPv4(g: readonly number[]): EmbeddedIPv4[] {
  const g0 = g[0];
  const low32 = (g[6] * 0x10000 + g[7]) >>> 0;
  if (g0 === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) {
    if (g[4] === 0 && g[5] === 0xffff) return [{ form: 'ipv4-mapped', ipv4: low32 }];
    if (g[4] === 0xffff && g[5] === 0) return [{ form: 'ipv4-translated', ipv4: low32 }];
    if (g[4] === 0 && g[5] === 0 && !(g[6] === 0 && g[7] <= 1)) return [{ form: 'ipv4-compatible', ipv4: low32 }];
    return [];
  }
  if (g0 === 0x64 && g[1] === 0xff9b) {
    if (g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) return [{ form: 'nat64', ipv4: low32 }];
    if (g[2] !== 1) return [];
    const found: EmbeddedIPv4[] = [{ form: 'nat64', ipv4: low32 }];
    if (byteAt(g, 8) === 0) {
      const b = (k: number): number => byteAt(g, k);
      const candidates: Array<[number, boolean]> = [
        [bytesToIPv4(b(6), b(7), b(9), b(10)), allZeroBytes(g, 11)], // /48
        [bytesToIPv4(b(7), b(9), b(10), b(11)), allZeroBytes(g, 12)], // /56
        [bytesToIPv4(b(9), b(10), b(11), b(12)), allZeroBytes(g, 13)], // /64
      ];
      for (const [value, wellFormed] of candidates) {
        if (wellFormed && !found.some((e) => e.ipv4 === value)) found.push({ form: 'nat64', ipv4: value });
      }
    }
    return found;
  }
  if (g0 === 0x2002) return [{ form: '6to4', ipv4: (g[1] * 0x10000 + g[2]) >>> 0 }];
  if (g0 === 0x2001 && g[1] === 0) {
    const server = (g[2] * 0x10000 + g[3]) >>> 0;
    const client = (low32 ^ 0xffffffff) >>> 0;
    return server === client
      ? [{ form: 'teredo', ipv4: server }]
      : [
          { form: 'teredo', ipv4: server },
          { form: 'teredo', ipv4: client },
        ];
  }
  return [];
}

/** Special range of eight IPv6 groups: its own range, else "<form>:<range>" of an embedded IPv4. */
function ipv6SpecialRange(g: readonly number[]): string | null {
  const own = ipv6ExplicitRange(g) ?? mapIpaddrRange(new ipaddr.IPv6(g.slice()).range());
  if (own !== null) return own;
  for (const e of embeddedIPv4(g)) {
    const inner = ipv4SpecialRange(e.ipv4);
    if (inner !== null) return `${e.form}:${inner}`;
  }
  return null;
}

/**
 * The special range an address lies in ("loopback", "private", ...,
 * "nat64:loopback" for an IPv6 form embedding a special IPv4), or null for
 * a public address. Names are not addresses: null. Address text that does
 * not parse (not canonical) is reported as "invalid" so callers fail closed.
 */
export function specialRange(host: CanonicalHost): string | null {
  if (host.kind === 'name') return null;
  if (host.kind === 'ipv4') {
    const value = parseDottedQuad(host.host);
    return value < 0 ? UNPARSEABLE : ipv4SpecialRange(value);
  }
  const groups = parseIPv6(host.host);
  return groups === null ? UNPARSEABLE : ipv6SpecialRange(groups);
}

/** Dotted-quad texts of the IPv4 addresses an IPv6 address embeds (deduplicated). */
export function embeddedIPv4Texts(g: readonly number[]): string[] {
  const out: string[] = [];
  for (const e of embeddedIPv4(g)) {
    const text = formatIPv4(e.ipv4);
    if (!out.includes(text)) out.push(text);
  }
  return out;
}
