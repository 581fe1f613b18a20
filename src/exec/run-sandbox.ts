/**
 * `cordon exec`: registers a session, validates every requested mount through
 * the daemon (any enforced deny stops before anything runs), runs the command
 * under bubblewrap with cordon's proxy as its only way out, relays signals,
 * returns the command's exit status, and removes the session, the
 * placeholders it created and (through PID-namespace teardown) every helper
 * process afterwards. The session is also held (POST /v1/sessions/{id}/hold)
 * for the run, so the daemon deletes it even when this process is SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ControlClient, SessionHold } from '../control/client.js';
import type { MountDecision } from '../decide/types.js';
import { explainMount } from '../cli/explain.js';
import { buildBwrapArgs, INFO_FD, READY_FD, READY_LINE, wrapperArgv } from './bwrap-args.js';
import { closeInheritedFds } from './inherited-fds.js';
import { removePlaceholders, type Placeholders } from './mask-placeholders.js';
import { preflight, PreflightError } from './preflight.js';
import { accountHome, accountUser, chooseCwd, hideOwnSockets, hideStateDir, planMounts, privateHomeFor, sandboxEnv, systemEntries, underSystemDir } from './sandbox-plan.js';
import { Cancelled, SignalRelay, signalExitCode } from './signal-relay.js';

/** Exit status when cordon exec itself fails or refuses before the command runs (like env(1), timeout(1)). */
export const EXIT_EXEC_FAILED = 125;

export interface ExecRequest {
  command: string[];
  labels: Record<string, string>;
  mounts: { path: string; access: 'ro' | 'rw' }[];
  cwd: string | null;
}

export class ExecRefused extends Error {
  override name = 'ExecRefused';
}

export { parseMountSpec } from './sandbox-plan.js';

interface Checked {
  decision: MountDecision;
  access: 'ro' | 'rw';
}

/** Asks the daemon about every mount; refuses with every enforced deny named (layer, rule, resource). */
async function checkMounts(client: ControlClient, req: ExecRequest, sessionId: string, home: string, relay: SignalRelay, warn: (line: string) => void): Promise<Checked[]> {
  const checked: Checked[] = [];
  const refusals: string[] = [];
  for (const m of req.mounts) {
    const decision = await client.mount({ path: m.path, access: m.access, session: sessionId, home });
    relay.throwIfCancelled();
    if (decision.decision === 'deny' && decision.enforced) {
      refusals.push(explainMount(decision));
      continue;
    }
    if (decision.decision === 'deny') warn(`cordon: ${explainMount(decision)}`);
    if (!existsSync(decision.path)) {
      refusals.push(`${m.access} mount of ${decision.path}: no such file or directory`);
      continue;
    }
    checked.push({ decision, access: m.access });
  }
  if (refusals.length > 0) throw new ExecRefused(`mount refused, nothing was run:\n${refusals.join('\n')}`);
  return checked;
}

function collect(stream: Readable | null | undefined, onText: (all: string) => void): void {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    onText(text);
  });
  stream?.on('error', () => undefined);
}

function waitForSandbox(child: ChildProcess, relay: SignalRelay): Promise<number> {
  collect(child.stdio[INFO_FD] as Readable | null, (info) => {
    const m = /"child-pid"\s*:\s*(\d+)/.exec(info);
    if (m !== null) relay.setSandboxPid(Number(m[1]));
  });
  collect(child.stdio[READY_FD] as Readable | null, (text) => {
    if (text.split('\n').includes(READY_LINE)) relay.markReady();
  });
  return new Promise<number>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const fd of [INFO_FD, READY_FD]) (child.stdio[fd] as Readable | null)?.destroy();
      if (relay.cancelledBy !== null && !relay.ready) resolveExit(signalExitCode(relay.cancelledBy));
      else if (code !== null) resolveExit(code);
      else resolveExit(signalExitCode(signal));
    });
  });
}

export async function runSandboxed(client: ControlClient, req: ExecRequest, warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const relay = new SignalRelay();
  try {
    const pre = preflight();
    if (!underSystemDir(pre.socat)) throw new PreflightError(`socat at ${pre.socat} is outside the system directories the sandbox sees (/usr, /bin, /opt, ...): install it from the distribution`);
    const status = await client.status();
    relay.throwIfCancelled();
    const proxySocket = status.listeners.proxy_socket;
    if (proxySocket === null) {
      throw new ExecRefused('the daemon serves no proxy socket; start it with `cordon run --proxy-socket PATH` (or set proxy_socket in its config)');
    }
    const home = accountHome();
    const session = await client.createSession(req.labels);
    const placeholders: Placeholders = { created: [] };
    let hold: SessionHold | null = null;
    try {
      // Tied to this process: if it is killed outright, the daemon still deletes the session.
      hold = await client.holdSession(session.id);
      relay.throwIfCancelled();
      const checked = await checkMounts(client, req, session.id, home, relay, warn);
      const mounts = planMounts(checked, placeholders);
      hideOwnSockets(mounts, [client.socketPath, proxySocket]);
      hideStateDir(mounts, status.state_dir);
      const privateHome = privateHomeFor(home, mounts);
      const cwd = chooseCwd(req.cwd, process.cwd(), checked.map((c) => c.decision.path), mounts, home);
      const env = sandboxEnv({ hostEnv: process.env, home, user: accountUser(), sessionId: session.id, secret: session.secret });
      const args = buildBwrapArgs({
        system: systemEntries(),
        privateHome,
        mounts,
        proxySocket,
        cwd,
        argv: wrapperArgv(req.command, pre.socat),
        features: pre.features,
      });
      relay.throwIfCancelled();
      closeInheritedFds();
      // Detached: bubblewrap gets a process group of its own, so a terminal's
      // Ctrl-C reaches only this process, which relays it once (signal-relay.ts).
      const child = spawn(pre.bwrap, ['--info-fd', String(INFO_FD), ...args], {
        stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'],
        detached: true,
        env,
      });
      relay.attach(child);
      return await waitForSandbox(child, relay);
    } finally {
      removePlaceholders(placeholders);
      await client.deleteSession(session.id).catch(() => undefined);
      hold?.release();
    }
  } catch (err) {
    if (err instanceof Cancelled) return signalExitCode(err.signal);
    throw err;
  } finally {
    relay.dispose();
  }
}
