/**
 * Listen addresses for the proxy (`--listen`, `--socks-listen`,
 * `--proxy-socket`): parsed strictly at start, and loopback-only unless the
 * caller explicitly allows otherwise — an open proxy on a LAN address lets
 * anyone who can reach it borrow this machine's egress and identity.
 */
import { isIP } from 'node:net';

export type ListenSpec = { kind: 'tcp'; host: string; port: number; text: string } | { kind: 'unix'; path: string; text: string };

export class ListenAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenAddressError';
  }
}

/**
 * `HOST:PORT` where HOST is an IP literal (IPv6 in brackets) or `localhost`
 * (→ 127.0.0.1); or a Unix socket path (absolute, `./`, `../`, or `unix:PATH`).
 * Port 0 picks a free port.
 */
export function parseListenAddress(text: string): ListenSpec {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice('unix:'.length), text };
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) return { kind: 'unix', path: text, text };
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
  } else {
    const m = /^([^:[\]]+):(\d+)$/.exec(text);
    if (!m) throw new ListenAddressError(`invalid listen address '${text}': use HOST:PORT, [IPv6]:PORT or a socket path`);
    host = m[1];
    portText = m[2];
  }
  if (host === 'localhost') host = '127.0.0.1';
  if (isIP(host) === 0) throw new ListenAddressError(`invalid listen address '${text}': the host must be an IP address or localhost`);
  const port = Number(portText);
  if (!/^(0|[1-9]\d{0,4})$/.test(portText) || port > 65535) throw new ListenAddressError(`invalid listen address '${text}': port must be 0-65535`);
  return { kind: 'tcp', host, port, text };
}

export function isLoopbackAddress(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  const lower = host.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped !== null && mapped[1].startsWith('127.');
}
