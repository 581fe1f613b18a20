/**
 * The instance lock that keeps a second daemon off a state dir or socket path
 * in use: who counts as a live owner, take-over of stale locks, planted files,
 * and a real race of processes starting on one stale lock at the same instant.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { acquireInstanceLock, BOOT_TIME_TOLERANCE_S, BREAKER_STALE_MS, ownerIsLive, systemLockHost } from '../../src/daemon/instance-lock.js';
import type { LockHost, LockOwner } from '../../src/daemon/instance-lock.js';
import { ensureBuilt, REPO_ROOT } from '../helpers/daemon.js';

const BOOT_TIME_S = 1_700_000_000;
const NOW_MS = Date.now();
const OTHER_PID = 4242;
const MY_PID = 1000;
const RACERS = 8;
const RACE_ROUNDS = 8;
const CHILD_TIMEOUT_MS = 20_000;

function host(over: Partial<LockHost> = {}, alive: Map<number, number | null> = new Map([[OTHER_PID, 77]])): LockHost {
  return {
    pid: MY_PID,
    bootId: () => 'boot-a',
    bootTimeS: () => BOOT_TIME_S,
    startTicks: (pid) => (pid === MY_PID ? 500 : (alive.get(pid) ?? null)),
    isAlive: (pid) => pid === MY_PID || alive.has(pid),
    processStartMs: NOW_MS - 60_000,
    uid: process.getuid?.() ?? null,
    ...over,
  };
}

function owner(over: Partial<LockOwner> = {}): LockOwner {
  return { pid: OTHER_PID, boot_id: 'boot-a', boot_time_s: BOOT_TIME_S, start_ticks: 77, started_at: new Date(NOW_MS - 1000).toISOString(), ...over };
}

t.test('who holds a lock', async (t) => {
  const cases: { name: string; owner: LockOwner | null; host?: LockHost; live: boolean }[] = [
    { name: 'a running owner', owner: owner(), live: true },
    { name: 'an unreadable lock file', owner: null, live: false },
    { name: 'an owner that exited', owner: owner({ pid: 31337, start_ticks: 1 }), live: false },
    { name: 'an owner from before a reboot (other boot id)', owner: owner({ boot_id: 'boot-b' }), live: false },
    { name: 'pid reuse: the pid now belongs to a process started later', owner: owner({ start_ticks: 76 }), live: false },
    { name: 'a running owner whose start time cannot be read (not Linux)', owner: owner({ start_ticks: null }), host: host({ startTicks: () => null }), live: true },
    {
      name: 'no boot id: boot time within the tolerance is the same boot',
      owner: owner({ boot_id: null, boot_time_s: BOOT_TIME_S + BOOT_TIME_TOLERANCE_S - 1 }),
      host: host({ bootId: () => null }),
      live: true,
    },
    {
      name: 'no boot id: boot time further away is another boot',
      owner: owner({ boot_id: null, boot_time_s: BOOT_TIME_S - BOOT_TIME_TOLERANCE_S - 1 }),
      host: host({ bootId: () => null }),
      live: false,
    },
    { name: 'this very process (same start time)', owner: owner({ pid: MY_PID, start_ticks: 500 }), live: true },
    {
      name: 'container restart: our pid, written by a predecessor before this process started',
      owner: owner({ pid: MY_PID, start_ticks: null, started_at: new Date(NOW_MS - 3_600_000).toISOString() }),
      host: host({ startTicks: () => null }),
      live: false,
    },
    {
      name: 'our pid, written since this process started',
      owner: owner({ pid: MY_PID, start_ticks: null, started_at: new Date(NOW_MS).toISOString() }),
      host: host({ startTicks: () => null }),
      live: true,
    },
  ];
  for (const c of cases) t.equal(ownerIsLive(c.owner, c.host ?? host()), c.live, c.name);
});

function lockDir(): string {
  return mkdtempSync(join(tmpdir(), 'cordon-lock-'));
}

const held = (o: LockOwner): string => `held by pid ${o.pid}`;

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n !== 'x.lock');
}

t.test('a free lock is taken, written whole, and released', async (t) => {
  const dir = lockDir();
  const path = join(dir, 'x.lock');
  const lock = acquireInstanceLock(path, { held });
  const written = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  t.equal(written.pid, process.pid, 'names this process');
  t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600');
  t.equal(lock.tookOverFrom, null);
  t.same(leftovers(dir), [], 'no claim file left behind');
  lock.release();
  t.same(readdirSync(dir), [], 'released');
});

t.test('a live owner keeps its lock: the second daemon is refused and the file is untouched', async (t) => {
  const dir = lockDir();
  const path = join(dir, 'x.lock');
  const text = `${JSON.stringify(owner())}\n`;
  writeFileSync(path, text, { mode: 0o600 });
  const ino = statSync(path).ino;
  t.throws(() => acquireInstanceLock(path, { held, host: host() }), { message: `held by pid ${OTHER_PID}` });
  t.equal(readFileSync(path, 'utf8'), text, 'content unchanged');
  t.equal(statSync(path).ino, ino, 'same file');
  t.same(leftovers(dir), [], 'no claim file left behind');
});

t.test('a second acquire in the same process is refused', async (t) => {
  const path = join(lockDir(), 'x.lock');
  const first = acquireInstanceLock(path, { held });
  t.teardown(() => first.release());
  t.throws(() => acquireInstanceLock(path, { held }), /held by pid/);
});

t.test('stale locks are taken over', async (t) => {
  const cases: [string, string][] = [
    ['the owner exited', `${JSON.stringify(owner({ pid: 31337 }))}\n`],
    ['the owner ran before a reboot', `${JSON.stringify(owner({ boot_id: 'boot-old' }))}\n`],
    ['the file is not a lock (empty)', ''],
    ['the file is not a lock (garbage)', 'not json'],
  ];
  for (const [name, text] of cases) {
    const dir = lockDir();
    const path = join(dir, 'x.lock');
    writeFileSync(path, text, { mode: 0o600 });
    const lock = acquireInstanceLock(path, { held, host: host() });
    t.equal((JSON.parse(readFileSync(path, 'utf8')) as LockOwner).pid, MY_PID, `${name}: now ours`);
    t.same(leftovers(dir), [], `${name}: nothing left aside`);
    lock.release();
  }
});

t.test('a breaker directory left by a daemon that died while breaking the lock does not block the next start', async (t) => {
  const dir = lockDir();
  const path = join(dir, 'x.lock');
  const text = `${JSON.stringify(owner({ pid: 31337 }))}\n`;
  writeFileSync(path, text, { mode: 0o600 });
  const breaker = `${path}.break-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  mkdirSync(breaker);
  const old = (Date.now() - BREAKER_STALE_MS - 60_000) / 1000;
  utimesSync(breaker, old, old);
  const lock = acquireInstanceLock(path, { held, host: host() });
  t.equal(lock.tookOverFrom?.pid, 31337, 'the stale lock was taken over');
  t.same(leftovers(dir), [], 'the abandoned breaker directory is gone');
  lock.release();
});

t.test('claims left by daemons killed before linking them are removed once their pid is gone', async (t) => {
  const dir = lockDir();
  const path = join(dir, 'x.lock');
  const dead = 'x.lock.31337.0123456789ab.claim';
  const live = `x.lock.${OTHER_PID}.ba9876543210.claim`;
  const unrelated = 'y.lock.31337.0123456789ab.claim';
  for (const name of [dead, live, unrelated]) writeFileSync(join(dir, name), '{}\n');
  const lock = acquireInstanceLock(path, { held, host: host() });
  t.notOk(readdirSync(dir).includes(dead), 'the claim of a pid that is gone is removed');
  t.ok(readdirSync(dir).includes(live), 'the claim of a live pid stays (its start may be in progress)');
  t.ok(readdirSync(dir).includes(unrelated), 'claims of another lock are not touched');
  lock.release();
});

t.test('release never removes a lock that is no longer ours', async (t) => {
  const path = join(lockDir(), 'x.lock');
  const lock = acquireInstanceLock(path, { held, host: host() });
  // Someone judged it stale and took it over (e.g. after a clock step); release must not delete theirs.
  const theirs = `${JSON.stringify(owner())}\n`;
  unlinkSync(path);
  writeFileSync(path, theirs);
  lock.release();
  t.equal(readFileSync(path, 'utf8'), theirs);
});

t.test('attack: a planted symlink at the lock path is refused and its target untouched', async (t) => {
  const dir = lockDir();
  const target = join(dir, 'victim');
  writeFileSync(target, 'keep');
  symlinkSync(target, join(dir, 'x.lock'));
  t.throws(() => acquireInstanceLock(join(dir, 'x.lock'), { held }), /is a symlink/);
  t.equal(readFileSync(target, 'utf8'), 'keep');
});

t.test('attack: a lock file planted by another user is refused', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async (t) => {
  const path = join(lockDir(), 'x.lock');
  writeFileSync(path, `${JSON.stringify(owner({ pid: 31337 }))}\n`);
  chownSync(path, 65534, 65534);
  t.throws(() => acquireInstanceLock(path, { held }), /owned by uid 65534/);
});

/** A child process that takes the lock on "go" and holds it until its stdin closes. */
function racer(path: string): { child: ChildProcess; ready: Promise<void>; result: Promise<string> } {
  const moduleUrl = pathToFileURL(join(REPO_ROOT, 'dist', 'daemon', 'instance-lock.js')).href;
  const script = `
    import { acquireInstanceLock } from ${JSON.stringify(moduleUrl)};
    process.stdout.write('ready\\n');
    process.stdin.once('data', () => {
      try { acquireInstanceLock(${JSON.stringify(path)}, { held: (o) => 'held ' + o.pid }); process.stdout.write('won\\n'); }
      catch (err) { process.stdout.write('lost ' + err.message + '\\n'); }
      process.stdin.resume();
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const lines: ((line: string) => void)[] = [];
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      lines.shift()?.(line);
    }
  });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('racer did not answer')), CHILD_TIMEOUT_MS);
      lines.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const ready = next().then(() => undefined);
  const result = ready.then(next);
  return { child, ready, result };
}

t.test('race: daemons starting on one stale lock at the same instant — exactly one wins', async (t) => {
  ensureBuilt();
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const dir = lockDir();
    const path = join(dir, 'x.lock');
    // The stale lock of a daemon that was SIGKILLed while holding it.
    const victim = racer(path);
    await victim.ready;
    victim.child.stdin!.write('go\n');
    t.equal(await victim.result, 'won', `round ${round}: the first daemon takes the lock`);
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    t.ok(systemLockHost().isAlive(victim.child.pid!) === false, `round ${round}: its pid is gone`);

    const racers = Array.from({ length: RACERS }, () => racer(path));
    await Promise.all(racers.map((r) => r.ready));
    for (const r of racers) r.child.stdin!.write('go\n');
    const results = await Promise.all(racers.map((r) => r.result));
    const winners = racers.filter((_, i) => results[i] === 'won');
    t.equal(winners.length, 1, `round ${round}: exactly one of ${RACERS} wins (${results.join(', ')})`);
    const winnerPid = winners[0]?.child.pid;
    t.ok(
      results.filter((r) => r !== 'won').every((r) => r === `lost held ${winnerPid}`),
      `round ${round}: every other one is refused naming the winner`,
    );
    t.equal((JSON.parse(readFileSync(path, 'utf8')) as LockOwner).pid, winnerPid, `round ${round}: the lock file names the winner`);
    t.same(leftovers(dir), [], `round ${round}: no claim or stale files left behind`);
    for (const r of racers) r.child.stdin!.end();
    await Promise.all(racers.map((r) => new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.once('exit', res)))));
  }
});
