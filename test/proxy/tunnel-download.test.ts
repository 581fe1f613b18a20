/**
 * The tunnel's download direction reads the upstream into reused buffers
 * (src/proxy/pooled-read.ts): these cases check that no byte is lost,
 * reordered or overwritten while the client applies backpressure, that bytes
 * an origin sends before the tunnel is spliced (server-first protocols) still
 * arrive, that an origin's close is passed on, and that bytes are counted.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { connectTunnel } from '../helpers/proxy-client.js';

const LARGE_BYTES = 8 * 1024 * 1024;
const CLIENT_PAUSE_MS = 300;

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture({ proxy: { limits: { idleTimeoutMs: 60_000 } } });
});
t.teardown(() => fx.close());

/** A deterministic, position-dependent pattern, so a reused buffer shows up as wrong bytes. */
function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE(i, i);
  return b;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** An origin on 127.0.0.1 that sends `payload` as soon as a connection arrives, then ends. */
async function speakFirstOrigin(payload: Buffer): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => {
    s.on('error', () => {});
    s.end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { server, port: addr.port };
}

const cases = [
  { name: 'server-first banner, then the origin closes', size: 37, clientPauses: false },
  { name: 'large download to a client that stops reading (backpressure)', size: LARGE_BYTES, clientPauses: true },
  { name: 'large download to a client that keeps reading', size: LARGE_BYTES, clientPauses: false },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    await fx.quiesce();
    const payload = pattern(c.size);
    const origin = await speakFirstOrigin(payload);
    t.teardown(() => new Promise<void>((resolve) => origin.server.close(() => resolve())));
    const r = await connectTunnel(fx.addr, `127.0.0.1:${origin.port}`);
    t.equal(r.status, 200, 'tunnel accepted');
    if (c.clientPauses) {
      r.wire.socket.pause();
      await new Promise((resolve) => setTimeout(resolve, CLIENT_PAUSE_MS));
      r.wire.socket.resume();
    }
    await r.wire.closed(30_000);
    t.equal(r.wire.buf.length, c.size, 'every byte arrived');
    t.equal(sha256(r.wire.buf), sha256(payload), 'bytes arrived intact and in order');
    const ev = await fx.events.waitFor((e) => e.via === 'connect' && e.target.port === origin.port);
    t.equal(ev.bytes_down, c.size, 'event counts the downloaded bytes');
    t.equal(ev.bytes_up, 0, 'nothing was uploaded');
    t.equal(ev.error, undefined, 'no error recorded');
  });
}

// Attack: one tunnel's bytes leaking into another's through a shared read
// buffer (the pool hands buffers from closed tunnels to new ones, and bulk
// downloads cycle 1 MiB buffers). Four downloads with different patterns run
// at once, two of them through paused clients, and each must arrive intact.
t.test('concurrent large downloads never see each other’s bytes', async (t) => {
  await fx.quiesce();
  const payloads = [0, 1, 2, 3].map((k) => {
    const b = pattern(LARGE_BYTES - k * 4096);
    for (let i = 0; i < b.length; i += 4096) b[i] = 0xa0 + k; // a per-tunnel mark every page
    return b;
  });
  const origins = await Promise.all(payloads.map((p) => speakFirstOrigin(p)));
  t.teardown(() => Promise.all(origins.map((o) => new Promise<void>((resolve) => o.server.close(() => resolve())))));
  const tunnels = await Promise.all(origins.map((o) => connectTunnel(fx.addr, `127.0.0.1:${o.port}`)));
  for (const r of tunnels) t.equal(r.status, 200, 'tunnel accepted');
  tunnels[1]!.wire.socket.pause();
  tunnels[3]!.wire.socket.pause();
  await new Promise((resolve) => setTimeout(resolve, CLIENT_PAUSE_MS));
  tunnels[1]!.wire.socket.resume();
  tunnels[3]!.wire.socket.resume();
  await Promise.all(tunnels.map((r) => r.wire.closed(30_000)));
  tunnels.forEach((r, k) => {
    t.equal(r.wire.buf.length, payloads[k]!.length, `tunnel ${k}: every byte arrived`);
    t.equal(sha256(r.wire.buf), sha256(payloads[k]!), `tunnel ${k}: only its own bytes, in order`);
  });
});
