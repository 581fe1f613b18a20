/**
 * `cordon run --proxy-socket PATH`: the same proxy (absolute-URI HTTP,
 * CONNECT, SOCKS5) on a Unix socket — what `cordon exec` bridges into the
 * sandbox. Raw clients send the same requests over the TCP port and over the
 * socket and must get the same answers; credentials on the socket attribute
 * traffic to the session. Needs no bubblewrap.
 */
import t from 'tap';
import { rmSync, statSync } from 'node:fs';
import type { CordonEvent, NetworkEvent } from '../../src/events/types.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { startHttpOrigin, type HttpOrigin } from '../helpers/origins.js';
import { connectTunnel, getRequest, openWire, readResponse, type Wire } from '../helpers/proxy-client.js';
import { waitUntil } from '../helpers/exec-run.js';

const SOCKET_MODE = 0o660;
const SOCKS_REPLY_OK = 0x00;
const SOCKS_REPLY_NOT_ALLOWED = 0x02;

const POLICY = `version: 1
name: proxy-socket-it
mode: enforce
guardrails:
  network:
    rules:
      - name: blocked site
        deny: [blocked.test]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: test origin
          allow: [allowed.test]
        - name: loopback origin address
          allow: [127.0.0.1]
`;

let daemon: TestDaemon;
let dns: DnsResponder;
let origin: HttpOrigin;

t.before(async () => {
  origin = await startHttpOrigin({ label: 'origin' });
  dns = await startDnsResponder({ 'allowed.test': { addresses: ['127.0.0.1'] }, 'blocked.test': { addresses: ['127.0.0.1'] } });
  daemon = await startDaemon({ policyText: POLICY, proxySocket: true, args: ['--resolver', dns.server] });
});
t.teardown(async () => {
  await daemon?.stop();
  if (daemon !== undefined) rmSync(daemon.dir, { recursive: true, force: true });
  await origin?.close();
  await dns?.close();
});

type Address = { host: string; port: number } | { path: string };

function transports(): { name: string; addr: Address }[] {
  const [host, port] = [daemon.proxy.slice(0, daemon.proxy.lastIndexOf(':')), Number(daemon.proxy.slice(daemon.proxy.lastIndexOf(':') + 1))];
  return [
    { name: 'TCP port', addr: { host, port } },
    { name: 'Unix socket', addr: { path: daemon.proxySocket as string } },
  ];
}

/** SOCKS5 greeting (no auth) + CONNECT to a domain; returns the reply code (null when closed first) and the wire. */
async function socks5Domain(addr: Address, host: string, port: number): Promise<{ reply: number | null; wire: Wire }> {
  const wire = await openWire(addr);
  wire.socket.write(Buffer.from([0x05, 0x01, 0x00]));
  const choice = await wire.until(() => (wire.buf.length >= 2 ? wire.take(2) : null));
  if (choice === null || choice[1] !== 0x00) return { reply: null, wire };
  const name = Buffer.from(host, 'ascii');
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  wire.socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, portBytes]));
  const head = await wire.until(() => (wire.buf.length >= 10 ? wire.take(10) : null));
  return { reply: head === null ? null : (head[1] ?? null), wire };
}

/** Sends a GET through an open tunnel and returns the status. */
async function getThrough(wire: Wire): Promise<number | null> {
  wire.socket.write(`GET /through HTTP/1.1\r\nHost: allowed.test:${origin.port}\r\nConnection: close\r\n\r\n`);
  const answer = await readResponse(wire);
  return answer?.status ?? null;
}

t.test('the Unix socket listener exists with the daemon-socket mode and is reported in status', async (t) => {
  const st = statSync(daemon.proxySocket as string);
  t.ok(st.isSocket(), 'a socket file');
  t.equal(st.mode & 0o777, SOCKET_MODE, 'mode 0660: only the owner and its group can use the proxy socket');
  t.equal((await daemon.client.status()).listeners.proxy_socket, daemon.proxySocket);
});

t.test('same answers on the TCP port and on the Unix socket', async (t) => {
  const cases: { name: string; run: (addr: Address) => Promise<string> }[] = [
    {
      name: 'absolute-URI GET, allowed name',
      run: async (addr) => {
        const wire = await openWire(addr);
        wire.socket.write(getRequest(`allowed.test:${origin.port}`, { headers: ['Connection: close'] }));
        const a = await readResponse(wire);
        wire.socket.destroy();
        return `${a?.status} ${a === null ? '' : (JSON.parse(a.body) as { origin: string }).origin}`;
      },
    },
    {
      name: 'absolute-URI GET, denied name',
      run: async (addr) => {
        const wire = await openWire(addr);
        wire.socket.write(getRequest(`blocked.test:${origin.port}`, { headers: ['Connection: close'] }));
        const a = await readResponse(wire);
        wire.socket.destroy();
        return `${a?.status} ${a?.headers['x-cordon-reason']}`;
      },
    },
    {
      name: 'CONNECT, allowed name, then HTTP through the tunnel',
      run: async (addr) => {
        const tunnel = await connectTunnel(addr, `allowed.test:${origin.port}`);
        const through = tunnel.status === 200 ? await getThrough(tunnel.wire) : null;
        tunnel.wire.socket.destroy();
        return `${tunnel.status} ${through}`;
      },
    },
    {
      name: 'CONNECT, denied name',
      run: async (addr) => {
        const tunnel = await connectTunnel(addr, `blocked.test:${origin.port}`);
        tunnel.wire.socket.destroy();
        return `${tunnel.status} ${tunnel.headers['x-cordon-reason']}`;
      },
    },
    {
      name: 'SOCKS5 CONNECT, allowed name, then HTTP through the tunnel',
      run: async (addr) => {
        const s = await socks5Domain(addr, 'allowed.test', origin.port);
        const through = s.reply === SOCKS_REPLY_OK ? await getThrough(s.wire) : null;
        s.wire.socket.destroy();
        return `${s.reply} ${through}`;
      },
    },
    {
      name: 'SOCKS5 CONNECT, denied name',
      run: async (addr) => {
        const s = await socks5Domain(addr, 'blocked.test', origin.port);
        s.wire.socket.destroy();
        return `${s.reply}`;
      },
    },
  ];
  const want = ['200 origin', '403 rule', '200 200', '403 rule', `${SOCKS_REPLY_OK} 200`, `${SOCKS_REPLY_NOT_ALLOWED}`];
  const [tcp, unix] = transports();
  for (const [i, c] of cases.entries()) {
    const overTcp = await c.run(tcp!.addr);
    const overUnix = await c.run(unix!.addr);
    t.equal(overUnix, want[i], `${c.name}: Unix socket answer`);
    t.equal(overUnix, overTcp, `${c.name}: same as on the TCP port`);
  }
});

t.test('session credentials on the Unix socket attribute the traffic to the session', async (t) => {
  const session = await daemon.client.createSession({ agent: 'socket-test' });
  t.teardown(() => daemon.client.deleteSession(session.id).catch(() => undefined));
  const auth = Buffer.from(`${session.id}:${session.secret}`).toString('base64');
  const cases: { name: string; header: string; status: number; labels: Record<string, string> }[] = [
    { name: 'valid credentials', header: `Proxy-Authorization: Basic ${auth}`, status: 200, labels: { agent: 'socket-test' } },
    { name: 'no credentials: anonymous', header: 'X-None: 1', status: 200, labels: {} },
  ];
  for (const c of cases) {
    const path = `/labels-${c.name.replace(/\W+/g, '-')}`;
    const wire = await openWire({ path: daemon.proxySocket as string });
    wire.socket.write(getRequest(`allowed.test:${origin.port}`, { path, headers: [c.header, 'Connection: close'] }));
    const a = await readResponse(wire);
    wire.socket.destroy();
    t.equal(a?.status, c.status, `${c.name}: status`);
    let event: NetworkEvent | undefined;
    const found = await waitUntil(async () => {
      const { events } = await daemon.client.events(200);
      event = events.find((e: CordonEvent): e is NetworkEvent => e.kind === 'network' && e.http?.path === path);
      return event !== undefined;
    }, 200);
    t.ok(found, `${c.name}: an event was recorded`);
    t.same(event?.session.labels, c.labels, `${c.name}: labels`);
  }
});
