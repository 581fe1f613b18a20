/**
 * One daemon per state directory and per status socket path. Two daemons on
 * one state dir would interleave their audit logs and write the same spool
 * segments and cursor (duplicate or skipped deliveries); two started at the
 * same instant beside a stale socket could both judge it dead and the second
 * would unlink the first one's fresh socket. The status-socket probe alone
 * cannot close either hole, so each daemon holds a lock file for each.
 *
 * A lock is a file holding its owner (pid, boot, process start) created
 * atomically with link(2): the claim is written and fsynced under a unique
 * name first, so the lock is never seen half-written. An existing lock is
 * honoured while its owner is alive; it is stale when its process is gone,
 * the machine rebooted since, or the pid now belongs to a process that
 * started later (pid reuse). Breaking a stale lock is arbitrated by
 * mkdir(2) of a directory named after that lock's content: exactly one
 * daemon may remove a given stale lock, after checking it is still that file
 * (inode and content: inode numbers are reused at once), and a fresh lock
 * can never carry a dead owner's content. So of any number of daemons
 * starting on one stale lock, exactly one wins. A breaker that died leaves
 * its directory; one older than BREAKER_STALE_MS is removed.
 *
 * A lock file that is a symlink or owned by another user is refused, as the
 * socket itself is: in a shared directory that name could be planted.
 * Claims left by daemons killed between writing and linking them (named
 * after their pid) are removed by the next daemon that takes the lock, once
 * their pid is gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { uptime } from 'node:os';
import { basename, dirname, join } from 'node:path';

export const LOCK_FILE_MODE = 0o600;
/** Where no boot id exists, boot times (now − uptime) this close are the same boot (clock steps move them). */
export const BOOT_TIME_TOLERANCE_S = 120;
/** How long a start keeps trying while other daemons break the same stale lock. */
export const ACQUIRE_TIMEOUT_MS = 5000;
/** Pause between tries while another daemon breaks a stale lock. */
const BREAK_WAIT_MS = 5;
/** A breaker directory this old belongs to a daemon that died while breaking. */
export const BREAKER_STALE_MS = 10_000;
const BREAKER_NAME_HEX = 16;
/** Random bytes in a claim's name after the pid: `<lock>.<pid>.<hex>.claim`. */
const CLAIM_RANDOM_BYTES = 6;
const CLAIM_NAME_SUFFIX = /^(\d+)\.([0-9a-f]+)\.claim$/;
const LINUX_BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** Field 22 of /proc/<pid>/stat (1-based): start time in clock ticks since boot. */
const STAT_STARTTIME_INDEX = 19; // index in the fields after "(comm) "
const MS_PER_S = 1000;
/** process.uptime() is measured a little after the process really started. */
const PROCESS_START_SLACK_MS = 1000;

/** What a lock file holds. */
export interface LockOwner {
  pid: number;
  /** Linux boot id, or null elsewhere. */
  boot_id: string | null;
  /** Boot time in Unix seconds (now − uptime). */
  boot_time_s: number;
  /** Linux process start time in clock ticks since boot, or null. */
  start_ticks: number | null;
  started_at: string;
}

/** The host facts a lock decision needs; tests replace them. */
export interface LockHost {
  pid: number;
  bootId(): string | null;
  bootTimeS(): number;
  /** Start time of `pid` in ticks since boot, or null when unknown (not Linux, or gone). */
  startTicks(pid: number): number | null;
  /** False only when `pid` certainly does not exist. */
  isAlive(pid: number): boolean;
  /** When this process started, Unix ms. */
  processStartMs: number;
  uid: number | null;
}

export class InstanceLockError extends Error {
  constructor(
    message: string,
    readonly owner: LockOwner | null,
  ) {
    super(message);
  }
}

export interface InstanceLock {
  readonly path: string;
  /** The owner a stale lock named when this one took it over, for the log. */
  readonly tookOverFrom: LockOwner | null;
  /** Removes the lock file if it is still this lock's. */
  release(): void;
}

export interface AcquireOptions {
  /** The error message for a live owner (e.g. "another cordon (pid 12) is using state dir /x"). */
  held: (owner: LockOwner) => string;
  host?: LockHost;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function readBootId(): string | null {
  try {
    return readFileSync(LINUX_BOOT_ID_PATH, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function readStartTicks(pid: number): number | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[STAT_STARTTIME_INDEX]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return code(err) !== 'ESRCH'; // EPERM: it exists, owned by someone else
  }
}

/** The real host. */
export function systemLockHost(): LockHost {
  return {
    pid: process.pid,
    bootId: readBootId,
    bootTimeS: () => Math.round(Date.now() / MS_PER_S - uptime()),
    startTicks: readStartTicks,
    isAlive: pidAlive,
    processStartMs: Date.now() - process.uptime() * MS_PER_S,
    uid: process.getuid?.() ?? null,
  };
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isSafeInteger(o.pid) || o.pid! <= 0 || typeof o.boot_time_s !== 'number') return null;
    return {
      pid: o.pid!,
      boot_id: typeof o.boot_id === 'string' ? o.boot_id : null,
      boot_time_s: o.boot_time_s,
      start_ticks: typeof o.start_ticks === 'number' ? o.start_ticks : null,
      started_at: typeof o.started_at === 'string' ? o.started_at : '',
    };
  } catch {
    return null;
  }
}

/** Whether `owner` still holds its lock on this host. An unreadable lock (null) is stale. */
export function ownerIsLive(owner: LockOwner | null, host: LockHost): boolean {
  if (owner === null) return false;
  const bootId = host.bootId();
  if (owner.boot_id !== null && bootId !== null) {
    if (owner.boot_id !== bootId) return false;
  } else if (Math.abs(owner.boot_time_s - host.bootTimeS()) > BOOT_TIME_TOLERANCE_S) {
    return false;
  }
  const ticks = host.startTicks(owner.pid);
  if (owner.start_ticks !== null && ticks !== null) return ticks === owner.start_ticks; // alive, and the same process
  if (owner.pid === host.pid) {
    // Our pid: ours only if written since this process started (in a container
    // a restarted daemon often gets the pid its killed predecessor had).
    const writtenMs = Date.parse(owner.started_at);
    return Number.isFinite(writtenMs) && writtenMs >= host.processStartMs - PROCESS_START_SLACK_MS;
  }
  return host.isAlive(owner.pid);
}

/**
 * Whether the file at `path` is the lock that was seen as (stats, text).
 * Inode numbers are reused as soon as a file is deleted, so the content
 * (owner pid and start time) is compared too.
 */
function isSameLock(path: string, seen: Stats, text: string): boolean {
  try {
    const now = lstatSync(path);
    return now.ino === seen.ino && now.dev === seen.dev && readFileSync(path, 'utf8') === text;
  } catch {
    return false;
  }
}

function writeClaim(path: string, text: string): void {
  const fd = openSync(path, 'wx', LOCK_FILE_MODE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A fresh claim file name for `pid` beside `lockPath`: `<lock>.<pid>.<hex>.claim`. */
function claimPath(lockPath: string, pid: number): string {
  return `${lockPath}.${pid}.${randomBytes(CLAIM_RANDOM_BYTES).toString('hex')}.claim`;
}

/** The pid in a directory entry named by claimPath for `lockPath`, or null for any other name. */
function claimPid(lockPath: string, name: string): number | null {
  const prefix = `${basename(lockPath)}.`;
  if (!name.startsWith(prefix)) return null;
  const match = CLAIM_NAME_SUFFIX.exec(name.slice(prefix.length));
  return match === null || match[2]!.length !== CLAIM_RANDOM_BYTES * 2 ? null : Number(match[1]);
}

/**
 * Removes `<lock>.<pid>.<hex>.claim` files whose pid is not this process and
 * certainly gone: a daemon SIGKILLed between writing its claim and linking
 * it leaves one. A live pid's claim may be a start in progress and stays.
 */
function removeDeadClaims(lockPath: string, host: LockHost): void {
  let names: string[];
  try {
    names = readdirSync(dirname(lockPath));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = claimPid(lockPath, name);
    if (pid === null || pid === host.pid || host.isAlive(pid)) continue;
    const file = join(dirname(lockPath), name);
    try {
      if (lstatSync(file).isFile()) unlinkSync(file);
    } catch {
      // gone meanwhile
    }
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Blocks the thread for `ms` (start-up only; acquiring is synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Removes a breaker directory left by a daemon that died while breaking a lock. */
function removeIfAbandoned(breaker: string): void {
  try {
    if (Date.now() - statSync(breaker).mtimeMs > BREAKER_STALE_MS) rmdirSync(breaker);
  } catch {
    // gone already, or removed by another daemon
  }
}

/** The lock's file, or null when there is none; refuses a symlink or a file of another user. */
function inspect(path: string, host: LockHost): { stats: Stats; text: string; owner: LockOwner | null } | null {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
  if (stats.isSymbolicLink()) throw new InstanceLockError(`refusing lock file ${path}: it is a symlink`, null);
  if (!stats.isFile()) throw new InstanceLockError(`refusing lock file ${path}: it is not a regular file`, null);
  if (host.uid !== null && stats.uid !== host.uid) throw new InstanceLockError(`refusing lock file ${path}: it is owned by uid ${stats.uid}, not ${host.uid}`, null);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
  return { stats, text, owner: parseOwner(text) };
}

/**
 * Takes the lock at `path` or throws InstanceLockError (a live owner, a
 * planted file). The directory must exist.
 */
export function acquireInstanceLock(path: string, options: AcquireOptions): InstanceLock {
  const host = options.host ?? systemLockHost();
  const me: LockOwner = {
    pid: host.pid,
    boot_id: host.bootId(),
    boot_time_s: host.bootTimeS(),
    start_ticks: host.startTicks(host.pid),
    started_at: new Date().toISOString(),
  };
  const claim = claimPath(path, host.pid);
  const mine = `${JSON.stringify(me)}\n`;
  writeClaim(claim, mine);
  let tookOverFrom: LockOwner | null = null;
  try {
    const deadline = Date.now() + ACQUIRE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      try {
        linkSync(claim, path);
        const stats = lstatSync(path);
        removeDeadClaims(path, host);
        return {
          path,
          tookOverFrom,
          release: () => {
            if (isSameLock(path, stats, mine)) unlinkQuietly(path);
          },
        };
      } catch (err) {
        if (code(err) !== 'EEXIST') throw err;
      }
      const found = inspect(path, host);
      if (found === null) continue; // released meanwhile
      if (ownerIsLive(found.owner, host)) throw new InstanceLockError(options.held(found.owner!), found.owner);
      // Stale: only the daemon that creates this lock's breaker directory may remove it.
      const breaker = `${path}.break-${createHash('sha256').update(found.text).digest('hex').slice(0, BREAKER_NAME_HEX)}`;
      try {
        mkdirSync(breaker, { mode: 0o700 });
      } catch (err) {
        if (code(err) !== 'EEXIST') throw err;
        removeIfAbandoned(breaker);
        sleepSync(BREAK_WAIT_MS);
        continue;
      }
      try {
        if (isSameLock(path, found.stats, found.text)) {
          unlinkSync(path);
          tookOverFrom = found.owner;
        }
      } finally {
        rmdirSync(breaker);
      }
    }
    throw new InstanceLockError(`could not take lock ${path} within ${ACQUIRE_TIMEOUT_MS} ms: other daemons kept breaking it`, null);
  } finally {
    unlinkQuietly(claim);
  }
}
