/**
 * Keep-alive connections for forwarded plain-HTTP requests, pinned to the
 * checked address. One http.Agent per decided (name, address, port): its
 * sockets are only ever dialed to that checked address (dial.ts, never a DNS
 * lookup), and a connection opened for one decided target is never reused
 * for another. The pool is bounded (least recently used agents are retired)
 * and idle upstream sockets time out.
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { dialChecked } from './dial.js';

export const MAX_AGENTS = 1024;
export const FREE_SOCKET_TIMEOUT_MS = 15_000;
/**
 * Idle keep-alive sockets kept per decided target. 32 made ~17% of requests
 * open a new upstream connection with 50 concurrent keep-alive clients (the
 * surplus sockets were closed and redialed); 256 covers that concurrency with
 * room to spare, and idle ones still expire after FREE_SOCKET_TIMEOUT_MS.
 */
export const MAX_FREE_SOCKETS_PER_TARGET = 256;

export interface PinnedAgentOptions {
  address: string;
  port: number;
  dialTimeoutMs: number;
  upstreamProxy: URL | null;
  onSocket: (s: Socket) => void;
}

/** An http.Agent whose every connection goes to one checked IP and port. */
export class PinnedAgent extends Agent {
  retired = false;
  readonly #pin: PinnedAgentOptions;

  constructor(pin: PinnedAgentOptions, opts: AgentOptions) {
    super(opts);
    this.#pin = pin;
    this.on('free', (socket: Socket) => {
      if (this.retired) socket.destroy();
    });
  }

  // Node's Agent accepts an asynchronous createConnection (callback form).
  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    if (!callback) throw new Error('PinnedAgent needs the asynchronous createConnection form');
    const { address, port, dialTimeoutMs, upstreamProxy, onSocket } = this.#pin;
    dialChecked({ address, port, timeoutMs: dialTimeoutMs, upstreamProxy }).then(
      (socket) => {
        onSocket(socket);
        callback(null, socket);
      },
      (err: Error) => callback(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  /** Closes idle sockets now; busy ones are closed when they come back free. */
  retire(): void {
    this.retired = true;
    for (const list of Object.values(this.freeSockets)) for (const s of list ?? []) s.destroy();
  }
}

export class AgentPool {
  readonly #agents = new Map<string, PinnedAgent>();

  constructor(
    private readonly settings: { dialTimeoutMs: number; upstreamProxy: URL | null; onSocket: (s: Socket) => void },
  ) {}

  get size(): number {
    return this.#agents.size;
  }

  /** The agent for one decided target; `name` is the decided host (a name or the IP literal itself). */
  get(name: string, address: string, port: number): PinnedAgent {
    const key = `${name}|${address}|${port}`;
    let agent = this.#agents.get(key);
    if (agent) {
      // Move to the most-recently-used end.
      this.#agents.delete(key);
      this.#agents.set(key, agent);
      return agent;
    }
    agent = new PinnedAgent(
      { address, port, ...this.settings },
      { keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS, maxFreeSockets: MAX_FREE_SOCKETS_PER_TARGET, scheduling: 'lifo' },
    );
    this.#agents.set(key, agent);
    if (this.#agents.size > MAX_AGENTS) {
      const oldest = this.#agents.keys().next().value as string;
      this.#agents.get(oldest)?.retire();
      this.#agents.delete(oldest);
    }
    return agent;
  }

  /** Destroys every pooled socket (busy ones too). */
  destroy(): void {
    for (const agent of this.#agents.values()) {
      agent.retired = true;
      agent.destroy();
    }
    this.#agents.clear();
  }
}
