/**
 * Test helpers for policy propagation (store, sources, signatures): a policy
 * server of the test's own on loopback, policy text by name and revision,
 * in-memory Ed25519 keys, an event recorder, temporary directories and a
 * bounded wait.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { CordonEvent, EventEmitterPort, EventInput, PolicyEvent } from '../../src/events/types.js';
import { EVENT_SCHEMA } from '../../src/events/types.js';
import { publicKeyFingerprint, sign, type TrustedKey } from '../../src/policy/signature.js';

/** A valid one-file policy; `host` is the only allowed name of the default profile. */
export function policyYaml(name: string, revision: number | null, host = 'example.com'): string {
  return [
    'version: 1',
    `name: ${name}`,
    ...(revision === null ? [] : [`revision: ${revision}`]),
    'mode: enforce',
    'profiles:',
    '  default:',
    '    network:',
    '      default: deny',
    '      rules:',
    '        - name: allowed',
    `          allow: ["${host}:443"]`,
    '',
  ].join('\n');
}

export interface TestKey {
  trusted: TrustedKey;
  privateKey: KeyObject;
}

/** An Ed25519 key pair held in memory; `id` plays the part of the key file's name. */
export function testKey(id: string): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { trusted: { id, fingerprint: publicKeyFingerprint(publicKey), path: `/keys/${id}.pub`, key: publicKey }, privateKey };
}

export function signText(text: string, key: TestKey): string {
  return sign(Buffer.from(text), key.privateKey);
}

/** Collects every event the store emits (stamped like the pipeline would). */
export class EventRecorder implements EventEmitterPort {
  readonly events: CordonEvent[] = [];
  #seq = 0;

  emit(input: EventInput): CordonEvent {
    this.#seq += 1;
    const event = { ...input, schema: EVENT_SCHEMA, id: `test-${this.#seq}`, time: new Date().toISOString(), user: 'u', device: 'd' } as CordonEvent;
    this.events.push(event);
    return event;
  }

  policy(action?: string): PolicyEvent[] {
    return this.events.filter((e): e is PolicyEvent => e.kind === 'policy' && (action === undefined || e.action === action));
  }
}

export async function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'cordon-policy-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `predicate` every few ms until true; fails after `limitMs` (a bound, not a speed assertion). */
export async function waitFor(predicate: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Route {
  status: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Never answer (the client's timeout must fire). */
  hang?: boolean;
}

export interface LoggedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/**
 * A policy server on 127.0.0.1:0. Routes are set per path; `serveYaml`
 * serves a document with a strong ETag and answers If-None-Match with 304,
 * like a static host or CDN.
 */
export class PolicyServer {
  readonly requests: LoggedRequest[] = [];
  readonly #routes = new Map<string, Route>();
  readonly #hanging = new Set<ServerResponse>();
  #server: Server | null = null;
  #port = 0;

  async start(host = '127.0.0.1', port = 0): Promise<this> {
    const server = createServer((req, res) => this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  get port(): number {
    return this.#port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.#port}${path}`;
  }

  route(path: string, route: Route): void {
    this.#routes.set(path, route);
  }

  /** Serves `text` at `path` with ETag `"<etag>"`; `signature` (if any) at `path.sig`. */
  serveYaml(path: string, text: string, etag: string, signature?: string): void {
    this.route(path, { status: 200, body: text, headers: { etag: `"${etag}"`, 'content-type': 'application/yaml' } });
    if (signature !== undefined) this.route(`${path}.sig`, { status: 200, body: `${signature}\n` });
    else this.#routes.delete(`${path}.sig`);
  }

  requestsFor(path: string): LoggedRequest[] {
    return this.requests.filter((r) => r.url === path);
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    const server = this.#server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const route = this.#routes.get(req.url ?? '');
    if (route === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    if (route.hang === true) {
      this.#hanging.add(res);
      return;
    }
    const etag = route.headers?.etag;
    if (route.status === 200 && etag !== undefined && req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(route.status, route.headers ?? {}).end(route.body ?? '');
  }
}
