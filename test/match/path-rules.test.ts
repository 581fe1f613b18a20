import t from 'tap';
import {
  bestRule,
  compileMounts,
  effectiveAccess,
  parseRulePath,
  ruleCovers,
  selectProfileName,
  splitAbsolute,
  type CompiledMountLayer,
} from '../../src/match/path-rules.js';
import { mountPolicy, type PolicySpec, type RuleSpec } from '../helpers/mount-policy.js';

const HOME = splitAbsolute('/home/u');

/** A compiled profile layer holding `rules`. */
function profileLayer(rules: RuleSpec[], def?: 'deny' | 'ro' | 'rw'): CompiledMountLayer {
  const cm = compileMounts(mountPolicy({ profiles: [{ name: 'default', rules, default: def }] }));
  return cm.profiles.get('default')!;
}

t.test('rule paths parse into home-relative or absolute tokens', async (t) => {
  const cases: { name: string; text: string; home: boolean; tokens: string[] }[] = [
    { name: 'bare ~ is the home itself', text: '~', home: true, tokens: [] },
    { name: '~/ trailing slash is the home', text: '~/', home: true, tokens: [] },
    { name: 'home-relative', text: '~/src/app', home: true, tokens: ['src', 'app'] },
    { name: 'absolute', text: '/usr/local', home: false, tokens: ['usr', 'local'] },
    { name: 'root', text: '/', home: false, tokens: [] },
    { name: 'globs stay tokens', text: '~/src/**/.env', home: true, tokens: ['src', '**', '.env'] },
    { name: 'star', text: '/srv/*/data', home: false, tokens: ['srv', '*', 'data'] },
    { name: 'doubled slashes and dots normalise', text: '/usr//./lib/', home: false, tokens: ['usr', 'lib'] },
    { name: 'literal .. resolves lexically', text: '/usr/lib/../share', home: false, tokens: ['usr', 'share'] },
  ];
  for (const c of cases) {
    const p = parseRulePath(c.text);
    const shown = p.tokens.map((tok) => (tok.kind === 'literal' ? tok.name : tok.kind === 'star' ? '*' : '**'));
    t.same({ home: p.home, tokens: shown }, { home: c.home, tokens: c.tokens }, c.name);
  }
});

t.test('rule paths that cannot be interpreted are refused (compile fails closed)', async (t) => {
  const cases: { name: string; text: string; error: RegExp }[] = [
    { name: 'relative path', text: 'src/app', error: /absolute or start with ~\// },
    { name: '~user form', text: '~root/.ssh', error: /absolute or start with ~\// },
    { name: 'partial wildcard', text: '~/.env*', error: /whole segment/ },
    { name: 'NUL byte', text: '/etc\0/x', error: /NUL/ },
    { name: '.. above the home', text: '~/../other', error: /climbs above ~/ },
    { name: '.. removing a wildcard', text: '~/src/*/..', error: /after a wildcard/ },
  ];
  for (const c of cases) t.throws(() => parseRulePath(c.text), c.error, c.name);
  t.throws(
    () => compileMounts(mountPolicy({ guardrails: { rules: [['bad', 'deny', ['relative']]] } })),
    /test-policy\.yaml:1: guardrails\.mounts\.rules\[0\]\.deny\[0\]: /,
    'compileMounts names the file, line and YAML path of the bad path',
  );
});

t.test('a rule covers its path and everything beneath it, segment-wise', async (t) => {
  const cases: { name: string; rule: string; path: string; covers: boolean }[] = [
    { name: 'exact path', rule: '~/src', path: '/home/u/src', covers: true },
    { name: 'beneath', rule: '~/src', path: '/home/u/src/a/b', covers: true },
    { name: 'sibling sharing a prefix (~/src vs ~/src2)', rule: '~/src', path: '/home/u/src2', covers: false },
    { name: 'sibling sharing a prefix, beneath', rule: '~/src', path: '/home/u/src2/a', covers: false },
    { name: 'parent is not covered', rule: '~/src', path: '/home/u', covers: false },
    { name: 'the home rule covers the home', rule: '~', path: '/home/u', covers: true },
    { name: 'a home rule does not cover another home', rule: '~/src', path: '/home/v/src', covers: false },
    { name: 'a home rule does not cover a home sharing a prefix', rule: '~', path: '/home/u2', covers: false },
    { name: 'root covers everything', rule: '/', path: '/etc/passwd', covers: true },
    { name: 'absolute rule', rule: '/usr', path: '/usr/bin/env', covers: true },
    { name: 'absolute rule, prefix sibling', rule: '/usr', path: '/usrlocal', covers: false },
    { name: 'case matters', rule: '~/.ssh', path: '/home/u/.SSH', covers: false },
    { name: '* is one whole segment', rule: '~/src/*/secrets', path: '/home/u/src/app/secrets', covers: true },
    { name: '* does not span two segments', rule: '~/src/*/secrets', path: '/home/u/src/a/b/secrets', covers: false },
    { name: '* does not match zero segments', rule: '~/src/*', path: '/home/u/src', covers: false },
    { name: '* covers beneath its match', rule: '~/src/*', path: '/home/u/src/app/x', covers: true },
    { name: '** matches zero segments', rule: '~/src/**/.env', path: '/home/u/src/.env', covers: true },
    { name: '** matches many segments', rule: '~/src/**/.env', path: '/home/u/src/a/b/c/.env', covers: true },
    { name: '** then literal must match the whole segment', rule: '~/src/**/.env', path: '/home/u/src/a/.env2', covers: false },
    { name: '** covers beneath its match', rule: '~/src/**/.env', path: '/home/u/src/a/.env/x', covers: true },
    { name: 'trailing ** is the directory itself', rule: '~/src/**', path: '/home/u/src', covers: true },
    { name: 'leading /** covers everything', rule: '/**/.git', path: '/srv/repo/.git/config', covers: true },
    { name: 'glob outside the home does not match', rule: '~/**/.env', path: '/srv/.env', covers: false },
  ];
  for (const c of cases) {
    const layer = profileLayer([['r', 'deny', [c.rule]]]);
    t.equal(ruleCovers(layer.rules[0], HOME, splitAbsolute(c.path)), c.covers, c.name);
  }
  const rootHome = profileLayer([['r', 'deny', ['~/.ssh']]]);
  t.ok(ruleCovers(rootHome.rules[0], [], ['.ssh', 'k']), 'home = / : ~/.ssh is /.ssh');
});

t.test('within a layer the most specific rule wins', async (t) => {
  const cases: { name: string; rules: RuleSpec[]; path: string; winner: string | null }[] = [
    { name: 'more literal segments wins (deeper deny)', rules: [['ws', 'rw', ['~/src']], ['sec', 'deny', ['~/src/secrets']]], path: '/home/u/src/secrets/k', winner: 'sec' },
    { name: 'more literal segments wins (deeper rw re-grant)', rules: [['all', 'deny', ['~']], ['ws', 'rw', ['~/src']]], path: '/home/u/src/a', winner: 'ws' },
    { name: 'order in the file does not matter', rules: [['sec', 'deny', ['~/src/secrets']], ['ws', 'rw', ['~/src']]], path: '/home/u/src/secrets', winner: 'sec' },
    { name: 'a glob with more literals beats a shorter literal path', rules: [['ws', 'rw', ['~/src']], ['env', 'deny', ['~/src/**/.env']]], path: '/home/u/src/a/.env', winner: 'env' },
    { name: 'a literal segment beats a wildcard at the same depth', rules: [['app', 'rw', ['~/src/app']], ['any', 'deny', ['~/src/*']]], path: '/home/u/src/app/x', winner: 'app' },
    { name: 'equal literals: a deeper glob deny beats a literal rw (~/src/app vs ~/src/**/.env)', rules: [['app', 'rw', ['~/src/app']], ['env', 'deny', ['~/src/**/.env']]], path: '/home/u/src/app/.env', winner: 'env' },
    { name: 'equal literals: ~/src/* ro beats ~/src rw', rules: [['ws', 'rw', ['~/src']], ['kids', 'ro', ['~/src/*']]], path: '/home/u/src/a', winner: 'kids' },
    { name: 'equal literals and access: the rule with fewer wildcards is reported', rules: [['kids', 'ro', ['~/src/*']], ['ws', 'ro', ['~/src']]], path: '/home/u/src/a', winner: 'ws' },
    { name: 'equal everything: the first in the policy is reported', rules: [['one', 'ro', ['/srv']], ['two', 'ro', ['/srv']]], path: '/srv/a', winner: 'one' },
    { name: 'equal literals and wildcards: deny beats rw', rules: [['a', 'rw', ['~/src']], ['b', 'deny', ['~/src']]], path: '/home/u/src', winner: 'b' },
    { name: 'equal literals and wildcards: ro beats rw', rules: [['a', 'rw', ['/srv/*']], ['b', 'ro', ['/srv/*']]], path: '/srv/x', winner: 'b' },
    { name: 'home segments count as literals (absolute deeper path beats ~/src)', rules: [['ws', 'rw', ['~/src']], ['abs', 'ro', ['/home/u/src/a']]], path: '/home/u/src/a/f', winner: 'abs' },
    { name: 'home segments count as literals (~/src/a beats /home/u/src)', rules: [['abs', 'deny', ['/home/u/src']], ['app', 'rw', ['~/src/a']]], path: '/home/u/src/a/f', winner: 'app' },
    { name: 'no rule covers the path', rules: [['ws', 'rw', ['~/src']]], path: '/home/u/src2', winner: null },
  ];
  for (const c of cases) {
    const rule = bestRule(profileLayer(c.rules), HOME, splitAbsolute(c.path));
    t.equal(rule?.name ?? null, c.winner, c.name);
  }
});

t.test('across layers the lower access wins; then the profile default', async (t) => {
  const cases: {
    name: string;
    spec: PolicySpec;
    path: string;
    access: 'deny' | 'ro' | 'rw';
    layer: string;
    rule: string | null;
  }[] = [
    {
      name: 'guardrail deny beats profile rw on the same path',
      spec: { guardrails: { rules: [['creds', 'deny', ['~/.ssh']]] }, profiles: [{ name: 'default', rules: [['all', 'rw', ['~/.ssh']]] }] },
      path: '/home/u/.ssh/id',
      access: 'deny',
      layer: 'guardrails',
      rule: 'creds',
    },
    {
      name: 'guardrail deny beats a more specific profile rw (layers are evaluated alone)',
      spec: { guardrails: { rules: [['creds', 'deny', ['~/.ssh']]] }, profiles: [{ name: 'default', rules: [['pub', 'rw', ['~/.ssh/public']]] }] },
      path: '/home/u/.ssh/public/k',
      access: 'deny',
      layer: 'guardrails',
      rule: 'creds',
    },
    {
      name: 'profile ro lowers a guardrail rw',
      spec: { guardrails: { rules: [['tmp', 'rw', ['/tmp']]] }, profiles: [{ name: 'default', rules: [['tmp-ro', 'ro', ['/tmp']]] }] },
      path: '/tmp/x',
      access: 'ro',
      layer: 'profile:default',
      rule: 'tmp-ro',
    },
    {
      name: 'a guardrail rule alone decides (the default is not consulted)',
      spec: { guardrails: { rules: [['usr', 'ro', ['/usr']]] }, profiles: [{ name: 'default', default: 'deny' }] },
      path: '/usr/bin',
      access: 'ro',
      layer: 'guardrails',
      rule: 'usr',
    },
    {
      name: 'equal access: the guardrail is reported',
      spec: { guardrails: { rules: [['g', 'ro', ['/usr']]] }, profiles: [{ name: 'default', rules: [['p', 'ro', ['/usr']]] }] },
      path: '/usr',
      access: 'ro',
      layer: 'guardrails',
      rule: 'g',
    },
    {
      name: 'no rule in either layer: profile default',
      spec: { guardrails: { rules: [['creds', 'deny', ['~/.ssh']]] }, profiles: [{ name: 'default', default: 'ro' }] },
      path: '/srv/data',
      access: 'ro',
      layer: 'profile:default',
      rule: null,
    },
    {
      name: 'no rule and no default: deny',
      spec: { profiles: [{ name: 'default', rules: [['ws', 'rw', ['~/src']]] }] },
      path: '/srv/data',
      access: 'deny',
      layer: 'profile:default',
      rule: null,
    },
  ];
  for (const c of cases) {
    const cm = compileMounts(mountPolicy(c.spec));
    const eff = effectiveAccess(cm.guardrails, cm.profiles.get('default')!, HOME, splitAbsolute(c.path));
    t.same({ access: eff.access, layer: eff.layer.layer, rule: eff.rule?.name ?? null }, { access: c.access, layer: c.layer, rule: c.rule }, c.name);
  }
});

t.test('profile selection by labels', async (t) => {
  const policy = mountPolicy({
    profiles: [
      { name: 'default' },
      { name: 'research', match: { team: 'research' } },
      { name: 'research-risky', match: { team: 'research', risk: 'high' } },
      { name: 'ci', match: { agent: 'ci' } },
      { name: 'ci-too', match: { agent: 'ci' } },
    ],
  });
  const cases: { name: string; labels: Record<string, string>; profile: string }[] = [
    { name: 'no labels: default', labels: {}, profile: 'default' },
    { name: 'one matching pair', labels: { team: 'research' }, profile: 'research' },
    { name: 'the most matching pairs wins', labels: { team: 'research', risk: 'high' }, profile: 'research-risky' },
    { name: 'extra labels do not hurt', labels: { team: 'research', user: 'x' }, profile: 'research' },
    { name: 'a value must be equal', labels: { team: 'Research' }, profile: 'default' },
    { name: 'tie: file order', labels: { agent: 'ci' }, profile: 'ci' },
    { name: 'inherited object keys are not labels', labels: Object.create({ team: 'research' }) as Record<string, string>, profile: 'default' },
  ];
  for (const c of cases) t.equal(selectProfileName(policy, c.labels), c.profile, c.name);
});

t.test('compileMounts: layers, modes and defaults', async (t) => {
  const cm = compileMounts(
    mountPolicy({
      mode: 'audit',
      guardrails: { mode: 'enforce', rules: [['creds', 'deny', ['~/.ssh', '~/.aws']]] },
      profiles: [
        { name: 'default', default: 'ro', rules: [['ws', 'rw', ['~/src']]] },
        { name: 'research', match: { team: 'research' } },
      ],
    }),
  );
  t.equal(cm.guardrails.layer, 'guardrails');
  t.equal(cm.guardrails.mode, 'enforce', 'guardrails keep their own mode');
  t.equal(cm.guardrails.default, null, 'guardrails carry no default');
  t.same(cm.guardrails.rules.map((r) => [r.name, r.text, r.access]), [['creds', '~/.ssh', 'deny'], ['creds', '~/.aws', 'deny']], 'one compiled rule per path');
  const def = cm.profiles.get('default')!;
  t.same([def.layer, def.mode, def.default], ['profile:default', 'audit', 'ro'], 'profile inherits the policy mode');
  const research = cm.profiles.get('research')!;
  t.same([research.layer, research.default, research.rules.length], ['profile:research', null, 0], 'profile without mounts');
});
