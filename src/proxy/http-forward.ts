/**
 * Plain-HTTP forward proxying (DESIGN §4): absolute-URI requests, each one
 * decided on its own — also every request on a keep-alive connection.
 *
 * Before the engine sees a request it must be unambiguous: an absolute
 * `http://` URI without userinfo, a Host header that names the same
 * canonical host and port, exactly one way of framing the body (Content-Length
 * or `Transfer-Encoding: chunked`, never both, never twice). Anything else is
 * a 400 — a proxy and an origin that frame a request differently is how
 * requests get smuggled past a decision. Node's parser already rejects most
 * malformed shapes (answered with 400 by the server's clientError handler).
 *
 * Allowed requests are forwarded by `http-proxy` to `http://<checked IP>:<port>`
 * with the client's Host header, through agents pinned to the checked address
 * (agent-pool.ts); hop-by-hop and `Proxy-*` headers are stripped both ways.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { AgentPool } from './agent-pool.js';
import { denialText, httpStatusFor, refusalHeaders, REASON_HEADER } from './answers.js';
import { anonymousSession, sessionFromProxyAuthorization } from './auth.js';
import { decideAuthRequired, decideForDial, decideInvalid, targetRef, type Decided } from './decide-request.js';
import { toDialError } from './dial-error.js';
import { framingProblem, stripHopByHop } from './http-validate.js';
import { countDecision, emitDecision, type RecordExtra } from './record.js';
import { HTTP_DEFAULT_PORT, parseAbsoluteUri, parseAuthority, sameTarget } from './target-parse.js';
import type { ProxyContext, ProxySession } from './types.js';

interface Flight {
  decided: Decided;
  session: ProxySession;
  startedAt: number;
  method: string;
  path: string;
  up: number;
  down: number;
  error?: string;
  recorded: boolean;
}

export class HttpForwarder {
  readonly #ctx: ProxyContext;
  readonly #pool: AgentPool;
  readonly #proxy: httpProxy;
  readonly #flights = new WeakMap<IncomingMessage, Flight>();

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.#pool = new AgentPool({
      dialTimeoutMs: ctx.limits.dialTimeoutMs,
      upstreamProxy: ctx.upstreamProxy,
      onSocket: (s: Socket) => {
        s.on('error', () => {});
        ctx.trackUpstream(s);
      },
    });
    this.#proxy = httpProxy.createProxyServer({ xfwd: false, changeOrigin: false, proxyTimeout: ctx.limits.idleTimeoutMs });
    this.#proxy.on('proxyRes', (proxyRes, req, res) => {
      stripHopByHop(proxyRes.headers, true);
      proxyRes.headers.connection = ctx.isDraining() || !(res as ServerResponse).shouldKeepAlive ? 'close' : 'keep-alive';
      const flight = this.#flights.get(req);
      if (flight) {
        proxyRes.on('data', (c: Buffer) => {
          flight.down += c.length;
          ctx.stats.bytesDown += c.length;
        });
      }
    });
    // http-proxy emits 'error' without a callback in some paths; never let it throw.
    this.#proxy.on('error', (err) => ctx.logger.debug({ err: String(err) }, 'http-proxy error'));
  }

  /** The 'request' handler of the proxy's http.Server. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#handle(req, res).catch((e: unknown) => {
      this.#ctx.logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'http request handler failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', [REASON_HEADER]: 'internal-error' });
        res.end('cordon: internal error\n');
      } else {
        res.destroy();
      }
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = this.#ctx;
    const startedAt = Date.now();
    const method = req.method ?? 'GET';
    const rawTarget = req.url ?? '';
    if (ctx.isDraining()) res.shouldKeepAlive = false;

    const uri = parseAbsoluteUri(rawTarget);
    const pathForEvent = uri.ok ? uri.value.pathNoQuery : '';
    const auth = sessionFromProxyAuthorization(ctx, firstHeader(req.headers['proxy-authorization']));
    if (!auth.ok) {
      const ref = uri.ok ? targetRef(uri.value.target) : { host: '', port: 0, kind: 'name' as const };
      return this.#refuse(req, res, decideAuthRequired(ctx, ref, auth.error), anonymousSession(), startedAt, pathForEvent);
    }
    const session = auth.session;
    if (!uri.ok) return this.#refuse(req, res, decideInvalid(ctx, rawTarget, uri.error), session, startedAt, '', true);
    const { target } = uri.value;
    const framing = framingProblem(req);
    if (framing) return this.#refuse(req, res, decideInvalid(ctx, uri.value.authority, framing, target.port), session, startedAt, pathForEvent, true);
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined) {
      const h = parseAuthority(hostHeader, HTTP_DEFAULT_PORT);
      if (!h.ok || !sameTarget(h.value, target)) {
        const why = `Host header '${hostHeader.slice(0, 100)}' does not match the request URI authority '${uri.value.authority}'`;
        return this.#refuse(req, res, decideInvalid(ctx, uri.value.authority, why, target.port), session, startedAt, pathForEvent, true);
      }
    } else {
      req.headers.host = uri.value.authority;
    }

    const decided = await decideForDial(ctx, target, session);
    if (decided.dial === null) return this.#refuse(req, res, decided, session, startedAt, pathForEvent);
    countDecision(ctx.stats, decided);
    if (res.destroyed) {
      emitDecision(ctx, decided, 'http', session, { bytesUp: 0, bytesDown: 0, durationMs: Date.now() - startedAt, http: { method, path: pathForEvent }, error: 'client closed' });
      return;
    }

    const flight: Flight = { decided, session, startedAt, method, path: pathForEvent, up: 0, down: 0, recorded: false };
    this.#flights.set(req, flight);
    req.on('data', (c: Buffer) => {
      flight.up += c.length;
      ctx.stats.bytesUp += c.length;
    });
    res.once('close', () => this.#record(flight, res));

    stripHopByHop(req.headers, true);
    req.url = uri.value.path;
    const agent = this.#pool.get(target.host.host, decided.dial, target.port);
    this.#proxy.web(req, res, { target: { protocol: 'http:', host: decided.dial, port: target.port }, agent }, (err) => {
      const e = toDialError(err, `forward to ${decided.dial}:${target.port}`);
      flight.error ??= e.message;
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      res.writeHead(e.status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end(`cordon: ${e.message}\n`);
    });
  }

  #record(flight: Flight, res: ServerResponse): void {
    if (flight.recorded) return;
    flight.recorded = true;
    const extra: RecordExtra = {
      bytesUp: flight.up,
      bytesDown: flight.down,
      durationMs: Date.now() - flight.startedAt,
      http: { method: flight.method, path: flight.path, status: res.statusCode },
      ...(flight.error ? { error: flight.error } : !res.writableFinished ? { error: 'connection closed before the response completed' } : {}),
    };
    emitDecision(this.#ctx, flight.decided, 'http', flight.session, extra);
  }

  #refuse(req: IncomingMessage, res: ServerResponse, decided: Decided, session: ProxySession, startedAt: number, path: string, close = false): void {
    const d = decided.decision;
    const status = httpStatusFor(d);
    countDecision(this.#ctx.stats, decided);
    emitDecision(this.#ctx, decided, 'http', session, {
      bytesUp: 0,
      bytesDown: 0,
      durationMs: Date.now() - startedAt,
      http: { method: req.method ?? '', path, status },
    });
    if (res.destroyed) return;
    const body = denialText(d);
    res.writeHead(status, {
      ...refusalHeaders(d),
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...(close || this.#ctx.isDraining() ? { Connection: 'close' } : {}),
    });
    res.end(body);
  }

  /** Closes every pooled upstream connection. */
  destroy(): void {
    this.#pool.destroy();
    this.#proxy.close();
  }
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
