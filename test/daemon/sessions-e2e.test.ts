/**
 * Sessions end to end (DESIGN §2 "Sessions", issue 4): sessions are created
 * over the real daemon's status socket, traffic presents their credentials to
 * the real proxy (HTTP Proxy-Authorization: Basic, CONNECT, SOCKS5
 * username/password through the `socks` client), and the decision and the
 * recorded events follow each session's labels. Origins and DNS are the
 * test's own, on loopback.
 */
import t from 'tap';
import type { Socket } from 'node:net';
import { SocksClient } from 'socks';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { startEchoOrigin, startHttpOrigin } from '../helpers/origins.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, type ProxyAddress } from '../helpers/proxy-client.js';
import {
  basicAuthHeader,
  credentialsOf,
  isNetwork,
  proxyAddress,
  sessionPolicyYaml,
  seenEventIds,
  waitFor,
  waitForEvent,
  waitForNewEvent,
} from '../helpers/daemon-e2e.js';
import type { NetworkEvent } from '../../src/events/types.js';
import type { SessionCreateResponse } from '../../src/control/wire.js';

const SOCKS_TIMEOUT_MS = 8_000;

/** Several real daemons and dozens of connections: a generous bound for a loaded shared machine (not a speed check). */
const FILE_TIMEOUT_MS = 300_000;
t.setTimeout(FILE_TIMEOUT_MS);

const dns = await startDnsResponder({
  'app.test': { addresses: ['127.0.0.1'] },
  'papers.test': { addresses: ['127.0.0.1'] },
});
const http = await startHttpOrigin({ label: 'http-origin' });
const echo = await startEchoOrigin();
t.teardown(async () => {
  await http.close();
  await echo.close();
  await dns.close();
});

async function daemonWith(args: string[] = []): Promise<TestDaemon> {
  const d = await startDaemon({ policyText: sessionPolicyYaml(), args: ['--resolver', dns.server, ...args] });
  t.teardown(() => d.stop());
  return d;
}

type SocksOutcome = { ok: true; socket: Socket } | { ok: false; error: string };

async function socksConnect(proxy: ProxyAddress, creds: { user: string; pass: string } | null, host: string, port: number): Promise<SocksOutcome> {
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: proxy.host, port: proxy.port, type: 5, ...(creds === null ? {} : { userId: creds.user, password: creds.pass }) },
      command: 'connect',
      destination: { host, port },
      timeout: SOCKS_TIMEOUT_MS,
    });
    return { ok: true, socket };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Writes `text` into an established SOCKS socket and reads the echo back (bounded). */
function socksEcho(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo; have ${JSON.stringify(got)}`)), SOCKS_TIMEOUT_MS);
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        resolve(got);
      }
    });
    socket.write(text);
  });
}

type Via = 'http' | 'connect' | 'socks5';

interface Attempt {
  /** HTTP status (http, connect) or 200/0 for a granted/refused SOCKS5 connect. */
  status: number;
  reason: string | null;
  /** What came back through the tunnel or from the origin. */
  payload: string | null;
  error: string | null;
}

/** One request through the proxy, with these credentials, over `via`; a marker makes its event findable. */
async function attempt(proxy: ProxyAddress, via: Via, creds: { user: string; pass: string } | null, host: string, marker: string): Promise<Attempt> {
  const auth = creds === null ? [] : [basicAuthHeader(creds.user, creds.pass)];
  if (via === 'http') {
    const { answer, wire } = await httpExchange(proxy, getRequest(`${host}:${http.port}`, { path: `/${marker}`, headers: auth }));
    wire.socket.destroy();
    return { status: answer?.status ?? 0, reason: answer?.headers['x-cordon-reason'] ?? null, payload: answer?.body ?? null, error: null };
  }
  if (via === 'connect') {
    const tunnel = await connectTunnel(proxy, `${host}:${echo.port}`, auth);
    let payload: string | null = null;
    if (tunnel.status === 200) payload = await echoThrough(tunnel.wire, marker);
    tunnel.wire.socket.destroy();
    return { status: tunnel.status, reason: tunnel.headers['x-cordon-reason'] ?? null, payload, error: null };
  }
  const r = await socksConnect(proxy, creds, host, echo.port);
  if (!r.ok) return { status: 0, reason: null, payload: null, error: r.error };
  const payload = await socksEcho(r.socket, marker);
  r.socket.destroy();
  return { status: 200, reason: null, payload, error: null };
}

function labelsOf(s: SessionCreateResponse): Record<string, string> {
  return s.labels;
}

t.test('two sessions with different labels get different profiles, on every proxy protocol', async (t) => {
  const d = await daemonWith();
  const proxy = proxyAddress(d.proxy);
  const web = await d.client.createSession({ team: 'web', agent: 'claude-code' });
  const research = await d.client.createSession({ team: 'research', agent: 'notebook' });
  t.not(web.id, research.id, 'distinct session ids');
  t.match(web.proxy.http, /^http:\/\/s_[0-9a-f]+:[^@]+@127\.0\.0\.1:\d+$/, 'http proxy URL carries the credentials');
  t.match(web.proxy.socks, /^socks5:\/\/s_[0-9a-f]+:[^@]+@127\.0\.0\.1:\d+$/, 'socks proxy URL carries the credentials');
  t.equal((await d.client.status()).sessions, 2, 'status counts both sessions');

  const cases: { name: string; session: SessionCreateResponse; profile: string; via: Via; host: string; allowed: boolean; rule: string | null; reason?: string }[] = [
    { name: 'web over HTTP forward: app.test allowed by profile web', session: web, profile: 'web', via: 'http', host: 'app.test', allowed: true, rule: 'web apps' },
    { name: 'research over HTTP forward: app.test denied by research default', session: research, profile: 'research', via: 'http', host: 'app.test', allowed: false, rule: null },
    { name: 'web over CONNECT: app.test allowed', session: web, profile: 'web', via: 'connect', host: 'app.test', allowed: true, rule: 'web apps' },
    { name: 'research over CONNECT: app.test denied', session: research, profile: 'research', via: 'connect', host: 'app.test', allowed: false, rule: null },
    { name: 'web over SOCKS5: app.test allowed', session: web, profile: 'web', via: 'socks5', host: 'app.test', allowed: true, rule: 'web apps' },
    { name: 'research over SOCKS5: app.test denied', session: research, profile: 'research', via: 'socks5', host: 'app.test', allowed: false, rule: null },
    { name: 'research over SOCKS5: papers.test allowed by profile research', session: research, profile: 'research', via: 'socks5', host: 'papers.test', allowed: true, rule: 'papers' },
    { name: 'web over HTTP forward: papers.test denied by web default', session: web, profile: 'web', via: 'http', host: 'papers.test', allowed: false, rule: null },
    { name: 'guardrails bind every session: web over CONNECT to blocked.test', session: web, profile: 'web', via: 'connect', host: 'blocked.test', allowed: false, rule: 'blocked', reason: 'rule' },
    { name: 'guardrails bind every session: research over SOCKS5 to blocked.test', session: research, profile: 'research', via: 'socks5', host: 'blocked.test', allowed: false, rule: 'blocked', reason: 'rule' },
  ];
  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async (t) => {
      const marker = `m${i}-${c.via}`;
      const creds = credentialsOf(c.via === 'socks5' ? c.session.proxy.socks : c.session.proxy.http);
      const r = await attempt(proxy, c.via, creds, c.host, marker);
      if (c.allowed) {
        t.equal(r.status, 200, 'allowed through');
        t.match(r.payload ?? '', marker, 'the origin answered through the proxy');
      } else if (c.via === 'socks5') {
        t.match(r.error ?? '', /rejected connection - NotAllowed/, 'SOCKS5 reply 0x02 (not allowed by ruleset)');
      } else {
        t.equal(r.status, 403, 'refused with 403');
        t.equal(r.reason, c.reason ?? 'default', 'X-Cordon-Reason names the reason');
      }
      const ev = await waitForEvent<NetworkEvent>(
        d.client,
        `network event of ${c.name}`,
        (e) => isNetwork(e) && e.via === c.via && e.session.id === c.session.id && e.target.host === c.host && (c.via !== 'http' || e.http?.path === `/${marker}`),
      );
      t.equal(ev.decision, c.allowed ? 'allow' : 'deny', 'event verdict');
      t.equal(ev.profile, c.profile, 'decided with the profile the labels select');
      t.same(ev.session.labels, labelsOf(c.session), 'event carries the session labels');
      t.equal(ev.rule?.name ?? null, c.rule, 'event names the rule');
      t.equal(ev.reason, c.reason ?? (c.allowed ? 'rule' : 'default'), 'event reason');
      if (c.rule !== null) t.equal(ev.rule?.layer, c.rule === 'blocked' ? 'guardrails' : `profile:${c.profile}`, 'event names the layer');
      if (c.allowed) t.equal(ev.target.address, '127.0.0.1', 'dialed the checked address');
    });
  }

  await t.test('the proxy never forwards the session credentials to the origin', async (t) => {
    const seen = http.requests.filter((r) => r.url.startsWith('/m'));
    t.ok(seen.length > 0, 'the origin saw the allowed requests');
    for (const r of seen) {
      t.notOk(r.rawHeaders.some((h) => /^proxy-authorization$/i.test(h)), `no Proxy-Authorization in ${r.url}`);
      t.notOk(r.rawHeaders.join('\n').includes(web.secret), `secret absent from ${r.url}`);
    }
  });

  await t.test('GET /v1/events lists events of both sessions, and the secrets never appear in any event', async (t) => {
    const { events } = await d.client.events(1000);
    const ids = new Set(events.filter(isNetwork).map((e) => e.session.id));
    t.ok(ids.has(web.id) && ids.has(research.id), 'both sessions present');
    const text = JSON.stringify(events);
    t.notOk(text.includes(web.secret), 'web secret not in events');
    t.notOk(text.includes(research.secret), 'research secret not in events');
  });
});

t.test('bad credentials are refused (407 / SOCKS5 auth failure) and recorded as auth-required', async (t) => {
  const d = await daemonWith();
  const proxy = proxyAddress(d.proxy);
  const victim = await d.client.createSession({ team: 'web' });
  const other = await d.client.createSession({ team: 'research' });
  const origBefore = { http: http.requests.length, echo: echo.connections.total };
  const cases: { name: string; via: Via; creds: { user: string; pass: string } }[] = [
    { name: 'credential guessing: wrong secret for a real session id (HTTP)', via: 'http', creds: { user: victim.id, pass: 'guess' } },
    { name: 'credential guessing: wrong secret for a real session id (CONNECT)', via: 'connect', creds: { user: victim.id, pass: 'guess' } },
    { name: 'credential guessing: wrong secret for a real session id (SOCKS5)', via: 'socks5', creds: { user: victim.id, pass: 'guess' } },
    { name: 'forged session id that was never issued (HTTP)', via: 'http', creds: { user: 's_000000000000000000000000', pass: victim.secret } },
    { name: 'forged session id that was never issued (SOCKS5)', via: 'socks5', creds: { user: 's_000000000000000000000000', pass: victim.secret } },
    { name: "session confusion: another session's secret with the victim's id (CONNECT)", via: 'connect', creds: { user: victim.id, pass: other.secret } },
    { name: "session confusion: another session's secret with the victim's id (SOCKS5)", via: 'socks5', creds: { user: victim.id, pass: other.secret } },
    { name: 'empty secret (HTTP)', via: 'http', creds: { user: victim.id, pass: '' } },
  ];
  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async (t) => {
      const seen = await seenEventIds(d.client);
      const r = await attempt(proxy, c.via, c.creds, 'app.test', `bad${i}`);
      if (c.via === 'socks5') {
        t.match(r.error ?? '', /Authentication failed/, 'SOCKS5 username/password status is a failure');
      } else {
        t.equal(r.status, 407, '407 Proxy Authentication Required');
        t.equal(r.reason, 'auth-required', 'X-Cordon-Reason: auth-required');
      }
      const ev = await waitForNewEvent<NetworkEvent>(
        d.client,
        `auth-required event for ${c.name}`,
        seen,
        // SOCKS5 authenticates before the client names its target, so that event has no target host.
        (e) => isNetwork(e) && e.via === c.via && e.reason === 'auth-required' && e.target.host === (c.via === 'socks5' ? '' : 'app.test'),
      );
      t.equal(ev.decision, 'deny', 'recorded as a deny');
      t.equal(ev.enforced, true, 'auth failures are always enforced');
      t.not(ev.session.id, victim.id, 'the failed login is not attributed to the victim session');
      if (c.creds.pass !== '') t.notOk(JSON.stringify(ev).includes(c.creds.pass), 'the presented secret is not logged');
    });
  }
  await t.test('nothing reached an origin', async (t) => {
    t.equal(http.requests.length, origBefore.http, 'HTTP origin untouched');
    t.equal(echo.connections.total, origBefore.echo, 'echo origin untouched');
  });
  await t.test('the victim session still works after the failed attempts', async (t) => {
    const r = await attempt(proxy, 'connect', credentialsOf(victim.proxy.http), 'app.test', 'after');
    t.equal(r.status, 200);
    t.equal(r.payload, 'after');
  });
});

t.test('--require-session: anonymous traffic is refused, session traffic is not', async (t) => {
  const d = await daemonWith(['--require-session']);
  const proxy = proxyAddress(d.proxy);
  const web = await d.client.createSession({ team: 'web' });
  const cases: { name: string; via: Via; creds: { user: string; pass: string } | null; expect: 'ok' | 'refused' }[] = [
    { name: 'anonymous HTTP forward → 407', via: 'http', creds: null, expect: 'refused' },
    { name: 'anonymous CONNECT → 407', via: 'connect', creds: null, expect: 'refused' },
    { name: 'anonymous SOCKS5 (no-auth method only) → refused', via: 'socks5', creds: null, expect: 'refused' },
    { name: 'session HTTP forward → allowed', via: 'http', creds: credentialsOf(web.proxy.http), expect: 'ok' },
    { name: 'session CONNECT → allowed', via: 'connect', creds: credentialsOf(web.proxy.http), expect: 'ok' },
    { name: 'session SOCKS5 → allowed', via: 'socks5', creds: credentialsOf(web.proxy.socks), expect: 'ok' },
  ];
  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async (t) => {
      const seen = await seenEventIds(d.client);
      const r = await attempt(proxy, c.via, c.creds, 'app.test', `rs${i}`);
      if (c.expect === 'ok') {
        t.equal(r.status, 200, 'through');
        t.match(r.payload ?? '', `rs${i}`, 'origin answered');
        return;
      }
      if (c.via === 'socks5') t.match(r.error ?? '', /no accepted authentication type|Authentication failed/, 'SOCKS5 refused the login');
      else {
        t.equal(r.status, 407, '407');
        t.equal(r.reason, 'auth-required');
      }
      const ev = await waitForNewEvent<NetworkEvent>(d.client, `auth-required event (${c.via})`, seen, (e) => isNetwork(e) && e.via === c.via && e.reason === 'auth-required');
      t.equal(ev.session.id, 'anonymous', 'recorded against the anonymous session');
    });
  }
});

t.test('anonymous traffic without --require-session uses the default profile', async (t) => {
  const d = await daemonWith();
  const proxy = proxyAddress(d.proxy);
  const r = await attempt(proxy, 'http', null, 'papers.test', 'anon');
  t.equal(r.status, 200, 'default profile allows papers.test');
  const ev = await waitForEvent<NetworkEvent>(d.client, 'anonymous event', (e) => isNetwork(e) && e.http?.path === '/anon');
  t.equal(ev.session.id, 'anonymous');
  t.same(ev.session.labels, {});
  t.equal(ev.profile, 'default');
});

t.test('an expired session (ttl_s: 1) stops working and leaves the list', async (t) => {
  const d = await daemonWith();
  const proxy = proxyAddress(d.proxy);
  const short = await d.client.createSession({ team: 'web' }, 1);
  t.type(short.expires_at, 'string', 'expires_at is set');
  const creds = credentialsOf(short.proxy.http);
  const before = await attempt(proxy, 'connect', creds, 'app.test', 'live');
  t.equal(before.status, 200, 'works while live');
  // Wait (bounded) until the expiry instant has passed on the wall clock.
  const expiresAt = Date.parse(short.expires_at ?? '');
  await waitFor('the expiry instant', () => (Date.now() > expiresAt + 50 ? true : null));
  const cases: { name: string; via: Via }[] = [
    { name: 'expired-session replay over CONNECT', via: 'connect' },
    { name: 'expired-session replay over HTTP forward', via: 'http' },
    { name: 'expired-session replay over SOCKS5', via: 'socks5' },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await attempt(proxy, c.via, creds, 'app.test', 'expired');
      if (c.via === 'socks5') t.match(r.error ?? '', /Authentication failed/);
      else t.equal(r.status, 407);
    });
  }
  const status = await d.client.status();
  t.notOk(status.session_list.some((s) => s.id === short.id), 'expired session is not listed');
  const del = await d.client.deleteSession(short.id).catch((e: Error & { status?: number }) => e);
  t.match(del, { status: 404 }, 'deleting an expired session is a 404');
});

t.test('DELETE /v1/sessions/{id} revokes a session immediately', async (t) => {
  const d = await daemonWith();
  const proxy = proxyAddress(d.proxy);
  const keep = await d.client.createSession({ team: 'web' });
  const gone = await d.client.createSession({ team: 'web' });
  t.equal((await attempt(proxy, 'socks5', credentialsOf(gone.proxy.socks), 'app.test', 'pre')).status, 200, 'works before DELETE');
  t.same(await d.client.deleteSession(gone.id), { deleted: gone.id });
  const status = await d.client.status();
  t.equal(status.sessions, 1, 'one session left');
  t.same(status.session_list.map((s) => s.id), [keep.id]);
  const cases: { name: string; via: Via }[] = [
    { name: 'revoked-session replay over HTTP forward', via: 'http' },
    { name: 'revoked-session replay over CONNECT', via: 'connect' },
    { name: 'revoked-session replay over SOCKS5', via: 'socks5' },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await attempt(proxy, c.via, credentialsOf(gone.proxy.http), 'app.test', 'post');
      if (c.via === 'socks5') t.match(r.error ?? '', /Authentication failed/);
      else t.equal(r.status, 407);
    });
  }
  t.equal((await attempt(proxy, 'connect', credentialsOf(keep.proxy.http), 'app.test', 'kept')).status, 200, 'the other session is unaffected');
  const again = await d.client.deleteSession(gone.id).catch((e: Error & { status?: number }) => e);
  t.match(again, { status: 404 }, 'second DELETE is a 404');
});

t.test('with --socks-listen, the session SOCKS5 URL names the dedicated port and works there', async (t) => {
  const d = await daemonWith(['--socks-listen', '127.0.0.1:0']);
  const socks = d.status.listeners.socks;
  t.match(socks, /^127\.0\.0\.1:\d+$/, 'status lists the SOCKS5 listener');
  const web = await d.client.createSession({ team: 'web' });
  t.equal(new URL(web.proxy.socks ?? '').host, socks, 'the socks URL names the SOCKS5 port');
  t.equal(new URL(web.proxy.http ?? '').host, d.proxy, 'the http URL names the main port');
  const cases: { name: string; host: string; ok: boolean }[] = [
    { name: 'allowed target', host: 'app.test', ok: true },
    { name: 'target of another profile', host: 'papers.test', ok: false },
  ];
  for (const c of cases) {
    const r = await attempt(proxyAddress(socks ?? ''), 'socks5', credentialsOf(web.proxy.socks), c.host, `dedicated-${c.host}`);
    if (c.ok) t.equal(r.payload, `dedicated-${c.host}`, `${c.name}: through`);
    else t.match(r.error ?? '', /NotAllowed/, `${c.name}: refused`);
  }
});
