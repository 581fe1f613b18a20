/**
 * The status socket server: HTTP/1.1 + JSON on a Unix domain socket, the
 * local API that the CLI and sandbox runtimes talk to (DESIGN §7). It owns
 * routing, body limits and error shapes; the decisions themselves come from
 * the daemon through ControlDeps.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { MountDecision, NetworkDecision } from '../decide/types.js';
import type { CordonEvent } from '../events/types.js';
import type { Session, SessionRegistry } from '../sessions/registry.js';
import type { MetricsSnapshot } from './prometheus.js';
import { renderMetrics } from './prometheus.js';
import { prepareSocketPath, restrictSocket } from './socket-file.js';
import {
  API_PREFIX,
  DEFAULT_EVENTS_LIMIT,
  MAX_BODY_BYTES,
  MAX_EVENTS_LIMIT,
  SESSION_ID_PATTERN,
  WireError,
  parseCheckRequest,
  parseMountRequest,
  parseSessionCreateRequest,
  type ErrorBody,
  type EventsResponse,
  type MountRequestBody,
  type ReloadResponse,
  type SessionCreateResponse,
  type SessionHoldResponse,
  type StatusResponse,
} from './wire.js';

export const CONTROL_HEADERS_TIMEOUT_MS = 5_000;
export const CONTROL_REQUEST_TIMEOUT_MS = 30_000;
export const FOLLOW_HEARTBEAT_MS = 15_000;
/** `POST /v1/sessions/{id}/hold`: see holdSession. */
const HOLD_SUFFIX = '/hold';

export interface ControlDeps {
  status(): StatusResponse;
  check(target: string, labels: Record<string, string>): Promise<NetworkDecision>;
  mount(req: MountRequestBody, session: Session | null): MountDecision;
  sessions: SessionRegistry;
  proxyUrls(id: string, secret: string): { http: string | null; socks: string | null };
  recentEvents(limit: number): CordonEvent[];
  subscribeEvents(fn: (event: CordonEvent) => void): () => void;
  reload(): Promise<ReloadResponse>;
  metrics(): MetricsSnapshot;
  /** Called for an API error worth logging (never for client mistakes). */
  onInternalError?(err: unknown): void;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, error: string): void {
  const body: ErrorBody = { error, code };
  send(res, status, body);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) {
      reject(new WireError(`request body over ${MAX_BODY_BYTES} bytes`, 413, 'body-too-large'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new WireError(`request body over ${MAX_BODY_BYTES} bytes`, 413, 'body-too-large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(new WireError('request body must be a JSON object', 400, 'bad-request'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new WireError(`malformed JSON: ${(err as Error).message}`, 400, 'bad-json'));
      }
    });
    req.on('error', reject);
  });
}

function methodNotAllowed(res: ServerResponse, allowed: string): void {
  res.setHeader('allow', allowed);
  sendError(res, 405, 'method-not-allowed', `use ${allowed}`);
}

function parseLimit(value: string | null): number {
  if (value === null) return DEFAULT_EVENTS_LIMIT;
  if (!/^[0-9]{1,6}$/.test(value)) throw new WireError(`'limit' must be an integer from 1 to ${MAX_EVENTS_LIMIT}`, 400, 'bad-request');
  const n = Number(value);
  if (n < 1 || n > MAX_EVENTS_LIMIT) throw new WireError(`'limit' must be an integer from 1 to ${MAX_EVENTS_LIMIT}`, 400, 'bad-request');
  return n;
}

async function route(deps: ControlDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://cordon');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (path === '/metrics') {
    if (method !== 'GET') return methodNotAllowed(res, 'GET');
    const text = renderMetrics(deps.metrics());
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (path === `${API_PREFIX}/status`) {
    if (method !== 'GET') return methodNotAllowed(res, 'GET');
    return send(res, 200, deps.status());
  }
  if (path === `${API_PREFIX}/check`) {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    const body = parseCheckRequest(await readJson(req));
    return send(res, 200, await deps.check(body.target, body.labels ?? {}));
  }
  if (path === `${API_PREFIX}/mounts`) {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    const body = parseMountRequest(await readJson(req));
    let session: Session | null = null;
    if (body.session !== undefined) {
      session = deps.sessions.get(body.session);
      if (session === null) throw new WireError(`no session '${body.session}'`, 404, 'no-such-session');
    }
    return send(res, 200, deps.mount(body, session));
  }
  if (path === `${API_PREFIX}/sessions`) {
    if (method === 'GET') return send(res, 200, { sessions: deps.sessions.list() });
    if (method !== 'POST') return methodNotAllowed(res, 'GET, POST');
    const body = parseSessionCreateRequest(await readJson(req));
    const created = deps.sessions.create(body.labels, body.ttl_s ?? null);
    const out: SessionCreateResponse = { ...created, proxy: deps.proxyUrls(created.id, created.secret) };
    return send(res, 201, out);
  }
  if (path.startsWith(`${API_PREFIX}/sessions/`) && path.endsWith(HOLD_SUFFIX)) {
    const id = path.slice(`${API_PREFIX}/sessions/`.length, -HOLD_SUFFIX.length);
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    if (!SESSION_ID_PATTERN.test(id)) throw new WireError(`invalid session id`, 400, 'bad-request');
    if (deps.sessions.get(id) === null) throw new WireError(`no session '${id}'`, 404, 'no-such-session');
    return holdSession(deps, id, req, res);
  }
  if (path.startsWith(`${API_PREFIX}/sessions/`)) {
    const id = path.slice(`${API_PREFIX}/sessions/`.length);
    if (method !== 'DELETE') return methodNotAllowed(res, 'DELETE');
    if (!SESSION_ID_PATTERN.test(id)) throw new WireError(`invalid session id`, 400, 'bad-request');
    if (!deps.sessions.delete(id)) throw new WireError(`no session '${id}'`, 404, 'no-such-session');
    return send(res, 200, { deleted: id });
  }
  if (path === `${API_PREFIX}/events`) {
    if (method !== 'GET') return methodNotAllowed(res, 'GET');
    for (const key of url.searchParams.keys()) {
      if (key !== 'limit' && key !== 'follow') throw new WireError(`unknown query parameter '${key}'; expected limit, follow`, 400, 'bad-request');
    }
    const limit = parseLimit(url.searchParams.get('limit'));
    const follow = url.searchParams.get('follow');
    if (follow !== null && follow !== '0' && follow !== '1') throw new WireError(`'follow' must be 0 or 1`, 400, 'bad-request');
    if (follow !== '1') {
      const out: EventsResponse = { events: deps.recentEvents(limit) };
      return send(res, 200, out);
    }
    return streamEvents(deps, req, res, limit);
  }
  if (path === `${API_PREFIX}/policy/reload`) {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    return send(res, 200, await deps.reload());
  }
  sendError(res, 404, 'not-found', `no route ${method} ${path}`);
}

/**
 * `POST /v1/sessions/{id}/hold`: ties the session to this connection. The
 * answer is one line, then the response stays open; when the connection
 * closes for any reason (the holder exited, crashed or was SIGKILLed, or the
 * daemon is stopping) the session is deleted, so its credentials stop
 * working with the process that owned them.
 */
function holdSession(deps: ControlDeps, id: string, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.socket.setTimeout(0);
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const first: SessionHoldResponse = { held: id };
  res.write(JSON.stringify(first) + '\n');
  res.once('close', () => {
    deps.sessions.delete(id);
  });
}

/** `follow=1`: the last `limit` events, then every new one, as NDJSON until the client goes away. */
function streamEvents(deps: ControlDeps, req: IncomingMessage, res: ServerResponse, limit: number): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  req.socket.setTimeout(0);
  for (const event of deps.recentEvents(limit)) res.write(JSON.stringify(event) + '\n');
  let paused = false;
  let missed = 0;
  res.on('drain', () => {
    paused = false;
  });
  const unsubscribe = deps.subscribeEvents((event) => {
    // A slow reader never slows the daemon: while its buffer is full, events are skipped and counted.
    if (paused) {
      missed += 1;
      return;
    }
    if (missed > 0) {
      res.write(JSON.stringify({ schema: 'cordon.stream/v1', missed }) + '\n');
      missed = 0;
    }
    paused = !res.write(JSON.stringify(event) + '\n');
  });
  const heartbeat = setInterval(() => res.write('\n'), FOLLOW_HEARTBEAT_MS);
  heartbeat.unref();
  const stop = (): void => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  res.on('close', stop);
  req.on('close', stop);
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Starts the status socket at `path` (mode 0660; group `gid` when given). */
export async function startControlServer(path: string, deps: ControlDeps, gid: number | null = null): Promise<ControlServer> {
  await prepareSocketPath(path);
  const server: Server = createServer((req, res) => {
    route(deps, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof WireError) {
        // The rest of an oversized body is never read, so the connection cannot be reused:
        // say so, or a keep-alive client sends its next request into a closing socket (EPIPE).
        if (err.status === 413) res.setHeader('connection', 'close');
        sendError(res, err.status, err.code, err.message);
        if (err.status === 413) req.socket.destroySoon();
        return;
      }
      deps.onInternalError?.(err);
      sendError(res, 500, 'internal-error', 'internal error; see the daemon log');
    });
  });
  server.headersTimeout = CONTROL_HEADERS_TIMEOUT_MS;
  server.requestTimeout = CONTROL_REQUEST_TIMEOUT_MS;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  const oldMask = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  restrictSocket(path, gid);
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
