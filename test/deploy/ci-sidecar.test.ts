/**
 * The CI sidecar's report (scripts/ci-sidecar.sh report + scripts/ci-sidecar.mjs):
 * an events file becomes the markdown job summary (fake events, fake
 * GITHUB_STEP_SUMMARY), with agent-controlled names rendered inert; and the
 * composite actions wire their inputs to the recipe.
 * (start/stop: ci-sidecar-start.test.ts; with the real daemon: ci-sidecar-e2e.test.ts.)
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, dirFactory, sidecar } from '../helpers/deploy-fixtures.js';

const base = mkdtempSync(join(tmpdir(), 'cordon-ci-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const freshDir = dirFactory(base);

// ---------------------------------------------------------------------------- report

interface NetInput {
  host: string;
  port: number;
  decision: 'allow' | 'deny';
  enforced?: boolean;
  reason?: string;
  rule?: [string, string, string] | null;
  mode?: 'audit' | 'enforce';
}

let eventSeq = 0;
function netEvent(e: NetInput): string {
  eventSeq += 1;
  return JSON.stringify({
    schema: 'cordon.event/v1',
    id: `01JD7Y${String(eventSeq).padStart(20, '0')}`,
    time: '2026-11-25T09:14:03.120Z',
    kind: 'network',
    decision: e.decision,
    enforced: e.enforced ?? e.decision === 'deny',
    mode: e.mode ?? 'audit',
    reason: e.reason ?? (e.rule === null || e.rule === undefined ? 'default' : 'rule'),
    rule: e.rule === null || e.rule === undefined ? null : { layer: e.rule[0], name: e.rule[1], resource: e.rule[2] },
    profile: 'default',
    target: { host: e.host, port: e.port, addresses: [], address: null },
    via: 'connect',
    session: { id: 'anonymous', labels: {} },
    user: 'runner',
    device: 'ci-1',
    policy: { name: 'ci-runners', revision: 1, digest: 'sha256:a3753db37184bd929a15d547c62b0ac9dcd6471c5c0376ad2aae891615e2bfbb' },
  });
}

const NPM: [string, string, string] = ['profile:default', 'package registries (read)', 'registry.npmjs.org:443'];
const PASTE: [string, string, string] = ['guardrails', 'tunnels and request capture', 'pastebin.com'];
const METADATA: [string, string, string] = ['guardrails', 'cloud metadata', '169.254.169.254'];

t.test('report: a markdown summary of blocked, would-be-blocked and allowed destinations', async (t) => {
  const state = freshDir('report');
  writeFileSync(
    join(state, 'events-01JD7Y0000000000000000000A.jsonl'), // rotated earlier file
    `${netEvent({ host: 'registry.npmjs.org', port: 443, decision: 'allow', rule: NPM })}\n`,
  );
  writeFileSync(
    join(state, 'events.jsonl'),
    [
      ...Array.from({ length: 3 }, () => netEvent({ host: 'registry.npmjs.org', port: 443, decision: 'allow', rule: NPM })),
      netEvent({ host: 'github.com', port: 443, decision: 'allow', rule: ['profile:default', 'forge', 'github.com:443'] }),
      netEvent({ host: '2001:db8::1', port: 443, decision: 'allow', reason: 'default' }),
      netEvent({ host: 'pastebin.com', port: 443, decision: 'deny', enforced: false, rule: PASTE }),
      netEvent({ host: 'pastebin.com', port: 443, decision: 'deny', enforced: false, rule: PASTE }),
      netEvent({ host: 'unknown.example', port: 443, decision: 'deny', enforced: false }),
      netEvent({ host: '169.254.169.254', port: 80, decision: 'deny', enforced: true, rule: METADATA, mode: 'enforce' }),
      netEvent({ host: 'bad..name', port: 443, decision: 'deny', enforced: true, reason: 'invalid-target' }),
      JSON.stringify({ schema: 'cordon.event/v1', kind: 'mount', decision: 'allow', mount: { path: '/tmp' } }),
      JSON.stringify({ schema: 'cordon.event/v1', kind: 'policy', action: 'rejected', message: 'policy.yaml:3: unknown key', source: '/etc/cordon/policy.yaml' }),
      '{"kind":"network","decision":"all', // a line cut short by a crash
      '',
    ].join('\n'),
  );
  writeFileSync(join(state, 'sidecar.env'), 'mode=audit\npolicy=/x/ci-runner.yaml\nproxy=127.0.0.1:3128\n');
  const summaryFile = join(state, 'step-summary.md');
  writeFileSync(summaryFile, '# Build and test\n\nearlier step output\n');
  const outputFile = join(state, 'github-output');

  const r = sidecar('report', { CORDON_STATE_DIR: state, GITHUB_STEP_SUMMARY: summaryFile, GITHUB_OUTPUT: outputFile });
  t.equal(r.code, 0, `report exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const summary = readFileSync(summaryFile, 'utf8');
  t.ok(summary.startsWith('# Build and test\n\nearlier step output\n'), 'appended to the job summary, not overwriting it');
  const md = readFileSync(join(state, 'summary.md'), 'utf8');
  t.ok(summary.endsWith(md), 'the appended part is summary.md');
  t.same(
    readFileSync(outputFile, 'utf8').split('\n').filter((l) => l !== ''),
    [`summary=${join(state, 'summary.md')}`, `state-dir=${state}`],
    'step outputs name the summary and the state directory',
  );

  const lines = md.split('\n');
  const expectLines: [string, string][] = [
    ['title', '## cordon egress report'],
    ['blocked headline', '**2 destination(s) blocked.**'],
    ['audit headline', '**2 destination(s) would be blocked in enforce mode.**'],
    ['mode, count and policy', 'Mode: **audit** · 11 network decisions · policy `ci-runners` revision 1 `sha256:a3753db37184`'],
    ['unreadable line note', '> 1 unreadable line(s) in the events file(s) were skipped.'],
    ['policy rejection warning', '> Warning: policy rejected: policy.yaml:3: unknown key'],
    ['blocked table title', '### Blocked (2 destinations)'],
    ['metadata row', '| `169.254.169.254:80` | 1 | rule | guardrails › cloud metadata › `169.254.169.254` |'],
    ['invalid target row', '| `bad..name:443` | 1 | invalid-target | — |'],
    ['would-deny table title', '### Would be blocked in enforce mode (2 destinations)'],
    ['paste row (2 decisions)', '| `pastebin.com:443` | 2 | rule | guardrails › tunnels and request capture › `pastebin.com` |'],
    ['default-deny row', '| `unknown.example:443` | 1 | default | — |'],
    ['allowed table title', '### Allowed (3 destinations)'],
    ['npm row counts the rotated file too', '| `registry.npmjs.org:443` | 4 | rule | profile:default › package registries \\(read\\) › `registry.npmjs.org:443` |'],
    ['github row', '| `github.com:443` | 1 | rule | profile:default › forge › `github.com:443` |'],
    ['IPv6 destination bracketed', '| `[2001:db8::1]:443` | 1 | default | — |'],
  ];
  for (const [name, line] of expectLines) t.ok(lines.includes(line), `${name}: ${line}`);
  const order = ['### Blocked', '### Would be blocked', '### Allowed'].map((h) => lines.findIndex((l) => l.startsWith(h)));
  t.ok(order[0] < order[1] && order[1] < order[2], 'sections: blocked, would be blocked, allowed');
  t.ok(
    lines.indexOf(expectLines[13][1]) < lines.indexOf(expectLines[14][1]),
    'rows sorted by count (npm 4 before github 1)',
  );
  t.notMatch(md, /mount|\/tmp/, 'mount events are not network destinations');
});

/** Removes CommonMark code spans (a run of n backticks up to the next run of exactly n). */
function stripCodeSpans(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (line[i] !== '`' || (i > 0 && line[i - 1] === '\\')) {
      out += line[i];
      i += 1;
      continue;
    }
    let n = 0;
    while (line[i + n] === '`') n += 1;
    const fence = '`'.repeat(n);
    let j = i + n;
    let close = -1;
    while (j < line.length) {
      const k = line.indexOf(fence, j);
      if (k < 0) break;
      if (line[k + n] !== '`' && line[k - 1] !== '`') {
        close = k;
        break;
      }
      j = k + 1;
    }
    if (close < 0) {
      out += fence;
      i += n;
    } else {
      out += 'CODE';
      i = close + n;
    }
  }
  return out;
}

t.test('report: attack: markdown and HTML injection through target names and rule text', async (t) => {
  const state = freshDir('inject');
  const hostile = [
    'x.example`|![pixel](https://evil.example/p.png)<img src=x onerror=alert(1)>',
    'y.example\n| injected | row | here | x |',
    '``double``tick`',
    'bidi\u202egnp.example',
  ];
  writeFileSync(
    join(state, 'events.jsonl'),
    [
      ...hostile.map((host) => netEvent({ host, port: 443, decision: 'deny', enforced: true, reason: 'invalid-target' })),
      netEvent({ host: 'z.example', port: 443, decision: 'allow', rule: ['profile:default', '[click](https://evil.example) <b>x</b> | y', '**.z.example'] }),
    ].join('\n'),
  );
  const r = sidecar('report', { CORDON_STATE_DIR: state });
  t.equal(r.code, 0, 'report exits 0');
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('| `') || l.startsWith('| ``'));
  t.equal(rows.length, hostile.length + 1, 'one table row per destination: no row injected by a newline');
  for (const row of rows) {
    const bare = stripCodeSpans(row);
    // GFM splits table cells on every unescaped pipe, inside code spans too
    t.equal(row.replace(/\\\|/g, '').split('|').length - 1, 5, `row keeps its 4 cells: ${row.slice(0, 60)}`);
    t.notMatch(bare, /<img|<b>|\]\(|!\[/, `no live HTML, link or image outside code spans: ${row.slice(0, 60)}`);
  }
  t.notMatch(r.stdout, /\u202e/, 'bidi override replaced');
  t.match(r.stdout, /\\\[click\\\]\\\(https:\/\/evil\.example\\\) \\<b\\>x\\<\/b\\> \\\| y/, 'rule text is backslash-escaped');
});

t.test('report: empty state directory, no job summary', async (t) => {
  const state = freshDir('empty');
  const r = sidecar('report', { CORDON_STATE_DIR: state });
  t.equal(r.code, 0, 'exits 0');
  t.match(r.stdout, /No network decision was recorded\./, 'says nothing was recorded');
  t.match(r.stdout, /No events file found in `/, 'says the events file is missing');
  t.ok(existsSync(join(state, 'summary.md')), 'summary.md still written');
});

t.test('report: long tables are cut at 100 rows and point at the artifact', async (t) => {
  const state = freshDir('many');
  writeFileSync(
    join(state, 'events.jsonl'),
    Array.from({ length: 105 }, (_, i) => netEvent({ host: `h${String(i).padStart(3, '0')}.example`, port: 443, decision: 'allow', rule: NPM })).join('\n'),
  );
  const r = sidecar('report', { CORDON_STATE_DIR: state });
  t.equal(r.stdout.split('\n').filter((l) => l.startsWith('| `h')).length, 100, '100 rows');
  t.match(r.stdout, /…and 5 more rows \(5 decisions\): see the events artifact\./, 'the rest is counted');
  t.match(r.stdout, /### Allowed \(105 destinations\)/, 'the title counts all destinations');
});

// ---------------------------------------------------------------------------- the composite actions

t.test('the composite actions wire their inputs to the recipe', async (t) => {
  const start = parseYaml(readFileSync(join(REPO_ROOT, '.github/actions/cordon/action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
    runs: { using: string; steps: { id?: string; run?: string; uses?: string; env?: Record<string, string>; if?: string }[] };
  };
  t.equal(start.runs.using, 'composite', 'cordon: a composite action');
  t.equal(start.inputs.enforce?.default, 'false', 'enforce defaults to false (audit)');
  t.equal(start.inputs.policy?.default, 'policies/examples/ci-runner.yaml', 'policy defaults to the CI example');
  t.equal(start.inputs.port?.default, '3128', 'port defaults to 3128');
  const startStep = start.runs.steps.find((s) => s.id === 'start');
  t.match(startStep?.run ?? '', /scripts\/ci-sidecar\.sh" start/, 'runs ci-sidecar.sh start');
  t.same(
    startStep?.env,
    {
      CORDON_POLICY: '${{ inputs.policy }}',
      CORDON_ENFORCE: '${{ inputs.enforce }}',
      CORDON_PORT: '${{ inputs.port }}',
      CORDON_START_TIMEOUT_S: '${{ inputs.timeout }}',
      CORDON_STATE_DIR: '${{ runner.temp }}/cordon',
    },
    'inputs reach the recipe as its environment',
  );

  const report = parseYaml(readFileSync(join(REPO_ROOT, '.github/actions/cordon-report/action.yml'), 'utf8')) as typeof start;
  t.equal(report.runs.using, 'composite', 'cordon-report: a composite action');
  const steps = report.runs.steps;
  t.match(steps[0]?.run ?? '', /ci-sidecar\.sh" stop/, 'stops cordon first, so every event is flushed');
  t.match(steps[1]?.run ?? '', /ci-sidecar\.sh" report/, 'then writes the summary');
  t.equal(steps[2]?.uses, 'actions/upload-artifact@v4', 'then uploads the events');
  t.equal(steps[2]?.if, 'always()', 'the upload runs even when the report fails');
  t.same(
    Object.entries(steps[2]?.env ?? {}).filter(([, v]) => v === ''),
    ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'].map((k) => [k, '']),
    'the upload bypasses the (stopped) proxy',
  );
  const uploadWith = (steps[2] as { with?: Record<string, string> }).with ?? {};
  t.match(uploadWith.path ?? '', /events\*\.jsonl\*/, 'uploads every events file, rotated ones included');
});

