/**
 * Every status-socket route (DESIGN §7, issue 4) against the real daemon
 * process: status fields, the decision object of /v1/check in its contract
 * key order, /v1/mounts with masks and its `mount` event, /v1/events with
 * limit and follow, /v1/policy/reload, /metrics, plus the socket file itself
 * (mode 0660, never stolen from a live daemon, replaced when stale).
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import type { MountEvent, NetworkEvent, CordonEvent } from '../../src/events/types.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { EventCollector } from '../helpers/event-collector.js';
import { startEchoOrigin } from '../helpers/origins.js';
import { connectTunnel, echoThrough } from '../helpers/proxy-client.js';
import { unixRequest } from '../helpers/unix-http.js';
import {
  exitWithin,
  isNetwork,
  proxyAddress,
  seenEventIds,
  spawnCordonRun,
  unixGetText,
  waitFor,
  waitForEvent,
  waitForNewEvent,
} from '../helpers/daemon-e2e.js';

const DECISION_KEYS = ['decision', 'enforced', 'mode', 'reason', 'profile', 'rule', 'target', 'name', 'addresses', 'address'];
const POLICY_REVISION = 5;

const base = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-routes-')));
const work = join(base, 'work');
for (const d of ['secrets', 'docs', 'src']) mkdirSync(join(work, d), { recursive: true });

const policyText = `version: 1
name: routes
revision: ${POLICY_REVISION}
mode: enforce
guardrails:
  network:
    rules:
      - name: loopback origins
        allow: [127.0.0.1]
      - name: paste sites
        deny: [paste.test]
  mounts:
    rules:
      - name: secrets
        deny: ["${work}/secrets"]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: apps
          allow: [app.test, internal.test]
    mounts:
      default: deny
      rules:
        - name: workspace
          rw: ["${work}"]
        - name: docs
          ro: ["${work}/docs"]
  research:
    match: { team: research }
    mode: audit
    network:
      default: deny
      rules:
        - name: papers
          allow: [papers.test]
`;

/** Several real daemons and dozens of connections: a generous bound for a loaded shared machine (not a speed check). */
const FILE_TIMEOUT_MS = 300_000;
t.setTimeout(FILE_TIMEOUT_MS);

const dns = await startDnsResponder({
  'app.test': { addresses: ['127.0.0.1'] },
  'paste.test': { addresses: ['127.0.0.1'] },
  'papers.test': { addresses: ['127.0.0.1'] },
  'internal.test': { addresses: ['10.1.2.3'] },
});
const echo = await startEchoOrigin();
const collector = await EventCollector.start();
const configText = `identity: { user: alice@example.test, device: alice-laptop }
sinks:
  - name: siem
    type: http
    url: ${collector.url('/ingest')}
`;
const d: TestDaemon = await startDaemon({ policyText, configText, args: ['--resolver', dns.server] });
t.teardown(async () => {
  await d.stop();
  await echo.close();
  await collector.close();
  await dns.close();
});
const proxy = proxyAddress(d.proxy);

/** One allowed tunnel that carries bytes, one guardrail deny, so counters and metrics have something to show. */
async function makeTraffic(): Promise<void> {
  const ok = await connectTunnel(proxy, `app.test:${echo.port}`);
  if (ok.status !== 200) throw new Error(`allowed tunnel answered ${ok.status}`);
  await echoThrough(ok.wire, 'hello through cordon');
  ok.wire.socket.end();
  await ok.wire.closed();
  const denied = await connectTunnel(proxy, `paste.test:${echo.port}`);
  if (denied.status !== 403) throw new Error(`denied tunnel answered ${denied.status}`);
  denied.wire.socket.destroy();
}

t.test('GET /v1/status has every DESIGN §7 field', async (t) => {
  await makeTraffic();
  const s = await waitFor('counters to show the traffic', async () => {
    const st = await d.client.status();
    return st.counters.allowed >= 1 && st.counters.denied >= 1 && st.connections.bytes_up > 0 ? st : null;
  });
  t.equal(s.version, '0.3.0');
  t.equal(s.pid, d.child.pid, 'pid of the daemon process');
  t.type(s.uptime_s, 'number');
  t.ok(s.uptime_s >= 0);
  t.equal(s.mode, 'enforce');
  t.match(s.listeners, { proxy: /^127\.0\.0\.1:\d+$/, socks: null, socket: d.socket });
  t.same(Object.keys(s.policy).filter((k) => ['name', 'revision', 'digest', 'source', 'key_id', 'loaded_at', 'checked_at', 'stale_since', 'last_error'].includes(k)).length, 9, 'all nine policy fields present');
  t.match(s.policy, {
    name: 'routes',
    revision: POLICY_REVISION,
    digest: /^sha256:[0-9a-f]{64}$/,
    source: d.policyPath ?? '',
    key_id: null,
    loaded_at: /^\d{4}-\d\d-\d\dT/,
    checked_at: /^\d{4}-\d\d-\d\dT/,
    stale_since: null,
    last_error: null,
  });
  t.same(Object.keys(s.counters).sort(), ['allowed', 'audited', 'denied', 'invalid']);
  t.equal(s.sessions, 0);
  t.equal(s.sinks.length, 1, 'the configured sink is listed');
  t.same(Object.keys(s.sinks[0]).sort(), ['dropped', 'last_error', 'last_success_at', 'name', 'oldest_unsent_s', 'queued', 'spooled_bytes', 'type']);
  t.match(s.sinks[0], { name: 'siem', type: 'http' });
  t.ok(s.connections.bytes_down > 0, 'bytes down counted');
});

t.test('the configured sink receives the events and status reports its last success', async (t) => {
  const s = await waitFor('sink last_success_at', async () => {
    const st = await d.client.status();
    return st.sinks[0]?.last_success_at !== null ? st : null;
  });
  t.equal(s.sinks[0].last_error, null);
  t.ok(collector.accepted().length > 0, 'the collector accepted at least one batch');
  const body = collector.accepted().map((r) => r.body.toString('utf8')).join('\n');
  t.match(body, /alice@example\.test/, 'events carry the configured identity');
});

t.test('POST /v1/check returns the decision object in contract key order', async (t) => {
  const connectionsBefore = echo.connections.total;
  const cases: { name: string; body: unknown; decision: string; reason: string; profile: string; rule: string | null; extraKeys?: string[] }[] = [
    { name: 'allowed name, resolved through the daemon resolver', body: { target: `app.test:${echo.port}` }, decision: 'allow', reason: 'rule', profile: 'default', rule: 'apps' },
    { name: 'guardrail deny', body: { target: 'https://paste.test/raw/x' }, decision: 'deny', reason: 'rule', profile: 'default', rule: 'paste sites' },
    { name: 'profile default', body: { target: 'unknown.test:443' }, decision: 'deny', reason: 'default', profile: 'default', rule: null },
    { name: 'labels select the research profile (audit mode)', body: { target: 'papers.test', labels: { team: 'research' } }, decision: 'allow', reason: 'rule', profile: 'research', rule: 'papers' },
    { name: 'name allowed but it resolves into a private range (DNS pointing inside)', body: { target: 'internal.test:443' }, decision: 'deny', reason: 'special-range', profile: 'default', rule: null },
    { name: 'invalid target (CRLF injection in the host)', body: { target: 'app.test\r\nX: y' }, decision: 'deny', reason: 'invalid-target', profile: 'default', rule: null, extraKeys: ['error'] },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await unixRequest(d.socket, 'POST', '/v1/check', JSON.stringify(c.body));
      t.equal(r.status, 200);
      const obj = r.json as Record<string, unknown> & { rule: { name: string } | null };
      t.same(Object.keys(obj), [...DECISION_KEYS, ...(c.extraKeys ?? [])], 'keys in contract order');
      t.equal(obj.decision, c.decision);
      t.equal(obj.reason, c.reason);
      t.equal(obj.profile, c.profile);
      t.equal(obj.rule?.name ?? null, c.rule);
    });
  }
  t.equal(echo.connections.total, connectionsBefore, 'check dials nothing');
});

t.test('POST /v1/mounts answers with the real path and masks, and records a mount event', async (t) => {
  const cases: { name: string; body: Record<string, unknown>; decision: string; path: string; masks: { path: string; access: string }[]; rule: string | null }[] = [
    {
      name: 'rw workspace comes back with its ro and deny masks',
      body: { path: work, access: 'rw' },
      decision: 'allow',
      path: work,
      masks: [
        { path: join(work, 'docs'), access: 'ro' },
        { path: join(work, 'secrets'), access: 'deny' },
      ],
      rule: 'workspace',
    },
    { name: 'path traversal into the denied secrets (work/src/../secrets)', body: { path: `${work}/src/../secrets`, access: 'ro' }, decision: 'deny', path: join(work, 'secrets'), masks: [], rule: 'secrets' },
    { name: 'ro below an ro rule', body: { path: join(work, 'docs'), access: 'ro' }, decision: 'allow', path: join(work, 'docs'), masks: [], rule: 'docs' },
    { name: 'rw below an ro rule is denied', body: { path: join(work, 'docs'), access: 'rw' }, decision: 'deny', path: join(work, 'docs'), masks: [], rule: 'docs' },
    { name: 'outside every rule: profile default', body: { path: base, access: 'ro' }, decision: 'deny', path: base, masks: [], rule: null },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const seen = await seenEventIds(d.client);
      const r = await unixRequest(d.socket, 'POST', '/v1/mounts', JSON.stringify(c.body));
      t.equal(r.status, 200);
      const m = r.json as { decision: string; path: string; masks: { path: string; access: string }[]; reason: string; rule: { name: string } | null; access: string; effective: string };
      t.equal(m.decision, c.decision);
      t.equal(m.path, c.path, 'the real path');
      t.same([...m.masks].sort((a, b) => a.path.localeCompare(b.path)), c.masks, 'masks');
      t.equal(m.rule?.name ?? null, c.rule);
      t.type(m.reason, 'string');
      const ev = await waitForNewEvent<MountEvent>(d.client, `mount event of ${c.name}`, seen, (e) => e.kind === 'mount');
      t.equal(ev.decision, c.decision, 'event verdict');
      t.equal(ev.mount.path, c.path, 'event real path');
      t.equal(ev.mount.requested, c.body.path, 'event keeps the requested path');
      t.same([...ev.mount.masks].sort((a, b) => a.path.localeCompare(b.path)), c.masks, 'event masks');
      t.equal(ev.session.id, 'anonymous');
    });
  }
  await t.test('a session id selects that session profile and labels', async (t) => {
    const s = await d.client.createSession({ team: 'research' });
    const seen = await seenEventIds(d.client);
    const m = await d.client.mount({ path: work, access: 'ro', session: s.id });
    t.equal(m.profile, 'research');
    const ev = await waitForNewEvent<MountEvent>(d.client, 'mount event with session', seen, (e) => e.kind === 'mount');
    t.same(ev.session, { id: s.id, labels: { team: 'research' } });
    await d.client.deleteSession(s.id);
  });
});

t.test('POST /v1/sessions, GET /v1/sessions, DELETE /v1/sessions/{id}', async (t) => {
  const created = await unixRequest(d.socket, 'POST', '/v1/sessions', JSON.stringify({ labels: { agent: 'claude-code', team: 'web' }, ttl_s: 600 }));
  t.equal(created.status, 201);
  const s = created.json as { id: string; secret: string; labels: Record<string, string>; created_at: string; expires_at: string; proxy: { http: string; socks: string } };
  t.same(Object.keys(s).sort(), ['created_at', 'expires_at', 'id', 'labels', 'proxy', 'secret']);
  t.match(s.id, /^s_[0-9a-f]{24}$/);
  t.ok(s.secret.length >= 32, 'a long random secret');
  t.same(s.labels, { agent: 'claude-code', team: 'web' });
  t.equal(Date.parse(s.expires_at) - Date.parse(s.created_at), 600_000, 'expires ttl_s after creation');
  t.equal(s.proxy.http, `http://${s.id}:${encodeURIComponent(s.secret)}@${d.proxy}`);
  t.equal(s.proxy.socks, `socks5://${s.id}:${encodeURIComponent(s.secret)}@${d.proxy}`, 'SOCKS5 on the shared proxy port');
  const list = await unixRequest(d.socket, 'GET', '/v1/sessions');
  t.equal(list.status, 200);
  t.match(list.json, { sessions: [{ id: s.id, labels: s.labels }] });
  t.notOk(list.body.includes(s.secret), 'the list never shows a secret');
  const status = await d.client.status();
  t.equal(status.sessions, 1);
  t.notOk(JSON.stringify(status).includes(s.secret), 'status never shows a secret');
  const del = await unixRequest(d.socket, 'DELETE', `/v1/sessions/${s.id}`);
  t.equal(del.status, 200);
  t.same(del.json, { deleted: s.id });
  const again = await unixRequest(d.socket, 'DELETE', `/v1/sessions/${s.id}`);
  t.equal(again.status, 404);
  t.match(again.json, { code: 'no-such-session' });
  t.equal((await d.client.status()).sessions, 0);
});

t.test('bad requests get {error, code} with the right status', async (t) => {
  const cases: { name: string; method: string; path: string; body?: string; status: number; code: string }[] = [
    { name: 'malformed JSON', method: 'POST', path: '/v1/check', body: '{"target": ', status: 400, code: 'bad-json' },
    { name: 'unknown field', method: 'POST', path: '/v1/check', body: '{"target":"a.test","dial":true}', status: 400, code: 'bad-request' },
    { name: 'wrong type', method: 'POST', path: '/v1/mounts', body: '{"path":"/tmp","access":"write"}', status: 400, code: 'bad-request' },
    { name: 'wrong method', method: 'DELETE', path: '/v1/status', status: 405, code: 'method-not-allowed' },
    { name: 'path traversal in the session id', method: 'DELETE', path: '/v1/sessions/..%2f..%2fstatus', status: 400, code: 'bad-request' },
    { name: 'oversized body', method: 'POST', path: '/v1/check', body: JSON.stringify({ target: 'a'.repeat(70_000) }), status: 413, code: 'body-too-large' },
    { name: 'events limit 0', method: 'GET', path: '/v1/events?limit=0', status: 400, code: 'bad-request' },
    { name: 'unknown route', method: 'GET', path: '/v2/status', status: 404, code: 'not-found' },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await unixRequest(d.socket, c.method, c.path, c.body);
      t.equal(r.status, c.status);
      t.match(r.json, { code: c.code, error: String });
    });
  }
  t.equal((await d.client.status()).pid, d.child.pid, 'the daemon still answers');
});

t.test('GET /v1/events: limit returns the newest N, follow streams NDJSON', async (t) => {
  for (let i = 0; i < 3; i++) await d.client.mount({ path: join(work, 'src'), access: 'ro' });
  const all = (await d.client.events(1000)).events;
  t.ok(all.length >= 3);
  const cases = [1, 2, 3];
  for (const n of cases) {
    await t.test(`limit=${n}`, async (t) => {
      const { events } = await d.client.events(n);
      t.equal(events.length, n);
      t.same(events.map((e) => e.id), all.slice(-n).map((e) => e.id), 'the newest n, oldest first');
    });
  }
  await t.test('ids are unique ULIDs in time order', async (t) => {
    const ids = all.map((e) => e.id);
    t.equal(new Set(ids).size, ids.length);
    t.same([...ids].sort(), ids);
  });
  await t.test('follow=1 sends the backlog, then new events as they happen', async (t) => {
    const streamed: CordonEvent[] = [];
    const abort = new AbortController();
    const following = d.client.follow(2, (e) => streamed.push(e), abort.signal).catch(() => undefined);
    await waitFor('the backlog', () => (streamed.length >= 2 ? true : null));
    t.same(streamed.slice(0, 2).map((e) => e.id), all.slice(-2).map((e) => e.id), 'backlog is the last 2');
    const denied = await connectTunnel(proxy, `paste.test:${echo.port}`);
    denied.wire.socket.destroy();
    const live = await waitFor('the live event', () => streamed.find((e): e is NetworkEvent => isNetwork(e) && e.target.host === 'paste.test' && !all.some((a) => a.id === e.id)) ?? null);
    t.equal(live.decision, 'deny');
    t.equal(live.rule?.name, 'paste sites');
    abort.abort();
    await following;
  });
  await t.test('follow over raw HTTP is NDJSON', async (t) => {
    const r = await new Promise<{ type: string; first: string }>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ socketPath: d.socket, path: '/v1/events?limit=1&follow=1' }, (res) => {
          res.once('data', (c: Buffer) => {
            resolve({ type: String(res.headers['content-type']), first: c.toString('utf8') });
            req.destroy();
          });
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
    t.equal(r.type, 'application/x-ndjson');
    t.match(JSON.parse(r.first.split('\n')[0]), { schema: 'cordon.event/v1' });
  });
});

t.test('POST /v1/policy/reload re-reads the source', async (t) => {
  const before = await d.client.status();
  const r = await unixRequest(d.socket, 'POST', '/v1/policy/reload');
  t.equal(r.status, 200);
  const body = r.json as { changed: boolean; error: string | null; policy: { digest: string; name: string } };
  t.same(Object.keys(body), ['changed', 'error', 'policy']);
  t.equal(body.changed, false, 'unchanged file: nothing swapped');
  t.equal(body.error, null);
  t.equal(body.policy.digest, before.policy.digest);
  const after = await d.client.status();
  t.ok(Date.parse(after.policy.checked_at ?? '') >= Date.parse(before.policy.checked_at ?? ''), 'checked_at moved forward');
});

t.test('GET /metrics is Prometheus text with decisions, connections, bytes, policy and sinks', async (t) => {
  await makeTraffic();
  await d.client.mount({ path: work, access: 'rw' });
  const m = await waitFor('metrics to show an open-and-closed tunnel', async () => {
    const r = await unixGetText(d.socket, '/metrics');
    return /cordon_connections_open 0\b/.test(r.body) ? r : null;
  });
  t.equal(m.status, 200);
  t.match(m.contentType, /^text\/plain/);
  const value = (re: RegExp): number => Number(re.exec(m.body)?.[1] ?? NaN);
  const cases: { name: string; re: RegExp; min: number }[] = [
    { name: 'network denies by the guardrails layer', re: /^cordon_decisions_total\{kind="network",verdict="deny",layer="guardrails",enforced="true"\} (\d+)$/m, min: 1 },
    { name: 'network allows by the profile layer', re: /^cordon_decisions_total\{kind="network",verdict="allow",layer="profile:default",enforced="true"\} (\d+)$/m, min: 1 },
    { name: 'mount decisions', re: /^cordon_decisions_total\{kind="mount",verdict="allow",layer="profile:default",enforced="true"\} (\d+)$/m, min: 1 },
    { name: 'mount denies by the guardrails layer', re: /^cordon_decisions_total\{kind="mount",verdict="deny",layer="guardrails",enforced="true"\} (\d+)$/m, min: 1 },
    { name: 'connections open', re: /^cordon_connections_open (\d+)$/m, min: 0 },
    { name: 'bytes up', re: /^cordon_bytes_total\{direction="up"\} (\d+)$/m, min: 1 },
    { name: 'bytes down', re: /^cordon_bytes_total\{direction="down"\} (\d+)$/m, min: 1 },
    { name: 'policy revision', re: /^cordon_policy_revision\{name="routes",state="fresh"\} (\d+)$/m, min: POLICY_REVISION },
    { name: 'policy age', re: /^cordon_policy_age_seconds (\d+)$/m, min: 0 },
    { name: 'sink queue', re: /^cordon_sink_queued\{sink="siem"\} (\d+)$/m, min: 0 },
    { name: 'sink spool bytes', re: /^cordon_sink_spooled_bytes\{sink="siem"\} (\d+)$/m, min: 0 },
  ];
  for (const c of cases) {
    const v = value(c.re);
    t.ok(Number.isFinite(v) && v >= c.min, `${c.name}: ${c.re} (got ${v})`);
  }
  t.equal(value(/^cordon_policy_revision\{[^}]*\} (\d+)$/m), POLICY_REVISION, 'revision value is exact');
  for (const line of m.body.trim().split('\n')) {
    t.ok(/^# (HELP|TYPE) \w+ .+$/.test(line) || /^\w+(\{[^}]*\})? -?\d+(\.\d+)?$/.test(line), `well-formed line: ${line}`);
  }
});

t.test('the status socket is created with mode 0660', async (t) => {
  const st = statSync(d.socket);
  t.ok(st.isSocket());
  t.equal(st.mode & 0o777, 0o660);
});

t.test('socket hijack: a second daemon on the same socket and state dir fails and the first keeps answering', async (t) => {
  const auditLog = join(d.stateDir, 'events.jsonl');
  const second = spawnCordonRun(['--listen', '127.0.0.1:0', '--socket', d.socket, '--state-dir', d.stateDir, '--policy', d.policyPath ?? '']);
  t.teardown(() => second.kill('SIGKILL'));
  const code = await exitWithin(second);
  t.not(code, 'running', 'the second daemon exits');
  t.not(code, 0, 'with a non-zero status');
  t.match(second.stderr(), /another cordon is already listening on/, 'and says why');
  const s = await d.client.status();
  t.equal(s.pid, d.child.pid, 'the first daemon still owns and answers the socket');
  const known = new Set((await d.client.events(10_000)).events.map((e) => e.id));
  const logged = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string; message?: string }));
  const foreign = logged.filter((e) => !known.has(e.id)).map((e) => e.message ?? e.id);
  t.same(foreign, [], "the failed daemon wrote nothing into the first daemon's audit log");
});

t.test('a second daemon on its own socket but the same state dir is refused: it would interleave the audit log and re-send the spool', async (t) => {
  const own = mkdtempSync(join(tmpdir(), 'cordon-second-'));
  const socket = join(own, 'second.sock');
  const second = spawnCordonRun(['--listen', '127.0.0.1:0', '--socket', socket, '--state-dir', d.stateDir, '--policy', d.policyPath ?? '']);
  t.teardown(() => second.kill('SIGKILL'));
  const code = await exitWithin(second);
  t.not(code, 'running', 'the second daemon exits');
  t.not(code, 0, 'with a non-zero status');
  t.match(second.stderr(), `another cordon (pid ${d.child.pid}) is already using state dir ${d.stateDir}`, 'and names the daemon and the dir');
  t.notOk(existsSync(socket), 'it never listened on its socket');
  t.notOk(existsSync(`${socket}.lock`), 'and released its socket lock');
  t.equal((await d.client.status()).pid, d.child.pid, 'the first daemon keeps answering');
});

t.test('a second daemon on the same socket with its own state dir is refused before it writes anything', async (t) => {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'cordon-second-')), 'state');
  const second = spawnCordonRun(['--listen', '127.0.0.1:0', '--socket', d.socket, '--state-dir', stateDir, '--policy', d.policyPath ?? '']);
  t.teardown(() => second.kill('SIGKILL'));
  const code = await exitWithin(second);
  t.not(code, 'running', 'the second daemon exits');
  t.not(code, 0, 'with a non-zero status');
  t.match(second.stderr(), `another cordon is already listening on ${d.socket} (pid ${d.child.pid})`, 'and names the daemon');
  t.notOk(existsSync(stateDir), 'its state dir was never created');
  t.equal((await d.client.status()).pid, d.child.pid, 'the first daemon keeps answering');
});

t.test('a stale socket left by a SIGKILLed daemon is replaced', async (t) => {
  const first = await startDaemon({ policyText });
  await first.stop('SIGKILL');
  t.ok(existsSync(first.socket), 'SIGKILL left the socket file behind');
  const next = spawnCordonRun(['--listen', '127.0.0.1:0', '--socket', first.socket, '--state-dir', first.stateDir, '--policy', first.policyPath ?? '']);
  t.teardown(() => next.kill());
  const client = new ControlClient(first.socket);
  const s = await waitFor('the new daemon to answer on the old path', async () => {
    if (next.child.exitCode !== null) throw new Error(`new daemon exited: ${next.stderr()}`);
    return client.status().catch(() => null);
  });
  t.equal(s.pid, next.child.pid, 'the new daemon answers');
  t.not(s.pid, first.child.pid);
  t.equal(statSync(first.socket).mode & 0o777, 0o660, 'recreated with mode 0660');
});

t.test('daemon start is recorded as the first event', async (t) => {
  const ev = await waitForEvent(d.client, 'daemon start event', (e) => e.kind === 'daemon' && e.action === 'start');
  t.match(ev, { user: 'alice@example.test', device: 'alice-laptop' });
});
