/**
 * Canonical targets: what every entry path (HTTP, CONNECT, SOCKS5, check, API)
 * turns raw input into before any rule sees it (DESIGN §2 "Targets are canonicalised").
 */

export type CanonicalHost =
  /** Lower-case ASCII (punycode) name without trailing dot. */
  | { kind: 'name'; host: string }
  /** Dotted quad. */
  | { kind: 'ipv4'; host: string }
  /**
   * RFC 5952 canonical text. `embeddedIPv4` lists IPv4 addresses this IPv6
   * address embeds (IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16,
   * Teredo server and client). IPv4-mapped (::ffff:a.b.c.d) addresses are
   * canonicalised to kind 'ipv4' outright, because dialing them reaches that
   * IPv4 endpoint.
   */
  | { kind: 'ipv6'; host: string; embeddedIPv4: string[] };

export type Canon<T> = { ok: true; value: T } | { ok: false; error: string };

export interface CanonicalTarget {
  host: CanonicalHost;
  port: number;
}
