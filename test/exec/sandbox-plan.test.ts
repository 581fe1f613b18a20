import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MountDecision, MountMask } from '../../src/decide/types.js';
import type { PlannedMask, PlannedMount } from '../../src/exec/bwrap-args.js';
import { fdinfoFlags, FDINFO_CLOEXEC } from '../../src/exec/inherited-fds.js';
import { removePlaceholders, type Placeholders } from '../../src/exec/mask-placeholders.js';
import { chooseCwd, hideOwnSockets, hideStateDir, planMounts, privateHomeFor, sandboxEnv, PlanError } from '../../src/exec/sandbox-plan.js';

const ROOT = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-plan-')));
t.teardown(() => rmSync(ROOT, { recursive: true, force: true }));
const W = join(ROOT, 'w');
mkdirSync(join(W, 'dir'), { recursive: true });
mkdirSync(join(W, 'vendor'));
writeFileSync(join(W, '.env'), 'secret');

function decision(path: string, access: 'ro' | 'rw', masks: MountMask[]): MountDecision {
  return { decision: 'allow', enforced: true, mode: 'enforce', reason: 'rule', profile: 'default', rule: null, path, access, effective: access, masks };
}

t.test('planMounts: kinds from disk, placeholders only where something could be created', async (t) => {
  const cases: { name: string; input: { decision: MountDecision; access: 'ro' | 'rw' }[]; want: PlannedMount[]; placeholders: string[] }[] = [
    {
      name: 'existing file and directory masks are typed',
      input: [{ access: 'rw', decision: decision(W, 'rw', [{ path: join(W, '.env'), access: 'deny' }, { path: join(W, 'dir'), access: 'deny' }]) }],
      want: [{ path: W, access: 'rw', masks: [{ path: join(W, '.env'), access: 'deny', kind: 'file' }, { path: join(W, 'dir'), access: 'deny', kind: 'dir' }] }],
      placeholders: [],
    },
    {
      name: 'a missing mask in a writable mount gets a placeholder',
      input: [{ access: 'rw', decision: decision(W, 'rw', [{ path: join(W, '.envrc'), access: 'deny' }]) }],
      want: [{ path: W, access: 'rw', masks: [{ path: join(W, '.envrc'), access: 'deny', kind: 'file' }] }],
      placeholders: [join(W, '.envrc')],
    },
    {
      name: 'a missing mask in a read-only mount is skipped (nothing can be created there)',
      input: [{ access: 'ro', decision: decision(W, 'ro', [{ path: join(W, '.envrc'), access: 'deny' }]) }],
      want: [{ path: W, access: 'ro', masks: [] }],
      placeholders: [],
    },
    {
      name: 'the same path asked ro and rw: one rw mount, the strongest mask of each path',
      input: [
        { access: 'ro', decision: decision(W, 'ro', [{ path: join(W, 'vendor'), access: 'deny' }]) },
        { access: 'rw', decision: decision(W, 'rw', [{ path: join(W, 'vendor'), access: 'ro' }]) },
      ],
      want: [{ path: W, access: 'rw', masks: [{ path: join(W, 'vendor'), access: 'deny', kind: 'dir' }] }],
      placeholders: [],
    },
    {
      name: 'a ro mask on a ro mount is redundant',
      input: [{ access: 'ro', decision: decision(W, 'ro', [{ path: join(W, 'vendor'), access: 'ro' }]) }],
      want: [{ path: W, access: 'ro', masks: [] }],
      placeholders: [],
    },
  ];
  for (const c of cases) {
    const ph: Placeholders = { created: [] };
    t.same(planMounts(c.input, ph), c.want, c.name);
    t.same(ph.created.map((x) => x.path), c.placeholders, `${c.name}: placeholders`);
    for (const p of c.placeholders) t.ok(existsSync(p), `${c.name}: ${p} exists while the sandbox would run`);
    removePlaceholders(ph);
    for (const p of c.placeholders) t.notOk(existsSync(p), `${c.name}: ${p} removed afterwards`);
  }
});

t.test("hideOwnSockets: attack: the daemon's sockets exposed by a mount", async (t) => {
  const sock = join(W, 'dir', 'cordon.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const cases: { name: string; mounts: PlannedMount[]; want: MountMask[][] }[] = [
    { name: 'socket inside a mount is hidden', mounts: [{ path: W, access: 'ro', masks: [] }], want: [[{ path: sock, access: 'deny' }]] },
    {
      name: 'hidden on the deepest mount covering it',
      mounts: [
        { path: W, access: 'ro', masks: [] },
        { path: join(W, 'dir'), access: 'rw', masks: [] },
      ],
      want: [[], [{ path: sock, access: 'deny' }]],
    },
    { name: 'socket outside every mount: nothing to do', mounts: [{ path: join(W, 'vendor'), access: 'ro', masks: [] }], want: [[]] },
  ];
  for (const c of cases) {
    hideOwnSockets(c.mounts, [sock, join(ROOT, 'missing.sock')]);
    t.same(
      c.mounts.map((m) => m.masks.map((x) => ({ path: x.path, access: x.access }))),
      c.want,
      c.name,
    );
  }
});

t.test("hideStateDir: attack: reading or rewriting cordon's audit log, spools and policy cache through a mount", async (t) => {
  const state = join(W, 'dir', 'state');
  mkdirSync(state, { recursive: true });
  const cases: { name: string; mounts: PlannedMount[]; want: PlannedMask[][] }[] = [
    { name: 'state dir inside a mount is masked with an empty directory', mounts: [{ path: W, access: 'rw', masks: [] }], want: [[{ path: state, access: 'deny', kind: 'dir' }]] },
    {
      name: 'masked on the deepest mount covering it',
      mounts: [
        { path: W, access: 'ro', masks: [] },
        { path: join(W, 'dir'), access: 'rw', masks: [] },
      ],
      want: [[], [{ path: state, access: 'deny', kind: 'dir' }]],
    },
    {
      name: 'already denied by policy: not masked twice',
      mounts: [{ path: W, access: 'rw', masks: [{ path: state, access: 'deny', kind: 'dir' }] }],
      want: [[{ path: state, access: 'deny', kind: 'dir' }]],
    },
    { name: 'state dir outside every mount: nothing to do', mounts: [{ path: join(W, 'vendor'), access: 'ro', masks: [] }], want: [[]] },
  ];
  for (const c of cases) {
    hideStateDir(c.mounts, state);
    t.same(c.mounts.map((m) => m.masks), c.want, c.name);
  }
  t.throws(() => hideStateDir([{ path: join(state, 'spool'), access: 'ro', masks: [] }], state), PlanError, 'a mount inside the state dir is refused');
  t.throws(() => hideStateDir([{ path: state, access: 'ro', masks: [] }], state), PlanError, 'mounting the state dir itself is refused');
  const viaLink = join(ROOT, 'state-link');
  symlinkSync(state, viaLink);
  const mounts: PlannedMount[] = [{ path: W, access: 'ro', masks: [] }];
  hideStateDir(mounts, viaLink);
  t.same(mounts[0]!.masks, [{ path: state, access: 'deny', kind: 'dir' }], 'a state dir given through a symlink is masked at its real path');
  const untouched: PlannedMount[] = [{ path: W, access: 'ro', masks: [] }];
  hideStateDir(untouched, join(ROOT, 'no-such-state'));
  t.same(untouched[0]!.masks, [], 'a state dir that does not exist yet needs no mask');
});

t.test('privateHomeFor', async (t) => {
  const cases: { name: string; home: string; mounts: string[]; want: string | null }[] = [
    { name: 'no mount shows the home: private', home: '/home/a', mounts: ['/home/a/src'], want: '/home/a' },
    { name: 'the home itself is mounted: real', home: '/home/a', mounts: ['/home/a'], want: null },
    { name: 'a parent of the home is mounted: real', home: '/home/a', mounts: ['/home'], want: null },
    { name: 'a sibling prefix is not a parent', home: '/home/a', mounts: ['/home/ab'], want: '/home/a' },
    { name: 'home is /', home: '/', mounts: [], want: null },
  ];
  for (const c of cases) t.equal(privateHomeFor(c.home, c.mounts.map((path) => ({ path, access: 'ro', masks: [] }))), c.want, c.name);
});

t.test('chooseCwd', async (t) => {
  const mounts: PlannedMount[] = [
    { path: join(W, 'vendor'), access: 'ro', masks: [] },
    { path: W, access: 'rw', masks: [{ path: join(W, 'dir'), access: 'deny', kind: 'dir' }] },
  ];
  const order = [join(W, 'vendor'), W];
  const cases: { name: string; requested: string | null; caller: string; want: string | RegExp }[] = [
    { name: 'caller inside a mount', requested: null, caller: W, want: W },
    { name: 'caller outside: the first mount asked for', requested: null, caller: ROOT, want: join(W, 'vendor') },
    { name: 'caller under a deny mask: the first mount', requested: null, caller: join(W, 'dir'), want: join(W, 'vendor') },
    { name: '--cwd relative to the caller', requested: 'vendor', caller: W, want: join(W, 'vendor') },
    { name: '--cwd outside every mount', requested: ROOT, caller: W, want: /not visible in the sandbox/ },
    { name: '--cwd under a deny mask', requested: join(W, 'dir'), caller: W, want: /not visible in the sandbox/ },
    { name: '--cwd is the private home', requested: '/home/x', caller: W, want: '/home/x' },
  ];
  for (const c of cases) {
    if (c.want instanceof RegExp) t.throws(() => chooseCwd(c.requested, c.caller, order, mounts, '/home/x'), PlanError, c.name);
    else t.equal(chooseCwd(c.requested, c.caller, order, mounts, '/home/x'), c.want, c.name);
  }
  t.equal(chooseCwd(null, ROOT, [], [], '/home/x'), '/home/x', 'no mounts: the home');
});

t.test('sandboxEnv: attack: host secrets in the environment', async (t) => {
  const env = sandboxEnv({
    hostEnv: { AWS_SECRET_ACCESS_KEY: 'k', GITHUB_TOKEN: 'g', SSH_AUTH_SOCK: '/s', LD_PRELOAD: '/evil.so', PATH: '/home/a/bin', TERM: 'xterm', LC_TIME: 'C', LANG: 'C.UTF-8' },
    home: '/home/a',
    user: 'a',
    sessionId: 's_1',
    secret: 'x',
  });
  for (const k of ['AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'SSH_AUTH_SOCK', 'LD_PRELOAD']) t.notOk(k in env, `${k} is not passed`);
  t.equal(env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'a fresh PATH (the host one may point at unmounted dirs)');
  t.same([env.TERM, env.LC_TIME, env.LANG, env.HOME, env.USER, env.CORDON_SESSION], ['xterm', 'C', 'C.UTF-8', '/home/a', 'a', 's_1']);
  t.equal(env.HTTPS_PROXY, 'http://s_1:x@127.0.0.1:3128');
});

t.test('fdinfoFlags: close-on-exec is read from the octal flags line', async (t) => {
  const cases: [string, string, number | null, boolean][] = [
    ['inherited (no O_CLOEXEC)', 'pos:\t0\nflags:\t0100000\nmnt_id:\t25\n', 0o100000, false],
    ['close-on-exec', 'pos:\t0\nflags:\t02004002\nmnt_id:\t15\n', 0o2004002, true],
    ['no flags line', 'pos:\t0\n', null, false],
  ];
  for (const [name, text, flags, cloexec] of cases) {
    t.equal(fdinfoFlags(text), flags, `${name}: flags`);
    t.equal(flags !== null && (flags & FDINFO_CLOEXEC) !== 0, cloexec, `${name}: close-on-exec`);
  }
});
