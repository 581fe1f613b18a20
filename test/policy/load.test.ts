// The policy loader (DESIGN §2): every error names file, YAML path and line and says what is right;
// all errors are collected; directories merge profiles; the shipped policies load cleanly.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_POLICY_PATH, formatPolicyErrors, loadPolicyPath, parsePolicyText } from '../../src/policy/load.js';
import type { LoadResult, Policy, PolicyError } from '../../src/policy/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = 'test.yaml';

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** 1-based line of the first line of `text` containing `marker`. */
function lineWith(text: string, marker: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(marker));
  if (index < 0) throw new Error(`marker ${marker} not in test YAML`);
  return index + 1;
}

function errorsOf(r: LoadResult): PolicyError[] {
  return r.ok ? [] : r.errors;
}

function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface Expected {
  path: string;
  /** A line number, or a marker string whose line is expected. */
  line: number | string;
  fragments: string[];
}

interface Case {
  name: string;
  text: string;
  errors: Expected[];
}

function checkErrors(t: Test, name: string, text: string, result: LoadResult, expected: Expected[]): void {
  const errors = errorsOf(result);
  t.equal(result.ok, false, `${name}: rejected`);
  t.equal(errors.length, expected.length, `${name}: ${expected.length} error(s)\n${formatPolicyErrors(errors)}`);
  expected.forEach((want, i) => {
    const got = errors[i];
    if (!got) return;
    const line = typeof want.line === 'number' ? want.line : lineWith(text, want.line);
    t.equal(got.file, FILE, `${name} #${i}: file`);
    t.equal(got.path, want.path, `${name} #${i}: path`);
    t.equal(got.line, line, `${name} #${i}: line`);
    for (const f of want.fragments) t.match(got.message, f, `${name} #${i}: message has ${JSON.stringify(f)}`);
  });
}

const HEAD = ['version: 1', 'name: t'];

// ---------------------------------------------------------------------------

t.test('every rejected resource is reported at its own path and line, all at once', async (t) => {
  const bad: [resource: string, fragment: string][] = [
    ['*', 'would match every host'],
    ['**', 'would match every host'],
    ['*.com', "top-level domain 'com'"],
    ['**.com', "top-level domain 'com'"],
    ['a.*.com', 'whole leftmost label'],
    ['*foo.com', 'whole leftmost label'],
    ['bücher.example', "write 'xn--bcher-kva.example' instead of 'bücher.example'"],
    ['example.com:0', 'out of range'],
    ['example.com:65536', 'out of range'],
    ['example.com:0443', 'leading zeros'],
    ['example.com:9000-8000', 'reversed'],
    ['10.0.0.1/8', '10.0.0.1/8 has host bits set; write 10.0.0.0/8'],
    ['10.0.0.0/40', 'out of range'],
    ['[2001:db8::1/32]', 'write "[2001:db8::/32]"'],
    ['0x7f.1', 'write 127.0.0.1'],
    ['2001:db8::1:443', 'ambiguous'],
    ['a..example.com', 'empty label'],
    [`${'x'.repeat(64)}.example.com`, 'at most 63'],
    [`${Array.from({ length: 4 }, () => 'y'.repeat(63)).join('.')}.example`, 'at most 253'],
    ['https://example.com/x', 'write example.com:443'],
  ];
  const text = yaml(
    ...HEAD,
    'guardrails:',
    '  network:',
    '    rules:',
    '      - name: fine',
    '        allow: [example.com]',
    '      - name: bad',
    '        deny:',
    ...bad.map(([r]) => `          - ${JSON.stringify(r)}`),
  );
  const first = lineWith(text, '        deny:') + 1;
  checkErrors(
    t,
    'bad resources',
    text,
    parsePolicyText(text, FILE),
    bad.map(([, fragment], i) => ({ path: `guardrails.network.rules[1].deny[${i}]`, line: first + i, fragments: [fragment] })),
  );
});

t.test('mount path errors carry path and line', async (t) => {
  const text = yaml(
    ...HEAD,
    'profiles:',
    '  default:',
    '    mounts:',
    '      rules:',
    '        - name: ws',
    '          rw: ["~/src", "src", "/a/../b", "~/x*", "~bob"]',
  );
  const line = lineWith(text, 'rw:');
  checkErrors(t, 'mount paths', text, parsePolicyText(text, FILE), [
    { path: 'profiles.default.mounts.rules[0].rw[1]', line, fragments: ['relative path'] },
    { path: 'profiles.default.mounts.rules[0].rw[2]', line, fragments: ["'..' segment"] },
    { path: 'profiles.default.mounts.rules[0].rw[3]', line, fragments: ['whole segments'] },
    { path: 'profiles.default.mounts.rules[0].rw[4]', line, fragments: ["'~bob' is not supported"] },
  ]);
});

const structural: Case[] = [
  // --- unknown keys at several depths
  {
    name: 'unknown top-level key, with a suggestion',
    text: yaml(...HEAD, 'proflies: {}'),
    errors: [{ path: 'proflies', line: 3, fragments: ["unknown key 'proflies' at the top level", 'expected one of version, name, revision, mode, guardrails, profiles', "did you mean 'profiles'"] }],
  },
  {
    name: 'top-level network explains where it goes',
    text: yaml(...HEAD, 'network: {}'),
    errors: [{ path: 'network', line: 3, fragments: ["unknown key 'network'", 'under guardrails'] }],
  },
  {
    name: 'unknown key in guardrails',
    text: yaml(...HEAD, 'guardrails:', '  netwrok: {}'),
    errors: [{ path: 'guardrails.netwrok', line: 4, fragments: ["unknown key 'netwrok' at guardrails; expected one of mode, network, mounts", "did you mean 'network'"] }],
  },
  {
    name: 'unknown key in a network rule',
    text: yaml(...HEAD, 'profiles:', '  default:', '    network:', '      rules:', '        - name: r', '          alow: [example.com]'),
    errors: [
      { path: 'profiles.default.network.rules[0]', line: '- name: r', fragments: ["network rule 'r' needs exactly one of allow: or deny:"] },
      { path: 'profiles.default.network.rules[0].alow', line: 'alow', fragments: ["unknown key 'alow' at profiles.default.network.rules[0]; expected one of name, allow, deny", "did you mean 'allow'"] },
    ],
  },
  {
    name: 'unknown key in a profile network section',
    text: yaml(...HEAD, 'profiles:', '  default:', '    network:', '      defualt: deny'),
    errors: [{ path: 'profiles.default.network.defualt', line: 6, fragments: ["unknown key 'defualt' at profiles.default.network; expected one of default, rules", "did you mean 'default'"] }],
  },
  {
    name: 'unknown key in a profile',
    text: yaml(...HEAD, 'profiles:', '  default:', '    labels: {}'),
    errors: [{ path: 'profiles.default.labels', line: 5, fragments: ["unknown key 'labels' at profiles.default; expected one of match, mode, network, mounts"] }],
  },
  {
    name: 'unknown key in a mount rule',
    text: yaml(...HEAD, 'guardrails:', '  mounts:', '    rules:', '      - name: m', '        deny: ["~/.ssh"]', '        readonly: true'),
    errors: [{ path: 'guardrails.mounts.rules[0].readonly', line: 'readonly', fragments: ["unknown key 'readonly' at guardrails.mounts.rules[0]; expected one of name, rw, ro, deny"] }],
  },
  {
    name: 'profile-level default explains where it goes',
    text: yaml(...HEAD, 'profiles:', '  default:', '    default: deny'),
    errors: [{ path: 'profiles.default.default', line: 5, fragments: ["unknown key 'default'", 'network: { default: deny }'] }],
  },
  // --- guardrails
  {
    name: 'default under guardrails.network belongs to profiles',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    default: allow'),
    errors: [{ path: 'guardrails.network.default', line: 5, fragments: ['defaults belong to profiles', 'profiles.default.network.default'] }],
  },
  {
    name: 'default under guardrails.mounts belongs to profiles',
    text: yaml(...HEAD, 'guardrails:', '  mounts:', '    default: rw'),
    errors: [{ path: 'guardrails.mounts.default', line: 5, fragments: ['defaults belong to profiles', 'profiles.default.mounts.default'] }],
  },
  {
    name: 'default directly under guardrails',
    text: yaml(...HEAD, 'guardrails:', '  default: deny'),
    errors: [{ path: 'guardrails.default', line: 4, fragments: ['defaults belong to profiles'] }],
  },
  {
    name: 'match under guardrails',
    text: yaml(...HEAD, 'guardrails:', '  match: { team: a }'),
    errors: [{ path: 'guardrails.match', line: 4, fragments: ['guardrails apply to every session'] }],
  },
  {
    name: 'guardrails is not a map',
    text: yaml(...HEAD, 'guardrails: [a]'),
    errors: [{ path: 'guardrails', line: 3, fragments: ['guardrails must be a map, got a list'] }],
  },
  // --- top-level scalars
  {
    name: 'missing version',
    text: yaml('name: t'),
    errors: [{ path: 'version', line: 1, fragments: ['missing version', 'version: 1'] }],
  },
  {
    name: 'version 2',
    text: yaml('version: 2', 'name: t'),
    errors: [{ path: 'version', line: 1, fragments: ['unsupported version 2', 'write version: 1'] }],
  },
  {
    name: 'version as a string',
    text: yaml('version: "1"', 'name: t'),
    errors: [{ path: 'version', line: 1, fragments: ["got the string '1'", 'write version: 1'] }],
  },
  {
    name: 'missing name',
    text: yaml('version: 1', 'mode: audit'),
    errors: [{ path: 'name', line: 1, fragments: ['missing name'] }],
  },
  {
    name: 'empty name',
    text: yaml('version: 1', 'name: ""'),
    errors: [{ path: 'name', line: 2, fragments: ['name must not be empty'] }],
  },
  {
    name: 'name is a number',
    text: yaml('version: 1', 'name: 42'),
    errors: [{ path: 'name', line: 2, fragments: ['name must be a string, got the number 42', 'quote it', '"42"'] }],
  },
  {
    name: 'negative revision',
    text: yaml(...HEAD, 'revision: -1'),
    errors: [{ path: 'revision', line: 3, fragments: ['revision must be a non-negative integer'] }],
  },
  {
    name: 'fractional revision',
    text: yaml(...HEAD, 'revision: 1.5'),
    errors: [{ path: 'revision', line: 3, fragments: ['non-negative integer', 'the number 1.5'] }],
  },
  {
    name: 'revision as a string',
    text: yaml(...HEAD, 'revision: "7"'),
    errors: [{ path: 'revision', line: 3, fragments: ['non-negative integer', "the string '7'"] }],
  },
  {
    name: 'unknown policy mode',
    text: yaml(...HEAD, 'mode: block'),
    errors: [{ path: 'mode', line: 3, fragments: ["mode must be enforce or audit, got 'block'"] }],
  },
  {
    name: 'upper-case mode',
    text: yaml(...HEAD, 'guardrails:', '  mode: Audit'),
    errors: [{ path: 'guardrails.mode', line: 4, fragments: ["write 'audit' in lower case"] }],
  },
  {
    name: 'YAML 1.1 boolean-looking mode stays a string and is refused',
    text: yaml(...HEAD, 'mode: off'),
    errors: [{ path: 'mode', line: 3, fragments: ["got 'off'"] }],
  },
  {
    name: 'profile mode is a number',
    text: yaml(...HEAD, 'profiles:', '  default:', '    mode: 1'),
    errors: [{ path: 'profiles.default.mode', line: 5, fragments: ['mode must be a string, got the number 1'] }],
  },
  // --- profiles
  {
    name: 'profiles without default',
    text: yaml(...HEAD, 'profiles:', '  research:', '    match: { team: research }'),
    errors: [{ path: 'profiles', line: 3, fragments: ["no 'default' profile", 'add profiles.default'] }],
  },
  {
    name: 'empty profiles map has no default',
    text: yaml(...HEAD, 'profiles: {}'),
    errors: [{ path: 'profiles', line: 3, fragments: ["no 'default' profile"] }],
  },
  {
    name: 'match on the default profile',
    text: yaml(...HEAD, 'profiles:', '  default:', '    match: { team: a }'),
    errors: [{ path: 'profiles.default.match', line: 5, fragments: ['the default profile cannot have match'] }],
  },
  {
    name: 'non-default profile without match',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  research:', '    mode: audit'),
    errors: [{ path: 'profiles.research', line: 5, fragments: ["profile 'research' has no match", 'match: { team: research }'] }],
  },
  {
    name: 'match label value is a number',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  risky:', '    match: { risk: 3 }'),
    errors: [{ path: 'profiles.risky.match.risk', line: 6, fragments: ["label 'risk' must be a string, got the number 3", '"3"'] }],
  },
  {
    name: 'empty match',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  any:', '    match: {}'),
    errors: [{ path: 'profiles.any.match', line: 6, fragments: ['match is empty'] }],
  },
  {
    name: 'match is a list',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  any:', '    match: [team]'),
    errors: [{ path: 'profiles.any.match', line: 6, fragments: ['match must be a map, got a list'] }],
  },
  {
    name: 'profile name with a space',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  "data team":', '    match: { team: data }'),
    errors: [{ path: 'profiles["data team"]', line: 5, fragments: ["profile name 'data team' is not allowed"] }],
  },
  {
    name: 'profile with an empty value',
    text: yaml(...HEAD, 'profiles:', '  default:'),
    errors: [{ path: 'profiles.default', line: 4, fragments: ["profile 'default' must be a map, got an empty value"] }],
  },
  {
    name: 'bad network default',
    text: yaml(...HEAD, 'profiles:', '  default:', '    network:', '      default: maybe'),
    errors: [{ path: 'profiles.default.network.default', line: 6, fragments: ["network default must be allow or deny, got 'maybe'"] }],
  },
  {
    name: 'bad mounts default',
    text: yaml(...HEAD, 'profiles:', '  default:', '    mounts:', '      default: allow'),
    errors: [{ path: 'profiles.default.mounts.default', line: 6, fragments: ["mounts default must be deny or ro or rw, got 'allow'"] }],
  },
  // --- rules
  {
    name: 'duplicate network rule names within a layer',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: same', '        deny: [a.example]', '      - name: same', '        deny: [b.example]'),
    errors: [{ path: 'guardrails.network.rules[1].name', line: 8, fragments: ["duplicate network rule name 'same' in guardrails (first at line 6)"] }],
  },
  {
    name: 'duplicate mount rule names within a profile',
    text: yaml(...HEAD, 'profiles:', '  default:', '    mounts:', '      rules:', '        - name: ws', '          rw: ["~/src"]', '        - name: ws', '          ro: ["/usr"]'),
    errors: [{ path: 'profiles.default.mounts.rules[1].name', line: 9, fragments: ["duplicate mount rule name 'ws' in profile 'default' (first at line 7)"] }],
  },
  {
    name: 'rule without name',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - deny: [a.example]'),
    errors: [{ path: 'guardrails.network.rules[0]', line: 6, fragments: ['network rule has no name', 'add name:'] }],
  },
  {
    name: 'rule with both allow and deny',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        allow: [a.example]', '        deny: [b.example]'),
    errors: [{ path: 'guardrails.network.rules[0].deny', line: 8, fragments: ["network rule 'r' has both allow and deny", 'split it'] }],
  },
  {
    name: 'mount rule with rw and ro',
    text: yaml(...HEAD, 'guardrails:', '  mounts:', '    rules:', '      - name: m', '        rw: ["/a"]', '        ro: ["/b"]'),
    errors: [{ path: 'guardrails.mounts.rules[0].ro', line: 8, fragments: ["mount rule 'm' has both rw and ro"] }],
  },
  {
    name: 'empty allow list',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        allow: []'),
    errors: [{ path: 'guardrails.network.rules[0].allow', line: 7, fragments: ["'allow' is an empty list"] }],
  },
  {
    name: 'empty mount list',
    text: yaml(...HEAD, 'guardrails:', '  mounts:', '    rules:', '      - name: m', '        deny: []'),
    errors: [{ path: 'guardrails.mounts.rules[0].deny', line: 7, fragments: ["'deny' is an empty list"] }],
  },
  {
    name: 'allow is a single string',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        allow: example.com'),
    errors: [{ path: 'guardrails.network.rules[0].allow', line: 7, fragments: ["'allow' must be a list", 'write allow: [example.com]'] }],
  },
  {
    name: 'rules is a map',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules: { name: r }'),
    errors: [{ path: 'guardrails.network.rules', line: 5, fragments: ['rules must be a list, got a map'] }],
  },
  {
    name: 'rule is a string',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - allow github'),
    errors: [{ path: 'guardrails.network.rules[0]', line: 6, fragments: ['a network rule must be a map'] }],
  },
  {
    name: 'unquoted bracketed IPv6 is read as a list',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        deny:', '          - [2001:db8::1]'),
    errors: [{ path: 'guardrails.network.rules[0].deny[0]', line: 8, fragments: ['got a list', 'must be quoted', '"[2001:db8::1]"'] }],
  },
  {
    name: 'unquoted leading * is read as an alias',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        deny: [*.example.com, **.example.org]'),
    errors: [
      { path: 'guardrails.network.rules[0].deny[0]', line: 7, fragments: ["'*.example.com' must be quoted", 'write "*.example.com"'] },
      { path: 'guardrails.network.rules[0].deny[1]', line: 7, fragments: ["'**.example.org' must be quoted"] },
    ],
  },
  {
    name: 'resource is a number',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        deny: [443]'),
    errors: [{ path: 'guardrails.network.rules[0].deny[0]', line: 7, fragments: ['a resource must be a string, got the number 443'] }],
  },
  // --- YAML-level
  {
    name: 'duplicate top-level key',
    text: yaml(...HEAD, 'name: u'),
    errors: [{ path: 'name', line: 3, fragments: ["duplicate key 'name' (first at line 2)"] }],
  },
  {
    name: 'duplicate profile key',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  default: {}'),
    errors: [{ path: 'profiles.default', line: 5, fragments: ["duplicate key 'default' (first at line 4)"] }],
  },
  {
    name: 'two documents',
    text: yaml(...HEAD, '---', ...HEAD),
    errors: [{ path: '', line: 3, fragments: ['exactly one YAML document', 'line 3'] }],
  },
  {
    name: 'empty file',
    text: '',
    errors: [{ path: '', line: 1, fragments: ['the file is empty'] }],
  },
  {
    name: 'comments only',
    text: yaml('# nothing here'),
    errors: [{ path: '', line: 1, fragments: ['the file is empty'] }],
  },
  {
    name: 'root is a list',
    text: yaml('- version: 1'),
    errors: [{ path: '', line: 1, fragments: ['a policy file must be a map, got a list'] }],
  },
  {
    name: 'unclosed flow sequence (syntax error)',
    text: yaml(...HEAD, 'guardrails:', '  network:', '    rules:', '      - name: r', '        deny: [a.example, b.example', '  mounts: {}'),
    errors: [{ path: 'guardrails.network.rules[0].deny[1]', line: 8, fragments: ['YAML syntax error'] }],
  },
  {
    name: 'tab indentation (syntax error)',
    text: yaml(...HEAD, 'guardrails:', '\tmode: audit'),
    errors: [{ path: '', line: 4, fragments: ['YAML syntax error', 'Tabs'] }],
  },
  {
    name: 'custom tag',
    text: yaml('version: 1', 'name: !secret t'),
    errors: [{ path: 'name', line: 2, fragments: ['Unresolved tag', 'without custom tags'] }],
  },
  {
    name: 'alias',
    text: yaml(...HEAD, 'guardrails:', '  mode: &m audit', 'mode: *m'),
    errors: [{ path: 'mode', line: 5, fragments: ["YAML aliases ('*m') are not supported"] }],
  },
  {
    name: 'merge key',
    text: yaml(...HEAD, 'profiles:', '  default:', '    <<: {}'),
    errors: [{ path: 'profiles.default["<<"]', line: 5, fragments: ['merge keys'] }],
  },
  {
    name: 'non-string key',
    text: yaml(...HEAD, 'profiles:', '  default: {}', '  7:', '    match: { a: b }'),
    errors: [{ path: 'profiles', line: 5, fragments: ['keys at profiles must be strings, got the number 7', 'quote it'] }],
  },
];

t.test('structural errors', async (t) => {
  for (const c of structural) checkErrors(t, c.name, c.text, parsePolicyText(c.text, FILE), c.errors);
});

t.test('every error is collected, not just the first', async (t) => {
  const text = yaml(
    'version: 3',
    'name: ""',
    'mode: strict',
    'extra: 1',
    'guardrails:',
    '  network:',
    '    rules:',
    '      - name: r',
    '        deny: ["*", "*.com"]',
    'profiles:',
    '  x: {}',
  );
  const errors = errorsOf(parsePolicyText(text, FILE));
  t.same(
    errors.map((e) => [e.path, e.line]),
    [
      ['version', 1],
      ['name', 2],
      ['mode', 3],
      ['extra', 4],
      ['guardrails.network.rules[0].deny[0]', 9],
      ['guardrails.network.rules[0].deny[1]', 9],
      ['profiles', 10],
      ['profiles.x', 11],
    ],
    'eight errors in line order',
  );
});

t.test('same rule name in different layers and sections is allowed', async (t) => {
  const text = yaml(
    ...HEAD,
    'guardrails:',
    '  network:',
    '    rules: [{ name: common, deny: [a.example] }]',
    '  mounts:',
    '    rules: [{ name: common, deny: ["~/.ssh"] }]',
    'profiles:',
    '  default:',
    '    network:',
    '      rules: [{ name: common, allow: [b.example] }]',
  );
  const r = parsePolicyText(text, FILE);
  t.equal(r.ok, true, formatPolicyErrors(errorsOf(r)));
});

// ---------------------------------------------------------------------------
// The AST

function load(text: string): Policy {
  const r = parsePolicyText(text, FILE);
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors));
  return r.policy;
}

t.test('minimal policy: defaults and the synthesised deny-all default profile', async (t) => {
  const text = yaml(...HEAD);
  const p = load(text);
  t.equal(p.version, 1);
  t.equal(p.name, 't');
  t.equal(p.revision, null, 'no revision');
  t.equal(p.mode, 'enforce', 'policy mode defaults to enforce');
  t.equal(p.guardrails, null, 'no guardrails');
  t.same(p.profiles, [{ name: 'default', match: {}, mode: null, network: { default: 'deny', rules: [] }, mounts: { default: 'deny', rules: [] } }], 'deny-all default profile');
  t.same(p.files, [FILE]);
  t.equal(p.digest, sha256(text), 'digest is sha256 of the exact bytes');
});

t.test('digest covers the exact bytes (a comment changes it)', async (t) => {
  const a = load(yaml(...HEAD));
  const b = load(yaml(...HEAD, '# comment'));
  t.not(a.digest, b.digest);
  t.match(a.digest, /^sha256:[0-9a-f]{64}$/);
});

t.test('the DESIGN §2 example becomes the expected AST', async (t) => {
  const text = yaml(
    'version: 1',
    'name: acme-engineering',
    'revision: 42',
    'mode: enforce',
    'guardrails:',
    '  mode: enforce',
    '  network:',
    '    rules:',
    '      - name: cloud metadata',
    '        deny: [169.254.169.254, "[fd00:ec2::254]", metadata.google.internal]',
    '      - name: paste sites',
    '        deny: [pastebin.com, "**.pastebin.com"]',
    '  mounts:',
    '    rules:',
    '      - name: credentials',
    '        deny: ["~/.ssh", "~/.aws", "~/.gnupg", "~/.config/gcloud"]',
    'profiles:',
    '  default:',
    '    network:',
    '      default: deny',
    '      rules:',
    '        - name: source hosting',
    '          allow: [github.com, "**.github.com", "**.githubusercontent.com:443"]',
    '    mounts:',
    '      default: deny',
    '      rules:',
    '        - name: workspace',
    '          rw: ["~/src/", "/tmp"]',
    '  research:',
    '    match: { team: research }',
    '    mode: audit',
    '    network:',
    '      default: deny',
    '      rules:',
    '        - name: papers',
    '          allow: ["arxiv.org:443", "**.arxiv.org:443"]',
  );
  const p = load(text);
  t.equal(p.revision, 42);
  t.equal(p.guardrails?.mode, 'enforce');
  t.equal(p.guardrails?.network?.default, null, 'guardrails carry no default');
  const metadata = p.guardrails?.network?.rules[0];
  t.equal(metadata?.name, 'cloud metadata');
  t.equal(metadata?.action, 'deny');
  t.same(metadata?.source, { file: FILE, path: 'guardrails.network.rules[0]', line: 9 });
  t.same(
    metadata?.resources.map((r) => [r.text, r.host, r.ports]),
    [
      ['169.254.169.254', { type: 'cidr', family: 4, address: '169.254.169.254', prefix: 32 }, null],
      ['[fd00:ec2::254]', { type: 'cidr', family: 6, address: 'fd00:ec2::254', prefix: 128 }, null],
      ['metadata.google.internal', { type: 'exact', name: 'metadata.google.internal' }, null],
    ],
  );
  t.same(metadata?.resources[1].source, { file: FILE, path: 'guardrails.network.rules[0].deny[1]', line: 10 });
  t.same(p.guardrails?.mounts?.rules[0].paths.map((x) => x.text), ['~/.ssh', '~/.aws', '~/.gnupg', '~/.config/gcloud']);
  t.equal(p.guardrails?.mounts?.rules[0].access, 'deny');
  t.same(p.profiles.map((x) => x.name), ['default', 'research'], 'profiles in file order');
  const def = p.profiles[0];
  t.same(def.match, {});
  t.equal(def.mode, null, 'profile mode not set → null (inherit)');
  t.equal(def.network?.default, 'deny');
  t.same(def.network?.rules[0].resources[2].ports, { lo: 443, hi: 443 });
  t.same(def.network?.rules[0].resources[2].host, { type: 'any-depth', suffix: 'githubusercontent.com' });
  t.equal(def.mounts?.rules[0].access, 'rw');
  t.same(def.mounts?.rules[0].paths.map((x) => x.text), ['~/src', '/tmp'], 'trailing slash normalised away');
  const research = p.profiles[1];
  t.same(research.match, { team: 'research' });
  t.equal(research.mode, 'audit');
  t.equal(research.mounts, null, 'absent section → null');
});

t.test('resource text is kept as written while the host is canonical', async (t) => {
  const p = load(yaml(...HEAD, 'profiles:', '  default:', '    network:', '      rules:', '        - name: r', '          allow: ["GitHub.COM.:443"]'));
  const r = p.profiles[0].network?.rules[0].resources[0];
  t.equal(r?.text, 'GitHub.COM.:443');
  t.same(r?.host, { type: 'exact', name: 'github.com' });
});

t.test('formatPolicyErrors', async (t) => {
  t.equal(
    formatPolicyErrors([
      { file: 'a.yaml', path: 'guardrails.mode', line: 3, message: 'bad' },
      { file: 'a.yaml', path: '', line: 1, message: 'empty' },
      { file: '/etc/cordon', path: '', line: 0, message: 'missing' },
    ]),
    'a.yaml:3: guardrails.mode: bad\na.yaml:1: empty\n/etc/cordon: missing',
  );
});

// ---------------------------------------------------------------------------
// Files and directories

const MAIN = yaml(
  'version: 1',
  'name: org',
  'guardrails:',
  '  network:',
  '    rules: [{ name: meta, deny: [169.254.169.254] }]',
  'profiles:',
  '  default:',
  '    network: { default: deny }',
);
const TEAM_A = yaml('version: 1', 'profiles:', '  alpha:', '    match: { team: alpha }', '    network: { default: allow }');
const TEAM_B = yaml('profiles:', '  beta:', '    match: { team: beta }', '    mode: audit');

t.test('loadPolicyPath on a single file', async (t) => {
  const dir = t.testdir({ 'p.yaml': MAIN });
  const file = join(dir, 'p.yaml');
  const r = await loadPolicyPath(file);
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors));
  t.same(r.policy.files, [file]);
  t.equal(r.policy.digest, sha256(readFileSync(file)));
});

t.test('loadPolicyPath on a directory merges profiles in file-name order', async (t) => {
  const dir = t.testdir({
    '00-main.yaml': MAIN,
    '20-beta.yml': TEAM_B,
    '10-alpha.yaml': TEAM_A,
    'README.md': '# not a policy',
    '.#00-main.yaml': 'editor lock file: ignored',
    'nested': { 'gamma.yaml': 'not: loaded' },
  });
  const r = await loadPolicyPath(dir);
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors));
  const p = r.policy;
  t.equal(p.name, 'org');
  t.same(p.files, [join(dir, '00-main.yaml'), join(dir, '10-alpha.yaml'), join(dir, '20-beta.yml')], 'sorted, .yml included, others ignored');
  t.same(p.profiles.map((x) => x.name), ['default', 'alpha', 'beta']);
  t.equal(p.profiles[2].mode, 'audit');
  t.equal(p.guardrails?.network?.rules[0].name, 'meta');
  const framed = createHash('sha256');
  for (const [name, text] of [['00-main.yaml', MAIN], ['10-alpha.yaml', TEAM_A], ['20-beta.yml', TEAM_B]]) {
    framed.update(`${name}\0${Buffer.byteLength(text)}\0`).update(text);
  }
  t.equal(p.digest, `sha256:${framed.digest('hex')}`, 'digest over name-framed files in order');
});

t.test('directory conflicts and mistakes', async (t) => {
  const cases: { name: string; files: Record<string, string>; errors: { file: string; path: string; line: number; fragments: string[] }[] }[] = [
    {
      name: 'profile defined in two files names both',
      files: { 'a.yaml': MAIN, 'b.yaml': TEAM_A, 'c.yaml': yaml('profiles:', '  beta: { match: { team: b } }', '  alpha:', '    match: { team: a2 }') },
      errors: [{ file: 'c.yaml', path: 'profiles.alpha', line: 3, fragments: ["profile 'alpha' is already defined in", 'b.yaml:3'] }],
    },
    {
      name: 'default profile defined twice',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('profiles:', '  default: {}') },
      errors: [{ file: 'b.yaml', path: 'profiles.default', line: 2, fragments: ["profile 'default' is already defined in", 'a.yaml:7'] }],
    },
    {
      name: 'two main files',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('version: 1', 'name: other', 'profiles:', '  x: { match: { a: b } }') },
      errors: [{ file: 'b.yaml', path: 'name', line: 2, fragments: ['only one file of a policy directory may carry', 'a.yaml already does'] }],
    },
    {
      name: 'guardrails in a second file',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('guardrails: {}') },
      errors: [{ file: 'b.yaml', path: 'guardrails', line: 1, fragments: ['only one file', "move 'guardrails' there"] }],
    },
    {
      name: 'no main file',
      files: { 'a.yaml': TEAM_A, 'b.yaml': yaml('profiles:', '  default: {}') },
      errors: [{ file: '.', path: '', line: 0, fragments: ['no file in the directory defines the policy'] }],
    },
    {
      name: 'no default profile in any file',
      files: { 'a.yaml': yaml('version: 1', 'name: org'), 'b.yaml': TEAM_A },
      errors: [{ file: 'b.yaml', path: 'profiles', line: 2, fragments: ["no 'default' profile"] }],
    },
    {
      name: 'unknown key in a profile file',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('profile:', '  x: {}') },
      errors: [{ file: 'b.yaml', path: 'profile', line: 1, fragments: ["unknown key 'profile'", "did you mean 'profiles'"] }],
    },
    {
      name: 'wrong version in a profile file',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('version: 2', 'profiles: {}') },
      errors: [{ file: 'b.yaml', path: 'version', line: 1, fragments: ['unsupported version 2'] }],
    },
    {
      name: 'syntax error names its file',
      files: { 'a.yaml': MAIN, 'b.yaml': yaml('profiles:', '  x: [unclosed') },
      errors: [{ file: 'b.yaml', path: 'profiles.x[0]', line: 3, fragments: ['YAML syntax error'] }],
    },
  ];
  for (const c of cases) {
    const dir = t.testdir(c.files);
    const r = await loadPolicyPath(dir);
    const errors = errorsOf(r);
    t.equal(errors.length, c.errors.length, `${c.name}: error count\n${formatPolicyErrors(errors)}`);
    c.errors.forEach((want, i) => {
      const got = errors[i];
      if (!got) return;
      t.equal(got.file, want.file === '.' ? dir : join(dir, want.file), `${c.name}: file`);
      t.equal(got.path, want.path, `${c.name}: path`);
      t.equal(got.line, want.line, `${c.name}: line`);
      for (const f of want.fragments) t.match(got.message, f, `${c.name}: ${f}`);
    });
  }
});

t.test('unreadable inputs give one clear error', async (t) => {
  const dir = t.testdir({ empty: {}, 'bad-utf8.yaml': Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0xfe, 0x0a]) });
  const missing = join(dir, 'nope.yaml');
  t.same(errorsOf(await loadPolicyPath(missing)), [{ file: missing, path: '', line: 0, message: 'cannot read policy path: no such file or directory' }], 'missing path');
  const empty = errorsOf(await loadPolicyPath(join(dir, 'empty')));
  t.equal(empty.length, 1, 'empty directory: one error');
  t.match(empty[0]?.message, 'no *.yaml or *.yml files');
  const bad = errorsOf(await loadPolicyPath(join(dir, 'bad-utf8.yaml')));
  t.equal(bad.length, 1, 'invalid UTF-8: one error');
  t.match(bad[0]?.message, 'not valid UTF-8');
});

t.test('a byte-order mark is accepted and included in the digest', async (t) => {
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(yaml(...HEAD))]);
  const dir = t.testdir({ 'bom.yaml': bytes });
  const r = await loadPolicyPath(join(dir, 'bom.yaml'));
  t.equal(r.ok, true, formatPolicyErrors(errorsOf(r)));
  if (r.ok) t.equal(r.policy.digest, sha256(bytes));
});

// ---------------------------------------------------------------------------
// Shipped policies

t.test('DEFAULT_POLICY_PATH points at <package root>/policies/default.yaml', async (t) => {
  t.equal(DEFAULT_POLICY_PATH, join(ROOT, 'policies', 'default.yaml'));
  t.ok(existsSync(DEFAULT_POLICY_PATH));
});

t.test('the shipped policies load with zero errors', async (t) => {
  for (const file of ['policies/default.yaml', 'policies/examples/ci-runner.yaml', 'policies/examples/org-teams.yaml']) {
    const r = await loadPolicyPath(join(ROOT, file));
    t.same(errorsOf(r), [], `${file}\n${formatPolicyErrors(errorsOf(r))}`);
  }
});

t.test('the default policy says what DESIGN asks of it', async (t) => {
  const r = await loadPolicyPath(DEFAULT_POLICY_PATH);
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors));
  const p = r.policy;
  const denied = p.guardrails?.network?.rules.filter((x) => x.action === 'deny').flatMap((x) => x.resources.map((res) => res.text)) ?? [];
  for (const meta of ['169.254.169.254', '[fd00:ec2::254]', 'metadata.google.internal', '100.100.100.200', 'pastebin.com']) {
    t.ok(denied.includes(meta), `guardrails deny ${meta}`);
  }
  const deniedPaths = p.guardrails?.mounts?.rules.filter((x) => x.access === 'deny').flatMap((x) => x.paths.map((x2) => x2.text)) ?? [];
  for (const cred of ['~/.ssh', '~/.aws', '~/.gnupg', '~/.config/gcloud', '~/.azure', '~/.kube', '~/.docker/config.json', '~/.netrc', '~/.npmrc', '~/.pypirc']) {
    t.ok(deniedPaths.includes(cred), `guardrails deny mount ${cred}`);
  }
  const def = p.profiles.find((x) => x.name === 'default');
  t.equal(def?.network?.default, 'deny', 'network default deny');
  t.equal(def?.mounts?.default, 'deny', 'mounts default deny');
  const allowed = def?.network?.rules.filter((x) => x.action === 'allow').flatMap((x) => x.resources.map((res) => res.text)) ?? [];
  for (const host of ['github.com:443', 'registry.npmjs.org:443', 'pypi.org:443', 'files.pythonhosted.org:443', 'crates.io:443', 'proxy.golang.org:443']) {
    t.ok(allowed.includes(host), `default profile allows ${host}`);
  }
});
