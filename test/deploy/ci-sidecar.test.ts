/**
 * The CI sidecar recipe (scripts/ci-sidecar.sh + scripts/ci-sidecar.mjs) and
 * the GitHub Actions that wrap it:
 * - `report` turns an events file into the markdown job summary (fake events,
 *   fake GITHUB_STEP_SUMMARY), and renders agent-controlled names inert;
 * - `start`/`stop` against a fake `cordon` executable: the flags it is started
 *   with, the variables exported to GITHUB_ENV, failing the job when cordon is
 *   unhealthy, exits, or never answers;
 * - the composite actions wire inputs to the recipe;
 * - END-TO-END (runs only when dist/cli/main.js is built and has `run`):
 *   start → traffic through the proxy → stop → report with the real daemon.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, run, writeExecutable, type ScriptResult } from '../helpers/deploy-fixtures.js';

const SIDECAR = join(REPO_ROOT, 'scripts', 'ci-sidecar.sh');
const DEFAULT_POLICY = join(REPO_ROOT, 'policies', 'examples', 'ci-runner.yaml');
const FAKE_PORT = 3999;

const base = mkdtempSync(join(tmpdir(), 'cordon-ci-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(name: string): string {
  dirCount += 1;
  const dir = join(base, `${dirCount}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs ci-sidecar.sh with a clean CI-ish environment (no inherited GitHub or cordon variables). */
function sidecar(command: string, env: Record<string, string>, cwd?: string): ScriptResult {
  const clean: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('GITHUB_') || key.startsWith('CORDON_') || key === 'RUNNER_TEMP') clean[key] = undefined;
  }
  return run('bash', [SIDECAR, command], { ...clean, ...env }, cwd);
}

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

// ---------------------------------------------------------------------------- start / stop with a fake cordon

const FAKE_CORDON = `#!/usr/bin/env bash
# fake cordon for ci-sidecar tests: "run" stays up until SIGTERM (60 s at most);
# "status" prints $FAKE_DIR/status.json while it is up
cmd=$1; shift
case "$cmd" in
  run)
    printf '%s\\n' "run $*" >> "$FAKE_DIR/run-calls"
    if [ -n "\${FAKE_RUN_EXIT:-}" ]; then echo "fake cordon: cannot load policy" >&2; exit "$FAKE_RUN_EXIT"; fi
    trap 'rm -f "$FAKE_DIR/up"; kill "$child" 2>/dev/null; exit 0' TERM
    touch "$FAKE_DIR/up"
    sleep 60 & child=$!
    wait "$child"
    ;;
  status)
    if [ -f "$FAKE_DIR/up" ] && [ -f "$FAKE_DIR/status.json" ]; then cat "$FAKE_DIR/status.json"; exit 0; fi
    echo "cordon: daemon not running" >&2; exit 1
    ;;
  *) exit 2 ;;
esac
`;

function healthyStatus(proxy = `127.0.0.1:${FAKE_PORT}`): string {
  return JSON.stringify({ version: '0.3.0', pid: 1, mode: 'audit', listeners: { proxy, socks: null, socket: 's' }, policy: { name: 'ci-runners', last_error: null } });
}

/** A process that is gone or a zombie (its parent, the start step's shell, has exited). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

interface FakeRun {
  state: string;
  fake: string;
  githubEnv: string;
  githubOutput: string;
  env: Record<string, string>;
}

function fakeSetup(name: string, status: string | null): FakeRun {
  const dir = freshDir(name);
  const fake = join(dir, 'fake');
  mkdirSync(fake);
  writeExecutable(join(fake, 'cordon'), FAKE_CORDON);
  if (status !== null) writeFileSync(join(fake, 'status.json'), status);
  const state = join(dir, 'state');
  const githubEnv = join(dir, 'github-env');
  const githubOutput = join(dir, 'github-output');
  return {
    state,
    fake,
    githubEnv,
    githubOutput,
    env: {
      CORDON_BIN: join(fake, 'cordon'),
      FAKE_DIR: fake,
      CORDON_STATE_DIR: state,
      CORDON_PORT: String(FAKE_PORT),
      CORDON_START_TIMEOUT_S: '20',
      CORDON_STOP_TIMEOUT_S: '10',
      GITHUB_ENV: githubEnv,
      GITHUB_OUTPUT: githubOutput,
    },
  };
}

function killLeftover(f: FakeRun): void {
  const pidFile = join(f.state, 'cordon.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (Number.isInteger(pid) && pid > 1 && !gone(pid)) process.kill(pid, 'SIGKILL');
}

t.test('start exports the proxy to later steps; start again is a no-op; stop ends it', async (t) => {
  const f = fakeSetup('start', healthyStatus());
  t.teardown(() => killLeftover(f));
  const r = sidecar('start', f.env);
  t.equal(r.code, 0, `start exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const http = `http://127.0.0.1:${FAKE_PORT}`;
  const socks = `socks5h://127.0.0.1:${FAKE_PORT}`;
  const exported: [string, string][] = [
    ['HTTP_PROXY', http],
    ['HTTPS_PROXY', http],
    ['ALL_PROXY', socks],
    ['http_proxy', http],
    ['https_proxy', http],
    ['all_proxy', socks],
    ['NO_PROXY', 'localhost,127.0.0.1,::1'],
    ['no_proxy', 'localhost,127.0.0.1,::1'],
    ['CORDON_SOCKET', join(f.state, 'cordon.sock')],
    ['CORDON_STATE_DIR', f.state],
  ];
  t.same(readFileSync(f.githubEnv, 'utf8').split('\n').filter((l) => l !== ''), exported.map(([k, v]) => `${k}=${v}`), 'GITHUB_ENV gets the proxy variables, upper and lower case');
  t.same(r.stdout.split('\n').filter((l) => l !== ''), exported.map(([k, v]) => `export ${k}='${v}'`), 'stdout has the same as export lines, for eval');
  t.same(
    readFileSync(f.githubOutput, 'utf8').split('\n').filter((l) => l !== ''),
    [`proxy-url=${http}`, `socket=${join(f.state, 'cordon.sock')}`, `state-dir=${f.state}`],
    'step outputs',
  );
  t.same(
    readFileSync(join(f.fake, 'run-calls'), 'utf8').split('\n').filter((l) => l !== ''),
    [`run --policy ${DEFAULT_POLICY} --listen 127.0.0.1:${FAKE_PORT} --socket ${join(f.state, 'cordon.sock')} --mode audit --state-dir ${f.state}`],
    'cordon run: the example CI policy, loopback listener, audit mode by default',
  );
  t.match(readFileSync(join(f.state, 'sidecar.env'), 'utf8'), /^mode=audit$/m, 'sidecar.env records the mode for the report');
  const pid = Number(readFileSync(join(f.state, 'cordon.pid'), 'utf8'));
  t.notOk(gone(pid), 'cordon keeps running after the start step ends');

  const again = sidecar('start', f.env);
  t.equal(again.code, 0, 'a second start exits 0');
  t.match(again.stderr, /already running/, 'and says it is already running');
  t.equal(readFileSync(join(f.fake, 'run-calls'), 'utf8').split('\n').filter((l) => l !== '').length, 1, 'no second daemon');

  const stop = sidecar('stop', f.env);
  t.equal(stop.code, 0, 'stop exits 0');
  t.ok(gone(pid), 'the daemon is gone');
  t.notOk(existsSync(join(f.state, 'cordon.pid')), 'pid file removed');
  const stopAgain = sidecar('stop', f.env);
  t.equal(stopAgain.code, 0, 'stop when not running exits 0');
  t.match(stopAgain.stderr, /not running/, 'and says so');
});

t.test('start: enforce input and a policy relative to the workspace', async (t) => {
  const f = fakeSetup('enforce', healthyStatus());
  t.teardown(() => killLeftover(f));
  const workspace = freshDir('workspace');
  writeFileSync(join(workspace, 'egress.yaml'), 'version: 1\n');
  const r = sidecar('start', { ...f.env, CORDON_ENFORCE: 'true', CORDON_POLICY: 'egress.yaml' }, workspace);
  t.equal(r.code, 0, `start exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const call = readFileSync(join(f.fake, 'run-calls'), 'utf8');
  t.match(call, '--mode enforce', 'CORDON_ENFORCE=true: enforce mode');
  t.match(call, `--policy ${join(workspace, 'egress.yaml')} `, 'a relative policy is found in the working directory, passed absolute');
  t.equal(sidecar('stop', f.env).code, 0, 'stop');
});

t.test('start fails the job when cordon is not healthy, and leaves nothing behind', async (t) => {
  const cases: [string, string | null, Record<string, string>, RegExp][] = [
    [
      'no valid policy (fail-closed deny-all) fails at once',
      JSON.stringify({ listeners: { proxy: '127.0.0.1:3999' }, policy: { name: 'deny-all', last_error: 'ci.yaml:3: profiles.default.network.rules[0]: unknown key' } }),
      {},
      /no valid policy \(cordon denies everything\): ci\.yaml:3/,
    ],
    ['cordon never answers within the timeout', null, { CORDON_START_TIMEOUT_S: '1' }, /cordon is not healthy: .*daemon not running/],
    ['cordon exits during start-up', healthyStatus(), { FAKE_RUN_EXIT: '3' }, /cordon exited during start-up \(status 3\)/],
    ['an enforce value that is not true or false', healthyStatus(), { CORDON_ENFORCE: 'maybe' }, /CORDON_ENFORCE must be true or false/],
    ['a policy that does not exist', healthyStatus(), { CORDON_POLICY: 'no/such/policy.yaml' }, /policy no\/such\/policy\.yaml not found/],
    ['a socket path too long for sun_path', healthyStatus(), { CORDON_SOCKET: `/tmp/${'s'.repeat(120)}.sock` }, /longer than 103 bytes/],
  ];
  for (const [name, status, extra, message] of cases) {
    const f = fakeSetup(name.replace(/[^a-z]+/gi, '-'), status);
    t.teardown(() => killLeftover(f));
    const r = sidecar('start', { ...f.env, GITHUB_ACTIONS: 'true', ...extra });
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.stderr, message, `${name}: says why`);
    t.match(r.stderr, /^::error title=cordon::/m, `${name}: a GitHub error annotation`);
    t.notOk(existsSync(f.githubEnv), `${name}: no proxy variables exported`);
    t.notOk(existsSync(join(f.state, 'cordon.pid')), `${name}: no pid file left`);
    if (existsSync(join(f.fake, 'run-calls')) && name.includes('exits')) {
      t.match(r.stderr, /fake cordon: cannot load policy/, `${name}: the daemon's log is shown`);
    }
    if (existsSync(join(f.fake, 'up'))) {
      // the fake removes "up" on SIGTERM; give it its bounded moment (it was signalled before start returned)
      const deadline = Date.now() + 5000;
      while (existsSync(join(f.fake, 'up')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    }
    t.notOk(existsSync(join(f.fake, 'up')), `${name}: the daemon was stopped`);
  }
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

// ---------------------------------------------------------------------------- END-TO-END with the real daemon

const MAIN_JS = join(REPO_ROOT, 'dist', 'cli', 'main.js');
function daemonAvailable(): string | false {
  if (!existsSync(MAIN_JS)) return 'dist/cli/main.js is not built (npm run build) — the lead enables this by building';
  const help = run(process.execPath, [MAIN_JS, 'run', '--help']);
  if (help.code !== 0 || !help.stdout.includes('--state-dir') || !help.stdout.includes('--mode')) {
    return 'dist/cli/main.js has no `run --state-dir --mode` yet';
  }
  return false;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function viaProxy(proxyPort: number, url: string): Promise<{ status: number; reason: string | undefined }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers: { host: u.host, connection: 'close' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-cordon-reason'] as string | undefined }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('proxy request timed out')));
    req.on('error', reject);
    req.end();
  });
}

t.test('END-TO-END: start → allowed and denied requests through the proxy → stop → report', { skip: daemonAvailable() }, async (t) => {
  const allowedOrigin = createServer((_req, res) => res.end('allowed origin'));
  const deniedOrigin = createServer((_req, res) => res.end('denied origin must not be reached'));
  const allowedPort = await listen(allowedOrigin);
  const deniedPort = await listen(deniedOrigin);
  t.teardown(() => {
    allowedOrigin.close();
    deniedOrigin.close();
  });
  const dir = freshDir('e2e');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    [
      'version: 1',
      'name: sidecar-e2e',
      'mode: enforce',
      'profiles:',
      '  default:',
      '    network:',
      '      default: deny',
      '      rules:',
      '        - name: test origin',
      `          allow: ["127.0.0.1:${allowedPort}"]`,
      '',
    ].join('\n'),
  );
  const state = join(dir, 'state');
  const githubEnv = join(dir, 'github-env');
  const summaryFile = join(dir, 'summary.md');
  const env = {
    CORDON_BIN: MAIN_JS,
    CORDON_NODE: process.execPath,
    CORDON_POLICY: policy,
    CORDON_ENFORCE: 'true',
    CORDON_PORT: '0',
    CORDON_STATE_DIR: state,
    CORDON_START_TIMEOUT_S: '30',
    GITHUB_ENV: githubEnv,
    GITHUB_STEP_SUMMARY: summaryFile,
  };
  t.teardown(() => {
    sidecar('stop', env);
  });

  const started = sidecar('start', env);
  t.equal(started.code, 0, `start exits 0${started.code === 0 ? '' : `: ${started.stderr}`}`);
  if (started.code !== 0) return;
  const proxyUrl = /^HTTP_PROXY=(.*)$/m.exec(readFileSync(githubEnv, 'utf8'))?.[1] ?? '';
  const proxyPort = Number(new URL(proxyUrl).port);
  t.ok(proxyPort > 0, `HTTP_PROXY exported with the real port (${proxyUrl})`);
  const status = run(process.execPath, [MAIN_JS, 'status', '--json', '--socket', join(state, 'cordon.sock')]);
  t.equal(status.code, 0, 'cordon status answers on the exported socket');

  const allowed = await viaProxy(proxyPort, `http://127.0.0.1:${allowedPort}/`);
  t.equal(allowed.status, 200, 'an allowed loopback origin is reached through the proxy');
  const denied = await viaProxy(proxyPort, `http://127.0.0.1:${deniedPort}/`);
  t.equal(denied.status, 403, 'a destination the policy does not allow gets 403 in enforce mode');

  t.equal(sidecar('stop', env).code, 0, 'stop exits 0');
  t.not(run(process.execPath, [MAIN_JS, 'status', '--socket', join(state, 'cordon.sock')]).code, 0, 'the daemon no longer answers');
  const reported = sidecar('report', env);
  t.equal(reported.code, 0, 'report exits 0');
  const md = readFileSync(summaryFile, 'utf8');
  t.match(md, '**1 destination(s) blocked.**', 'one destination blocked');
  t.match(md, `| \`127.0.0.1:${allowedPort}\` | 1 | rule | profile:default › test origin › \`127.0.0.1:${allowedPort}\` |`, 'the allowed origin with its rule');
  t.match(md, new RegExp(`\\| \`127\\.0\\.0\\.1:${deniedPort}\` \\| 1 \\| [a-z-]+ \\|`), 'the denied origin');
  t.match(md, 'Mode: **enforce**', 'enforce mode reported');
});
