/**
 * `cordon status --json` round trip as a user (or an MDM health check) pays
 * it: spawn the CLI, load its modules, ask the running daemon over the status
 * socket, print the JSON, exit — wall clock per run (issue 4: < 100 ms).
 *
 * To tell the parts apart, every round also times `node -e 0` (the floor no
 * CLI written in Node can beat), `cordon --version` (the CLI's module loading
 * with no socket), and the API call alone from inside this process.
 * Contenders are interleaved run by run so that load on the shared machine
 * hits them alike.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../src/control/client.js';
import type { StatusResponse } from '../src/control/wire.js';
import type { BenchResult } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The CLI as compiled by the same `tsc -p tsconfig.bench.json` run (identical to dist/, never stale). */
const CORDON_MAIN = join(HERE, '..', 'src', 'cli', 'main.js');
const RUNS = 30;
const WARMUP_RUNS = 3;
const IN_PROCESS_CALLS = 200;
const TARGET_MS = 100;
const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const RUN_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 50;
const NS_PER_MS = 1e6;
const MS_PER_S = 1000;
/** GNU time: the CPU time (user + sys, 10 ms resolution) of a child, which waiting for a core does not inflate. */
const GNU_TIME = '/usr/bin/time';

interface Contender {
  name: string;
  args: string[];
  /** Checks one run's stdout; returns an error text or null. */
  check(stdout: string): string | null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Children get this process's environment minus NODE_OPTIONS (no test or profiler hooks in the figures). */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function timeRun(args: string[]): Promise<{ ms: number; stdout: string; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    execFile(process.execPath, args, { env: childEnv(), timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - started) / NS_PER_MS;
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ ms, stdout, code, stderr });
    });
  });
}

/** CPU ms (user + sys) of one run under GNU time, or null when it is not installed or the run failed. */
function cpuRun(args: string[], dir: string, n: number): Promise<number | null> {
  if (!existsSync(GNU_TIME)) return Promise.resolve(null);
  const out = join(dir, `cpu-${n}.txt`);
  return new Promise((resolve) => {
    execFile(GNU_TIME, ['-f', '%U %S', '-o', out, process.execPath, ...args], { env: childEnv(), timeout: RUN_TIMEOUT_MS }, (err) => {
      if (err !== null) return resolve(null);
      const [user, sys] = readFileSync(out, 'utf8').trim().split(/\s+/).map(Number);
      resolve(Number.isFinite(user) && Number.isFinite(sys) ? (user + sys) * MS_PER_S : null);
    });
  });
}

async function startDaemon(dir: string): Promise<{ child: ChildProcess; socket: string; stop(): Promise<void> }> {
  const socket = join(dir, 'cordon.sock');
  const child = spawn(process.execPath, [CORDON_MAIN, 'run', '--listen', '127.0.0.1:0', '--socket', socket, '--state-dir', join(dir, 'state')], {
    cwd: dir,
    env: { ...childEnv(), CORDON_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const client = new ControlClient(socket);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not answer within ${STARTUP_TIMEOUT_MS} ms: ${stderr}`);
    }
    const ok = await client.status().then(
      () => true,
      () => false,
    );
    if (ok) break;
    await sleep(POLL_INTERVAL_MS);
  }
  return {
    child,
    socket,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-status-'));
  const loadStart = loadavg()[0];
  const daemon = await startDaemon(dir);
  const pid = daemon.child.pid;
  try {
    const contenders: Contender[] = [
      { name: '`node -e 0` (floor: Node start-up alone)', args: ['-e', '0'], check: () => null },
      { name: '`cordon --version` (CLI module loading, no socket)', args: [CORDON_MAIN, '--version'], check: (out) => (/^\d+\.\d+\.\d+\n$/.test(out) ? null : `unexpected --version output ${JSON.stringify(out)}`) },
      {
        name: '`cordon status --json` (full round trip)',
        args: [CORDON_MAIN, 'status', '--json', '--socket', daemon.socket],
        check: (out) => {
          try {
            const s = JSON.parse(out) as StatusResponse;
            return s.pid === pid ? null : `status answered pid ${s.pid}, expected ${String(pid)}`;
          } catch {
            return `status --json printed something that is not JSON: ${out.slice(0, 200)}`;
          }
        },
      },
    ];
    for (let i = 0; i < WARMUP_RUNS; i++) for (const c of contenders) await timeRun(c.args);
    const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
    const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
    const errors: string[] = [];
    let cpuRuns = 0;
    for (let i = 0; i < RUNS; i++) {
      // Rotate the order so no contender always runs right after another.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(i + k) % contenders.length];
        const r = await timeRun(c.args);
        const problem = r.code !== 0 ? `exit ${String(r.code)}: ${r.stderr.trim()}` : c.check(r.stdout);
        if (problem !== null) errors.push(`${c.name} run ${i}: ${problem}`);
        samples.get(c.name)?.push(r.ms);
        const used = await cpuRun(c.args, dir, cpuRuns++);
        if (used !== null) cpu.get(c.name)?.push(used);
      }
    }
    const client = new ControlClient(daemon.socket);
    const inProcess: number[] = [];
    for (let i = 0; i < IN_PROCESS_CALLS; i++) {
      const started = process.hrtime.bigint();
      await client.status();
      inProcess.push(Number(process.hrtime.bigint() - started) / NS_PER_MS);
    }
    const loadEnd = loadavg()[0];

    const rows: string[] = [];
    const statusName = contenders[2].name;
    for (const c of contenders) {
      const s = [...(samples.get(c.name) ?? [])].sort((a, b) => a - b);
      const median = percentile(s, 50);
      const p95 = percentile(s, 95);
      const isTarget = c.name === statusName;
      const verdict = isTarget ? (median < TARGET_MS ? 'met' : '**miss**') : '—';
      const cs = [...(cpu.get(c.name) ?? [])].sort((a, b) => a - b);
      const cpuText = cs.length === 0 ? 'n/a' : `${percentile(cs, 50).toFixed(0)}`;
      rows.push(`| ${c.name} | ${s.length} | ${fmt(median)} | ${fmt(p95)} | ${fmt(s[0])} | ${cpuText} | ${isTarget ? `< ${TARGET_MS} ms (median)` : '—'} | ${verdict} |`);
    }
    const ip = [...inProcess].sort((a, b) => a - b);
    rows.push(`| \`GET /v1/status\` from this process (ControlClient, no spawn) | ${ip.length} | ${fmt(percentile(ip, 50))} | ${fmt(percentile(ip, 95))} | ${fmt(ip[0])} | — | — | — |`);
    const med = (name: string): number => percentile([...(samples.get(name) ?? [])].sort((a, b) => a - b), 50);
    const floor = med(contenders[0].name);
    const load = med(contenders[1].name);
    const full = med(statusName);
    const markdown = [
      `The real daemon (\`node build/src/cli/main.js run\`, the default policy, CORDON_LOG_LEVEL=warn) on a Unix socket in a temp dir; each figure is the wall clock from spawn to exit of a fresh \`node\` process (NODE_OPTIONS cleared), ${RUNS} runs per contender after ${WARMUP_RUNS} warm-up runs, interleaved with a rotating order. Every \`status --json\` run is checked: exit 0 and JSON naming the daemon's pid.`,
      '',
      '| measure | runs | median (ms) | p95 (ms) | min (ms) | CPU user+sys, median (ms) | target | result |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `CPU time comes from separate runs under GNU time (\`${GNU_TIME} -f '%U %S'\`, 10 ms resolution), interleaved with the timed ones: it is the work a run does, which a loaded machine stretches into a longer wall clock without adding to it.`,
      '',
      `Where the median goes: Node start-up ${fmt(floor)} ms; the CLI's module loading and argument parsing +${fmt(load - floor)} ms; the socket round trip, status JSON and printing +${fmt(full - load)} ms.`,
      '',
      `Machine load (1-minute load average): ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at end — the machine is shared; when it is loaded every figure above grows, the floor included.`,
      errors.length === 0 ? '' : `\nErrors (${errors.length}):\n\n${errors.slice(0, 10).map((e) => `- ${e}`).join('\n')}`,
    ].join('\n');
    return { title: 'CLI: `cordon status --json` round trip (bench/status.bench.ts)', markdown };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
