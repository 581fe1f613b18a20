/**
 * SOCKS5 through the real proxy on the shared port: method negotiation,
 * CONNECT replies for allowed / denied / invalid / unreachable targets,
 * unsupported commands and address types, SOCKS4 refusal, the SNI gate on
 * TLS ports, bounded handshake buffering and the handshake deadline.
 */
import { createServer as netCreateServer } from 'node:net';
import t from 'tap';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { echoThrough, openWire, socks5Connect, tlsOverTunnel } from '../helpers/proxy-client.js';

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture({ proxy: { limits: { headerTimeoutMs: 600, clientHelloTimeoutMs: 700 } } });
});
t.teardown(() => fx.close());

t.test('CONNECT replies', async (t) => {
  const e = fx.echo.port;
  const cases = [
    { name: 'allowed domain', target: { host: 'allowed.test', port: e }, reply: 0x00 },
    { name: 'allowed IPv4 address', target: { host: '127.0.0.1', port: e, atyp: 'ipv4' as const }, reply: 0x00 },
    { name: 'IPv4-mapped IPv6 of an allowed address', target: { host: '::ffff:7f00:1', port: e, atyp: 'ipv6' as const }, reply: 0x00 },
    { name: 'guardrails-denied domain', target: { host: 'pastebin.test', port: e }, reply: 0x02, reason: 'rule' },
    { name: 'default-denied domain', target: { host: 'other.test', port: e }, reply: 0x02, reason: 'default' },
    { name: 'special-range IPv4', target: { host: '127.0.0.2', port: e, atyp: 'ipv4' as const }, reply: 0x02, reason: 'special-range' },
    { name: 'IPv6 loopback', target: { host: '::1', port: e, atyp: 'ipv6' as const }, reply: 0x02, reason: 'special-range' },
    { name: 'domain resolving into a special range', target: { host: 'private.allowed.test', port: e }, reply: 0x02, reason: 'special-range' },
    { name: 'invalid domain (empty label)', target: { host: 'a..allowed.test', port: e }, reply: 0x02, reason: 'invalid-target' },
    { name: 'domain that is not UTF-8', target: { host: Buffer.from([0xff, 0xfe, 0x2e, 0x74]), port: e }, reply: 0x02, reason: 'invalid-target' },
    { name: 'port 0', target: { host: 'allowed.test', port: 0 }, reply: 0x02, reason: 'invalid-target' },
    { name: 'unresolvable domain', target: { host: 'nxdomain.allowed.test', port: e }, reply: 0x04, reason: 'unresolvable' },
  ];
  for (const c of cases) {
    await fx.quiesce();
    const r = await socks5Connect(fx.addr, c.target);
    t.equal(r.method, 0x00, `${c.name}: no-auth chosen`);
    t.equal(r.reply, c.reply, `${c.name}: reply 0x0${c.reply}`);
    if (c.reply === 0x00) {
      t.equal(r.bound?.address, '127.0.0.1', `${c.name}: bound address is the proxy's outgoing address`);
      t.equal(await echoThrough(r.wire, 'hi'), 'hi', `${c.name}: tunnel works`);
    } else {
      const ev = await fx.events.waitFor((ev) => ev.via === 'socks5');
      t.equal(ev.reason, c.reason, `${c.name}: event reason`);
    }
    r.wire.socket.destroy();
  }
  t.equal(fx.echoVictim.connections.total, 0, 'nothing reached 127.0.0.2');
});

t.test('connection refused maps to 0x05', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const srv = netCreateServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const r = await socks5Connect(fx.addr, { host: '127.0.0.1', port, atyp: 'ipv4' });
  t.equal(r.reply, 0x05);
  r.wire.socket.destroy();
});

t.test('BIND and UDP ASSOCIATE are refused with 0x07', async (t) => {
  for (const [name, command] of [['BIND', 0x02], ['UDP ASSOCIATE', 0x03]] as const) {
    const r = await socks5Connect(fx.addr, { host: 'allowed.test', port: fx.echo.port, command });
    t.equal(r.reply, 0x07, `${name}: command not supported`);
    await r.wire.closed();
  }
});

t.test('unknown address type gets 0x08', async (t) => {
  const wire = await openWire(fx.addr);
  wire.socket.write(Buffer.from([0x05, 0x01, 0x00]));
  await wire.until(() => (wire.buf.length >= 2 ? true : null));
  wire.take(2);
  wire.socket.write(Buffer.from([0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0, 80]));
  const reply = await wire.until(() => (wire.buf.length >= 2 ? wire.buf[1] : null));
  t.equal(reply, 0x08);
  await wire.closed();
});

t.test('no acceptable method (only GSSAPI offered) gets 0xFF', async (t) => {
  const r = await socks5Connect(fx.addr, { host: 'allowed.test', port: 1 }, { methods: [0x01] });
  t.equal(r.method, 0xff);
  await r.wire.closed();
});

t.test('SOCKS4 is refused with 0x5B', async (t) => {
  const wire = await openWire(fx.addr);
  const req = Buffer.from([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00]);
  wire.socket.write(req);
  const reply = await wire.until(() => (wire.buf.length >= 8 ? wire.take(8) : null));
  t.same([...reply!], [0x00, 0x5b, 0, 0, 0, 0, 0, 0]);
  await wire.closed();
});

t.test('greeting, login and request in one write (optimistic client)', async (t) => {
  const wire = await openWire(fx.addr);
  const name = Buffer.from('allowed.test');
  const port = Buffer.alloc(2);
  port.writeUInt16BE(fx.echo.port);
  wire.socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, name.length]), name, port, Buffer.from('early')]));
  const head = await wire.until(() => (wire.buf.length >= 12 ? wire.take(12) : null));
  t.equal(head![1], 0x00, 'method no-auth');
  t.equal(head![3], 0x00, 'CONNECT succeeded');
  const echoed = await wire.until(() => (wire.buf.length >= 5 ? wire.take(5).toString() : null));
  t.equal(echoed, 'early', 'data sent before the reply was forwarded, not lost');
  wire.socket.destroy();
});

t.test('TLS port over SOCKS5: SNI must match (domain fronting refused here too)', async (t) => {
  const cases = [
    { name: 'matching SNI', sni: 'allowed.test', ok: true },
    { name: 'fronted SNI', sni: 'pastebin.test', ok: false },
    { name: 'missing SNI', sni: undefined, ok: false },
  ];
  for (const c of cases) {
    await fx.quiesce();
    const before = fx.tls.connections.total;
    const r = await socks5Connect(fx.addr, { host: 'allowed.test', port: fx.tls.port });
    t.equal(r.reply, 0x00, `${c.name}: accepted before the ClientHello`);
    t.same(r.bound, { address: '0.0.0.0', port: 0 }, `${c.name}: bound address unknown before dialing`);
    const tls = await tlsOverTunnel(r.wire, { servername: c.sni, ca: fx.cert.cert });
    t.equal(tls.ok, c.ok, `${c.name}: handshake`);
    if (!c.ok) t.equal(fx.tls.connections.total, before, `${c.name}: origin never dialed`);
    tls.socket.destroy();
    const ev = await fx.events.waitFor((e) => e.via === 'socks5');
    t.equal(ev.reason === 'sni-mismatch', !c.ok, `${c.name}: event reason ${ev.reason}`);
  }
});

t.test('a handshake that stalls is closed at the deadline', async (t) => {
  const wire = await openWire(fx.addr);
  wire.socket.write(Buffer.from([0x05, 0x02, 0x00]));
  await wire.closed();
  t.equal(wire.buf.length, 0, 'closed without a method choice (greeting incomplete)');
});

t.test('an oversized handshake is not buffered', async (t) => {
  const wire = await openWire(fx.addr);
  // A greeting followed by 4 KiB that is no valid request: more than any handshake message.
  wire.socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), Buffer.alloc(4096, 0x07)]));
  await wire.closed();
  t.ok(wire.buf.length <= 2, 'closed with at most a method choice, never a CONNECT reply');
});
