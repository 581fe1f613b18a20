/**
 * An upstream (corporate) proxy for allowed traffic: cordon A decides and
 * then connects through upstream B (another cordon instance, HTTP CONNECT or
 * SOCKS5) — always asking B for the checked IP, never the name, so the
 * upstream cannot re-resolve it. Also: upstream failures and timeouts.
 */
import { createServer as netCreateServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { denyAllPolicy } from '../../src/policy/compile.js';
import { ProxyServer } from '../../src/proxy/server.js';
import { EventRecorder } from '../helpers/event-recorder.js';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel, echoThrough, getRequest, httpExchange, socks5Connect } from '../helpers/proxy-client.js';

/** A TCP server that accepts and then runs `onSocket` (a misbehaving upstream). */
async function fakeUpstream(onSocket: (s: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = netCreateServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

for (const scheme of ['http', 'socks5'] as const) {
  t.test(`through an upstream ${scheme} proxy`, async (t) => {
    const upstream: ProxyFixture = await startProxyFixture();
    t.teardown(() => upstream.close());
    const url = `${scheme}://${upstream.addr.host}:${upstream.addr.port}`;
    const fx = await startProxyFixture({ proxy: { upstreamProxy: url } });
    t.teardown(() => fx.close());

    const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
    t.equal(r.status, 200, 'CONNECT through the upstream');
    t.equal(await echoThrough(r.wire, 'via upstream'), 'via upstream');
    r.wire.socket.destroy();
    const upEv = await upstream.events.waitFor((e) => e.target.port === fx.echo.port);
    t.equal(upEv.target.host, '127.0.0.1', 'the upstream was asked for the checked IP, not the name');
    t.equal(upEv.via, scheme === 'http' ? 'connect' : 'socks5');

    const s = await socks5Connect(fx.addr, { host: 'allowed.test', port: fx.echo.port });
    t.equal(s.reply, 0x00, 'SOCKS5 client through the upstream');
    s.wire.socket.destroy();

    const h = await httpExchange(fx.addr, getRequest(`allowed.test:${fx.httpA.port}`, { path: '/up' }));
    h.wire.socket.destroy();
    t.equal(h.answer?.status, 200, 'plain HTTP through the upstream');
    const seen = JSON.parse(h.answer!.body) as { rawHeaders: string[]; url: string };
    t.equal(seen.url, '/up');
    t.equal(seen.rawHeaders[seen.rawHeaders.findIndex((x) => x.toLowerCase() === 'host') + 1], `allowed.test:${fx.httpA.port}`, 'origin still sees the Host name');

    const d = await connectTunnel(fx.addr, `pastebin.test:${fx.echo.port}`);
    t.equal(d.status, 403, 'denied traffic never reaches the upstream');
    d.wire.socket.destroy();
    t.notOk(upstream.events.network().some((e) => e.target.host === 'pastebin.test'), 'upstream saw nothing of it');
  });
}

t.test('upstream failures', async (t) => {
  const silent = await fakeUpstream(() => {});
  const refusing = await fakeUpstream((s) => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
  t.teardown(async () => {
    await silent.close();
    await refusing.close();
  });
  const cases = [
    { name: 'upstream never answers: 504', url: silent.url, status: 504 },
    { name: 'upstream refuses the CONNECT: 502', url: refusing.url, status: 502 },
  ];
  for (const c of cases) {
    const fx = await startProxyFixture({ proxy: { upstreamProxy: c.url, limits: { dialTimeoutMs: 300 } } });
    const r = await connectTunnel(fx.addr, `allowed.test:${fx.echo.port}`);
    t.equal(r.status, c.status, c.name);
    r.wire.socket.destroy();
    const s = await socks5Connect(fx.addr, { host: 'allowed.test', port: fx.echo.port });
    t.not(s.reply, 0x00, `${c.name}: SOCKS5 client gets an error reply`);
    s.wire.socket.destroy();
    await fx.close();
  }
});

t.test('unsupported upstream schemes are rejected at construction', async (t) => {
  const cp = denyAllPolicy('test');
  for (const url of ['https://proxy.corp:8443', 'socks4://proxy.corp:1080', 'http://proxy.corp:8080/path']) {
    t.throws(() => new ProxyServer({ listen: ['127.0.0.1:0'], getPolicy: () => cp, events: new EventRecorder(), upstreamProxy: url }), /upstream proxy/, url);
  }
});
