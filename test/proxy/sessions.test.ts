/**
 * Sessions on the proxy: HTTP Proxy-Authorization Basic and SOCKS5
 * username/password pick the session (and so the profile); bad credentials
 * get 407 / RFC 1929 failure and an 'auth-required' record; without
 * credentials traffic is anonymous unless sessions are required.
 */
import t from 'tap';
import type { Authenticate, ProxySession } from '../../src/proxy/types.js';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, socks5Connect } from '../helpers/proxy-client.js';

const SECRET = 'correct-horse';
const SESSIONS: Record<string, ProxySession> = {
  s_research: { id: 's_research', labels: { team: 'research', agent: 'claude-code' } },
  s_web: { id: 's_web', labels: { team: 'web' } },
};
const authenticate: Authenticate = (user, pass) => {
  if (pass !== SECRET || !Object.hasOwn(SESSIONS, user)) return null;
  return { session: SESSIONS[user] };
};
function basic(user: string, pass: string): string {
  return `Proxy-Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

let fx: ProxyFixture;
let strict: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture({ proxy: { authenticate } });
  strict = await startProxyFixture({ proxy: { authenticate, requireSession: true } });
});
t.teardown(async () => {
  await fx.close();
  await strict.close();
});

t.test('HTTP: the session picks the profile', async (t) => {
  const pa = fx.httpA.port;
  const cases = [
    { name: 'research session reaches research.test', auth: [basic('s_research', SECRET)], authority: `research.test:${pa}`, status: 200, session: 's_research' },
    { name: 'research session: default profile names are not in its profile', auth: [basic('s_research', SECRET)], authority: `allowed.test:${pa}`, status: 403, session: 's_research' },
    { name: 'web session falls back to the default profile', auth: [basic('s_web', SECRET)], authority: `allowed.test:${pa}`, status: 200, session: 's_web' },
    { name: 'anonymous: default profile', auth: [], authority: `allowed.test:${pa}`, status: 200, session: 'anonymous' },
    { name: 'anonymous cannot reach research.test', auth: [], authority: `research.test:${pa}`, status: 403, session: 'anonymous' },
  ];
  for (const c of cases) {
    await fx.quiesce();
    const { answer, wire } = await httpExchange(fx.addr, getRequest(c.authority, { headers: c.auth }));
    wire.socket.destroy();
    t.equal(answer?.status, c.status, `${c.name}: status`);
    const ev = await fx.events.waitFor((e) => e.via === 'http');
    t.equal(ev.session.id, c.session, `${c.name}: session in the event`);
    if (c.session === 's_research') t.same(ev.session.labels, { team: 'research', agent: 'claude-code' }, `${c.name}: labels in the event`);
    t.equal(ev.profile, c.session === 's_research' ? 'research' : 'default', `${c.name}: profile`);
  }
});

t.test('bad credentials: 407 with a Basic challenge and an auth-required record', async (t) => {
  const pa = fx.httpA.port;
  const forwardedBefore = fx.httpA.requests.length;
  const cases = [
    { name: 'wrong secret', header: basic('s_research', 'nope') },
    { name: 'unknown session', header: basic('s_nobody', SECRET) },
    { name: 'no colon in the credentials', header: `Proxy-Authorization: Basic ${Buffer.from('s_research').toString('base64')}` },
    { name: 'not Basic', header: 'Proxy-Authorization: Bearer abc' },
  ];
  for (const c of cases) {
    await fx.quiesce();
    const { answer, wire } = await httpExchange(fx.addr, getRequest(`allowed.test:${pa}`, { headers: [c.header] }));
    wire.socket.destroy();
    t.equal(answer?.status, 407, `${c.name}: 407`);
    t.equal(answer?.headers['proxy-authenticate'], 'Basic realm="cordon"', `${c.name}: challenge`);
    t.equal(answer?.headers['x-cordon-reason'], 'auth-required', `${c.name}: reason`);
    const ev = await fx.events.waitFor((e) => e.via === 'http');
    t.equal(ev.reason, 'auth-required', `${c.name}: recorded`);
    t.equal(ev.enforced, true);
  }
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`, [basic('s_web', 'wrong')]);
  t.equal(r.status, 407, 'CONNECT with bad credentials: 407');
  t.equal(r.headers['proxy-authenticate'], 'Basic realm="cordon"');
  r.wire.socket.destroy();
  t.equal(fx.httpA.requests.length, forwardedBefore, 'nothing was forwarded');
});

t.test('CONNECT with credentials', async (t) => {
  const r = await connectTunnel(fx.addr, `research.test:${fx.echo.port}`, [basic('s_research', SECRET)]);
  t.equal(r.status, 200);
  t.equal(await echoThrough(r.wire, 'ok'), 'ok');
  r.wire.socket.destroy();
});

t.test('SOCKS5 username/password', async (t) => {
  await fx.quiesce();
  const good = await socks5Connect(fx.addr, { host: 'research.test', port: fx.echo.port }, { auth: { user: 's_research', pass: SECRET } });
  t.equal(good.method, 0x02, 'username/password chosen when offered');
  t.equal(good.authStatus, 0x00, 'login accepted');
  t.equal(good.reply, 0x00, 'research session reaches research.test');
  good.wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.via === 'socks5' && e.session.id === 's_research');
  t.equal(ev.profile, 'research');

  await fx.quiesce();
  const bad = await socks5Connect(fx.addr, { host: 'research.test', port: fx.echo.port }, { auth: { user: 's_research', pass: 'nope' } });
  t.equal(bad.authStatus, 0x01, 'RFC 1929 failure status');
  await bad.wire.closed();
  const evBad = await fx.events.waitFor((e) => e.via === 'socks5');
  t.equal(evBad.reason, 'auth-required');
});

t.test('sessions required: no credentials means 407 / no acceptable SOCKS method', async (t) => {
  const pa = strict.httpA.port;
  const { answer, wire } = await httpExchange(strict.addr, getRequest(`allowed.test:${pa}`));
  wire.socket.destroy();
  t.equal(answer?.status, 407, 'HTTP without credentials');
  const c = await connectTunnel(strict.addr, `allowed.test:${strict.echo.port}`);
  t.equal(c.status, 407, 'CONNECT without credentials');
  c.wire.socket.destroy();
  const s = await socks5Connect(strict.addr, { host: 'allowed.test', port: strict.echo.port });
  t.equal(s.method, 0xff, 'SOCKS5 offering only no-auth: no acceptable method');
  await s.wire.closed();
  const ok = await httpExchange(strict.addr, getRequest(`allowed.test:${pa}`, { headers: [basic('s_web', SECRET)] }));
  ok.wire.socket.destroy();
  t.equal(ok.answer?.status, 200, 'HTTP with credentials');
  const so = await socks5Connect(strict.addr, { host: 'allowed.test', port: strict.echo.port }, { auth: { user: 's_web', pass: SECRET } });
  t.equal(so.reply, 0x00, 'SOCKS5 with credentials');
  so.wire.socket.destroy();
});
