/**
 * The `cordon` CLI as a user runs it (DESIGN §8, issues 4 and 6): the built
 * binary in a child process, its exit codes, its --json objects, its human
 * lines, and its one-line errors — offline (`--policy`) and against a real
 * daemon, including signed policies with keygen + policy sign.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, ensureBuilt, REPO_ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { startEchoOrigin } from '../helpers/origins.js';
import { connectTunnel } from '../helpers/proxy-client.js';
import { proxyAddress, runCliAsync, waitFor, waitForEvent } from '../helpers/daemon-e2e.js';

const DECISION_KEYS = ['decision', 'enforced', 'mode', 'reason', 'profile', 'rule', 'target', 'name', 'addresses', 'address'];

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-cli-')));
const workspace = join(dir, 'workspace');
mkdirSync(join(workspace, 'secrets'), { recursive: true });

const policyText = `version: 1
name: cli
revision: 3
mode: enforce
guardrails:
  network:
    rules:
      - name: loopback
        allow: [127.0.0.1]
      - name: cloud metadata
        deny: [169.254.169.254]
      - name: paste sites
        deny: ["**.paste.test"]
  mounts:
    rules:
      - name: credentials
        deny: ["${workspace}/secrets"]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: apps
          allow: [app.test, internal.test, ghost.test]
    mounts:
      default: deny
      rules:
        - name: workspace
          rw: ["${workspace}"]
  research:
    match: { team: research }
    network:
      default: deny
      rules:
        - name: papers
          allow: ["papers.test:443"]
`;
const policyPath = join(dir, 'policy.yaml');
writeFileSync(policyPath, policyText);

const dns = await startDnsResponder({
  'app.test': { addresses: ['127.0.0.1'] },
  'internal.test': { addresses: ['10.0.0.5'] },
  'papers.test': { addresses: ['127.0.0.1'] },
});
t.teardown(() => dns.close());

const cli = runCliAsync;
/** About a hundred CLI processes: generous for a loaded 2-core machine (a bound, not a speed check). */
const FILE_TIMEOUT_MS = 600_000;
t.setTimeout(FILE_TIMEOUT_MS);

t.test('cordon policy validate', async (t) => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    `version: 1
name: bad
mode: enforce
colour: blue
guardrails:
  network:
    rules:
      - name: everything
        allow: ["*"]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: ports
          allow: ["a.test:070000", "*.com"]
`,
  );
  await t.test('a valid policy: exit 0 and one ok line', async (t) => {
    const r = await cli(['policy', 'validate', policyPath]);
    t.equal(r.status, 0);
    t.match(r.stdout, /^ok: .*policy\.yaml is a valid policy 'cli' revision 3 \(2 profiles, \d+ rules, sha256:[0-9a-f]{64}\)\n$/);
    t.equal(r.stderr, '');
  });
  await t.test('an invalid policy: exit 1 and every error listed with file:line and YAML path', async (t) => {
    const r = await cli(['policy', 'validate', bad]);
    t.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    const expected = [
      /bad\.yaml:4: colour: unknown key 'colour'/,
      /bad\.yaml:9: guardrails\.network\.rules\[0\]\.allow\[0\]: '\*' would match every host/,
      /bad\.yaml:16: profiles\.default\.network\.rules\[0\]\.allow\[0\]: port '070000' has leading zeros/,
      /bad\.yaml:16: profiles\.default\.network\.rules\[0\]\.allow\[1\]: '\*\.com'/,
      /^4 errors in .*bad\.yaml$/,
    ];
    t.equal(lines.length, expected.length, 'four errors and a summary');
    expected.forEach((re, i) => t.match(lines[i], re, `line ${i + 1}`));
    t.equal(r.stdout, '');
  });
  await t.test('a missing file: exit 1 with one error', async (t) => {
    const r = await cli(['policy', 'validate', join(dir, 'nope.yaml')]);
    t.equal(r.status, 1);
    t.match(r.stderr, /nope\.yaml: cannot read policy path/);
  });
});

t.test('cordon check --policy (offline, with the test resolver)', async (t) => {
  const cases: { name: string; args: string[]; exit: number; decision: string; reason: string; rule: string | null; line: RegExp }[] = [
    { name: 'allowed name', args: ['app.test:8080'], exit: 0, decision: 'allow', reason: 'rule', rule: 'apps', line: /^allowed: app\.test:8080 by profile:default rule 'apps' \(app\.test\)\naddresses: 127\.0\.0\.1 allow; would dial 127\.0\.0\.1$/ },
    { name: 'URL: the scheme gives the port', args: ['http://app.test/x'], exit: 0, decision: 'allow', reason: 'rule', rule: 'apps', line: /^allowed: app\.test:80 by/ },
    { name: 'guardrail deny of a paste site', args: ['x.paste.test'], exit: 3, decision: 'deny', reason: 'rule', rule: 'paste sites', line: /^denied: x\.paste\.test:443 by guardrails rule 'paste sites' \(\*\*\.paste\.test\)$/ },
    { name: 'cloud metadata through the integer IPv4 spelling', args: ['2852039166:80'], exit: 3, decision: 'deny', reason: 'rule', rule: 'cloud metadata', line: /^denied: 169\.254\.169\.254:80 by guardrails rule 'cloud metadata' \(169\.254\.169\.254\)\naddresses: 169\.254\.169\.254 deny$/ },
    { name: 'no rule: the profile default', args: ['unknown.test'], exit: 3, decision: 'deny', reason: 'default', rule: null, line: /^denied: unknown\.test:443 by the default of profile 'default' \(no rule matched\)$/ },
    { name: 'DNS pointing inside: allowed name resolving to a private address', args: ['internal.test'], exit: 3, decision: 'deny', reason: 'special-range', rule: null, line: /^denied: internal\.test:443 because the address is in a special range .*; the name was allowed by profile:default rule 'apps' \(internal\.test\)\naddresses: 10\.0\.0\.5 deny \(special-range\)$/ },
    { name: 'allowed name that does not resolve', args: ['ghost.test'], exit: 3, decision: 'deny', reason: 'unresolvable', rule: null, line: /^denied: ghost\.test:443 because the name did not resolve/ },
    { name: 'labels select another profile', args: ['papers.test', '--labels', 'team=research'], exit: 0, decision: 'allow', reason: 'rule', rule: 'papers', line: /^allowed: papers\.test:443 by profile:research rule 'papers'/ },
    { name: 'header injection: CRLF in the target is invalid', args: ['app.test\r\nHost: evil'], exit: 2, decision: 'deny', reason: 'invalid-target', rule: null, line: /^invalid target "app\.test\\r\\nHost: evil": / },
    { name: 'NUL byte truncation in the target is invalid', args: ['evil.test%00.app.test'], exit: 2, decision: 'deny', reason: 'invalid-target', rule: null, line: /^invalid target / },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const [json, human] = await Promise.all([
        cli(['check', ...c.args, '--policy', policyPath, '--resolver', dns.server, '--json']),
        cli(['check', ...c.args, '--policy', policyPath, '--resolver', dns.server]),
      ]);
      t.equal(json.status, c.exit, `--json exit ${c.exit}`);
      const d = JSON.parse(json.stdout) as Record<string, unknown> & { rule: { name: string } | null };
      t.same(Object.keys(d).slice(0, DECISION_KEYS.length), DECISION_KEYS, 'the decision object, keys in contract order');
      t.equal(d.decision, c.decision);
      t.equal(d.reason, c.reason);
      t.equal(d.rule?.name ?? null, c.rule);
      t.equal(human.status, c.exit, `human exit ${c.exit}`);
      t.match(human.stdout.trimEnd(), c.line, 'human explanation');
    });
  }
  await t.test('--resolver without --policy is a usage error (exit 2)', async (t) => {
    const r = await cli(['check', 'app.test', '--resolver', dns.server, '--socket', join(dir, 'none.sock')]);
    t.equal(r.status, 2);
    t.match(r.stderr, /^cordon: --resolver only applies with --policy/);
  });
  await t.test('malformed --labels is a usage error (exit 2)', async (t) => {
    const r = await cli(['check', 'app.test', '--labels', 'team', '--policy', policyPath]);
    t.equal(r.status, 2);
    t.match(r.stderr, /--labels: 'team' is not key=value/);
  });
  await t.test('an invalid --policy file: exit 1 with its errors', async (t) => {
    const r = await cli(['check', 'app.test', '--policy', join(dir, 'bad.yaml')]);
    t.equal(r.status, 1);
    t.match(r.stderr, /unknown key 'colour'/);
  });
});

t.test('cordon mount --policy (offline)', async (t) => {
  const cases: { name: string; args: string[]; exit: number; line: RegExp; masks?: { path: string; access: string }[] }[] = [
    { name: 'rw workspace is allowed with a deny mask', args: [workspace, '--rw'], exit: 0, line: /^allowed: rw mount of .*workspace \(effective access rw\) by profile:default rule 'workspace'/, masks: [{ path: join(workspace, 'secrets'), access: 'deny' }] },
    { name: 'ro is the default', args: [workspace], exit: 0, line: /^allowed: ro mount of / },
    { name: 'credentials are denied by the guardrails', args: [join(workspace, 'secrets'), '--ro'], exit: 3, line: /^denied: ro mount of .*secrets \(effective access deny\) by guardrails rule 'credentials'/ },
    { name: 'path traversal out of the workspace', args: [`${workspace}/../`, '--rw'], exit: 3, line: /^denied: rw mount of .* by the default of profile 'default'/ },
    { name: 'a relative path is invalid', args: ['relative/dir', '--rw'], exit: 2, line: /^invalid mount request: the path is relative/ },
    { name: '--ro and --rw together is a usage error', args: [workspace, '--ro', '--rw'], exit: 2, line: /^$/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await cli(['mount', ...c.args, '--policy', policyPath]);
      t.equal(r.status, c.exit);
      t.match(r.stdout.trimEnd(), c.line);
      if (c.masks !== undefined) {
        const j = await cli(['mount', ...c.args, '--policy', policyPath, '--json']);
        t.same((JSON.parse(j.stdout) as { masks: unknown }).masks, c.masks, '--json carries the masks');
      }
    });
  }
});

t.test('against a running daemon', async (t) => {
  const echo = await startEchoOrigin();
  const d: TestDaemon = await startDaemon({ policy: policyPath, args: ['--resolver', dns.server] });
  t.teardown(async () => {
    await d.stop();
    await echo.close();
  });
  const sock = ['--socket', d.socket];
  const session = await d.client.createSession({ team: 'research', agent: 'notebook' });
  const denied = await connectTunnel(proxyAddress(d.proxy), `x.paste.test:${echo.port}`);
  t.equal(denied.status, 403);
  denied.wire.socket.destroy();
  await waitForEvent(d.client, 'the deny event', (e) => e.kind === 'network');

  await t.test('cordon status: a readable summary', async (t) => {
    const r = await cli(['status', ...sock]);
    t.equal(r.status, 0);
    const expected = [
      /^cordon 0\.3\.0 \(pid \d+, up \d+s\)$/,
      /^policy {6}cli rev 3 \(sha256:[0-9a-f]{12}…\) from .*policy\.yaml$/,
      /^ {12}loaded \d+s ago, checked \d+s ago, fresh$/,
      /^mode {8}enforce$/,
      /^listeners {3}proxy 127\.0\.0\.1:\d+ {2}socks - {2}proxy-socket -$/,
      /^socket {6}.*cordon\.sock$/,
      /^sessions {4}1$/,
      /^decisions {3}\d+ allowed, [1-9]\d* denied, \d+ audited \(not enforced\), \d+ invalid$/,
      /^traffic {5}\d+ open, .* up, .* down$/,
      /^sinks {7}none \(local audit log only\)$/,
      /^last error {2}none$/,
    ];
    const lines = r.stdout.trimEnd().split('\n');
    t.equal(lines.length, expected.length, r.stdout);
    expected.forEach((re, i) => t.match(lines[i], re, `line ${i + 1}`));
    t.comment(`cordon status:\n${r.stdout}`);
  });

  await t.test('cordon status --json prints exactly the API object', async (t) => {
    const r = await cli(['status', '--json', ...sock]);
    t.equal(r.status, 0);
    const cliObj = JSON.parse(r.stdout) as Record<string, unknown>;
    const api = (await d.client.status()) as unknown as Record<string, unknown>;
    t.same(Object.keys(cliObj), Object.keys(api), 'same keys in the same order');
    const { uptime_s: _a, counters: _b, connections: _c, ...stableCli } = cliObj;
    const { uptime_s: _d, counters: _e, connections: _f, ...stableApi } = api;
    t.same(stableCli, stableApi, 'same values (apart from live counters)');
  });

  await t.test('CORDON_SOCKET selects the daemon when --socket is absent', async (t) => {
    const r = await cli(['status', '--json'], { CORDON_SOCKET: d.socket });
    t.equal(r.status, 0);
    t.equal((JSON.parse(r.stdout) as { pid: number }).pid, d.child.pid);
  });

  await t.test('cordon check and mount without --policy ask the daemon', async (t) => {
    const cases: { name: string; args: string[]; exit: number; line: RegExp }[] = [
      { name: 'check allowed', args: ['check', 'app.test:8080'], exit: 0, line: /^allowed: app\.test:8080 by profile:default rule 'apps'/ },
      { name: 'check denied by a guardrail', args: ['check', 'https://x.paste.test/'], exit: 3, line: /^denied: x\.paste\.test:443 by guardrails rule 'paste sites' \(\*\*\.paste\.test\)$/ },
      { name: 'check invalid', args: ['check', 'a..b'], exit: 2, line: /^invalid target "a\.\.b"/ },
      { name: 'check with labels', args: ['check', 'papers.test', '--labels', 'team=research'], exit: 0, line: /profile:research rule 'papers'/ },
      { name: 'mount allowed rw', args: ['mount', workspace, '--rw'], exit: 0, line: /^allowed: rw mount of .*\nmasks: .*secrets → deny$/ },
      { name: 'mount denied', args: ['mount', join(workspace, 'secrets')], exit: 3, line: /^denied: ro mount of .*secrets .* by guardrails rule 'credentials'/ },
    ];
    for (const c of cases) {
      const r = await cli([...c.args, ...sock]);
      t.equal(r.status, c.exit, `${c.name}: exit ${c.exit}`);
      t.match(r.stdout.trimEnd(), c.line, `${c.name}: output`);
    }
  });

  await t.test('cordon events: a table, or JSON lines', async (t) => {
    const r = await cli(['events', ...sock]);
    t.equal(r.status, 0);
    const lines = r.stdout.trimEnd().split('\n');
    t.match(lines[0], /^TIME {10}VERDICT {2}VIA {6}TARGET {30}RULE {28}SESSION$/, 'header');
    const denyRow = lines.find((l) => l.includes('x.paste.test')) ?? '';
    t.equal(denyRow.indexOf('connect'), lines[0].indexOf('VIA'), 'rows line up with the header (VIA column)');
    t.equal(denyRow.indexOf('guardrails/'), lines[0].indexOf('RULE'), 'rows line up with the header (RULE column)');
    t.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} {2}DAEMON {3}start {4}cordon 0\.3\.0 started$/.test(l)), 'the daemon start row');
    t.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} {2}DENY {5}connect {2}x\.paste\.test:\d+ +guardrails\/paste sites +anonymous ↑0 ↓0 \d+ms$/.test(l)), 'the CONNECT deny row');
    t.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} {2}ALLOW {4}mount {4}.*workspace \(rw\) +profile:default\/workspace +anonymous$/.test(l)), 'the mount row');
    t.comment(`cordon events:\n${r.stdout}`);
    const j = await cli(['events', '--json', '--limit', '5', ...sock]);
    t.equal(j.status, 0);
    const objs = j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { schema: string });
    t.equal(objs.length, 5, '--limit 5');
    t.ok(objs.every((o) => o.schema === 'cordon.event/v1'), 'every line is an event');
    const bad = await cli(['events', '--limit', '0', ...sock]);
    t.equal(bad.status, 2);
    t.match(bad.stderr, /--limit must be an integer/);
  });

  await t.test('cordon policy show and reload', async (t) => {
    const show = await cli(['policy', 'show', ...sock]);
    t.equal(show.status, 0);
    t.match(show.stdout, /^name {8}cli\nrevision {4}3\n/);
    const reload = await cli(['policy', 'reload', ...sock]);
    t.equal(reload.status, 0);
    t.equal(reload.stdout, 'unchanged: cli rev 3\n');
  });

  await d.client.deleteSession(session.id);
});

t.test('the daemon is not running: one line naming `cordon run`, non-zero exit', async (t) => {
  const none = join(dir, 'no-daemon', 'cordon.sock');
  const cases: { name: string; args: string[] }[] = [
    { name: 'status', args: ['status'] },
    { name: 'status --json', args: ['status', '--json'] },
    { name: 'check', args: ['check', 'app.test'] },
    { name: 'mount', args: ['mount', workspace] },
    { name: 'events', args: ['events'] },
    { name: 'policy show', args: ['policy', 'show'] },
    { name: 'policy reload', args: ['policy', 'reload'] },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await cli([...c.args, '--socket', none]);
      t.equal(r.status, 1);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      t.equal(lines.length, 1, 'one line');
      t.match(lines[0], /cordon is not running .*start it with `cordon run`/);
      t.notMatch(r.stdout, /\{/, 'no JSON on stdout');
    });
  }
  await t.test('with no socket flag and no daemon anywhere', async (t) => {
    const empty = mkdtempSync(join(tmpdir(), 'cordon-nod-'));
    const r = await cli(['status'], { CORDON_SOCKET: '', CORDON_STATE_DIR: join(empty, 'state') });
    t.equal(r.status, 1);
    t.match(r.stderr, /^cordon: cordon is not running .*`cordon run`.*\n$/);
  });
});

t.test('keygen, policy sign, and a daemon that trusts only that key', async (t) => {
  const keys = join(dir, 'keys');
  const kg = await cli(['keygen', '--out', keys, '--name', 'acme-2026']);
  t.equal(kg.status, 0);
  t.match(kg.stdout, /private key: .*acme-2026\.key/);
  t.equal(statSync(join(keys, 'acme-2026.key')).mode & 0o777, 0o600, 'private key is 0600');
  t.ok(existsSync(join(keys, 'acme-2026.pub')));
  const again = await cli(['keygen', '--out', keys, '--name', 'acme-2026']);
  t.equal(again.status, 1, 'keygen never overwrites a key');
  t.match(again.stderr, /already exists/);
  const attacker = await cli(['keygen', '--out', join(dir, 'attacker-keys'), '--name', 'attacker']);
  t.equal(attacker.status, 0);

  const signedDir = join(dir, 'signed');
  mkdirSync(signedDir);
  const signedPolicy = join(signedDir, 'policy.yaml');
  writeFileSync(signedPolicy, policyText);
  const sign = await cli(['policy', 'sign', signedPolicy, '--key', join(keys, 'acme-2026.key')]);
  t.equal(sign.status, 0);
  t.match(sign.stdout, /^wrote .*policy\.yaml\.sig/);
  t.match(readFileSync(`${signedPolicy}.sig`, 'utf8'), /^[A-Za-z0-9+/]+=*\n$/, 'base64 signature');

  const configText = `policy:\n  source: ${signedPolicy}\n  trusted_keys: [${join(keys, 'acme-2026.pub')}]\n`;
  const d = await startDaemon({ configText, args: ['--resolver', dns.server] });
  t.teardown(() => d.stop());
  t.match(d.status.policy, { name: 'cli', key_id: 'acme-2026', last_error: null, state: 'fresh' }, 'the signed policy is accepted');
  const human = await cli(['status', '--socket', d.socket]);
  t.match(human.stdout, /fresh, signed by acme-2026/);
  const good = d.status.policy.digest;

  const attacks: { name: string; write: () => Promise<void> }[] = [
    {
      name: 'tampered policy: paste sites flipped to allow after signing',
      write: async () => atomic(signedPolicy, policyText.replace('deny: ["**.paste.test"]', 'allow: ["**.paste.test"]')),
    },
    {
      name: "policy re-signed with the attacker's own key",
      write: async () => {
        const staged = join(signedDir, '.staged.yaml');
        writeFileSync(staged, policyText.replace('revision: 3', 'revision: 4').replace('deny: ["**.paste.test"]', 'allow: ["**.paste.test"]'));
        const s = await cli(['policy', 'sign', staged, '--key', join(dir, 'attacker-keys', 'attacker.key')]);
        if (s.status !== 0) throw new Error(`attacker sign failed: ${s.stderr}`);
        renameSync(`${staged}.sig`, `${signedPolicy}.sig`);
        renameSync(staged, signedPolicy);
      },
    },
  ];
  for (const a of attacks) {
    await t.test(a.name, async (t) => {
      await a.write();
      // reload checks exactly the bytes now on disk (the watcher may also have seen them: same answer).
      const r = await d.client.reload();
      t.equal(r.changed, false, 'not accepted');
      t.match(r.error, /signature/i, `reload says why: ${r.error}`);
      const st = await d.client.status();
      t.match(st.policy.last_error, /signature/i, 'status.policy.last_error says why');
      t.equal(st.policy.digest, good, 'the signed policy stays in force');
      t.equal(st.policy.key_id, 'acme-2026');
      const check = await cli(['check', 'x.paste.test', '--socket', d.socket]);
      t.equal(check.status, 3, 'paste sites are still denied');
      const ev = await waitForEvent(d.client, 'a policy rejected event', (e) => e.kind === 'policy' && e.action === 'rejected');
      t.match(ev, { kind: 'policy', action: 'rejected' });
    });
  }

  await t.test('a fresh daemon given only a tampered policy denies everything and says why', async (t) => {
    const tampered = join(dir, 'tampered');
    mkdirSync(tampered);
    const p = join(tampered, 'policy.yaml');
    writeFileSync(p, policyText);
    const s = await cli(['policy', 'sign', p, '--key', join(keys, 'acme-2026.key')]);
    t.equal(s.status, 0);
    writeFileSync(p, policyText.replace('default: deny', 'default: allow'));
    const d2 = await startDaemon({ configText: `policy:\n  source: ${p}\n  trusted_keys: [${join(keys, 'acme-2026.pub')}]\n` });
    t.teardown(() => d2.stop());
    t.equal(d2.status.policy.state, 'deny-all');
    t.match(d2.status.policy.last_error, /signature/i);
    const check = await cli(['check', 'app.test', '--json', '--socket', d2.socket]);
    t.equal(check.status, 3);
    t.match(JSON.parse(check.stdout), { decision: 'deny', reason: 'no-policy' });
    const human = await cli(['status', '--socket', d2.socket]);
    t.match(human.stdout, /DENY-ALL \(no valid policy: everything is denied\)/);
    t.match(human.stdout, /last error {2}.*signature/i);
  });
});

function atomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

t.test('quick start: `npx cordon` runs the built binary from the checkout (its bin must be executable)', async (t) => {
  ensureBuilt();
  t.ok((statSync(CLI_PATH).mode & 0o111) !== 0, 'dist/cli/main.js is executable (npm scripts chmod it after tsc)');
  // As from a user's shell: without the npm_* variables of the npm process running the tests.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const r = spawnSync('npm', ['exec', '--offline', '--', 'cordon', '--version'], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `npm exec cordon exits 0 (stderr: ${r.stderr.trim().slice(0, 300)})`);
  t.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/, 'and prints the version');
});
