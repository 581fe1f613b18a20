/**
 * `cordon exec`: registers a session, validates every requested mount through
 * the daemon (any deny stops before anything runs), runs the command under
 * bubblewrap with cordon's proxy as its only way out, forwards signals,
 * returns the command's exit status, and removes the session afterwards.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import { resolve } from 'node:path';
import type { ControlClient } from '../control/client.js';
import { explainMount } from '../cli/explain.js';
import { buildBwrapArgs, proxyEnv, SYSTEM_RO_DIRS, SYSTEM_RO_FILES, wrapperArgv, type PlannedMount, type SystemEntry } from './bwrap-args.js';
import { preflight } from './preflight.js';

export const EXIT_SANDBOX_REFUSED = 126;
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const SIGNAL_EXIT_BASE = 128;
const PASSED_ENV = ['TERM', 'LANG', 'LC_ALL', 'TZ', 'COLORTERM'];

export interface ExecRequest {
  command: string[];
  labels: Record<string, string>;
  mounts: { path: string; access: 'ro' | 'rw' }[];
  cwd: string | null;
}

export class ExecRefused extends Error {}

/** `PATH[:ro|:rw]` → mount request (default ro). */
export function parseMountSpec(spec: string): { path: string; access: 'ro' | 'rw' } {
  const m = /^(.*?)(?::(ro|rw))?$/.exec(spec);
  const path = m?.[1] ?? '';
  if (path === '') throw new ExecRefused(`--mount '${spec}': expected PATH[:ro|:rw]`);
  return { path, access: (m?.[2] as 'ro' | 'rw' | undefined) ?? 'ro' };
}

function systemEntries(): SystemEntry[] {
  const out: SystemEntry[] = [];
  for (const p of [...SYSTEM_RO_DIRS, ...SYSTEM_RO_FILES]) {
    if (!existsSync(p)) continue;
    const st = lstatSync(p);
    out.push({ path: p, symlinkTo: st.isSymbolicLink() && SYSTEM_RO_DIRS.includes(p) ? readlinkSync(p) : null });
  }
  return out;
}

function kindOf(p: string): 'dir' | 'file' {
  try {
    return statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'dir';
  }
}

export async function runSandboxed(client: ControlClient, req: ExecRequest): Promise<number> {
  const { bwrap } = preflight();
  const status = await client.status();
  const proxySocket = status.listeners.proxy_socket;
  if (proxySocket === null) {
    throw new ExecRefused('the daemon serves no proxy socket; start it with `cordon run --proxy-socket PATH` (or set proxy_socket in its config)');
  }
  const session = await client.createSession(req.labels);
  try {
    const planned: PlannedMount[] = [];
    for (const m of req.mounts) {
      const d = await client.mount({ path: m.path, access: m.access, session: session.id, home: homedir() });
      if (d.decision === 'deny' && d.enforced) throw new ExecRefused(`mount refused: ${explainMount(d)}`);
      planned.push({ path: d.path, access: m.access, masks: d.masks.map((mask) => ({ ...mask, kind: kindOf(mask.path) })) });
    }
    const cwd = req.cwd !== null ? resolve(req.cwd) : planned.some((m) => process.cwd().startsWith(m.path)) ? process.cwd() : '/tmp';
    const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: homedir(), CORDON_SESSION: session.id };
    for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name] as string;
    Object.assign(env, proxyEnv(session.id, session.secret));
    const args = buildBwrapArgs({ system: systemEntries(), mounts: planned, proxySocket, cwd, env, argv: wrapperArgv(req.command) });
    return await new Promise<number>((resolveExit, reject) => {
      // bwrap runs in its own process group: terminal signals reach only this
      // process, which forwards them to the sandboxed wrapper (pid from --info-fd).
      const child = spawn(bwrap, ['--info-fd', '3', ...args], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], detached: true });
      let innerPid: number | null = null;
      let info = '';
      const infoStream = child.stdio[3] as NodeJS.ReadableStream | null;
      infoStream?.on('data', (chunk: Buffer) => {
        info += chunk.toString('utf8');
        const m = /"child-pid"\s*:\s*(\d+)/.exec(info);
        if (m !== null) innerPid = Number(m[1]);
      });
      const forward = (sig: NodeJS.Signals): void => {
        try {
          if (innerPid !== null) process.kill(innerPid, sig);
          else child.kill(sig);
        } catch {
          child.kill(sig);
        }
      };
      for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        for (const sig of FORWARDED_SIGNALS) process.off(sig, forward);
        if (code !== null) resolveExit(code);
        else resolveExit(SIGNAL_EXIT_BASE + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
      });
    });
  } finally {
    await client.deleteSession(session.id).catch(() => undefined);
  }
}

