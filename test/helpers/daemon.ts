/**
 * Runs the real daemon (`node dist/cli/main.js run`, built by `npm test`'s
 * tsc step) in a temp state dir for integration tests, waits until its
 * status socket answers, and stops it at teardown. Everything listens on
 * loopback port 0 or on Unix sockets inside the temp dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../../src/control/client.js';
import type { StatusResponse } from '../../src/control/wire.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 25;

export interface DaemonOptions {
  /** Policy YAML text (written to policy.yaml in the state dir) or a path/URL. */
  policyText?: string;
  policy?: string;
  /** Daemon config YAML text (written to config.yaml). */
  configText?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  proxySocket?: boolean;
  stateDir?: string;
}

export interface TestDaemon {
  dir: string;
  stateDir: string;
  socket: string;
  proxySocket: string | null;
  policyPath: string | null;
  child: ChildProcess;
  client: ControlClient;
  status: StatusResponse;
  /** `127.0.0.1:PORT` of the proxy. */
  proxy: string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Ensures dist/ is current when a single test file is run on its own. */
export function ensureBuilt(): void {
  if (existsSync(CLI_PATH) && process.env.CORDON_TEST_SKIP_BUILD !== '0') return;
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tsc failed');
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): { status: number | null; stdout: string; stderr: string } {
  ensureBuilt();
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, input, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'cordon-it-'));
  const stateDir = opts.stateDir ?? join(dir, 'state');
  const socket = join(dir, 'cordon.sock');
  const proxySocket = opts.proxySocket === true ? join(dir, 'proxy.sock') : null;
  let policyPath: string | null = opts.policy ?? null;
  if (opts.policyText !== undefined) {
    policyPath = join(dir, 'policy.yaml');
    writeFileSync(policyPath, opts.policyText);
  }
  const args = [CLI_PATH, 'run', '--listen', '127.0.0.1:0', '--socket', socket, '--state-dir', stateDir];
  if (policyPath !== null) args.push('--policy', policyPath);
  if (proxySocket !== null) args.push('--proxy-socket', proxySocket);
  if (opts.configText !== undefined) {
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, opts.configText);
    args.push('--config', configPath);
  }
  args.push(...(opts.args ?? []));
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, CORDON_LOG_LEVEL: 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  child.stdout?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const client = new ControlClient(socket);
  const deadline = Date.now() + START_TIMEOUT_MS;
  let status: StatusResponse | null = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${stderr}`);
    try {
      status = await client.status();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  if (status === null) {
    child.kill('SIGKILL');
    throw new Error(`daemon did not answer within ${START_TIMEOUT_MS} ms: ${stderr}`);
  }
  const daemon: TestDaemon = {
    dir,
    stateDir,
    socket,
    proxySocket,
    policyPath,
    child,
    client,
    status,
    proxy: status.listeners.proxy ?? '',
    stderr: () => stderr,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return daemon;
}
