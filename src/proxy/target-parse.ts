/**
 * Turns what a client wrote (a CONNECT authority, an absolute URI, a Host
 * header) into a canonical target — the edge of DESIGN §2 "Targets are
 * canonicalised". All three entry paths end in the same two functions,
 * canonicalizeHost and parsePort, so `0x7f.1`, `2130706433` and `127.1` get
 * the same answer whether they arrive over HTTP, CONNECT or SOCKS5.
 *
 * Parsing is deliberately strict and our own (not WHATWG URL / url.parse):
 * the proxy decides on, dials, and forwards the very same parse, so no
 * differential between two URL parsers can split "what was checked" from
 * "what was reached". Userinfo (`http://allowed@evil/`) is rejected outright.
 */
import { canonicalizeHost, parsePort } from '../match/canonical.js';
import type { Canon, CanonicalTarget } from '../match/types.js';

export const HTTP_DEFAULT_PORT = 80;

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

/**
 * `host`, `host:port`, `[v6]`, `[v6]:port`. `defaultPort` null means the port
 * is required (CONNECT authority-form).
 */
export function parseAuthority(authority: string, defaultPort: number | null): Canon<CanonicalTarget> {
  if (authority === '') return fail('empty host');
  if (authority.includes('@')) return fail('userinfo (user@host) in a proxy target is not allowed');
  let hostText: string;
  let portText: string | null;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return fail('unterminated [ in host');
    hostText = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest === '') portText = null;
    else if (rest.startsWith(':')) portText = rest.slice(1);
    else return fail('unexpected text after ]');
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.indexOf(':') !== colon) return fail('an IPv6 address must be written in brackets');
    hostText = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? null : authority.slice(colon + 1);
  }
  let port: number;
  if (portText === null) {
    if (defaultPort === null) return fail('a port is required (host:port)');
    port = defaultPort;
  } else {
    const p = parsePort(portText);
    if (!p.ok) return fail(p.error);
    port = p.value;
  }
  const host = canonicalizeHost(hostText);
  if (!host.ok) return fail(host.error);
  return { ok: true, value: { host: host.value, port } };
}

export interface AbsoluteUri {
  target: CanonicalTarget;
  /** The authority exactly as written (no userinfo: that is rejected). */
  authority: string;
  /** Origin-form path and query to send upstream ("/" at least); the fragment is dropped. */
  path: string;
  /** The path without the query, for events. */
  pathNoQuery: string;
}

const ABSOLUTE_URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;

/** The request-target of a plain-HTTP proxy request: must be `http://authority[/path]`. */
export function parseAbsoluteUri(requestTarget: string): Canon<AbsoluteUri> {
  if (requestTarget.startsWith('/') || requestTarget === '*') {
    return fail('origin-form request sent to a proxy: the request line must carry an absolute http:// URI');
  }
  const m = ABSOLUTE_URI.exec(requestTarget);
  if (!m) return fail('malformed request target');
  const scheme = m[1].toLowerCase();
  if (scheme !== 'http') return fail(`unsupported scheme '${scheme}' for a forwarded request (use CONNECT for https)`);
  const authority = m[2];
  const target = parseAuthority(authority, HTTP_DEFAULT_PORT);
  if (!target.ok) return target;
  let rest = m[3];
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  if (rest === '') rest = '/';
  else if (rest.startsWith('?')) rest = '/' + rest;
  const q = rest.indexOf('?');
  return { ok: true, value: { target: target.value, authority, path: rest, pathNoQuery: q < 0 ? rest : rest.slice(0, q) } };
}

export function sameTarget(a: CanonicalTarget, b: CanonicalTarget): boolean {
  return a.port === b.port && a.host.kind === b.host.kind && a.host.host === b.host.host;
}
