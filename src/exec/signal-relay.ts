/**
 * Signals sent to `cordon exec` (Ctrl-C, `kill`, a CI runner cancelling a
 * job) and what becomes of them in each phase:
 *
 * - before the sandbox exists (talking to the daemon): the first stopping
 *   signal cancels; the caller stops at its next step and cleans up;
 * - while the sandbox starts (not yet reported ready): a stopping signal
 *   kills bubblewrap (and with it, via --die-with-parent, the sandbox): the
 *   command has not run, so there is nothing to stop gracefully;
 * - once the wrapper reports ready: every signal is sent to the sandbox's
 *   process group (the wrapper started a new session, so its host pid is the
 *   group id), exactly as a terminal delivers Ctrl-C: the command gets it
 *   directly and may trap it; the wrapper catches it and returns the
 *   command's exit status.
 *
 * bubblewrap's own process is in a group of its own (spawned detached), so a
 * terminal's Ctrl-C reaches only this process, which relays it once.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export const RELAYED_PROCESS_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
/** Signals that cancel `cordon exec` when they arrive before the command runs (the others are dropped then). */
export const STOPPING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);
export const SIGNAL_EXIT_BASE = 128;

/** Shell convention for "ended by signal": 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals | null): number {
  return SIGNAL_EXIT_BASE + (signal === null ? 0 : (constants.signals[signal] ?? 0));
}

export class Cancelled extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`cancelled by ${signal}`);
  }
}

export class SignalRelay {
  #cancelledBy: NodeJS.Signals | null = null;
  #child: ChildProcess | null = null;
  #sandboxPid: number | null = null;
  #ready = false;
  readonly #handlers = new Map<NodeJS.Signals, () => void>();

  constructor(signals: NodeJS.Signals[] = RELAYED_PROCESS_SIGNALS) {
    for (const sig of signals) {
      const handler = (): void => this.#on(sig);
      this.#handlers.set(sig, handler);
      process.on(sig, handler);
    }
  }

  get cancelledBy(): NodeJS.Signals | null {
    return this.#cancelledBy;
  }

  /** Throws Cancelled when a stopping signal arrived before the sandbox ran. */
  throwIfCancelled(): void {
    if (this.#cancelledBy !== null) throw new Cancelled(this.#cancelledBy);
  }

  /** bubblewrap has been spawned (and is detached in its own process group). */
  attach(child: ChildProcess): void {
    this.#child = child;
    if (this.#cancelledBy !== null) child.kill('SIGKILL');
  }

  /** The sandbox's PID 1 (the wrapper) as the host sees it, from bubblewrap's --info-fd. */
  setSandboxPid(pid: number): void {
    this.#sandboxPid = pid;
  }

  /** The wrapper reported ready: its session and process group exist and it catches the relayed signals. */
  markReady(): void {
    this.#ready = true;
  }

  get ready(): boolean {
    return this.#ready && this.#sandboxPid !== null;
  }

  #on(sig: NodeJS.Signals): void {
    if (this.ready) {
      this.#deliver(sig);
      return;
    }
    if (!STOPPING_SIGNALS.has(sig)) return;
    if (this.#cancelledBy === null) this.#cancelledBy = sig;
    this.#child?.kill('SIGKILL');
  }

  #deliver(sig: NodeJS.Signals): void {
    const pid = this.#sandboxPid as number;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // the sandbox has just ended
      }
    }
  }

  dispose(): void {
    for (const [sig, handler] of this.#handlers) process.off(sig, handler);
    this.#handlers.clear();
  }
}
