/**
 * The CLI's side of the status socket: one function per route, typed with
 * the shared wire types, and the translation of "no socket" / "permission
 * denied" into one actionable line.
 */
import { request, type IncomingMessage } from 'node:http';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CordonEvent } from '../events/types.js';
import type {
  CheckResponse,
  ErrorBody,
  EventsResponse,
  MountRequestBody,
  MountResponse,
  ReloadResponse,
  SessionCreateResponse,
  SessionHoldResponse,
  StatusResponse,
} from './wire.js';

/** A session tied to this process (ControlClient.holdSession). */
export interface SessionHold {
  /** Closes the hold's connection; the daemon then deletes the session. */
  release(): void;
}

export const CLIENT_TIMEOUT_MS = 15_000;
export const SYSTEM_SOCKET_LINUX = '/run/cordon/cordon.sock';
export const SYSTEM_SOCKET_MACOS = '/var/run/cordon/cordon.sock';
export const DEFAULT_STATE_DIR = '.cordon';
export const SOCKET_FILE_NAME = 'cordon.sock';
export const DAEMON_GROUP = 'cordon';

/** A failure the CLI prints as one line (and exits non-zero). */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export function stateDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.CORDON_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/**
 * Which socket the CLI talks to: --socket, then $CORDON_SOCKET, then the
 * local state dir's socket when it exists, then the system install's.
 */
export function resolveSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag);
  if (env.CORDON_SOCKET !== undefined && env.CORDON_SOCKET !== '') return resolve(env.CORDON_SOCKET);
  const local = join(stateDirFromEnv(env), SOCKET_FILE_NAME);
  if (existsSync(local)) return local;
  const system = process.platform === 'darwin' ? SYSTEM_SOCKET_MACOS : SYSTEM_SOCKET_LINUX;
  if (existsSync(system)) return system;
  return local;
}

function connectionError(err: NodeJS.ErrnoException, socketPath: string): ClientError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new ClientError(
      `cordon is not running (no daemon at ${socketPath}); start it with \`cordon run\` (or \`sudo systemctl start cordon\`), or pass --socket PATH`,
      'not-running',
    );
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new ClientError(
      `permission denied on ${socketPath}; join the '${DAEMON_GROUP}' group (\`sudo usermod -aG ${DAEMON_GROUP} $USER\`, then log in again)`,
      'permission-denied',
    );
  }
  return new ClientError(`cannot reach cordon at ${socketPath}: ${err.message}`, 'unreachable');
}

export class ControlClient {
  constructor(readonly socketPath: string) {}

  #raw(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    return new Promise((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          timeout: CLIENT_TIMEOUT_MS,
        },
        resolvePromise,
      );
      req.on('timeout', () => req.destroy(new ClientError(`cordon at ${this.socketPath} did not answer within ${CLIENT_TIMEOUT_MS} ms`, 'timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof ClientError ? err : connectionError(err, this.socketPath)));
      req.end(payload);
    });
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#parse<T>(await this.#raw(method, path, body));
  }

  /** Reads the whole body of `res` as JSON; an error status becomes a ClientError. */
  async #parse<T>(res: IncomingMessage): Promise<T> {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ClientError(`cordon answered ${res.statusCode} with a body that is not JSON`, 'bad-response', res.statusCode ?? null);
    }
    if ((res.statusCode ?? 500) >= 400) {
      const err = parsed as ErrorBody;
      if (res.statusCode === 403) {
        throw new ClientError(`cordon refused: ${err.error}; join the '${DAEMON_GROUP}' group to use the local API`, err.code, 403);
      }
      throw new ClientError(err.error ?? `HTTP ${res.statusCode}`, err.code ?? 'error', res.statusCode ?? null);
    }
    return parsed as T;
  }

  status(): Promise<StatusResponse> {
    return this.#json('GET', '/v1/status');
  }

  check(target: string, labels?: Record<string, string>): Promise<CheckResponse> {
    return this.#json('POST', '/v1/check', labels === undefined ? { target } : { target, labels });
  }

  mount(body: MountRequestBody): Promise<MountResponse> {
    return this.#json('POST', '/v1/mounts', body);
  }

  createSession(labels: Record<string, string>, ttlS?: number): Promise<SessionCreateResponse> {
    return this.#json('POST', '/v1/sessions', ttlS === undefined ? { labels } : { labels, ttl_s: ttlS });
  }

  deleteSession(id: string): Promise<{ deleted: string }> {
    return this.#json('DELETE', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  /**
   * Ties session `id` to this process: the daemon deletes the session when
   * the returned hold's connection closes, which includes this process
   * dying from SIGKILL. Resolves once the daemon has confirmed the hold.
   */
  async holdSession(id: string): Promise<SessionHold> {
    const res = await this.#raw('POST', `/v1/sessions/${encodeURIComponent(id)}/hold`);
    if (res.statusCode !== 200) {
      await this.#parse(res);
      throw new ClientError(`cordon answered ${res.statusCode} to a session hold`, 'bad-response', res.statusCode ?? null);
    }
    // The hold is silent for as long as it lasts: no idle timeout.
    res.socket.setTimeout(0);
    const first = await new Promise<string>((resolveLine, reject) => {
      let buffered = '';
      const onData = (chunk: Buffer): void => {
        buffered += chunk.toString('utf8');
        const nl = buffered.indexOf('\n');
        if (nl < 0) return;
        res.off('data', onData);
        res.off('end', onEnd);
        res.pause();
        resolveLine(buffered.slice(0, nl));
      };
      const onEnd = (): void => reject(new ClientError('cordon ended the session hold before confirming it', 'bad-response', 200));
      res.on('data', onData);
      res.once('end', onEnd);
      res.once('error', reject);
    });
    let held: unknown;
    try {
      held = (JSON.parse(first) as Partial<SessionHoldResponse>).held;
    } catch {
      held = undefined;
    }
    if (held !== id) {
      res.destroy();
      throw new ClientError(`cordon confirmed a hold on ${String(held)}, not ${id}`, 'bad-response', 200);
    }
    res.on('error', () => undefined);
    return { release: () => res.destroy() };
  }

  events(limit: number): Promise<EventsResponse> {
    return this.#json('GET', `/v1/events?limit=${limit}`);
  }

  reload(): Promise<ReloadResponse> {
    return this.#json('POST', '/v1/policy/reload');
  }

  /** Streams events (`follow=1`) to `onEvent` until the connection ends or `signal` aborts. */
  async follow(limit: number, onEvent: (event: CordonEvent) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.#raw('GET', `/v1/events?limit=${limit}&follow=1`);
    if ((res.statusCode ?? 500) >= 400) throw new ClientError(`cordon answered ${res.statusCode}`, 'error', res.statusCode ?? null);
    signal?.addEventListener('abort', () => res.destroy());
    let buffered = '';
    for await (const chunk of res) {
      buffered += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        const parsed = JSON.parse(line) as CordonEvent | { schema: string };
        if (parsed.schema === 'cordon.event/v1') onEvent(parsed as CordonEvent);
      }
    }
  }
}
