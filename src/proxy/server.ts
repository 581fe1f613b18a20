/**
 * The proxy listener (DESIGN §1, §4): one port that speaks HTTP forward
 * proxy, HTTP CONNECT and SOCKS5, told apart by the first byte (0x05 SOCKS5,
 * 0x04 SOCKS4 — refused, anything else HTTP), on any number of TCP addresses
 * and Unix socket paths, plus optional SOCKS5-only listeners.
 *
 * This module owns the connection-level hygiene: the connection cap, the
 * first-byte deadline, an 'error' handler on every socket (no exception on
 * one connection can take the daemon down), HTTP header/idle timeouts and
 * header-size limit, answering malformed HTTP with 400/431 instead of a
 * reset, and graceful drain. Decisions are made per request with whatever
 * getPolicy() returns at that moment, so a swapped policy applies to new
 * requests while open tunnels keep the decision they were given.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { EventEmitterPort } from '../events/types.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { Mode } from '../policy/types.js';
import { clean, rawResponse, REASON_HEADER } from './answers.js';
import { handleConnect } from './connect.js';
import { anonymousSession } from './auth.js';
import { decideInvalid } from './decide-request.js';
import { HttpForwarder } from './http-forward.js';
import { isLoopbackAddress, parseListenAddress, type ListenSpec } from './listen-address.js';
import { countDecision, emitDecision } from './record.js';
import { ReadBufferPool } from './pooled-read.js';
import { createResolver, type Resolver } from './resolver.js';
import { handleSocks5 } from './socks5.js';
import { SOCKS4_REJECTED_REPLY, SOCKS4_VERSION, SOCKS_VERSION } from './socks5-wire.js';
import {
  emptyStats,
  NOOP_LOGGER,
  resolveLimits,
  type Authenticate,
  type ProxyContext,
  type ProxyLimits,
  type ProxyLogger,
  type ProxyStats,
} from './types.js';
import { upstreamProxyError } from './upstream.js';

/** Longest an idle client keep-alive connection is kept between requests. */
export const KEEP_ALIVE_TIMEOUT_MS = 60_000;
/** How often Node checks HTTP connections for the header deadline (bounded to the deadline's scale). */
const MAX_CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
const MIN_CONNECTIONS_CHECK_INTERVAL_MS = 50;
export const DEFAULT_SOCKET_MODE = 0o660;

export interface ProxyServerOptions {
  /** TCP `HOST:PORT` addresses and/or Unix socket paths that speak HTTP, CONNECT and SOCKS5. */
  listen: string[];
  /** Addresses that speak SOCKS5 only (`--socks-listen`). */
  socksListen?: string[];
  /** Required to listen on anything but loopback; a warning is logged when used. */
  allowNonLoopback?: boolean;
  /** File mode of Unix socket listeners (default 0660). */
  socketMode?: number;
  getPolicy: () => CompiledPolicy;
  /** Proxy credentials check; absent = credentials are not accepted (traffic is anonymous). */
  authenticate?: Authenticate | null;
  requireSession?: boolean;
  events: EventEmitterPort;
  /** Default: the system resolver. */
  resolver?: Resolver;
  modeOverride?: Mode | null;
  limits?: Partial<ProxyLimits>;
  /** http://HOST:PORT or socks5://HOST:PORT for allowed traffic. */
  upstreamProxy?: URL | string | null;
  logger?: ProxyLogger;
}

export interface ListenerInfo {
  kind: 'tcp' | 'unix';
  /** 'all' = HTTP + CONNECT + SOCKS5; 'socks5' = a SOCKS5-only listener. */
  protocols: 'all' | 'socks5';
  /** "127.0.0.1:3128", "[::1]:3128" or the socket path. */
  address: string;
  host?: string;
  port?: number;
  path?: string;
}

type Protocols = ListenerInfo['protocols'];

export class ProxyServer {
  readonly #opts: ProxyServerOptions;
  readonly #ctx: ProxyContext;
  readonly #stats: ProxyStats = emptyStats();
  readonly #limits: ProxyLimits;
  readonly #http: HttpServer;
  readonly #forwarder: HttpForwarder;
  readonly #listeners: { server: NetServer; spec: ListenSpec; protocols: Protocols }[] = [];
  readonly #clients = new Set<Socket>();
  readonly #upstreams = new Set<Socket>();
  readonly #logger: ProxyLogger;
  #draining = false;
  #closed = false;

  constructor(opts: ProxyServerOptions) {
    this.#opts = opts;
    this.#logger = opts.logger ?? NOOP_LOGGER;
    this.#limits = resolveLimits(opts.limits);
    const upstream = typeof opts.upstreamProxy === 'string' ? new URL(opts.upstreamProxy) : opts.upstreamProxy ?? null;
    if (upstream) {
      const err = upstreamProxyError(upstream);
      if (err) throw new Error(err);
    }
    this.#ctx = {
      getPolicy: opts.getPolicy,
      resolver: opts.resolver ?? createResolver(),
      modeOverride: opts.modeOverride ?? null,
      authenticate: opts.authenticate ?? null,
      requireSession: opts.requireSession ?? false,
      events: opts.events,
      limits: this.#limits,
      upstreamProxy: upstream,
      logger: this.#logger,
      stats: this.#stats,
      isDraining: () => this.#draining,
      trackUpstream: (s: Socket) => {
        this.#upstreams.add(s);
        s.once('close', () => this.#upstreams.delete(s));
      },
      readBuffers: new ReadBufferPool(),
    };
    this.#forwarder = new HttpForwarder(this.#ctx);
    this.#http = this.#createHttpServer();
  }

  #createHttpServer(): HttpServer {
    const l = this.#limits;
    const checkEvery = Math.max(MIN_CONNECTIONS_CHECK_INTERVAL_MS, Math.min(MAX_CONNECTIONS_CHECK_INTERVAL_MS, Math.floor(l.headerTimeoutMs / 4)));
    const server = createHttpServer({
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headerTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: Math.min(KEEP_ALIVE_TIMEOUT_MS, l.idleTimeoutMs),
      connectionsCheckingInterval: checkEvery,
      requireHostHeader: true,
      insecureHTTPParser: false,
      joinDuplicateHeaders: false,
    });
    server.timeout = l.idleTimeoutMs;
    // This http.Server never listens itself (connections are handed to it after
    // the first-byte sniff), but Node only starts tracking connections — the
    // header deadline and closeIdleConnections() — on 'listening'.
    server.emit('listening');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#forwarder.handle(req, res));
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => handleConnect(this.#ctx, req, socket, head));
    server.on('clientError', (err: Error & { code?: string }, socket: Socket) => this.#onClientError(err, socket));
    return server;
  }

  /** Malformed HTTP: answer 400 / 431 / 408 on the socket (never a bare reset) and record parse errors. */
  #onClientError(err: Error & { code?: string }, socket: Socket): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let text = `cordon: malformed HTTP request (${clean(err.message)})\n`;
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      text = `cordon: request header larger than ${this.#limits.maxHeaderBytes} bytes\n`;
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      text = `cordon: request header not received within ${this.#limits.headerTimeoutMs} ms\n`;
    }
    if (status !== 408) {
      const decided = decideInvalid(this.#ctx, '', `malformed HTTP request: ${code || err.message}`);
      countDecision(this.#stats, decided);
      emitDecision(this.#ctx, decided, 'http', anonymousSession(), { bytesUp: 0, bytesDown: 0, durationMs: 0 });
    }
    socket.once('finish', () => socket.destroy());
    socket.end(rawResponse(status, text, status === 408 ? {} : { [REASON_HEADER]: 'invalid-target' }));
  }

  /** Opens every listener. Throws (and closes what was opened) on a bad or refused address. */
  async listen(): Promise<ListenerInfo[]> {
    const specs: { spec: ListenSpec; protocols: Protocols }[] = [
      ...this.#opts.listen.map((t) => ({ spec: parseListenAddress(t), protocols: 'all' as const })),
      ...(this.#opts.socksListen ?? []).map((t) => ({ spec: parseListenAddress(t), protocols: 'socks5' as const })),
    ];
    if (specs.length === 0) throw new Error('the proxy needs at least one listen address');
    for (const { spec } of specs) {
      if (spec.kind !== 'tcp' || isLoopbackAddress(spec.host)) continue;
      if (!this.#opts.allowNonLoopback) {
        throw new Error(
          `refusing to listen on ${spec.text}: not a loopback address, so anyone who can reach it could use this proxy; ` +
            'allow it explicitly (allowNonLoopback / --allow-non-loopback) if that is intended',
        );
      }
      this.#logger.warn({ listen: spec.text }, 'proxy listening on a non-loopback address: anyone who can reach it can use it');
    }
    try {
      for (const { spec, protocols } of specs) await this.#listenOne(spec, protocols);
    } catch (e) {
      await this.close();
      throw e;
    }
    return this.addresses();
  }

  async #listenOne(spec: ListenSpec, protocols: Protocols): Promise<void> {
    const server = createNetServer({ allowHalfOpen: true, pauseOnConnect: false }, (s) => this.#onConnection(s, protocols));
    server.on('error', (e) => this.#logger.error({ err: String(e), listen: spec.text }, 'listener error'));
    const attempt = () =>
      new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        const done = () => {
          server.removeListener('error', onError);
          resolve();
        };
        if (spec.kind === 'tcp') server.listen({ host: spec.host, port: spec.port, exclusive: true }, done);
        else server.listen({ path: spec.path, exclusive: true }, done);
      });
    try {
      await attempt();
    } catch (e) {
      if (spec.kind !== 'unix' || (e as { code?: string }).code !== 'EADDRINUSE' || !(await isStaleSocket(spec.path))) throw e;
      unlinkSync(spec.path);
      await attempt();
    }
    if (spec.kind === 'unix') chmodSync(spec.path, this.#opts.socketMode ?? DEFAULT_SOCKET_MODE);
    this.#listeners.push({ server, spec, protocols });
  }

  #onConnection(socket: Socket, protocols: Protocols): void {
    this.#stats.connectionsTotal++;
    socket.on('error', (e: Error) => this.#logger.debug({ err: e.message }, 'client socket error'));
    if (this.#draining || this.#stats.connectionsOpen >= this.#limits.maxConnections) {
      this.#stats.connectionsRejected++;
      socket.destroy();
      return;
    }
    this.#stats.connectionsOpen++;
    this.#clients.add(socket);
    socket.once('close', () => {
      this.#stats.connectionsOpen--;
      this.#clients.delete(socket);
    });
    if (socket.setNoDelay) socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), this.#limits.headerTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      try {
        this.#dispatch(socket, chunk, protocols);
      } catch (e) {
        this.#logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'dispatch failed');
        socket.destroy();
      }
    });
  }

  #dispatch(socket: Socket, chunk: Buffer, protocols: Protocols): void {
    const first = chunk[0];
    if (first === SOCKS_VERSION) {
      handleSocks5(this.#ctx, socket, chunk);
      return;
    }
    if (first === SOCKS4_VERSION) {
      socket.once('finish', () => socket.destroy());
      socket.end(SOCKS4_REJECTED_REPLY);
      return;
    }
    if (protocols === 'socks5') {
      socket.destroy();
      return;
    }
    socket.unshift(chunk);
    this.#http.emit('connection', socket);
    socket.resume();
  }

  /** Where the proxy listens (actual ports when 0 was asked). */
  addresses(): ListenerInfo[] {
    return this.#listeners.map(({ server, spec, protocols }) => {
      if (spec.kind === 'unix') return { kind: 'unix', protocols, address: spec.path, path: spec.path };
      const a = server.address();
      const port = a && typeof a === 'object' ? a.port : spec.port;
      const address = spec.host.includes(':') ? `[${spec.host}]:${port}` : `${spec.host}:${port}`;
      return { kind: 'tcp', protocols, address, host: spec.host, port };
    });
  }

  /** A snapshot of the counters. */
  stats(): ProxyStats {
    return { ...this.#stats, decisions: { ...this.#stats.decisions } };
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Graceful stop: stop accepting, close idle keep-alive connections, let
   * requests and tunnels finish for up to `deadlineMs`, then destroy the rest.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#draining = true;
    const closing = this.#stopListening();
    this.#http.closeIdleConnections();
    if (this.#clients.size > 0 && deadlineMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, deadlineMs);
        const poll = setInterval(() => {
          this.#http.closeIdleConnections();
          if (this.#clients.size === 0) finish();
        }, Math.min(100, deadlineMs));
        function finish() {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      });
    }
    this.#destroyAll();
    await closing;
  }

  /** Immediate stop: closes listeners and destroys every connection. */
  async close(): Promise<void> {
    await this.drain(0);
  }

  #destroyAll(): void {
    for (const s of this.#clients) s.destroy();
    for (const s of this.#upstreams) s.destroy();
    this.#forwarder.destroy();
    this.#http.closeAllConnections();
    if (!this.#closed) {
      this.#closed = true;
      this.#http.close();
    }
  }

  #stopListening(): Promise<void> {
    const closes = this.#listeners.map(
      ({ server }) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
        }),
    );
    return Promise.all(closes).then(() => undefined);
  }
}

/** True when `path` is a Unix socket nobody is listening on (left over from a crash). */
function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (e: Error & { code?: string }) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Creates a ProxyServer and opens its listeners. */
export async function startProxy(opts: ProxyServerOptions): Promise<ProxyServer> {
  const server = new ProxyServer(opts);
  await server.listen();
  return server;
}
