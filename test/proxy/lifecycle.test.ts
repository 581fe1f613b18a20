/**
 * The proxy as a long-running listener: loopback-only by default, Unix
 * socket and SOCKS5-only listeners, the connection cap, graceful drain,
 * counters, and 1,000 concurrent tunnels without leaking a file descriptor.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createResolver } from '../../src/proxy/resolver.js';
import { ProxyServer } from '../../src/proxy/server.js';
import { EventRecorder } from '../helpers/event-recorder.js';
import { compileYaml, startProxyFixture, testPolicyYaml, waitUntil } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, openWire, readResponse, socks5Connect, type Wire } from '../helpers/proxy-client.js';

const TUNNELS = 1_000;
/** Tunnels opened at once while building up the 1,000 (bounded so the test does not flood the backlog). */
const TUNNEL_BATCH = 100;

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function basicOptions() {
  const cp = compileYaml(testPolicyYaml({ echo: 1, http: 1, tls: 1 }));
  return { getPolicy: () => cp, events: new EventRecorder(), resolver: createResolver({ server: '127.0.0.1:9', timeoutMs: 200 }) };
}

t.test('listen addresses: loopback only unless explicitly allowed', async (t) => {
  const cases = [
    { name: 'all interfaces', listen: '0.0.0.0:0' },
    { name: 'IPv6 any', listen: '[::]:0' },
    { name: 'a LAN-looking address', listen: '192.168.1.10:0' },
  ];
  for (const c of cases) {
    const p = new ProxyServer({ ...basicOptions(), listen: [c.listen] });
    await t.rejects(p.listen(), /refusing to listen on .*not a loopback address/, `${c.name}: refused without the flag`);
  }
  const invalid = ['localhost', 'example.com:3128', '127.0.0.1:99999', '127.0.0.1:03128', ':3128'];
  for (const listen of invalid) {
    const p = new ProxyServer({ ...basicOptions(), listen: [listen] });
    await t.rejects(p.listen(), /invalid listen address/, `'${listen}' is rejected`);
  }
  const warnings: object[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (o: object) => warnings.push(o) };
  const p = new ProxyServer({ ...basicOptions(), listen: ['0.0.0.0:0'], allowNonLoopback: true, logger });
  await p.listen();
  t.equal(p.addresses()[0].host, '0.0.0.0', 'listens when allowed');
  t.equal(warnings.length, 1, 'and logs a warning');
  await p.close();
  const l = new ProxyServer({ ...basicOptions(), listen: ['localhost:0', '[::1]:0'] });
  await l.listen();
  t.same(l.addresses().map((a) => a.host), ['127.0.0.1', '::1'], 'localhost and ::1 are loopback');
  t.match(l.addresses()[1].address, /^\[::1\]:\d+$/);
  await l.close();
});

t.test('Unix socket listener speaks all three protocols; SOCKS5-only listener speaks only SOCKS5', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'proxy.sock');
  const fx = await startProxyFixture({ proxy: { listen: ['127.0.0.1:0', path], socksListen: ['127.0.0.1:0'] } });
  t.teardown(() => fx.close());
  const infos = fx.proxy.addresses();
  t.same(infos.map((i) => [i.kind, i.protocols]), [['tcp', 'all'], ['unix', 'all'], ['tcp', 'socks5']]);
  t.equal(statSync(path).mode & 0o777, 0o660, 'socket file mode 0660');

  const c = await connectTunnel({ path }, `allowed.test:${fx.echo.port}`);
  t.equal(c.status, 200, 'CONNECT over the Unix socket');
  t.equal(await echoThrough(c.wire, 'unix'), 'unix');
  c.wire.socket.destroy();
  const w = await openWire({ path });
  w.socket.write(getRequest(`allowed.test:${fx.httpA.port}`));
  t.equal((await readResponse(w))?.status, 200, 'plain HTTP over the Unix socket');
  w.socket.destroy();

  const socksOnly = { host: infos[2].host!, port: infos[2].port! };
  const s = await socks5Connect(socksOnly, { host: 'allowed.test', port: fx.echo.port });
  t.equal(s.reply, 0x00, 'SOCKS5 on the SOCKS-only port');
  s.wire.socket.destroy();
  const h = await httpExchange(socksOnly, getRequest(`allowed.test:${fx.httpA.port}`));
  t.equal(h.answer, null, 'HTTP on the SOCKS-only port is closed without an answer');

  const second = new ProxyServer({ ...basicOptions(), listen: [path] });
  await t.rejects(second.listen(), /EADDRINUSE/, 'a live socket is never taken over');
});

t.test('a stale Unix socket file left by a crash is replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'stale.sock');
  // A process killed hard leaves its socket file behind with nobody listening.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('up'))`]);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.ok(statSync(path).isSocket(), 'stale socket file exists');
  const p = new ProxyServer({ ...basicOptions(), listen: [path] });
  await p.listen();
  t.equal(p.addresses()[0].path, path, 'listening on the reclaimed path');
  await p.close();
});

t.test('connection cap: excess connections are closed at once', async (t) => {
  const fx = await startProxyFixture({ proxy: { limits: { maxConnections: 3, headerTimeoutMs: 5_000 } } });
  t.teardown(() => fx.close());
  const held: Wire[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
    t.equal(r.status, 200, `tunnel ${i + 1} of 3`);
    held.push(r.wire);
  }
  const extra = await openWire(fx.addr);
  extra.socket.write(getRequest(`allowed.test:${fx.httpA.port}`));
  await extra.closed();
  t.equal(extra.buf.length, 0, 'the fourth connection was closed without an answer');
  t.equal(fx.proxy.stats().connectionsRejected, 1, 'counted as rejected');
  held[0].socket.destroy();
  await waitUntil(() => fx.proxy.stats().connectionsOpen === 2, 'a slot to free up');
  const again = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(again.status, 200, 'a freed slot is usable again');
  for (const w of [...held, again.wire]) w.socket.destroy();
});

t.test('graceful drain: stop accepting, let tunnels finish, close idle keep-alive', async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  const tunnel = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(tunnel.status, 200);
  const idle = await openWire(fx.addr);
  idle.socket.write(getRequest(`allowed.test:${fx.httpA.port}`));
  t.equal((await readResponse(idle))?.status, 200, 'keep-alive connection served');

  let drained = false;
  const draining = fx.proxy.drain(10_000).then(() => {
    drained = true;
  });
  await idle.closed();
  t.pass('idle keep-alive connection closed by the drain');
  await t.rejects(openWire(fx.addr), /ECONNREFUSED/, 'no new connections accepted');
  t.equal(await echoThrough(tunnel.wire, 'during drain'), 'during drain', 'open tunnel keeps working');
  t.equal(drained, false, 'drain waits for the tunnel');
  tunnel.wire.socket.end();
  await draining;
  t.equal(fx.proxy.stats().connectionsOpen, 0, 'drain finished once the tunnel closed');
});

t.test('drain deadline: tunnels still open at the deadline are closed', async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  const tunnel = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(tunnel.status, 200);
  await fx.proxy.drain(200);
  await tunnel.wire.closed();
  t.pass('tunnel closed at the deadline');
  await waitUntil(() => fx.echo.connections.open === 0, 'origin side closed');
  t.pass('origin side closed too');
});

t.test('idle tunnels are closed after the idle timeout', async (t) => {
  const fx = await startProxyFixture({ proxy: { limits: { idleTimeoutMs: 300 } } });
  t.teardown(() => fx.close());
  const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  t.equal(await echoThrough(r.wire, 'then silence'), 'then silence');
  await r.wire.closed();
  const ev = await fx.events.waitFor((e) => e.via === 'connect');
  t.match(ev.error, /idle for 300 ms/, 'the record says why it closed');
  await waitUntil(() => fx.echo.connections.open === 0, 'origin side closed');
  t.pass('origin side closed too');
});

t.test('counters', async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  const a = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
  await echoThrough(a.wire, '12345');
  a.wire.socket.destroy();
  const d = await connectTunnel(fx.addr, `pastebin.test:${fx.echo.port}`);
  d.wire.socket.destroy();
  const i = await connectTunnel(fx.addr, `a..b:${fx.echo.port}`);
  i.wire.socket.destroy();
  await waitUntil(() => fx.proxy.stats().connectionsOpen === 0, 'connections to close');
  const s = fx.proxy.stats();
  t.same(s.decisions, { allowed: 1, denied: 1, audited: 0, invalid: 1 });
  t.equal(s.bytesUp, 5);
  t.equal(s.bytesDown, 5);
  t.equal(s.connectionsTotal, 3);
  t.equal(s.tunnelsOpen, 0);
});

t.test(`${TUNNELS} concurrent tunnels, then no leaked file descriptors`, async (t) => {
  const fx = await startProxyFixture();
  t.teardown(() => fx.close());
  // Warm up once so lazily created handles (DNS, timers) are in the baseline.
  const warm = await connectTunnel(fx.addr, `127.0.0.1:${fx.echo.port}`);
  await echoThrough(warm.wire, 'w');
  warm.wire.socket.destroy();
  await waitUntil(() => fx.proxy.stats().connectionsOpen === 0 && fx.echo.connections.open === 0, 'warm-up to close');
  const before = fdCount();

  const wires: Wire[] = [];
  for (let i = 0; i < TUNNELS; i += TUNNEL_BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(TUNNEL_BATCH, TUNNELS - i) }, async (_, j) => {
        const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
        if (r.status !== 200) throw new Error(`tunnel ${i + j}: status ${r.status}`);
        return r.wire;
      }),
    );
    wires.push(...batch);
  }
  t.equal(fx.proxy.stats().tunnelsOpen, TUNNELS, `${TUNNELS} tunnels open at once`);
  t.equal(fx.echo.connections.open, TUNNELS, 'each with its own origin connection');
  const echoes = await Promise.all(wires.map((w, k) => echoThrough(w, `t${k};`)));
  t.equal(echoes.filter((e, k) => e === `t${k};`).length, TUNNELS, 'every tunnel carries its own bytes');
  for (const w of wires) w.socket.destroy();
  await waitUntil(() => fx.proxy.stats().connectionsOpen === 0 && fx.proxy.stats().tunnelsOpen === 0, 'all tunnels to close', 20_000);
  await waitUntil(() => fx.echo.connections.open === 0, 'all origin connections to close', 20_000);
  await waitUntil(() => fdCount() <= before, `fd count to return to ${before} (now ${fdCount()})`, 10_000);
  t.ok(fdCount() <= before, `fds after (${fdCount()}) <= before (${before})`);
  const events = fx.events.network().filter((e) => e.via === 'connect' && e.target.host === 'allowed.test');
  t.equal(events.length, TUNNELS, 'one event per tunnel');
});
