/**
 * CONNECT tunnels through the real proxy: decisions, the TLS ClientHello /
 * SNI gate on TLS ports (domain fronting), dial failures, half-close and a
 * client that disconnects mid-tunnel.
 */
import { createServer as netCreateServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { startProxyFixture, waitUntil, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, openWire, readResponse, tlsOverTunnel } from '../helpers/proxy-client.js';

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture({ proxy: { limits: { clientHelloTimeoutMs: 700, idleTimeoutMs: 60_000 } } });
});
t.teardown(() => fx.close());

t.test('CONNECT decisions to a plain TCP port', async (t) => {
  const e = fx.echo.port;
  const cases = [
    { name: 'allowed name', authority: `allowed.test:${e}`, status: 200 },
    { name: 'allowed address', authority: `127.0.0.1:${e}`, status: 200 },
    { name: 'name on its one allowed port', authority: `portonly.test:${e}`, status: 200 },
    { name: 'guardrails-denied name', authority: `pastebin.test:${e}`, status: 403, reason: 'rule' },
    { name: 'default-denied name', authority: `other.test:${e}`, status: 403, reason: 'default' },
    { name: 'special-range address', authority: `127.0.0.2:${e}`, status: 403, reason: 'special-range' },
    { name: 'name resolving into a special range', authority: `loop2.allowed.test:${e}`, status: 403, reason: 'special-range' },
    { name: 'no port', authority: 'allowed.test', status: 400, reason: 'invalid-target' },
    { name: 'userinfo in authority', authority: `allowed.test@127.0.0.2:${e}`, status: 400, reason: 'invalid-target' },
    { name: 'unresolvable name', authority: `nxdomain.allowed.test:${e}`, status: 502, reason: 'unresolvable' },
  ];
  for (const c of cases) {
    const r = await connectTunnel(fx.addr, c.authority);
    t.equal(r.status, c.status, `${c.name}: status`);
    if (c.reason) t.equal(r.headers['x-cordon-reason'], c.reason, `${c.name}: reason`);
    if (c.status === 200) t.equal(await echoThrough(r.wire, `ping ${c.name}`), `ping ${c.name}`, `${c.name}: bytes flow both ways`);
    else t.match(r.body, /^cordon: /, `${c.name}: plain-text body`);
    r.wire.socket.destroy();
  }
  t.equal(fx.echoVictim.connections.total, 0, 'nothing reached 127.0.0.2');
});

t.test('a tunnel records one event at close with bytes and duration', async (t) => {
  await fx.quiesce();
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(r.status, 200);
  t.equal(await echoThrough(r.wire, 'x'.repeat(1000)), 'x'.repeat(1000));
  r.wire.socket.end();
  await r.wire.closed();
  const ev = await fx.events.waitFor((e) => e.via === 'connect' && e.target.host === 'allowed.test');
  t.equal(ev.decision, 'allow');
  t.equal(ev.bytes_up, 1000);
  t.equal(ev.bytes_down, 1000);
  t.type(ev.duration_ms, 'number');
  t.equal(ev.target.address, '127.0.0.1');
  t.equal(fx.events.network().filter((e) => e.via === 'connect').length, 1, 'exactly one event');
});

t.test('half-close: the client finishes sending and still gets the answer', async (t) => {
  const r = await connectTunnel(fx.addr, `127.0.0.1:${fx.echo.port}`);
  t.equal(r.status, 200);
  r.wire.socket.end('last words');
  await r.wire.closed();
  t.equal(r.wire.buf.toString(), 'last words', 'echo of data sent before FIN arrived after FIN');
});

t.test('client disconnects mid-tunnel: the upstream side is closed too', async (t) => {
  const openBefore = fx.echo.connections.open;
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(await echoThrough(r.wire, 'abc'), 'abc');
  t.equal(fx.echo.connections.open, openBefore + 1, 'origin has the tunnel open');
  r.wire.socket.destroy();
  await waitUntil(() => fx.echo.connections.open === openBefore, 'origin side to close');
  await waitUntil(() => fx.proxy.stats().tunnelsOpen === 0, 'proxy tunnel count to drop');
  t.pass('origin connection closed and the proxy forgot the tunnel');
});

t.test('dial failure: refused port gives 502', async (t) => {
  const closedPort = await new Promise<number>((resolve) => {
    const srv = netCreateServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
  const r = await connectTunnel(fx.addr, `127.0.0.1:${closedPort}`);
  t.equal(r.status, 502);
  t.match(r.body, /refused/);
  const ev = await fx.events.waitFor((e) => e.via === 'connect' && e.target.port === closedPort);
  t.equal(ev.decision, 'allow', 'the decision was allow');
  t.match(ev.error, /refused/, 'the event carries the dial error');
});

t.test('TLS port: the ClientHello SNI must name the CONNECT host', async (t) => {
  const p = fx.tls.port;
  const cases = [
    { name: 'SNI equals the CONNECT name', authority: `allowed.test:${p}`, sni: 'allowed.test', ok: true },
    { name: 'SNI differs only in case and trailing dot', authority: `allowed.test:${p}`, sni: 'ALLOWED.test.', ok: true },
    { name: 'domain fronting: allowed CONNECT host, SNI of a denied site', authority: `allowed.test:${p}`, sni: 'pastebin.test', ok: false },
    { name: 'domain fronting: SNI of another allowed name', authority: `allowed.test:${p}`, sni: 'www.allowed.test', ok: false },
    { name: 'no SNI on a name target', authority: `allowed.test:${p}`, sni: undefined, ok: false },
    { name: 'IP-literal target without SNI', authority: `127.0.0.1:${p}`, sni: undefined, ok: true },
    { name: 'IP-literal target with an SNI naming a host', authority: `127.0.0.1:${p}`, sni: 'allowed.test', ok: false },
  ];
  for (const c of cases) {
    const before = fx.tls.connections.total;
    await fx.quiesce();
    const r = await connectTunnel(fx.addr, c.authority);
    t.equal(r.status, 200, `${c.name}: CONNECT accepted before the ClientHello`);
    const tls = await tlsOverTunnel(r.wire, { servername: c.sni, ca: fx.cert.cert });
    t.equal(tls.ok, c.ok, `${c.name}: handshake ${c.ok ? 'completes' : 'refused'}`);
    if (c.ok) t.equal(tls.line, 'tls-origin', `${c.name}: reached the TLS origin`);
    if (!c.ok) t.equal(fx.tls.connections.total, before, `${c.name}: origin never dialed`);
    tls.socket.destroy();
    const ev = await fx.events.waitFor((e) => e.via === 'connect');
    t.equal(ev.reason === 'sni-mismatch', !c.ok, `${c.name}: event reason ${ev.reason}`);
    if (!c.ok) t.equal(ev.enforced, true, `${c.name}: enforced`);
  }
});

t.test('TLS port: a tunnel that sends no TLS is denied', async (t) => {
  const before = fx.tls.connections.total;
  await fx.quiesce();
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.tls.port}`);
  t.equal(r.status, 200);
  r.wire.socket.write('GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n');
  await r.wire.closed();
  const ev = await fx.events.waitFor((e) => e.via === 'connect');
  t.equal(ev.reason, 'sni-mismatch');
  t.equal(ev.error, 'no TLS ClientHello');
  t.equal(fx.tls.connections.total, before, 'origin never dialed');
});

t.test('TLS port: silence until the ClientHello deadline is denied', async (t) => {
  await fx.quiesce();
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.tls.port}`);
  t.equal(r.status, 200);
  await r.wire.closed();
  const ev = await fx.events.waitFor((e) => e.via === 'connect');
  t.equal(ev.reason, 'sni-mismatch');
  t.match(ev.error, /no TLS ClientHello within/);
});

t.test('TLS port: ClientHello sent together with the CONNECT request (no wait for 200)', async (t) => {
  // Capture a real ClientHello by pointing a TLS client at a socket pair we control.
  const hello = await new Promise<Buffer>((resolve) => {
    const srv = netCreateServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        srv.close();
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = tlsConnect({ host: '127.0.0.1', port, servername: 'allowed.test', rejectUnauthorized: false });
      c.on('error', () => {});
    });
  });
  const wire = await openWire(fx.addr);
  wire.socket.write(Buffer.concat([Buffer.from(`CONNECT allowed.test:${fx.tls.port} HTTP/1.1\r\nHost: x\r\n\r\n`), hello]));
  const answer = await readResponse(wire);
  t.equal(answer?.status, 200);
  // The origin answers the replayed ClientHello with its ServerHello (a TLS handshake record).
  const first = await wire.until(() => (wire.buf.length > 0 ? wire.buf[0] : null));
  t.equal(first, 0x16, 'origin answered with a TLS handshake record');
  wire.socket.destroy();
});
