/**
 * Names, then addresses, through the real proxy and the test's own DNS
 * responder: resolve once, check every address, dial only a checked one.
 * DNS rebinding, mixed answers and names resolving into special ranges.
 */
import t from 'tap';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, socks5Connect } from '../helpers/proxy-client.js';

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture();
});
t.teardown(() => fx.close());

t.test('DNS rebinding: the proxy dials the address it checked, and resolves once per decision', async (t) => {
  // rebind.allowed.test answers 127.0.1.1 (allowed by CIDR: the stand-in for a public address) to its
  // first A query and 127.0.0.2 (denied special range, where the victim origin listens) afterwards.
  fx.dns.set('rebind.allowed.test', { rebind: { first: ['127.0.1.1'], then: ['127.0.0.2'] } });
  await fx.quiesce();
  const authority = `rebind.allowed.test:${fx.httpB.port}`;
  const first = await httpExchange(fx.addr, getRequest(authority));
  first.wire.socket.destroy();
  t.equal(first.answer?.status, 200, 'first request allowed');
  t.equal(JSON.parse(first.answer!.body).origin, 'b', 'it reached the checked address 127.0.1.1, not the rebound one');
  t.equal(fx.dns.queriesFor('rebind.allowed.test', 'A'), 1, 'exactly one A lookup for the decision (no second lookup at dial time)');
  const ev1 = await fx.events.waitFor((e) => e.target.host === 'rebind.allowed.test');
  t.equal(ev1.target.address, '127.0.1.1');

  const second = await httpExchange(fx.addr, getRequest(authority));
  second.wire.socket.destroy();
  t.equal(second.answer?.status, 403, 'the next decision sees the rebound answer and denies it');
  t.equal(second.answer?.headers['x-cordon-reason'], 'special-range');
  t.equal(fx.dns.queriesFor('rebind.allowed.test', 'A'), 2, 'one more lookup for the second decision');
  t.equal(fx.victim.connections.total, 0, 'the victim on 127.0.0.2 was never connected');
});

t.test('DNS rebinding over CONNECT and SOCKS5 as well', async (t) => {
  for (const via of ['connect', 'socks5'] as const) {
    fx.dns.set('rebind2.allowed.test', { rebind: { first: ['127.0.0.1'], then: ['127.0.0.2'] } });
    const before = fx.dns.queriesFor('rebind2.allowed.test', 'A');
    if (via === 'connect') {
      const r = await connectTunnel(fx.addr, `rebind2.allowed.test:${fx.echo.port}`);
      t.equal(r.status, 200, `${via}: allowed on the first answer`);
      t.equal(await echoThrough(r.wire, 'x'), 'x', `${via}: tunnel to the checked address works`);
      r.wire.socket.destroy();
    } else {
      const r = await socks5Connect(fx.addr, { host: 'rebind2.allowed.test', port: fx.echo.port });
      t.equal(r.reply, 0x00, `${via}: allowed on the first answer`);
      t.equal(await echoThrough(r.wire, 'x'), 'x', `${via}: tunnel to the checked address works`);
      r.wire.socket.destroy();
    }
    t.equal(fx.dns.queriesFor('rebind2.allowed.test', 'A') - before, 1, `${via}: one A lookup`);
  }
  t.equal(fx.echoVictim.connections.total, 0, 'the echo victim on 127.0.0.2 was never connected');
});

t.test('mixed answers: the first allowed address is dialed, denied ones never', async (t) => {
  await fx.quiesce();
  // mixed.allowed.test -> [127.0.0.2 (special range), 127.0.0.1 (allowed)]
  const r = await connectTunnel(fx.addr, `mixed.allowed.test:${fx.echo.port}`);
  t.equal(r.status, 200);
  t.equal(await echoThrough(r.wire, 'mixed'), 'mixed');
  r.wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.target.host === 'mixed.allowed.test');
  t.equal(ev.decision, 'allow');
  t.equal(ev.target.address, '127.0.0.1', 'dialed the allowed address');
  t.same(ev.target.addresses, ['127.0.0.2', '127.0.0.1'], 'every resolved address is in the record');
  t.equal(fx.echoVictim.connections.total, 0, 'the denied address was not dialed');
});

t.test('every address denied: one shared reason, or no-address-allowed', async (t) => {
  const cases = [
    { name: 'name resolving to private space', host: 'private.allowed.test', reason: 'special-range' },
    { name: 'name resolving to 127.0.0.2', host: 'loop2.allowed.test', reason: 'special-range' },
    { name: 'name resolving to ::1', host: 'v6loop.allowed.test', reason: 'special-range' },
    { name: 'name resolving to ::ffff:127.0.0.2', host: 'mapped.allowed.test', reason: 'special-range', addresses: ['127.0.0.2'] },
    { name: 'addresses denied for different reasons', host: 'alldenied.allowed.test', reason: 'no-address-allowed', addresses: ['127.0.1.9', '127.0.0.2'] },
  ] as { name: string; host: string; reason: string; addresses?: string[] }[];
  for (const c of cases) {
    await fx.quiesce();
    const r = await connectTunnel(fx.addr, `${c.host}:${fx.echo.port}`);
    t.equal(r.status, 403, `${c.name}: 403`);
    t.equal(r.headers['x-cordon-reason'], c.reason, `${c.name}: reason`);
    r.wire.socket.destroy();
    const ev = await fx.events.waitFor((e) => e.target.host === c.host);
    t.equal(ev.target.address, null, `${c.name}: nothing dialed`);
    t.ok(ev.target.addresses.length > 0, `${c.name}: resolved addresses recorded`);
    if (c.addresses) t.same(ev.target.addresses, c.addresses, `${c.name}: canonical addresses ${c.addresses.join(', ')}`);
  }
  t.equal(fx.echoVictim.connections.total, 0, 'nothing reached 127.0.0.2');
});

t.test('a denied name is not even resolved', async (t) => {
  const before = fx.dns.queriesFor('pastebin.test');
  const r = await connectTunnel(fx.addr, `pastebin.test:${fx.echo.port}`);
  t.equal(r.status, 403);
  r.wire.socket.destroy();
  t.equal(fx.dns.queriesFor('pastebin.test'), before, 'no DNS query for a name denied at the name stage');
});
