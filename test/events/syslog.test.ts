/**
 * Syslog RFC 5424 with octet-counted framing, against real peers on loopback:
 * rsyslog (Debian's rsyslogd, started by the test with its own config on a
 * free port, writing what it receives to files the test reads) for TCP, and a
 * Node TLS listener with a self-signed certificate made by openssl for tls://
 * (Debian's rsyslog build here has no TLS driver). An untrusted certificate
 * must get nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import t, { type Test } from 'tap';
import { EventPipeline } from '../../src/events/pipeline.js';
import type { SinkConfig } from '../../src/events/sink-config.js';
import { syslogFrame, syslogMessage } from '../../src/events/sinks/syslog.js';
import type { CordonEvent } from '../../src/events/types.js';
import { ALL_INPUTS, daemonInput, stampAll } from '../helpers/event-fixtures.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const WAIT_LIMIT_MS = 20_000;
const FACILITY_LOG_AUDIT = 13;

async function until(check: () => boolean | Promise<boolean>, limitMs = WAIT_LIMIT_MS): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return check();
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function pipelineTo(t: Test, sink: Partial<SinkConfig> & { url: string }, tlsCa?: string): Promise<EventPipeline> {
  const dir = await tempDir(t, 'cordon-syslog-state-');
  const pipeline = new EventPipeline({
    stateDir: dir,
    identity: { user: 'alice@acme.com', device: 'alice-mbp' },
    version: '0.3.0',
    sinks: [{ name: 'syslog', type: 'syslog', format: 'native', headers: {}, spool_max_bytes: 1 << 24, ...sink }],
    sender: { backoffBaseMs: 20, backoffMaxMs: 100, requestTimeoutMs: 2000 },
    ...(tlsCa !== undefined ? { tlsCa } : {}),
  });
  await pipeline.start();
  t.teardown(() => pipeline.close());
  return pipeline;
}

async function delivered(pipeline: EventPipeline): Promise<boolean> {
  await pipeline.sync();
  return until(() => pipeline.sinkStatus()[0]!.queued === 0);
}

/** Splits an octet-counted stream into messages; throws on a framing error. */
function parseOctetCounted(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lenText = data.toString('ascii', at, space);
    if (space < 0 || !/^[1-9]\d*$/.test(lenText)) throw new Error(`bad frame length at byte ${at}: ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    if (space + 1 + len > data.length) throw new Error(`frame at byte ${at} runs past the data`);
    out.push(data.toString('utf8', space + 1, space + 1 + len));
    at = space + 1 + len;
  }
  return out;
}

const EXPECTED_SEVERITY: Record<string, number> = {
  'network deny (enforced)': 4,
  'network deny (audit)': 5,
  'network allow, closed with bytes': 6,
  'network invalid target': 4,
  'mount allow with mask': 6,
  'policy rejected': 4,
  'daemon start': 6,
};

t.test('message format (RFC 5424) and octet-counted frame', async (t) => {
  for (const { name, event } of stampAll()) {
    const msg = syslogMessage(event, 'native', '0.3.0');
    const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (.*)$/s.exec(msg);
    t.ok(m !== null, `${name}: header has PRI, VERSION and six fields`);
    if (m === null) continue;
    t.equal(Number(m[1]), FACILITY_LOG_AUDIT * 8 + EXPECTED_SEVERITY[name]!, `${name}: PRI = log audit * 8 + severity`);
    t.equal(m[2], event.time, `${name}: TIMESTAMP is the event time`);
    t.equal(m[3], 'alice-mbp', `${name}: HOSTNAME is the device`);
    t.equal(m[4], 'cordon', `${name}: APP-NAME`);
    t.equal(m[5], '-', `${name}: PROCID nil`);
    t.equal(m[6], event.kind, `${name}: MSGID is the kind`);
    t.equal(m[7], '-', `${name}: no STRUCTURED-DATA`);
    t.ok(/^[\x20-\x7e]*$/.test(m[8]!), `${name}: MSG is printable ASCII`);
    t.same(JSON.parse(m[8]!), event, `${name}: MSG is the event JSON`);
    const frame = syslogFrame(msg);
    t.same(parseOctetCounted(Buffer.from(frame)), [msg], `${name}: frame length is the byte length`);
  }
});

t.test('a device name with spaces or non-ASCII becomes a valid HOSTNAME', async (t) => {
  const [base] = stampAll();
  const event = { ...base!.event, device: 'Alice’s MacBook Pro' } as CordonEvent;
  const host = syslogMessage(event, 'native', 'x').split(' ')[2];
  t.equal(host, 'Alice-s-MacBook-Pro', 'PRINTUSASCII only');
});

t.test('rsyslog receives and parses every event (TCP, octet counting)', async (t) => {
  if (!existsSync(RSYSLOGD)) {
    t.fail(`${RSYSLOGD} not found: install Debian's rsyslog (.ci/run does)`);
    return;
  }
  const dir = await tempDir(t, 'cordon-rsyslog-');
  const port = await freePort();
  const raw = join(dir, 'raw.log');
  const fields = join(dir, 'fields.log');
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(
    conf,
    [
      `global(workDirectory="${dir}" maxMessageSize="64k" net.enableDNS="off")`,
      'module(load="imtcp")',
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      'template(name="fields" type="string" string="%pri%|%syslogfacility%|%syslogseverity%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n")',
      'ruleset(name="cordon") {',
      `  action(type="omfile" file="${raw}" template="raw")`,
      `  action(type="omfile" file="${fields}" template="fields")`,
      '}',
      `input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="cordon")`,
      '',
    ].join('\n'),
  );
  const rsyslog = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let rsyslogOutput = '';
  rsyslog.stdout.on('data', (c: Buffer) => (rsyslogOutput += c.toString()));
  rsyslog.stderr.on('data', (c: Buffer) => (rsyslogOutput += c.toString()));
  const exited = new Promise<void>((resolve) => rsyslog.on('exit', () => resolve()));
  t.teardown(async () => {
    rsyslog.kill('SIGTERM');
    await exited;
  });
  const listening = await until(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
  );
  t.ok(listening, 'rsyslogd listens on the test port', { rsyslogOutput });

  const pipeline = await pipelineTo(t, { url: `tcp://127.0.0.1:${port}` });
  const emitted = ALL_INPUTS.map((c) => ({ name: c.name, event: pipeline.emit(c.input()) }));
  t.ok(await delivered(pipeline), 'sink drained');
  const readLines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  const arrived = await until(async () => (await readLines(fields)).length >= emitted.length && (await readLines(raw)).length >= emitted.length);
  t.ok(arrived, 'rsyslog wrote every message', { rsyslogOutput });
  const rawLines = await readLines(raw);
  const fieldLines = await readLines(fields).then((ls) => ls.map((l) => l.split('|')));
  for (const { name, event } of emitted) {
    const expected = syslogMessage(event, 'native', '0.3.0');
    t.ok(rawLines.includes(expected), `${name}: rsyslog's raw message is exactly ours (framing intact)`);
    const row = fieldLines.find((f) => f.slice(9).join('|').includes(event.id));
    t.ok(row !== undefined, `${name}: parsed by rsyslog`);
    if (row === undefined) continue;
    const [pri, facility, severity, ts, host, app, procid, msgid, sd] = row;
    const msg = row.slice(9).join('|');
    t.equal(Number(pri), FACILITY_LOG_AUDIT * 8 + EXPECTED_SEVERITY[name]!, `${name}: PRI`);
    t.equal(Number(facility), FACILITY_LOG_AUDIT, `${name}: facility log audit`);
    t.equal(Number(severity), EXPECTED_SEVERITY[name], `${name}: severity`);
    t.equal(Date.parse(ts!), Date.parse(event.time), `${name}: timestamp`);
    t.equal(host, 'alice-mbp', `${name}: hostname`);
    t.equal(app, 'cordon', `${name}: app-name`);
    t.equal(procid, '-', `${name}: procid`);
    t.equal(msgid, event.kind, `${name}: msgid`);
    t.equal(sd, '-', `${name}: structured-data`);
    t.same(JSON.parse(msg.trim()), event, `${name}: MSG is the event`);
  }
});

interface TlsListener {
  server: Server;
  port: number;
  messages: string[];
  errors: string[];
  connections: number;
}

async function tlsListener(t: Test, dir: string): Promise<{ listener: TlsListener; cert: string }> {
  const key = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certPath, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  const cert = await readFile(certPath, 'utf8');
  const listener: TlsListener = { server: null as unknown as Server, port: 0, messages: [], errors: [], connections: 0 };
  const sockets = new Set<Socket>();
  const server = createTlsServer({ key: await readFile(key), cert }, (socket) => {
    listener.connections++;
    sockets.add(socket);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Consume whole frames only.
      for (;;) {
        const space = buffered.indexOf(0x20);
        if (space < 0) break;
        const len = Number(buffered.toString('ascii', 0, space));
        if (!Number.isSafeInteger(len) || len <= 0) {
          listener.errors.push(`bad length ${buffered.toString('ascii', 0, space)}`);
          socket.destroy();
          return;
        }
        if (buffered.length < space + 1 + len) break;
        listener.messages.push(...parseOctetCounted(buffered.subarray(0, space + 1 + len)));
        buffered = buffered.subarray(space + 1 + len);
      }
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', (err) => listener.errors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  listener.server = server;
  listener.port = (server.address() as AddressInfo).port;
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { listener, cert };
}

t.test('tls:// delivers to a listener whose certificate is trusted', async (t) => {
  const dir = await tempDir(t, 'cordon-tls-');
  const { listener, cert } = await tlsListener(t, dir);
  const pipeline = await pipelineTo(t, { url: `tls://127.0.0.1:${listener.port}`, format: 'ocsf' }, cert);
  const events = [pipeline.emit(ALL_INPUTS[0]!.input()), pipeline.emit(ALL_INPUTS[4]!.input())];
  t.ok(await delivered(pipeline), 'sink drained');
  t.ok(await until(() => listener.messages.length >= events.length), 'listener received both frames');
  t.same(listener.errors, [], 'no framing or TLS errors');
  const bodies = listener.messages.map((m) => JSON.parse(m.slice(m.indexOf('{'))) as { class_uid: number; metadata: { uid: string } });
  t.same(
    bodies.map((b) => b.metadata.uid),
    events.map((e) => e.id),
    'OCSF bodies for both events, in order',
  );
  t.same(
    bodies.map((b) => b.class_uid),
    [4001, 1001],
    'Network Activity and File System Activity',
  );
});

t.test('attack: a listener with an untrusted (self-signed) certificate gets nothing', async (t) => {
  const dir = await tempDir(t, 'cordon-tls-mitm-');
  const { listener } = await tlsListener(t, dir);
  const pipeline = await pipelineTo(t, { url: `tls://127.0.0.1:${listener.port}` });
  pipeline.emit(daemonInput(1));
  await pipeline.sync();
  t.ok(await until(() => pipeline.sinkStatus()[0]!.last_error !== null), 'the sink reports an error');
  t.match(pipeline.sinkStatus()[0]!.last_error, /self[- ]signed|certificate/i, 'the error is about the certificate');
  t.same(listener.messages, [], 'no event reached the untrusted listener');
  t.ok(pipeline.sinkStatus()[0]!.queued >= 1, 'the event stays spooled for when trust is fixed');
});

t.test('a connection the peer closed is replaced before the next batch', async (t) => {
  const received: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    const mine = connections;
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        const msgs = parseOctetCounted(buffered);
        received.push(...msgs);
        buffered = Buffer.alloc(0);
        if (mine === 1) socket.end(); // the first connection is closed by the peer after one batch
      } catch {
        // wait for the rest of the frame
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const pipeline = await pipelineTo(t, { url: `tcp://127.0.0.1:${port}` });
  const first = pipeline.emit(daemonInput(1));
  t.ok(await delivered(pipeline), 'first batch sent');
  t.ok(await until(() => received.length >= 1 && sockets.size === 0), 'peer received it and closed the connection');
  // Give the client a moment to see the FIN before the next batch (plain syslog has no acks).
  await new Promise((r) => setTimeout(r, 100));
  const second = pipeline.emit(daemonInput(2));
  t.ok(await delivered(pipeline), 'second batch sent');
  t.ok(await until(() => received.length >= 2), 'second event received');
  t.equal(connections, 2, 'on a new connection');
  t.ok(received[0]!.includes(first.id) && received[1]!.includes(second.id), 'both events, in order');
});
