/**
 * A loopback HTTP collector for the event-sink tests: records every request
 * and answers with a scripted behaviour per request (status, headers, delay,
 * or dropping the connection mid-request), so tests can play a healthy
 * SIEM, a slow one, a rate-limiting one and a broken one.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface CollectedRequest {
  n: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** What the collector was scripted to answer (or do). */
  reply: CollectorReply;
  /** Whether the response was actually sent (a delayed one may never be). */
  answered: boolean;
}

export type CollectorReply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  /** Destroy the connection once the request has arrived, before any response byte. */
  | { destroyMidRequest: true };

export type CollectorScript = (n: number, body: Buffer) => CollectorReply;

export const ACCEPT_ALL: CollectorScript = () => ({ status: 200, body: '{}' });

export class EventCollector {
  readonly requests: CollectedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private arrivals: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    private script: CollectorScript,
  ) {}

  static async start(script: CollectorScript = ACCEPT_ALL, port = 0): Promise<EventCollector> {
    const server = createServer();
    const collector = new EventCollector(server, script);
    server.on('connection', (socket) => {
      collector.sockets.add(socket);
      socket.on('close', () => collector.sockets.delete(socket));
    });
    server.on('request', (req, res) => collector.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return collector;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  setScript(script: CollectorScript): void {
    this.script = script;
  }

  /** Resolves once `count` requests have been received, or after `timeoutMs` (check the count). */
  /** Requests answered with a 2xx status. */
  accepted(): CollectedRequest[] {
    return this.requests.filter((r) => r.answered && 'status' in r.reply && r.reply.status >= 200 && r.reply.status < 300);
  }

  async waitForRequests(count: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.arrivals.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: import('node:http').IncomingMessage, res: ServerResponse): void {
    const n = this.requests.length + 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = this.script(n, body);
      const request: CollectedRequest = { n, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, reply, answered: false };
      this.record(request);
      if ('destroyMidRequest' in reply) {
        req.socket.destroy();
        return;
      }
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.headers ?? {}) });
        res.end(reply.body ?? '');
        request.answered = true;
      };
      if (reply.delayMs !== undefined) {
        const timer = setTimeout(send, reply.delayMs);
        this.timers.add(timer);
      } else send();
    });
  }

  private record(request: CollectedRequest): void {
    this.requests.push(request);
    for (const wake of this.arrivals.splice(0)) wake();
  }
}

/** Ids of the events in an NDJSON body. */
export function ndjsonIds(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { id: string }).id);
}
