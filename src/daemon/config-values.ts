/**
 * Parsers for single daemon-config values (addresses, paths, URLs), shared by
 * the config file reader and the `cordon run` flags so that a value means
 * and is checked the same wherever it is given. Each returns the normalised
 * value or an error message; none throws.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { isUrlSource, validatePolicyUrl } from '../policy/sources/url-source.js';

export const DNS_PORT = 53;
export const MAX_IDENTITY_CHARS = 256;
const UPSTREAM_PROXY_SCHEMES = ['http:', 'socks5:', 'socks5h:'];

/** True when a `HOST:PORT` listen address is on loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopbackListen(address: string): boolean {
  const parsed = splitHostPort(address);
  return parsed !== null && isLoopbackHost(parsed.host);
}

export function parsePolicySource(text: string, baseDir: string): { source: string } | { error: string } {
  if (text === '') return { error: 'must not be empty' };
  if (isUrlSource(text)) {
    const v = validatePolicyUrl(text);
    return v.ok ? { source: v.url.href } : { error: v.error };
  }
  const err = checkPath(text);
  return err === null ? { source: resolvePath(text, baseDir) } : { error: err };
}

export function checkPath(text: string): string | null {
  if (text === '') return 'must be a non-empty path';
  if (text.includes('\0')) return 'must not contain NUL';
  return null;
}

export function resolvePath(text: string, baseDir: string): string {
  if (text === '~') return homedir();
  if (text.startsWith('~/')) return join(homedir(), text.slice(2));
  return isAbsolute(text) ? resolve(text) : resolve(baseDir, text);
}

export function identityError(text: string): string | null {
  if (text.length === 0 || text.length > MAX_IDENTITY_CHARS) return `must be 1-${MAX_IDENTITY_CHARS} characters`;
  if (/[\u0000-\u001f\u007f]/.test(text)) return 'must not contain control characters';
  return null;
}

function splitHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535 || (m[3].length > 1 && m[3].startsWith('0'))) return null;
  return { host: (m[1] ?? m[2]).toLowerCase(), port };
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** `HOST:PORT` where HOST is an IP literal (IPv6 in brackets) or `localhost`; port 0-65535. */
export function parseListenAddress(text: string): string | { error: string } {
  const parsed = splitHostPort(text);
  if (parsed === null) return { error: `must be HOST:PORT (IPv6 as [addr]:port), got '${text}'` };
  const { host, port } = parsed;
  if (host !== 'localhost' && isIP(host) === 0) return { error: `host must be an IP address or localhost, got '${host}'` };
  if (isIP(host) === 4 && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(host)) return { error: `'${host}' is not a dotted-quad IPv4 address` };
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `IP[:PORT]` of a DNS server (an IP: resolving the resolver by name would be circular); normalised to `IP:PORT`. */
export function parseResolver(text: string): string | { error: string } {
  const bare = text.startsWith('[') ? null : isIP(text);
  if (bare === 4) return `${text}:${DNS_PORT}`;
  if (bare === 6) return `[${text}]:${DNS_PORT}`;
  const parsed = splitHostPort(text);
  if (parsed === null || isIP(parsed.host) === 0 || parsed.port === 0) {
    return { error: `must be IP or IP:PORT of a DNS server (IPv6 as [addr]:port), got '${text}'` };
  }
  return isIP(parsed.host) === 6 ? `[${parsed.host}]:${parsed.port}` : `${parsed.host}:${parsed.port}`;
}

export function checkUpstreamProxy(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be a URL such as http://proxy.corp:8080 or socks5://proxy.corp:1080, got '${text}'`;
  }
  if (!UPSTREAM_PROXY_SCHEMES.includes(url.protocol)) {
    return `scheme must be one of ${UPSTREAM_PROXY_SCHEMES.map((s) => s.slice(0, -1)).join(', ')}, got '${url.protocol.slice(0, -1)}'`;
  }
  if (url.hostname === '') return 'must name a host';
  if (url.pathname !== '' && url.pathname !== '/') return 'must not have a path';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  return null;
}
