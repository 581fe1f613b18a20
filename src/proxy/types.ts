/**
 * The proxy's shared vocabulary: options, limits, sessions, the logger it
 * accepts, and the per-server context every entry path (HTTP forward,
 * CONNECT, SOCKS5) receives. Kept apart so the entry-path modules depend on
 * this file and never on each other or on server.ts.
 */
import type { Socket } from 'node:net';
import type { Mode } from '../policy/types.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { EventEmitterPort } from '../events/types.js';
import type { Resolver } from './resolver.js';
import type { ReadBufferPool } from './pooled-read.js';

export interface ProxySession {
  id: string;
  labels: Record<string, string>;
}

export const ANONYMOUS_SESSION_ID = 'anonymous';

/** Credentials check: a session for good credentials, null for bad ones. */
export type Authenticate = (user: string, pass: string) => { session: ProxySession } | null;

/** The subset of pino's API the proxy uses (pino loggers satisfy it). */
export interface ProxyLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const NOOP_LOGGER: ProxyLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

export interface ProxyLimits {
  /** Concurrent client connections across all listeners; excess connections are closed at once. */
  maxConnections: number;
  /** Time to receive a complete request head (HTTP headers, SOCKS5 handshake, first byte). */
  headerTimeoutMs: number;
  /** A tunnel or keep-alive connection with no traffic in either direction for this long is closed. */
  idleTimeoutMs: number;
  /** Largest HTTP request head (request line + headers). */
  maxHeaderBytes: number;
  /** CONNECT / SOCKS5 ports on which a TLS ClientHello is required and its SNI checked. */
  tlsPorts: number[];
  /** Time to receive the ClientHello after the tunnel was accepted. */
  clientHelloTimeoutMs: number;
  /** Time to connect to the checked address (or through the upstream proxy). */
  dialTimeoutMs: number;
}

export const DEFAULT_MAX_CONNECTIONS = 4096;
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_TLS_PORTS: readonly number[] = Object.freeze([443]);
export const DEFAULT_CLIENT_HELLO_TIMEOUT_MS = 10_000;
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

export function resolveLimits(partial: Partial<ProxyLimits> | undefined): ProxyLimits {
  return {
    maxConnections: partial?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    headerTimeoutMs: partial?.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS,
    idleTimeoutMs: partial?.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxHeaderBytes: partial?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    tlsPorts: [...(partial?.tlsPorts ?? DEFAULT_TLS_PORTS)],
    clientHelloTimeoutMs: partial?.clientHelloTimeoutMs ?? DEFAULT_CLIENT_HELLO_TIMEOUT_MS,
    dialTimeoutMs: partial?.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
  };
}

/** Counters shown in status / metrics; owned by one ProxyServer. */
export interface ProxyStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Closed at accept because maxConnections was reached. */
  connectionsRejected: number;
  /** Open CONNECT / SOCKS5 tunnels. */
  tunnelsOpen: number;
  /** Client → destination payload bytes. */
  bytesUp: number;
  /** Destination → client payload bytes. */
  bytesDown: number;
  /** Decisions: allowed, denied (enforced), audited (denied but let through), invalid (invalid-target). */
  decisions: { allowed: number; denied: number; audited: number; invalid: number };
}

export function emptyStats(): ProxyStats {
  return {
    connectionsOpen: 0,
    connectionsTotal: 0,
    connectionsRejected: 0,
    tunnelsOpen: 0,
    bytesUp: 0,
    bytesDown: 0,
    decisions: { allowed: 0, denied: 0, audited: 0, invalid: 0 },
  };
}

/** What every entry path gets from the server it runs in. */
export interface ProxyContext {
  /** Called once per new decision, so a swapped policy applies to new requests only. */
  getPolicy(): CompiledPolicy;
  resolver: Resolver;
  modeOverride: Mode | null;
  authenticate: Authenticate | null;
  requireSession: boolean;
  events: EventEmitterPort;
  limits: ProxyLimits;
  upstreamProxy: URL | null;
  logger: ProxyLogger;
  stats: ProxyStats;
  /** True once drain() or close() started: keep-alive connections are closed after their current request. */
  isDraining(): boolean;
  /** Registers an outgoing socket so close() can destroy it. */
  trackUpstream(socket: Socket): void;
  /** Read buffers shared by every tunnel's download direction (pooled-read.ts). */
  readBuffers: ReadBufferPool;
}
