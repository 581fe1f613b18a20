/**
 * Dial exactly the address the decision checked (DESIGN §2: "The proxy dials
 * exactly an address it checked — it never resolves the name again").
 *
 * The target handed in is always an IP literal; the socket is given a lookup
 * function that refuses anything else, so no code path can turn this into a
 * second DNS query. Dial failures are mapped once, here, to the answers every
 * front-end needs: an HTTP status (502 / 504) and a SOCKS5 reply code.
 * With an upstream (corporate) proxy configured, the connection goes through
 * it instead (upstream.ts), still to the checked IP.
 */
import { connect, isIP, type Socket } from 'node:net';
import type { LookupFunction } from 'node:net';
import { DialError, formatHostPort, toDialError } from './dial-error.js';
import { REPLY_GENERAL_FAILURE, REPLY_HOST_UNREACHABLE } from './socks5-wire.js';
import { dialViaUpstream } from './upstream.js';

export { DialError, formatHostPort, toDialError };

export const DIAL_TIMEOUT_MS = 10_000;

export interface DialOptions {
  /** The checked IP literal (canonical text). */
  address: string;
  port: number;
  timeoutMs: number;
  /** http://, https:// is not supported; socks5:// or socks5h:// (treated alike: the IP is sent). */
  upstreamProxy?: URL | null;
  /**
   * Direct dials only (ignored with upstreamProxy): read into caller-supplied
   * buffers (net.Socket `onread`); the socket then emits no 'data'.
   */
  onread?: SocketReadOptions | null;
}

/** The `onread` option of net.Socket. */
export interface SocketReadOptions {
  buffer: () => Uint8Array;
  callback: (bytesWritten: number, buf: Uint8Array) => boolean;
}

/** A lookup that only ever echoes an IP literal back: a name reaching it is a bug, and fails the dial. */
export const pinnedLookup: LookupFunction = (hostname, options, callback) => {
  const family = isIP(hostname);
  if (family === 0) {
    const err = Object.assign(new Error(`refusing to resolve ${hostname}: cordon dials checked addresses only`), { code: 'ENOTIP' });
    callback(err, '', 0);
    return;
  }
  if ((options as { all?: boolean }).all) {
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: hostname, family }]);
  } else {
    callback(null, hostname, family);
  }
};

/**
 * Connects to `address:port` (an IP literal) directly or through the upstream
 * proxy. Resolves with a connected socket (allowHalfOpen, no timeout set) or
 * rejects with a DialError.
 */
export function dialChecked(opts: DialOptions): Promise<Socket> {
  if (isIP(opts.address) === 0) {
    return Promise.reject(new DialError(`refusing to dial ${opts.address}: not an IP literal`, 502, REPLY_GENERAL_FAILURE, 'ENOTIP'));
  }
  if (opts.upstreamProxy) return dialViaUpstream(opts.upstreamProxy, opts.address, opts.port, opts.timeoutMs);
  return dialDirect(opts.address, opts.port, opts.timeoutMs, pinnedLookup, opts.onread ?? null);
}

export function dialDirect(
  host: string,
  port: number,
  timeoutMs: number,
  lookup: LookupFunction = pinnedLookup,
  onread: SocketReadOptions | null = null,
): Promise<Socket> {
  const what = `connect ${formatHostPort(host, port)}`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect(
      onread === null ? { host, port, lookup, allowHalfOpen: true, noDelay: true } : { host, port, lookup, allowHalfOpen: true, noDelay: true, onread },
    );
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(`${what}: timed out after ${timeoutMs} ms`, 504, REPLY_HOST_UNREACHABLE, 'ETIMEDOUT'));
    }, timeoutMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(toDialError(e, what));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}
