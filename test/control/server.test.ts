import t, { type Test } from 'tap';
import { mkdtempSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlServer, type ControlDeps } from '../../src/control/server.js';
import { ControlClient, ClientError } from '../../src/control/client.js';
import { SessionRegistry } from '../../src/sessions/registry.js';
import type { StatusResponse } from '../../src/control/wire.js';
import type { CordonEvent } from '../../src/events/types.js';
import type { MountDecision, NetworkDecision } from '../../src/decide/types.js';
import { unixRequest } from '../helpers/unix-http.js';
import { waitUntil } from '../helpers/exec-run.js';

const policyStatus = {
  name: 'test', revision: 3, digest: 'sha256:abc', source: '/tmp/p.yaml', key_id: null, loaded_at: new Date().toISOString(),
  checked_at: null, stale_since: null, last_error: null, state: 'fresh' as const, mode: 'enforce' as const,
};

function fakeEvent(n: number): CordonEvent {
  return {
    schema: 'cordon.event/v1', id: `01TEST${String(n).padStart(20, '0')}`, time: new Date().toISOString(), kind: 'daemon',
    user: 'u', device: 'd', policy: null, action: 'start', message: `event ${n}`,
  };
}

function makeDeps(): ControlDeps & { events: CordonEvent[]; subscribers: Set<(e: CordonEvent) => void>; reloads: number } {
  const sessions = new SessionRegistry();
  const subscribers = new Set<(e: CordonEvent) => void>();
  const state = {
    events: [fakeEvent(1), fakeEvent(2), fakeEvent(3)],
    subscribers,
    reloads: 0,
    sessions,
    status(): StatusResponse {
      return {
        version: '0.3.0', pid: process.pid, uptime_s: 1, mode: 'enforce',
        listeners: { proxy: '127.0.0.1:3128', socks: null, socket: 's', proxy_socket: null },
        policy: policyStatus, counters: { allowed: 1, denied: 2, audited: 0, invalid: 0 },
        connections: { open: 0, bytes_up: 0, bytes_down: 0 }, sessions: sessions.size, session_list: sessions.list(), sinks: [], events_dropped: 0, state_dir: '/var/lib/cordon',
      };
    },
    async check(target: string, labels: Record<string, string>): Promise<NetworkDecision> {
      return {
        decision: 'deny', enforced: true, mode: 'enforce', reason: 'default', profile: labels.team ?? 'default', rule: null,
        target: { host: target, port: 443, kind: 'name' }, name: { decision: 'deny', reason: 'default', rule: null }, addresses: [], address: null,
      };
    },
    mount(req: { path: string; access: 'ro' | 'rw' }, session: { id: string } | null): MountDecision {
      return { decision: 'allow', enforced: true, mode: 'enforce', reason: 'rule', profile: session === null ? 'default' : 'sess', rule: null, path: req.path, access: req.access, effective: 'rw', masks: [] };
    },
    proxyUrls: (id: string, secret: string) => ({ http: `http://${id}:${secret}@127.0.0.1:3128`, socks: `socks5://${id}:${secret}@127.0.0.1:3128` }),
    recentEvents(limit: number) {
      return state.events.slice(-limit);
    },
    subscribeEvents(fn: (e: CordonEvent) => void) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    async reload() {
      state.reloads += 1;
      return { changed: false, error: null, policy: policyStatus };
    },
    metrics() {
      return { decisions: [{ kind: 'network', verdict: 'deny', layer: 'guardrails', enforced: true, count: 2 }], connectionsOpen: 1, bytesUp: 10, bytesDown: 20, policy: policyStatus, nowMs: Date.now(), sessions: 0, sinks: [], eventsDropped: 0 };
    },
  };
  return state;
}

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ctl-'));
  const path = join(dir, 'cordon.sock');
  const deps = makeDeps();
  const server = await startControlServer(path, deps);
  t.teardown(() => server.close());
  return { dir, path, deps, server, client: new ControlClient(path) };
}

t.test('socket is created with mode 0660', async (t) => {
  const { path } = await setup(t);
  t.equal(statSync(path).mode & 0o777, 0o660);
});

t.test('GET /v1/status returns the status object', async (t) => {
  const { client } = await setup(t);
  const s = await client.status();
  t.equal(s.version, '0.3.0');
  t.equal(s.policy.name, 'test');
  t.same(s.counters, { allowed: 1, denied: 2, audited: 0, invalid: 0 });
});

t.test('POST /v1/check returns the decision object', async (t) => {
  const { client } = await setup(t);
  const d = await client.check('example.com', { team: 'web' });
  t.equal(d.decision, 'deny');
  t.equal(d.reason, 'default');
  t.equal(d.profile, 'web');
});

t.test('sessions: create, use in mounts, delete', async (t) => {
  const { client, deps } = await setup(t);
  const s = await client.createSession({ team: 'web' }, 60);
  t.match(s.id, /^s_[0-9a-f]{24}$/);
  t.equal(s.proxy.http, `http://${s.id}:${s.secret}@127.0.0.1:3128`);
  t.ok(s.expires_at);
  const m = await client.mount({ path: '/tmp', access: 'ro', session: s.id });
  t.equal(m.profile, 'sess');
  t.equal((await client.status()).sessions, 1);
  t.same(await client.deleteSession(s.id), { deleted: s.id });
  t.equal(deps.sessions.size, 0);
  await t.rejects(client.deleteSession(s.id), { code: 'no-such-session', status: 404 });
  await t.rejects(client.mount({ path: '/tmp', access: 'ro', session: s.id }), { status: 404, code: 'no-such-session' });
});

/** Polls of waitUntil (25 ms each) before a deletion counts as not happening: 2 s. */
const DELETE_WAIT_TRIES = 80;

t.test('session hold: the session lives while its holder is connected and goes with it', async (t) => {
  const { client, deps } = await setup(t);
  const kept = await client.createSession({ team: 'web' });
  const held = await client.createSession({ team: 'web' });
  const hold = await client.holdSession(held.id);
  await new Promise((r) => setTimeout(r, 50));
  t.same(deps.sessions.list().map((s) => s.id).sort(), [kept.id, held.id].sort(), 'both sessions exist while the hold is open');
  t.equal((await client.mount({ path: '/tmp', access: 'ro', session: held.id })).profile, 'sess', 'the held session still works');
  hold.release();
  t.ok(await waitUntil(() => deps.sessions.get(held.id) === null, DELETE_WAIT_TRIES), 'the held session is deleted when its connection closes');
  t.not(deps.sessions.get(kept.id), null, 'a session without a hold is untouched');
});

t.test('session hold: a holder that ends without a word (killed process) still removes the session', async (t) => {
  const { path, deps } = await setup(t);
  const s = deps.sessions.create({ team: 'web' });
  // A separate process holds the session, then is SIGKILLed: nothing of it can say goodbye.
  const script = `
    const { ControlClient } = await import(${JSON.stringify(new URL('../../src/control/client.ts', import.meta.url).href)});
    await new ControlClient(${JSON.stringify(path)}).holdSession(${JSON.stringify(s.id)});
    process.stdout.write('held\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', () => resolve(out.trim()));
  });
  t.equal(said, 'held', 'the child process holds the session');
  t.not(deps.sessions.get(s.id), null, 'the session exists while the holder lives');
  child.kill('SIGKILL');
  t.ok(await waitUntil(() => deps.sessions.get(s.id) === null, DELETE_WAIT_TRIES), 'SIGKILL of the holder deleted the session');
});

t.test('session hold: unknown or deleted sessions cannot be held', async (t) => {
  const { client, path } = await setup(t);
  await t.rejects(client.holdSession('s_' + '0'.repeat(24)), { status: 404, code: 'no-such-session' });
  const s = await client.createSession({});
  await client.deleteSession(s.id);
  await t.rejects(client.holdSession(s.id), { status: 404, code: 'no-such-session' }, 'a deleted session cannot be revived by a hold');
  const res = await unixRequest(path, 'GET', `/v1/sessions/${s.id}/hold`);
  t.equal(res.status, 405, 'only POST holds');
});

t.test('GET /v1/events with limit, and follow streams NDJSON', async (t) => {
  const { client, deps } = await setup(t);
  const { events } = await client.events(2);
  t.same(events.map((e) => e.id), [deps.events[1]!.id, deps.events[2]!.id]);
  const got: string[] = [];
  const abort = new AbortController();
  const done = client.follow(1, (e) => {
    got.push(e.id);
    if (got.length === 3) abort.abort();
  }, abort.signal).catch(() => undefined);
  // wait until the stream has subscribed, then publish two live events
  for (let i = 0; i < 100 && deps.subscribers.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
  for (const fn of deps.subscribers) {
    fn(fakeEvent(10));
    fn(fakeEvent(11));
  }
  await done;
  t.same(got, [deps.events[2]!.id, fakeEvent(10).id, fakeEvent(11).id]);
  for (let i = 0; i < 100 && deps.subscribers.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(deps.subscribers.size, 0, 'the subscription ends when the client goes away');
});

t.test('POST /v1/policy/reload and GET /metrics', async (t) => {
  const { client, deps, path } = await setup(t);
  const r = await client.reload();
  t.equal(r.changed, false);
  t.equal(deps.reloads, 1);
  const m = await unixRequest(path, 'GET', '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /text\/plain/);
  t.match(m.body, /cordon_decisions_total\{kind="network",verdict="deny",layer="guardrails",enforced="true"\} 2/);
  t.match(m.body, /cordon_policy_revision\{name="test",state="fresh"\} 3/);
  t.match(m.body, /cordon_connections_open 1/);
});

const badInputs: [string, string, string, string | undefined, number, RegExp][] = [
  ['malformed JSON', 'POST', '/v1/check', '{"target": ', 400, /malformed JSON/],
  ['empty body', 'POST', '/v1/check', '', 400, /JSON object/],
  ['JSON array instead of object', 'POST', '/v1/check', '[1]', 400, /JSON object/],
  ['unknown field', 'POST', '/v1/check', '{"target":"a.com","dial":true}', 400, /unknown field 'dial'/],
  ['wrong type for target', 'POST', '/v1/check', '{"target":5}', 400, /'target'.*string/],
  ['labels with non-string value', 'POST', '/v1/check', '{"target":"a.com","labels":{"team":1}}', 400, /must be a string/],
  ['mount with bad access', 'POST', '/v1/mounts', '{"path":"/tmp","access":"write"}', 400, /"ro" or "rw"/],
  ['mount with unknown field', 'POST', '/v1/mounts', '{"path":"/tmp","access":"ro","follow":false}', 400, /unknown field 'follow'/],
  ['session ttl negative', 'POST', '/v1/sessions', '{"labels":{},"ttl_s":-1}', 400, /ttl_s/],
  ['session ttl not integer', 'POST', '/v1/sessions', '{"labels":{},"ttl_s":1.5}', 400, /ttl_s/],
  ['wrong method on status', 'POST', '/v1/status', '{}', 405, /use GET/],
  ['wrong method on check', 'GET', '/v1/check', undefined, 405, /use POST/],
  ['wrong method on reload', 'GET', '/v1/policy/reload', undefined, 405, /use POST/],
  ['unknown route', 'GET', '/v1/nothing', undefined, 404, /no route/],
  ['path traversal in session id', 'DELETE', '/v1/sessions/..%2F..%2Fstatus', undefined, 400, /invalid session id/],
  ['dot-dot in the path is normalised, never reaches another route with DELETE', 'DELETE', '/v1/sessions/../status', undefined, 405, /use GET/],
  ['session id with encoded NUL', 'DELETE', '/v1/sessions/s_%00', undefined, 400, /invalid session id/],
  ['hold with a traversal in the session id', 'POST', '/v1/sessions/..%2Fx/hold', undefined, 400, /invalid session id/],
  ['hold with no session id', 'POST', '/v1/sessions//hold', undefined, 400, /invalid session id/],
  ['events limit not a number', 'GET', '/v1/events?limit=abc', undefined, 400, /limit/],
  ['events limit zero', 'GET', '/v1/events?limit=0', undefined, 400, /limit/],
  ['events unknown parameter', 'GET', '/v1/events?since=1', undefined, 400, /unknown query parameter 'since'/],
];
for (const [name, method, urlPath, body, status, message] of badInputs) {
  t.test(`bad input: ${name} → ${status}`, async (t) => {
    const { path } = await setup(t);
    const res = await unixRequest(path, method, urlPath, body);
    t.equal(res.status, status);
    const err = res.json as { error: string; code: string };
    t.type(err.code, 'string');
    t.match(err.error, message);
  });
}

t.test('bad input: huge body is refused with 413 without reading it all', async (t) => {
  const { path } = await setup(t);
  const res = await unixRequest(path, 'POST', '/v1/check', JSON.stringify({ target: 'a'.repeat(200_000) }));
  t.equal(res.status, 413);
  t.equal((res.json as { code: string }).code, 'body-too-large');
});

t.test('attack: a symlink at the socket path is refused (socket redirection)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ctl-'));
  const target = join(dir, 'elsewhere.sock');
  const path = join(dir, 'cordon.sock');
  symlinkSync(target, path);
  await t.rejects(startControlServer(path, makeDeps()), /symlink/);
});

t.test('a regular file at the socket path is refused, not deleted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ctl-'));
  const path = join(dir, 'cordon.sock');
  writeFileSync(path, 'important');
  await t.rejects(startControlServer(path, makeDeps()), /not a socket/);
  t.ok(existsSync(path));
});

t.test('a stale socket from a dead daemon is removed and replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-ctl-'));
  const path = join(dir, 'cordon.sock');
  // A daemon that dies by SIGKILL leaves its socket file behind with nobody listening.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise<void>((r) => child.once('exit', () => r()));
  t.ok(existsSync(path), 'stale socket file present');
  const server = await startControlServer(path, makeDeps());
  t.teardown(() => server.close());
  const s = await new ControlClient(path).status();
  t.equal(s.policy.name, 'test');
});

t.test('a live daemon socket is never stolen', async (t) => {
  const { path } = await setup(t);
  await t.rejects(startControlServer(path, makeDeps()), /already listening/);
  const s = await new ControlClient(path).status();
  t.equal(s.version, '0.3.0', 'the first daemon still answers');
});

t.test('client: a missing socket becomes one actionable line', async (t) => {
  const client = new ControlClient('/nonexistent/cordon.sock');
  const err = await client.status().then(() => null, (e: unknown) => e as ClientError);
  t.match(err, { code: 'not-running' });
  t.match(err?.message, /cordon is not running .*cordon run/);
  t.notMatch(err?.message, /\n/, 'one line');
});
