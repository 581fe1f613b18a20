/**
 * Dial through a configured upstream (corporate) proxy (DESIGN §4,
 * `--upstream-proxy URL`): HTTP CONNECT (http://) or SOCKS5 (socks5://, via
 * the `socks` package).
 *
 * The upstream is always asked for the CHECKED IP address, never the name:
 * letting the upstream resolve the name again would reopen the DNS-rebinding
 * hole that resolve-once closes. Upstreams that filter by name still see it
 * in the TLS SNI (and in the Host header of plain HTTP, which travels inside
 * the tunnel). The upstream's own host name is configuration, not agent
 * input, and is resolved by the system resolver.
 */
import { lookup as dnsLookup } from 'node:dns';
import { connect, isIP, type LookupFunction, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { DialError, formatHostPort, toDialError } from './dial-error.js';
import {
  REPLY_CONNECTION_REFUSED,
  REPLY_GENERAL_FAILURE,
  REPLY_HOST_UNREACHABLE,
  REPLY_NETWORK_UNREACHABLE,
  REPLY_NOT_ALLOWED,
} from './socks5-wire.js';

export const UPSTREAM_HTTP_DEFAULT_PORT = 8080;
export const UPSTREAM_SOCKS_DEFAULT_PORT = 1080;
/** Largest CONNECT response header block accepted from an upstream proxy. */
export const UPSTREAM_RESPONSE_MAX_BYTES = 16 * 1024;

export const SUPPORTED_UPSTREAM_PROTOCOLS = ['http:', 'socks5:', 'socks5h:'];

/** Validates an upstream proxy URL at configuration time; returns an error message or null. */
export function upstreamProxyError(url: URL): string | null {
  if (!SUPPORTED_UPSTREAM_PROTOCOLS.includes(url.protocol)) {
    return `upstream proxy must be http://HOST:PORT or socks5://HOST:PORT (got ${url.protocol}//)`;
  }
  if (!url.hostname) return 'upstream proxy URL has no host';
  if (url.pathname !== '/' && url.pathname !== '') return 'upstream proxy URL must not have a path';
  return null;
}

function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export function dialViaUpstream(url: URL, address: string, port: number, timeoutMs: number): Promise<Socket> {
  if (url.protocol === 'http:') return httpConnect(url, address, port, timeoutMs);
  return socksConnect(url, address, port, timeoutMs);
}

const systemLookup: LookupFunction = (hostname, options, callback) => dnsLookup(hostname, options, callback);

function httpConnect(url: URL, address: string, port: number, timeoutMs: number): Promise<Socket> {
  const authority = formatHostPort(address, port);
  const host = bareHost(url);
  const upstreamPort = url.port ? Number(url.port) : UPSTREAM_HTTP_DEFAULT_PORT;
  const what = `upstream ${formatHostPort(host, upstreamPort)} CONNECT ${authority}`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host, port: upstreamPort, allowHalfOpen: true, noDelay: true, lookup: isIP(host) ? undefined : systemLookup });
    let settled = false;
    let received = Buffer.alloc(0);
    const fail = (e: DialError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new DialError(`${what}: timed out after ${timeoutMs} ms`, 504, REPLY_HOST_UNREACHABLE, 'ETIMEDOUT')), timeoutMs);
    socket.on('error', (e) => fail(toDialError(e, what)));
    socket.once('end', () => fail(new DialError(`${what}: upstream closed the connection`, 502, REPLY_GENERAL_FAILURE, 'EUPSTREAM')));
    socket.once('connect', () => {
      let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
      if (url.username) {
        const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
        head += `Proxy-Authorization: Basic ${Buffer.from(creds, 'utf8').toString('base64')}\r\n`;
      }
      socket.write(head + '\r\n');
    });
    // Read the reply with 'readable' + read(): removing that listener returns the socket to its
    // initial (not flowing) state, so the next consumer's 'data' listener gets every byte after it.
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) {
          if (received.length > UPSTREAM_RESPONSE_MAX_BYTES) fail(new DialError(`${what}: response headers too large`, 502, REPLY_GENERAL_FAILURE, 'EUPSTREAM'));
          continue;
        }
        socket.removeListener('readable', onReadable);
        const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
        const status = m ? Number(m[1]) : 0;
        if (status < 200 || status > 299) {
          const reply = status === 403 ? REPLY_NOT_ALLOWED : status === 504 ? REPLY_HOST_UNREACHABLE : REPLY_GENERAL_FAILURE;
          fail(new DialError(`${what}: upstream answered '${statusLine.slice(0, 80)}'`, status === 504 ? 504 : 502, reply, 'EUPSTREAM'));
          return;
        }
        const rest = received.subarray(end + 4);
        if (rest.length > 0) socket.unshift(rest);
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('end');
        resolve(socket);
        return;
      }
    };
    socket.on('readable', onReadable);
  });
}

async function socksConnect(url: URL, address: string, port: number, timeoutMs: number): Promise<Socket> {
  const host = bareHost(url);
  const upstreamPort = url.port ? Number(url.port) : UPSTREAM_SOCKS_DEFAULT_PORT;
  const what = `upstream socks5 ${formatHostPort(host, upstreamPort)} CONNECT ${formatHostPort(address, port)}`;
  try {
    const { socket } = await SocksClient.createConnection({
      command: 'connect',
      destination: { host: address, port },
      proxy: {
        host,
        port: upstreamPort,
        type: 5,
        ...(url.username ? { userId: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {}),
      },
      timeout: timeoutMs,
      set_tcp_nodelay: true,
    });
    return socket;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/timed out/i.test(msg)) throw new DialError(`${what}: timed out`, 504, REPLY_HOST_UNREACHABLE, 'ETIMEDOUT');
    if (/ConnectionRefused/.test(msg)) throw new DialError(`${what}: ${msg}`, 502, REPLY_CONNECTION_REFUSED, 'ECONNREFUSED');
    if (/HostUnreachable/.test(msg)) throw new DialError(`${what}: ${msg}`, 502, REPLY_HOST_UNREACHABLE, 'EHOSTUNREACH');
    if (/NetworkUnreachable/.test(msg)) throw new DialError(`${what}: ${msg}`, 502, REPLY_NETWORK_UNREACHABLE, 'ENETUNREACH');
    if (/NotAllowed/.test(msg)) throw new DialError(`${what}: ${msg}`, 502, REPLY_NOT_ALLOWED, 'EUPSTREAM');
    throw toDialError(e, what);
  }
}
