import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  decideMount,
  MOUNT_MASK_MAX_COUNT,
  MOUNT_MASK_MAX_DEPTH,
  MOUNT_MASK_MAX_ENTRIES,
  NODE_MOUNT_FS,
  type MountFs,
  type MountRequest,
} from '../../src/decide/mounts.js';
import type { MountDecision, MountMask } from '../../src/decide/types.js';
import { compileMounts, type CompiledMounts } from '../../src/match/path-rules.js';
import { parsePolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { mountPolicy, type PolicySpec } from '../helpers/mount-policy.js';

// ---- a real tree with a temp home --------------------------------------------------
// realpath: on macOS the temp dir itself lives behind a symlink (/var → /private/var).
const ROOT = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-mounts-')));
const HOME = join(ROOT, 'home');
t.teardown(() => rmSync(ROOT, { recursive: true, force: true }));

/** Absolute path under the temp home. */
const H = (rel = ''): string => (rel === '' ? HOME : join(HOME, rel));

function file(rel: string, body = 'x'): void {
  mkdirSync(dirname(H(rel)), { recursive: true });
  writeFileSync(H(rel), body);
}
function dir(rel: string): void {
  mkdirSync(H(rel), { recursive: true });
}
function link(rel: string, target: string): void {
  mkdirSync(dirname(H(rel)), { recursive: true });
  symlinkSync(target, H(rel));
}

file('.ssh/id_ed25519');
file('.aws/credentials');
file('src/app/index.js');
file('src/app/.env');
file('src/app/config/.env');
file('src/app/config/settings.json');
file('src/app/node_modules/pkg/.env');
file('src/app/secrets/token');
file('src/lib/secrets/token');
file('src/secrets/key');
file('src/ro-docs/readme.md');
dir('src2/project');
link('src/escape', '../.ssh'); // a symlink inside the workspace that leaves it, to ~/.ssh
link('src/app/linkdir', 'config'); // a symlinked directory (not descended for globs)
link('src/lib/.env', '../app/index.js'); // a symlink named .env: not a real path, never a mask
link('src/app/dangling', '../../.ssh/new_key'); // dangling, points into ~/.ssh
link('src/loop-a', 'loop-b');
link('src/loop-b', 'loop-a');
link('link-to-ssh', '.ssh');
dir('locked/inner');
// a symlinked home: ROOT/home-link → ROOT/home
symlinkSync(HOME, join(ROOT, 'home-link'));

// ---- policies -------------------------------------------------------------------------
const BASE: PolicySpec = {
  guardrails: { rules: [['credentials', 'deny', ['~/.ssh', '~/.aws']]] },
  profiles: [
    {
      name: 'default',
      default: 'deny',
      rules: [
        ['workspace', 'rw', ['~/src']],
        ['docs', 'ro', ['~/src/ro-docs']],
        ['workspace secrets', 'deny', ['~/src/secrets']],
        ['env files', 'deny', ['~/src/**/.env']],
        ['toolchains', 'ro', ['/usr']],
      ],
    },
    {
      name: 'research',
      match: { team: 'research' },
      mode: 'audit',
      default: 'ro',
      rules: [['scratch', 'rw', ['~/src2']]],
    },
  ],
};

function compiled(spec: PolicySpec): { policy: Policy; mounts: CompiledMounts } {
  const policy = mountPolicy(spec);
  return { policy, mounts: compileMounts(policy) };
}

interface Case {
  name: string;
  spec?: PolicySpec;
  req: Partial<MountRequest> & { path: string };
  fs?: MountFs;
  expect: Partial<MountDecision>;
}

function run(t: Test, cases: Case[]): void {
  for (const c of cases) {
    const cp = compiled(c.spec ?? BASE);
    const req: MountRequest = { access: 'ro', labels: {}, home: HOME, ...c.req };
    const d = decideMount(cp, req, c.fs);
    const got: Record<string, unknown> = {};
    for (const key of Object.keys(c.expect)) got[key] = (d as unknown as Record<string, unknown>)[key];
    t.same(got, c.expect, c.name);
  }
}

const credRule = (resource: string) => ({ layer: 'guardrails', name: 'credentials', resource });


t.test('symlink escapes are decided on the target', async (t) => {
  run(t, [
    {
      name: 'a workspace symlink to ~/.ssh is denied as ~/.ssh (symlink escape)',
      req: { path: '~/src/escape', access: 'ro' },
      expect: { decision: 'deny', reason: 'rule', path: H('.ssh'), rule: credRule('~/.ssh'), effective: 'deny', enforced: true },
    },
    {
      name: 'a file reached through the escaping symlink is denied',
      req: { path: '~/src/escape/id_ed25519', access: 'ro' },
      expect: { decision: 'deny', path: H('.ssh/id_ed25519'), rule: credRule('~/.ssh') },
    },
    {
      name: 'a not-yet-existing file beneath the escaping symlink is denied (symlinked parent)',
      req: { path: '~/src/escape/authorized_keys2', access: 'rw' },
      expect: { decision: 'deny', path: H('.ssh/authorized_keys2'), rule: credRule('~/.ssh') },
    },
    {
      name: 'a dangling symlink pointing into ~/.ssh is followed, not taken as a name',
      req: { path: '~/src/app/dangling', access: 'rw' },
      expect: { decision: 'deny', path: H('.ssh/new_key'), rule: credRule('~/.ssh') },
    },
    {
      name: 'a symlink in the home to ~/.ssh',
      req: { path: '~/link-to-ssh', access: 'ro' },
      expect: { decision: 'deny', path: H('.ssh'), rule: credRule('~/.ssh') },
    },
    {
      name: '.. after a symlink goes up from the target, as the kernel does (~/src/escape/../.aws = ~/.aws)',
      req: { path: '~/src/escape/../.aws', access: 'ro' },
      expect: { decision: 'deny', path: H('.aws'), rule: credRule('~/.aws') },
    },
    {
      name: 'a symlink loop is unresolvable, in every mode',
      spec: { ...BASE, mode: 'audit' },
      req: { path: '~/src/loop-a', access: 'ro' },
      expect: { decision: 'deny', reason: 'unresolvable-path', enforced: true, path: H('src/loop-a'), masks: [] },
    },
    {
      name: 'a path beneath a symlink loop is unresolvable',
      req: { path: '~/src/loop-a/x', access: 'ro' },
      expect: { decision: 'deny', reason: 'unresolvable-path' },
    },
    {
      name: 'a path beneath a regular file is unresolvable (ENOTDIR)',
      req: { path: '~/src/app/index.js/x', access: 'ro' },
      expect: { decision: 'deny', reason: 'unresolvable-path' },
    },
    {
      name: '.. beneath a missing directory is unresolvable',
      req: { path: '~/src/missing/../app', access: 'ro' },
      expect: { decision: 'deny', reason: 'unresolvable-path' },
    },
    {
      name: 'a symlink inside the mounted tree that points outside is not a reason to deny',
      req: { path: '~/src/app', access: 'rw' },
      expect: { decision: 'allow', path: H('src/app') },
    },
  ]);
});

t.test('.. traversal is resolved before deciding', async (t) => {
  run(t, [
    {
      name: '~/src/../.ssh is ~/.ssh',
      req: { path: '~/src/../.ssh', access: 'ro' },
      expect: { decision: 'deny', path: H('.ssh'), rule: credRule('~/.ssh') },
    },
    {
      name: 'deep traversal out of the workspace',
      req: { path: '~/src/app/config/../../../.ssh/id_ed25519', access: 'ro' },
      expect: { decision: 'deny', path: H('.ssh/id_ed25519'), rule: credRule('~/.ssh') },
    },
    {
      name: 'absolute path with traversal and ./ and //',
      req: { path: `${HOME}/src/./app//../../.aws/`, access: 'ro' },
      expect: { decision: 'deny', path: H('.aws'), rule: credRule('~/.aws') },
    },
    {
      name: 'traversal that stays inside the workspace is allowed on the real path',
      req: { path: '~/src/app/../lib', access: 'rw' },
      expect: { decision: 'allow', path: H('src/lib') },
    },
    {
      name: 'traversal into a sibling that shares the prefix (~/src/../src2) is not the workspace',
      req: { path: '~/src/../src2', access: 'rw' },
      expect: { decision: 'deny', reason: 'default', path: H('src2'), rule: null },
    },
  ]);
});

t.test('siblings sharing a prefix are not covered (~/src vs ~/src2)', async (t) => {
  run(t, [
    { name: '~/src is the workspace', req: { path: '~/src', access: 'ro' }, expect: { decision: 'allow', reason: 'rule', effective: 'rw' } },
    {
      name: '~/src2 falls to the default',
      req: { path: '~/src2', access: 'ro' },
      expect: { decision: 'deny', reason: 'default', effective: 'deny', rule: null, path: H('src2') },
    },
    { name: '~/src2/project falls to the default', req: { path: '~/src2/project', access: 'ro' }, expect: { decision: 'deny', reason: 'default' } },
    {
      name: 'a deny on ~/src does not reach ~/src2',
      spec: { profiles: [{ name: 'default', default: 'rw', rules: [['no src', 'deny', ['~/src']]] }] },
      req: { path: '~/src2', access: 'rw' },
      expect: { decision: 'allow', reason: 'default', effective: 'rw' },
    },
  ]);
});

t.test('~ expansion and invalid requests', async (t) => {
  run(t, [
    {
      name: '~ alone is the home',
      spec: { profiles: [{ name: 'default', rules: [['home', 'ro', ['~']]] }] },
      req: { path: '~', access: 'ro' },
      expect: { decision: 'allow', path: HOME, rule: { layer: 'profile:default', name: 'home', resource: '~' } },
    },
    { name: '~/src expands to the home', req: { path: '~/src', access: 'rw' }, expect: { decision: 'allow', path: H('src') } },
    { name: 'an absolute spelling of the same path decides the same', req: { path: H('src'), access: 'rw' }, expect: { decision: 'allow', path: H('src') } },
    {
      name: 'a symlinked home: ~ rules still match the real paths (guardrail holds)',
      req: { path: '~/.ssh', access: 'ro', home: join(ROOT, 'home-link') },
      expect: { decision: 'deny', path: H('.ssh'), rule: credRule('~/.ssh') },
    },
    {
      name: 'a symlinked home: the workspace is still allowed',
      req: { path: '~/src', access: 'rw', home: join(ROOT, 'home-link') },
      expect: { decision: 'allow', path: H('src') },
    },
    {
      name: 'a path that does not exist yet is decided where it would be',
      req: { path: '~/src/new-project/sub', access: 'rw' },
      expect: { decision: 'allow', path: H('src/new-project/sub'), masks: [] },
    },
    { name: '~user is not expanded', req: { path: '~root/.ssh' }, expect: { decision: 'deny', reason: 'invalid-target', enforced: true, path: '~root/.ssh' } },
    { name: '~src (no slash) is not expanded', req: { path: '~src' }, expect: { decision: 'deny', reason: 'invalid-target' } },
    { name: 'relative path', req: { path: 'src/app' }, expect: { decision: 'deny', reason: 'invalid-target', enforced: true } },
    { name: 'dot-relative path', req: { path: './src' }, expect: { decision: 'deny', reason: 'invalid-target' } },
    { name: 'empty path', req: { path: '' }, expect: { decision: 'deny', reason: 'invalid-target' } },
    { name: 'NUL byte truncation (~/src\\0/../.ssh)', req: { path: '~/src\0/../.ssh' }, expect: { decision: 'deny', reason: 'invalid-target', effective: 'deny' } },
    {
      name: 'invalid targets are rejected in audit mode too',
      spec: { ...BASE, mode: 'audit' },
      req: { path: 'relative', modeOverride: 'audit' },
      expect: { decision: 'deny', reason: 'invalid-target', enforced: true, mode: 'audit' },
    },
    { name: 'a relative home is invalid', req: { path: '/usr', home: 'home/u' }, expect: { decision: 'deny', reason: 'invalid-target' } },
    {
      name: 'an access other than ro/rw is invalid',
      req: { path: '~/src', access: 'rwx' as 'rw' },
      expect: { decision: 'deny', reason: 'invalid-target', access: 'rw' },
    },
  ]);
});

t.test('layers, defaults, modes and profiles', async (t) => {
  const AUDIT_PROFILE: PolicySpec = {
    mode: 'audit',
    guardrails: { mode: 'enforce', rules: [['credentials', 'deny', ['~/.ssh']]] },
    profiles: [{ name: 'default', default: 'deny', rules: [['workspace', 'rw', ['~/src']]] }],
  };
  run(t, [
    {
      name: 'guardrail deny beats an explicit profile rw',
      spec: { guardrails: BASE.guardrails, profiles: [{ name: 'default', rules: [['all of home', 'rw', ['~', '~/.ssh']]] }] },
      req: { path: '~/.ssh', access: 'ro' },
      expect: { decision: 'deny', reason: 'rule', rule: credRule('~/.ssh'), effective: 'deny', mode: 'enforce', enforced: true },
    },
    {
      name: 'ro rule: ro allowed',
      req: { path: '~/src/ro-docs', access: 'ro' },
      expect: { decision: 'allow', effective: 'ro', rule: { layer: 'profile:default', name: 'docs', resource: '~/src/ro-docs' } },
    },
    {
      name: 'ro rule: rw denied with that rule',
      req: { path: '~/src/ro-docs/readme.md', access: 'rw' },
      expect: { decision: 'deny', reason: 'rule', effective: 'ro', rule: { layer: 'profile:default', name: 'docs', resource: '~/src/ro-docs' } },
    },
    {
      name: 'a deny beneath the workspace denies the sub-path itself',
      req: { path: '~/src/secrets/key', access: 'ro' },
      expect: { decision: 'deny', rule: { layer: 'profile:default', name: 'workspace secrets', resource: '~/src/secrets' } },
    },
    {
      name: 'a glob deny applies to a requested file',
      req: { path: '~/src/app/config/.env', access: 'ro' },
      expect: { decision: 'deny', rule: { layer: 'profile:default', name: 'env files', resource: '~/src/**/.env' } },
    },
    {
      name: 'profile default ro: ro allowed',
      spec: { profiles: [{ name: 'default', default: 'ro' }] },
      req: { path: '~/src2', access: 'ro' },
      expect: { decision: 'allow', reason: 'default', rule: null, effective: 'ro' },
    },
    {
      name: 'profile default ro: rw denied by the default',
      spec: { profiles: [{ name: 'default', default: 'ro' }] },
      req: { path: '~/src2', access: 'rw' },
      expect: { decision: 'deny', reason: 'default', effective: 'ro', mode: 'enforce', enforced: true },
    },
    {
      name: 'no mounts section at all: deny by default',
      spec: {},
      req: { path: '/usr', access: 'ro' },
      expect: { decision: 'deny', reason: 'default', effective: 'deny' },
    },
    {
      name: 'audit policy: a profile deny is recorded, not enforced',
      spec: AUDIT_PROFILE,
      req: { path: '~/src2', access: 'ro' },
      expect: { decision: 'deny', reason: 'default', mode: 'audit', enforced: false },
    },
    {
      name: 'audit policy, enforcing guardrails: the guardrail deny is enforced',
      spec: AUDIT_PROFILE,
      req: { path: '~/.ssh', access: 'ro' },
      expect: { decision: 'deny', reason: 'rule', mode: 'enforce', enforced: true },
    },
    {
      name: '--mode audit overrides an enforcing guardrail',
      spec: AUDIT_PROFILE,
      req: { path: '~/.ssh', access: 'ro', modeOverride: 'audit' },
      expect: { decision: 'deny', mode: 'audit', enforced: false },
    },
    {
      name: '--mode enforce overrides an audit profile',
      spec: AUDIT_PROFILE,
      req: { path: '~/src2', access: 'ro', modeOverride: 'enforce' },
      expect: { decision: 'deny', mode: 'enforce', enforced: true },
    },
    {
      name: 'an audit guardrail deny does not soften an enforcing profile deny (profile ro, rw asked)',
      spec: {
        guardrails: { mode: 'audit', rules: [['no src', 'deny', ['~/src']]] },
        profiles: [{ name: 'default', rules: [['src ro', 'ro', ['~/src']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: {
        decision: 'deny',
        enforced: true,
        mode: 'enforce',
        effective: 'deny',
        rule: { layer: 'profile:default', name: 'src ro', resource: '~/src' },
      },
    },
    {
      name: 'an audit guardrail deny alone is not enforced',
      spec: {
        guardrails: { mode: 'audit', rules: [['no src', 'deny', ['~/src']]] },
        profiles: [{ name: 'default', rules: [['src ro', 'ro', ['~/src']]] }],
      },
      req: { path: '~/src', access: 'ro' },
      expect: { decision: 'deny', enforced: false, mode: 'audit', effective: 'deny', rule: { layer: 'guardrails', name: 'no src', resource: '~/src' } },
    },
    {
      name: 'labels select the research profile (its rw scratch)',
      req: { path: '~/src2', access: 'rw', labels: { team: 'research' } },
      expect: { decision: 'allow', profile: 'research', rule: { layer: 'profile:research', name: 'scratch', resource: '~/src2' } },
    },
    {
      name: 'research profile: default ro, audit mode deny for rw',
      req: { path: '/srv', access: 'rw', labels: { team: 'research' } },
      expect: { decision: 'deny', profile: 'research', reason: 'default', effective: 'ro', mode: 'audit', enforced: false },
    },
    {
      name: 'research profile: guardrails still apply (and enforce: policy mode)',
      req: { path: '~/.ssh', access: 'ro', labels: { team: 'research' } },
      expect: { decision: 'deny', profile: 'research', rule: credRule('~/.ssh'), enforced: true },
    },
    {
      name: 'labels that match nothing keep the default profile',
      req: { path: '~/src2', access: 'rw', labels: { team: 'sales' } },
      expect: { decision: 'deny', profile: 'default', reason: 'default' },
    },
  ]);
});

t.test('masks beneath the requested path', async (t) => {
  const envMasks: MountMask[] = [
    { path: H('src/app/.env'), access: 'deny' },
    { path: H('src/app/config/.env'), access: 'deny' },
    { path: H('src/app/node_modules/pkg/.env'), access: 'deny' },
  ];
  run(t, [
    {
      name: 'rw workspace: deny and ro rules beneath, glob **/.env expanded to concrete files (not the ~/src/lib/.env symlink)',
      req: { path: '~/src', access: 'rw' },
      expect: {
        decision: 'allow',
        effective: 'rw',
        masks: [...envMasks, { path: H('src/ro-docs'), access: 'ro' }, { path: H('src/secrets'), access: 'deny' }],
      },
    },
    {
      name: 'ro workspace: only rules granting less than ro (an ro rule is no mask)',
      req: { path: '~/src', access: 'ro' },
      expect: { decision: 'allow', masks: [...envMasks, { path: H('src/secrets'), access: 'deny' }] },
    },
    {
      name: 'a sub-tree gets only the masks beneath it',
      req: { path: '~/src/app', access: 'rw' },
      expect: { decision: 'allow', masks: envMasks },
    },
    {
      name: 'the symlinked directory is not descended (no ~/src/app/linkdir/.env mask)',
      req: { path: '~/src/app', access: 'ro' },
      expect: { masks: envMasks },
    },
    {
      name: 'a literal rule beneath a file or through a symlink loop is no mask (nothing can exist there)',
      spec: { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['odd', 'deny', ['~/src/app/index.js/x', '~/src/loop-a/x']]] }] },
      req: { path: '~/src', access: 'rw' },
      expect: { decision: 'allow', masks: [] },
    },
    {
      name: 'a file mount has no masks',
      req: { path: '~/src/app/index.js', access: 'rw' },
      expect: { decision: 'allow', masks: [] },
    },
    {
      name: 'a denied mount carries no masks',
      req: { path: '~/src/secrets', access: 'ro' },
      expect: { decision: 'deny', masks: [] },
    },
    {
      name: 'mounting the parent of the home masks the home-relative guardrails (~/.ssh, ~/.aws)',
      spec: { ...BASE, profiles: [{ name: 'default', rules: [['all', 'rw', [ROOT]]] }] },
      req: { path: ROOT, access: 'ro' },
      expect: { decision: 'allow', masks: [{ path: H('.aws'), access: 'deny' }, { path: H('.ssh'), access: 'deny' }] },
    },
    {
      name: 'a literal rule path is a mask even when it does not exist yet',
      spec: { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['future', 'deny', ['~/src/not-yet']]] }] },
      req: { path: '~/src', access: 'rw' },
      expect: { masks: [{ path: H('src/not-yet'), access: 'deny' }] },
    },
    {
      name: 'a literal rule on a symlink is no mask: an ro bind of ~/src/escape would expose ~/.ssh (symlink escape)',
      spec: {
        guardrails: BASE.guardrails,
        profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['link ro', 'ro', ['~/src/escape']], ['key', 'deny', ['~/src/escape/id_ed25519']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: { decision: 'allow', masks: [] },
    },
    {
      name: 'glob * expanded: only existing matches (~/src/*/secrets)',
      spec: { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['secrets', 'deny', ['~/src/*/secrets']]] }] },
      req: { path: '~/src', access: 'rw' },
      expect: { masks: [{ path: H('src/app/secrets'), access: 'deny' }, { path: H('src/lib/secrets'), access: 'deny' }] },
    },
    {
      name: 'a glob anchored above the request (guardrail ~/**/.env) is expanded beneath it',
      spec: { guardrails: { rules: [['env', 'deny', ['~/**/.env']]] }, profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']]] }] },
      req: { path: '~/src/app/config', access: 'rw' },
      expect: { decision: 'allow', masks: [{ path: H('src/app/config/.env'), access: 'deny' }] },
    },
    {
      name: 'a mask takes the effective access of its path (guardrail ro + profile deny → deny)',
      spec: {
        guardrails: { rules: [['ws', 'rw', ['~/src']], ['lib ro', 'ro', ['~/src/lib']]] },
        profiles: [{ name: 'default', rules: [['lib', 'deny', ['~/src/lib']], ['ws', 'rw', ['~/src']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: { masks: [{ path: H('src/lib'), access: 'deny' }] },
    },
    {
      name: 'a mask takes the effective access of its path (profile ro under guardrail rw → ro)',
      spec: {
        guardrails: { rules: [['ws', 'rw', ['~/src']]] },
        profiles: [{ name: 'default', rules: [['lib ro', 'ro', ['~/src/lib']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: { decision: 'allow', reason: 'rule', masks: [{ path: H('src/lib'), access: 'ro' }] },
    },
    {
      name: 'a more specific rw in the same layer exempts a glob match from masking',
      spec: {
        profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['env', 'deny', ['~/src/**/.env']], ['app env', 'rw', ['~/src/app/config/.env']]] }],
      },
      req: { path: '~/src/app', access: 'rw' },
      expect: { masks: [{ path: H('src/app/.env'), access: 'deny' }, { path: H('src/app/node_modules/pkg/.env'), access: 'deny' }] },
    },
    {
      name: 'dedup: masks beneath a deny mask are dropped',
      spec: {
        profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['app', 'deny', ['~/src/app']], ['env', 'deny', ['~/src/**/.env']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: { masks: [{ path: H('src/app'), access: 'deny' }] },
    },
    {
      name: 'dedup: a deny beneath an ro mask is kept; an ro beneath it is dropped',
      spec: {
        profiles: [
          {
            name: 'default',
            rules: [['ws', 'rw', ['~/src']], ['app', 'ro', ['~/src/app']], ['cfg', 'ro', ['~/src/app/config']], ['sec', 'deny', ['~/src/app/secrets']]],
          },
        ],
      },
      req: { path: '~/src', access: 'rw' },
      expect: { masks: [{ path: H('src/app'), access: 'ro' }, { path: H('src/app/secrets'), access: 'deny' }] },
    },
    {
      name: 'dedup: the same path from two rules keeps the lower access (and ~/src/* skips the symlinks escape, loop-a, loop-b)',
      spec: {
        guardrails: { rules: [['lib', 'deny', ['~/src/lib']]] },
        profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['lib', 'ro', ['~/src/lib', '~/src/*']]] }],
      },
      req: { path: '~/src', access: 'rw' },
      expect: {
        masks: [
          { path: H('src/app'), access: 'ro' },
          { path: H('src/lib'), access: 'deny' },
          { path: H('src/ro-docs'), access: 'ro' },
          { path: H('src/secrets'), access: 'ro' },
        ],
      },
    },
  ]);
});

t.test('mask bounds: past them the mount is denied, not half-masked', async (t) => {
  const GLOB: PolicySpec = {
    profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/bounds']], ['env', 'deny', ['~/bounds/**/.env']]] }],
  };
  // depth: exactly MOUNT_MASK_MAX_DEPTH levels is fine, one more is not
  const deepOk = ['depth-ok', ...Array.from({ length: MOUNT_MASK_MAX_DEPTH - 1 }, () => 'd')].join('/');
  file(`bounds/${deepOk}/.env`);
  const deepTooMuch = ['depth-over', ...Array.from({ length: MOUNT_MASK_MAX_DEPTH + 1 }, () => 'd')].join('/');
  dir(`bounds/${deepTooMuch}`);
  // count: exactly MOUNT_MASK_MAX_COUNT masks is fine, one more is not
  for (let i = 0; i < MOUNT_MASK_MAX_COUNT; i += 1) file(`bounds/count/d${i}/.env`);
  file('bounds/count-over/.env');

  const d1 = decideMount(compiled(GLOB), { path: `~/bounds/depth-ok`, access: 'rw', labels: {}, home: HOME });
  t.same([d1.decision, d1.masks.length, d1.masks[0]?.path], ['allow', 1, H(`bounds/${deepOk}/.env`)], `a .env ${MOUNT_MASK_MAX_DEPTH} levels down is masked`);

  const d2 = decideMount(compiled(GLOB), { path: `~/bounds/depth-over`, access: 'rw', labels: {}, home: HOME });
  t.same([d2.decision, d2.reason, d2.enforced, d2.masks], ['deny', 'too-many-masks', true, []], 'a tree deeper than the bound is denied');
  t.match(d2.error, `deeper than ${MOUNT_MASK_MAX_DEPTH} levels`, 'the error says which bound');

  const d3 = decideMount(compiled(GLOB), { path: `~/bounds/count`, access: 'rw', labels: {}, home: HOME });
  t.same([d3.decision, d3.masks.length], ['allow', MOUNT_MASK_MAX_COUNT], `${MOUNT_MASK_MAX_COUNT} masks are allowed`);

  const d4 = decideMount(compiled(GLOB), { path: `~/bounds`, access: 'rw', labels: {}, home: HOME });
  t.same([d4.decision, d4.reason, d4.masks], ['deny', 'too-many-masks', []], 'one mask more is denied');

  const d5 = decideMount(compiled({ ...GLOB, mode: 'audit' }), { path: `~/bounds`, access: 'rw', labels: {}, home: HOME });
  t.same([d5.decision, d5.reason, d5.enforced], ['deny', 'too-many-masks', true], 'too-many-masks is enforced in audit mode');

  // entries: a directory listing wider than the bound (a MountFs that widens one real directory)
  dir('bounds-wide');
  const wideFs: MountFs = {
    ...NODE_MOUNT_FS,
    readdir: (p) =>
      p === H('bounds-wide')
        ? Array.from({ length: MOUNT_MASK_MAX_ENTRIES + 1 }, (_, i) => ({ name: `f${i}`, isDirectory: () => false, isSymbolicLink: () => false }))
        : NODE_MOUNT_FS.readdir(p),
  };
  const wide: PolicySpec = { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/bounds-wide']], ['env', 'deny', ['~/bounds-wide/**/.env']]] }] };
  const d6 = decideMount(compiled(wide), { path: '~/bounds-wide', access: 'rw', labels: {}, home: HOME }, wideFs);
  t.same([d6.decision, d6.reason], ['deny', 'too-many-masks'], `a glob walk over more than ${MOUNT_MASK_MAX_ENTRIES} entries is denied`);

  // literal masks need no walk and are bounded too
  const literals = Array.from({ length: MOUNT_MASK_MAX_COUNT + 1 }, (_, i) => `~/src/x${i}`);
  const many: PolicySpec = { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['many', 'deny', literals]] }] };
  const d7 = decideMount(compiled(many), { path: '~/src', access: 'rw', labels: {}, home: HOME });
  t.same([d7.decision, d7.reason], ['deny', 'too-many-masks'], 'more literal masks than the bound are denied');
});

t.test('unresolvable and internal failures fail closed', async (t) => {
  /** The real file system, except that `op` on `bad` fails with EACCES (the tests run as root, where chmod 000 would not). */
  function eaccesAt(bad: string, op: 'realpath' | 'readdir'): MountFs {
    const fail = (p: string): never => {
      throw Object.assign(new Error(`EACCES: permission denied, ${op} '${p}'`), { code: 'EACCES' });
    };
    return {
      ...NODE_MOUNT_FS,
      realpath: (p) => (op === 'realpath' && p === bad ? fail(p) : NODE_MOUNT_FS.realpath(p)),
      readdir: (p) => (op === 'readdir' && p === bad ? fail(p) : NODE_MOUNT_FS.readdir(p)),
    };
  }
  run(t, [
    {
      name: 'EACCES while resolving is unresolvable-path, in every mode',
      spec: { ...BASE, mode: 'audit' },
      req: { path: '~/locked/inner', access: 'ro' },
      fs: eaccesAt(H('locked/inner'), 'realpath'),
      expect: { decision: 'deny', reason: 'unresolvable-path', enforced: true, path: H('locked/inner') },
    },
    {
      name: 'a literal mask path that cannot be resolved denies the mount',
      spec: { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']], ['token', 'deny', ['~/src/app/secrets/token']]] }] },
      req: { path: '~/src', access: 'rw' },
      fs: eaccesAt(H('src/app/secrets/token'), 'realpath'),
      expect: { decision: 'deny', reason: 'unresolvable-path', effective: 'rw', masks: [] },
    },
    {
      name: 'a directory that cannot be listed for glob expansion denies the mount',
      req: { path: '~/src', access: 'rw' },
      fs: eaccesAt(H('src/app/config'), 'readdir'),
      expect: { decision: 'deny', reason: 'unresolvable-path', masks: [] },
    },
  ]);
  const failClosed = { ...compiled(BASE), failClosed: 'policy file is invalid' };
  const nd = decideMount(failClosed, { path: '~/src', access: 'ro', labels: {}, home: HOME, modeOverride: 'audit' });
  t.same([nd.decision, nd.reason, nd.enforced, nd.error], ['deny', 'no-policy', true, 'policy file is invalid'], 'the fail-closed policy denies every mount, in every mode');
  const broken = { policy: mountPolicy(BASE), mounts: undefined as unknown as CompiledMounts };
  const d = decideMount(broken, { path: '~/src', access: 'rw', labels: {}, home: HOME });
  t.same([d.decision, d.reason, d.enforced, d.masks], ['deny', 'internal-error', true, []], 'an exception becomes an enforced deny');
  t.type(d.error, 'string', 'with the error text');
});

t.test('a policy loaded from YAML (DESIGN §2 example) decides the same way', async (t) => {
  const yaml = [
    'version: 1',
    'name: acme-engineering',
    'mode: enforce',
    'guardrails:',
    '  mounts:',
    '    rules:',
    '      - name: credentials',
    '        deny: ["~/.ssh", "~/.aws", "~/.gnupg", "~/.config/gcloud"]',
    'profiles:',
    '  default:',
    '    mounts:',
    '      default: deny',
    '      rules:',
    '        - name: workspace',
    '          rw: ["~/src", "/tmp"]',
    '        - name: env files',
    '          deny: ["~/src/**/.env"]',
    '  research:',
    '    match: { team: research }',
    '    mode: audit',
    '',
  ].join('\n');
  const loaded = parsePolicyText(yaml, 'design-example.yaml');
  if (!loaded.ok) {
    t.fail(`the example policy loads: ${JSON.stringify(loaded.errors)}`);
    return;
  }
  const cp = { policy: loaded.policy, mounts: compileMounts(loaded.policy) };
  const ask = (path: string, access: 'ro' | 'rw', labels: Record<string, string> = {}): MountDecision =>
    decideMount(cp, { path, access, labels, home: HOME });

  const ws = ask('~/src/app', 'rw');
  t.same([ws.decision, ws.rule?.resource, ws.masks.map((m) => m.path)], ['allow', '~/src', [H('src/app/.env'), H('src/app/config/.env'), H('src/app/node_modules/pkg/.env')]], 'workspace rw with .env masks');
  const esc = ask('~/src/escape', 'ro');
  t.same([esc.decision, esc.path, esc.rule], ['deny', H('.ssh'), { layer: 'guardrails', name: 'credentials', resource: '~/.ssh' }], 'symlink escape to ~/.ssh denied by the guardrail');
  const research = ask('~/src2', 'ro', { team: 'research' });
  t.same([research.decision, research.profile, research.reason, research.enforced], ['deny', 'research', 'default', false], 'research: no mount rules, audit: an unenforced default deny');
});
