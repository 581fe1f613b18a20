/**
 * Runs `cordon exec` (the built CLI) asynchronously for integration tests —
 * never spawnSync: the origins and DNS responder the sandbox talks to live in
 * the test's own event loop — and inspects host processes through /proc
 * (descendants of a pid, processes whose argv contains a marker), so tests
 * can prove no helper process outlives a sandbox without depending on procps.
 * Every wait is bounded in count and time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CLI_PATH, ensureBuilt } from './daemon.js';

/** Longest one `cordon exec` run may take before the helper kills it (a hang is a failure, not a timing check). */
export const EXEC_RUN_LIMIT_MS = 60_000;
export const POLL_INTERVAL_MS = 25;
export const POLL_MAX_TRIES = 800;

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the helper had to kill it at EXEC_RUN_LIMIT_MS. */
  killed: boolean;
}

export interface RunningExec {
  child: ChildProcess;
  done: Promise<ExecResult>;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Replace the whole environment instead of extending process.env. */
  replaceEnv?: boolean;
  /** Run with this executable instead of process.execPath. */
  node?: string;
  /** Extra descriptors handed to the child as fd 3, 4, ... (inherited without close-on-exec). */
  extraFds?: number[];
}

export function startExec(args: string[], opts: ExecOptions = {}): RunningExec {
  ensureBuilt();
  const env = opts.replaceEnv === true ? { ...opts.env } : { ...process.env, ...opts.env };
  const child = spawn(opts.node ?? process.execPath, [CLI_PATH, 'exec', ...args], { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe', ...(opts.extraFds ?? [])] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, EXEC_RUN_LIMIT_MS);
  const done = new Promise<ExecResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
  return { child, done };
}

export function runExec(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return startExec(args, opts).done;
}

/** Polls `check` until it returns true, at most POLL_MAX_TRIES times; returns whether it did. */
export async function waitUntil(check: () => boolean | Promise<boolean>, tries = POLL_MAX_TRIES): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
  return check();
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Parent pid of every live process (from /proc/PID/stat; the comm field may contain spaces and parentheses). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOrNull(`/proc/${name}/stat`);
    if (stat === null) continue;
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(name), Number(rest[1]));
  }
  return out;
}

/** Every live descendant of `pid` (not `pid` itself). */
export function descendants(pid: number): number[] {
  const ppid = parents();
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const [child, parent] of ppid) {
      if (parent === p && !out.includes(child)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** The NUL-separated argv of a process, or null when it is gone. */
export function cmdline(pid: number): string | null {
  return readOrNull(`/proc/${pid}/cmdline`);
}

export function isAlive(pid: number): boolean {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state !== 'Z' && state !== 'X';
}

/** `pgrep -f MARKER`: live processes (not zombies) whose argv contains `marker`, excluding this process. */
export function pgrepArgv(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const argv = cmdline(Number(name));
    if (argv !== null && argv.includes(marker) && isAlive(Number(name))) out.push(Number(name));
  }
  return out;
}

/** Marker line between the outputs of batched cases (one sandbox run, many named checks). */
export const CASE_MARKER = '@@cordon-case';

/** One sh script running every case in its own subshell (stderr folded into stdout), each output preceded by a marker. */
export function batchScript(scripts: string[]): string {
  return scripts.map((s, i) => `echo; echo '${CASE_MARKER} ${i}'\n( ${s}\n) 2>&1`).join('\n');
}

/** The output of each batched case, by index (trimmed). */
export function splitBatch(stdout: string, count: number): string[] {
  const out: string[] = Array.from({ length: count }, () => '');
  const parts = stdout.split(new RegExp(`^${CASE_MARKER} (\\d+)\\n`, 'm'));
  for (let i = 1; i + 1 < parts.length; i += 2) out[Number(parts[i])] = (parts[i + 1] ?? '').trim();
  return out;
}
