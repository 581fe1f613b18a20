/**
 * The one place dial failures become answers: an HTTP status (502 / 504) for
 * HTTP and CONNECT clients and a SOCKS5 reply code, so every front-end maps
 * "refused", "unreachable" and "timed out" the same way.
 */
import { isIP } from 'node:net';
import {
  REPLY_CONNECTION_REFUSED,
  REPLY_GENERAL_FAILURE,
  REPLY_HOST_UNREACHABLE,
  REPLY_NETWORK_UNREACHABLE,
} from './socks5-wire.js';

/** A dial failure with its answers for HTTP and SOCKS5 clients. */
export class DialError extends Error {
  constructor(
    message: string,
    readonly status: 502 | 504,
    readonly socksReply: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'DialError';
  }
}

/** Maps a socket error (or anything thrown while dialing) to a DialError. */
export function toDialError(e: unknown, what: string): DialError {
  if (e instanceof DialError) return e;
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'EDIAL';
  const msg = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'ECONNREFUSED':
      return new DialError(`${what}: connection refused`, 502, REPLY_CONNECTION_REFUSED, code);
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return new DialError(`${what}: host unreachable`, 502, REPLY_HOST_UNREACHABLE, code);
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return new DialError(`${what}: network unreachable`, 502, REPLY_NETWORK_UNREACHABLE, code);
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return new DialError(`${what}: timed out`, 504, REPLY_HOST_UNREACHABLE, code);
    default:
      return new DialError(`${what}: ${msg}`, 502, REPLY_GENERAL_FAILURE, code);
  }
}

export function formatHostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

