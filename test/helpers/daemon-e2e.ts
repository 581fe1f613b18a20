/**
 * Shared pieces of the daemon-level end-to-end tests (test/daemon/*, test/cli/*):
 * bounded polling of the real daemon's API, proxy credentials, and a test
 * policy whose loopback origins are reachable only through an explicit
 * address rule (DESIGN §2: special ranges need one). Every wait is bounded in
 * count and time and fails with what it last saw; nothing here asserts speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlClient } from '../../src/control/client.js';
import type { CordonEvent, NetworkEvent } from '../../src/events/types.js';
import { CLI_PATH, ensureBuilt } from './daemon.js';
import type { ProxyAddress } from './proxy-client.js';

export const POLL_INTERVAL_MS = 25;
/** Upper bound of every poll loop (a safety net, never an assertion). */
export const POLL_ATTEMPTS = 400;
export const EVENTS_PAGE = 1000;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns non-null, at most POLL_ATTEMPTS times; throws with `what` otherwise. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null> | T | null, attempts = POLL_ATTEMPTS): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await probe();
    if (v !== null) return v;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`gave up waiting for ${what} after ${attempts} attempts`);
}

/** Waits until the daemon has recorded an event matching `pred` (events are emitted asynchronously to the pipeline). */
export function waitForEvent<E extends CordonEvent = CordonEvent>(client: ControlClient, what: string, pred: (e: CordonEvent) => boolean): Promise<E> {
  return waitFor(what, async () => {
    const { events } = await client.events(EVENTS_PAGE);
    return (events.find(pred) as E | undefined) ?? null;
  });
}

/** Ids of the events recorded so far, to tell later events apart from earlier look-alikes. */
export async function seenEventIds(client: ControlClient): Promise<Set<string>> {
  const { events } = await client.events(EVENTS_PAGE);
  return new Set(events.map((e) => e.id));
}

/** Like waitForEvent, but only events whose id is not in `seen`. */
export function waitForNewEvent<E extends CordonEvent = CordonEvent>(client: ControlClient, what: string, seen: Set<string>, pred: (e: CordonEvent) => boolean): Promise<E> {
  return waitForEvent<E>(client, what, (e) => !seen.has(e.id) && pred(e));
}

export function isNetwork(e: CordonEvent): e is NetworkEvent {
  return e.kind === 'network';
}

export function proxyAddress(hostPort: string): ProxyAddress {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

export function basicAuthHeader(user: string, pass: string): string {
  return `Proxy-Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** Credentials out of a session's proxy URL, as a client library would take them. */
export function credentialsOf(proxyUrl: string | null): { user: string; pass: string } {
  if (proxyUrl === null) throw new Error('session has no proxy URL');
  const u = new URL(proxyUrl);
  return { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
}

/**
 * Guardrails allow 127.0.0.1 by address rule (the origins) and deny
 * `blocked.test`; profile `web` (team=web) allows `app.test`, profile
 * `research` (team=research) allows `papers.test`; `default` allows both
 * names. Names resolve through the test's own DNS responder.
 */
export function sessionPolicyYaml(): string {
  return `version: 1
name: e2e
mode: enforce
guardrails:
  network:
    rules:
      - name: loopback origins
        allow: [127.0.0.1]
      - name: blocked
        deny: [blocked.test]
  mounts:
    rules:
      - name: credentials
        deny: ["~/.ssh"]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: everything here
          allow: [app.test, papers.test]
    mounts:
      default: deny
      rules:
        - name: workspace
          rw: ["/tmp"]
  web:
    match: { team: web }
    network:
      default: deny
      rules:
        - name: web apps
          allow: [app.test]
  research:
    match: { team: research }
    network:
      default: deny
      rules:
        - name: papers
          allow: [papers.test]
`;
}

/** Raw GET over a Unix socket (for /metrics, which is text). */
export function unixGetText(socketPath: string, path: string): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(res.headers['content-type'] ?? '') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RawDaemon {
  child: ChildProcess;
  stderr(): string;
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `node dist/cli/main.js run ARGS` without the helper's own socket/state
 * choices, for tests that need two daemons on one socket path.
 */
export function spawnCordonRun(args: string[], cwd: string = mkdtempSync(join(tmpdir(), 'cordon-raw-'))): RawDaemon {
  ensureBuilt();
  const child = spawn(process.execPath, [CLI_PATH, 'run', ...args], { cwd, env: { ...process.env, CORDON_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdout?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    stderr: () => stderr,
    exited,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Resolves with the exit code, or null if the process is still running after the bounded wait. */
export async function exitWithin(d: RawDaemon, attempts = POLL_ATTEMPTS): Promise<number | null | 'running'> {
  let done = false;
  let code: number | null = null;
  void d.exited.then((c) => {
    done = true;
    code = c;
  });
  for (let i = 0; i < attempts && !done; i++) await sleep(POLL_INTERVAL_MS);
  return done ? code : 'running';
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export const CLI_TIMEOUT_MS = 60_000;

/**
 * `node dist/cli/main.js ARGS` without blocking the test's event loop (unlike
 * spawnSync), so the test's own DNS responder and origins keep answering
 * while the CLI runs.
 */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<CliResult> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
