/**
 * Audit mode and policy swaps on the proxy: an audit deny lets traffic
 * through and marks the record (enforced: false); invalid targets are
 * refused in every mode; a swapped policy applies to new connections while
 * an open tunnel keeps the decision it was given; failures inside the
 * decision path fail closed without taking the proxy down.
 */
import t from 'tap';
import { denyAllPolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { compileYaml, startProxyFixture, testPolicyYaml, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, socks5Connect, tlsOverTunnel } from '../helpers/proxy-client.js';

t.test('audit mode (--mode audit): denials are recorded, not enforced', async (t) => {
  const fx: ProxyFixture = await startProxyFixture({ proxy: { modeOverride: 'audit' } });
  t.teardown(() => fx.close());

  await fx.quiesce();
  const { answer, wire } = await httpExchange(fx.addr, getRequest(`pastebin.test:${fx.httpA.port}`));
  wire.socket.destroy();
  t.equal(answer?.status, 200, 'HTTP to a denied name goes through');
  const ev = await fx.events.waitFor((e) => e.via === 'http');
  t.equal(ev.decision, 'deny');
  t.equal(ev.enforced, false, 'marked as not enforced');
  t.equal(ev.mode, 'audit');
  t.equal(ev.reason, 'rule');

  await fx.quiesce();
  const c = await connectTunnel(fx.addr, `127.0.0.2:${fx.echo.port}`);
  t.equal(c.status, 200, 'CONNECT to a special-range address goes through in audit mode');
  t.equal(await echoThrough(c.wire, 'a'), 'a');
  c.wire.socket.destroy();
  const evc = await fx.events.waitFor((e) => e.via === 'connect');
  t.equal(evc.reason, 'special-range');
  t.equal(evc.enforced, false);
  t.equal(evc.target.address, '127.0.0.2', 'the would-be-denied address is the one dialed and recorded');

  await fx.quiesce();
  const tun = await connectTunnel(fx.addr, `allowed.test:${fx.tls.port}`);
  const tls = await tlsOverTunnel(tun.wire, { servername: 'pastebin.test', ca: fx.cert.cert });
  t.equal(tls.ok, true, 'SNI mismatch is let through in audit mode');
  tls.socket.destroy();
  const evs = await fx.events.waitFor((e) => e.via === 'connect');
  t.equal(evs.reason, 'sni-mismatch');
  t.equal(evs.enforced, false);

  const inv = await httpExchange(fx.addr, getRequest(`allowed.test@pastebin.test:${fx.httpA.port}`, { host: `pastebin.test:${fx.httpA.port}` }));
  inv.wire.socket.destroy();
  t.equal(inv.answer?.status, 400, 'invalid targets are refused even in audit mode');
  const s = await socks5Connect(fx.addr, { host: 'a..b', port: fx.echo.port });
  t.equal(s.reply, 0x02, 'invalid SOCKS5 target refused in audit mode');
  s.wire.socket.destroy();
  const un = await connectTunnel(fx.addr, `nxdomain.allowed.test:${fx.echo.port}`);
  t.equal(un.status, 502, 'unresolvable is refused in audit mode');
  un.wire.socket.destroy();
});

t.test('policy swap: new connections use the new policy, open tunnels keep theirs', async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  const open = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(open.status, 200, 'tunnel opened under the first policy');
  fx.setPolicy(denyAllPolicy('test: policy withdrawn'));
  const fresh = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(fresh.status, 403, 'a new CONNECT after the swap is denied');
  t.equal(fresh.headers['x-cordon-reason'], 'no-policy');
  fresh.wire.socket.destroy();
  t.equal(await echoThrough(open.wire, 'still here'), 'still here', 'the open tunnel keeps working');
  open.wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.reason === 'no-policy');
  t.equal(ev.policy?.name, 'deny-all', 'the record names the policy that decided');
});

t.test('failures inside the decision path fail closed and the proxy keeps serving', async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  // A policy object that throws on any use: the proxy must deny, not crash.
  const corrupted = new Proxy({}, {
    get() {
      throw new Error('boom: corrupted policy');
    },
  }) as unknown as CompiledPolicy;
  fx.setPolicy(corrupted);
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(r.status, 403, 'CONNECT denied');
  t.equal(r.headers['x-cordon-reason'], 'internal-error');
  r.wire.socket.destroy();
  const h = await httpExchange(fx.addr, getRequest(`allowed.test:${fx.httpA.port}`));
  h.wire.socket.destroy();
  t.equal(h.answer?.status, 403, 'HTTP denied');
  const s = await socks5Connect(fx.addr, { host: 'allowed.test', port: fx.echo.port });
  t.equal(s.reply, 0x01, 'SOCKS5 general failure');
  s.wire.socket.destroy();
  fx.setPolicy(compileYaml(testPolicyYaml(fx.ports)));
  const after = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(after.status, 200, 'the same proxy serves again once the policy is sane');
  after.wire.socket.destroy();
  t.ok(fx.proxy.stats().decisions.denied >= 3, 'denials counted');
});

t.test('a throwing event sink does not break requests', async (t) => {
  const fx = await startProxyFixture({
    proxy: {
      events: {
        emit() {
          throw new Error('sink exploded');
        },
      },
    },
  });
  t.teardown(() => fx.close());
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(r.status, 200, 'allowed despite the throwing emitter');
  t.equal(await echoThrough(r.wire, 'z'), 'z');
  r.wire.socket.destroy();
  const d = await connectTunnel(fx.addr, `pastebin.test:${fx.echo.port}`);
  t.equal(d.status, 403, 'denied despite the throwing emitter');
  d.wire.socket.destroy();
});

t.test('a failing resolver makes names unresolvable, never allowed', async (t) => {
  const fx = await startProxyFixture({
    proxy: {
      resolver: {
        description: 'broken',
        resolve() {
          throw new Error('resolver exploded');
        },
      },
    },
  });
  t.teardown(() => fx.close());
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(r.status, 502);
  t.equal(r.headers['x-cordon-reason'], 'unresolvable');
  r.wire.socket.destroy();
  const ip = await connectTunnel(fx.addr, `127.0.0.1:${fx.echo.port}`);
  t.equal(ip.status, 200, 'IP-literal targets need no resolver');
  ip.wire.socket.destroy();
});
