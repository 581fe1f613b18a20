/**
 * HTTP JSON batch sinks on the wire: generic NDJSON, and Splunk HEC (envelope
 * {time, host, source, sourcetype, event}, `Authorization: Splunk <token>`),
 * checked by a collector of our own through the whole pipeline. A native
 * NDJSON sink posts the spooled bytes themselves; OCSF and HEC still build
 * their records from the events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EventPipeline } from '../../src/events/pipeline.js';
import { SinkSender } from '../../src/events/sender.js';
import type { SinkConfig } from '../../src/events/sink-config.js';
import { HttpBatchTransport } from '../../src/events/sinks/http.js';
import { Spool } from '../../src/events/spool.js';
import type { CordonEvent } from '../../src/events/types.js';
import { EventCollector, ndjsonIds } from '../helpers/event-collector.js';
import { ALL_INPUTS, stampedEvents } from '../helpers/event-fixtures.js';

const WAIT_LIMIT_MS = 20_000;
const HEC_TOKEN = 'Splunk 6f1c0e7a-1111-4c2b-9d8e-000000000042';

async function deliverAll(t: Test, sink: (collector: EventCollector) => SinkConfig): Promise<{ collector: EventCollector; emitted: CordonEvent[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-http-sink-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const collector = await EventCollector.start();
  t.teardown(() => collector.close());
  const pipeline = new EventPipeline({
    stateDir: dir,
    identity: { user: 'alice@acme.com', device: 'alice-mbp' },
    version: '0.3.0',
    sinks: [sink(collector)],
    sender: { backoffBaseMs: 10, backoffMaxMs: 50 },
  });
  await pipeline.start();
  t.teardown(() => pipeline.close());
  const emitted = ALL_INPUTS.map((c) => pipeline.emit(c.input()));
  await pipeline.sync();
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (pipeline.sinkStatus()[0]!.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(pipeline.sinkStatus()[0]!.queued, 0, 'everything delivered');
  return { collector, emitted };
}

function lines(body: Buffer): unknown[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

t.test('hec: envelope per event, Splunk authorization, default collector path', async (t) => {
  const { collector, emitted } = await deliverAll(t, (c) => ({
    name: 'splunk',
    type: 'hec',
    url: `http://127.0.0.1:${c.port}`,
    format: 'native',
    headers: { Authorization: HEC_TOKEN },
    spool_max_bytes: 1 << 24,
  }));
  const req = collector.accepted()[0]!;
  t.equal(req.url, '/services/collector/event', 'posts to the HEC event endpoint when the URL has no path');
  t.equal(req.headers['authorization'], HEC_TOKEN, 'Authorization: Splunk <token>');
  t.equal(req.headers['content-type'], 'application/json', 'JSON content type');
  const envelopes = collector.accepted().flatMap((r) => lines(r.body)) as Record<string, unknown>[];
  for (const event of emitted) {
    const env = envelopes.find((e) => (e['event'] as CordonEvent).id === event.id);
    t.ok(env !== undefined, `${event.kind}: delivered`);
    if (env === undefined) continue;
    t.same(Object.keys(env).sort(), ['event', 'host', 'source', 'sourcetype', 'time'], `${event.kind}: exactly the HEC envelope fields`);
    t.equal(typeof env['time'], 'number', `${event.kind}: time is a number`);
    t.equal(env['time'], Date.parse(event.time) / 1000, `${event.kind}: time is epoch seconds with milliseconds`);
    t.equal(env['host'], 'alice-mbp', `${event.kind}: host is the device`);
    t.equal(env['source'], 'cordon', `${event.kind}: source`);
    t.equal(env['sourcetype'], 'cordon:event', `${event.kind}: sourcetype`);
    t.same(env['event'], event, `${event.kind}: event is the cordon event`);
  }
});

t.test('hec with format ocsf: sourcetype cordon:ocsf and the OCSF object', async (t) => {
  const { collector } = await deliverAll(t, (c) => ({
    name: 'splunk-ocsf',
    type: 'hec',
    url: c.url('/services/collector/event'),
    format: 'ocsf',
    headers: { Authorization: HEC_TOKEN },
    spool_max_bytes: 1 << 24,
  }));
  const envelopes = collector.accepted().flatMap((r) => lines(r.body)) as { sourcetype: string; event: { class_uid: number; metadata: { product: { name: string } } } }[];
  t.ok(envelopes.length >= ALL_INPUTS.length, 'all delivered');
  t.ok(envelopes.every((e) => e.sourcetype === 'cordon:ocsf'), 'sourcetype cordon:ocsf');
  t.ok(envelopes.every((e) => [0, 1001, 4001].includes(e.event.class_uid) && e.event.metadata.product.name === 'cordon'), 'OCSF objects');
});

t.test('http: NDJSON, one event per line, configured headers', async (t) => {
  const { collector, emitted } = await deliverAll(t, (c) => ({
    name: 'vector',
    type: 'http',
    url: c.url('/cordon/events?tenant=acme'),
    format: 'native',
    headers: { 'X-Api-Key': 'k-123' },
    spool_max_bytes: 1 << 24,
  }));
  const req = collector.accepted()[0]!;
  t.equal(req.url, '/cordon/events?tenant=acme', 'the configured URL, query included');
  t.equal(req.headers['content-type'], 'application/x-ndjson', 'NDJSON content type');
  t.equal(req.headers['x-api-key'], 'k-123', 'configured header sent');
  t.ok(req.body.toString('utf8').endsWith('\n'), 'body ends with a newline');
  const received = collector.accepted().flatMap((r) => lines(r.body)) as CordonEvent[];
  for (const event of emitted) {
    t.same(
      received.find((e) => e.id === event.id),
      event,
      `${event.kind}: delivered as the event itself`,
    );
  }
});

function sinkConfig(type: 'http' | 'hec', format: 'native' | 'ocsf'): SinkConfig {
  return { name: `${type}-${format}`, type, url: 'http://127.0.0.1:9/ingest', format, headers: {}, spool_max_bytes: 1 << 24 };
}

/** Escapes every non-ASCII character as \\uXXXX: valid JSON that JSON.stringify would never write, so a re-serialized body differs. */
function asciiLine(event: CordonEvent): string {
  return JSON.stringify(event).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

t.test('only a native http sink takes raw NDJSON', async (t) => {
  const cases: { type: 'http' | 'hec'; format: 'native' | 'ocsf'; raw: boolean }[] = [
    { type: 'http', format: 'native', raw: true },
    { type: 'http', format: 'ocsf', raw: false },
    { type: 'hec', format: 'native', raw: false },
    { type: 'hec', format: 'ocsf', raw: false },
  ];
  for (const c of cases) {
    const transport = new HttpBatchTransport(sinkConfig(c.type, c.format), { version: 'test' });
    t.equal(typeof transport.sendNdjson === 'function', c.raw, `${c.type}/${c.format}: sendNdjson ${c.raw ? 'present' : 'absent'}`);
    await transport.close();
  }
});

t.test('http native: the body is exactly the spooled bytes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-http-sink-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const collector = await EventCollector.start();
  t.teardown(() => collector.close());
  const spool = new Spool({ dir, maxBytes: 1 << 24 });
  await spool.open();
  t.teardown(() => spool.close());
  const transport = new HttpBatchTransport({ ...sinkConfig('http', 'native'), url: collector.url('/ingest') }, { version: 'test' });
  t.teardown(() => transport.close());
  const events = stampedEvents(40, (i) => ALL_INPUTS[i % ALL_INPUTS.length]!.input());
  const spooled = events.map(asciiLine);
  t.ok(spooled.some((l, i) => l !== JSON.stringify(events[i]) + '\n'), 'some spooled lines differ from what JSON.stringify would write');
  for (let i = 0; i < events.length; i++) spool.enqueue(spooled[i]!, Date.parse(events[i]!.time));
  await spool.sync();
  const sender = new SinkSender({ name: 'raw', spool, transport, batchMaxEvents: 16 });
  sender.start();
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (spool.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await sender.stop();
  t.equal(spool.stats().queued, 0, 'everything delivered');
  const accepted = collector.accepted();
  t.equal(accepted.length, 3, 'three batches (16, 16, 8)');
  t.ok(accepted.every((r) => r.headers['content-type'] === 'application/x-ndjson'), 'NDJSON content type');
  t.equal(Buffer.concat(accepted.map((r) => r.body)).toString('utf8'), spooled.join(''), 'the bodies are the spooled lines, byte for byte');
  t.same(accepted.flatMap((r) => ndjsonIds(r.body)), events.map((e) => e.id), 'every event once, in order');
});

t.test('http with format ocsf: OCSF records built from the events', async (t) => {
  const { collector, emitted } = await deliverAll(t, (c) => ({
    name: 'lake',
    type: 'http',
    url: c.url('/ocsf'),
    format: 'ocsf',
    headers: {},
    spool_max_bytes: 1 << 24,
  }));
  const req = collector.accepted()[0]!;
  t.equal(req.headers['content-type'], 'application/x-ndjson', 'NDJSON content type');
  const records = collector.accepted().flatMap((r) => lines(r.body)) as Record<string, unknown>[];
  t.ok(records.length >= emitted.length, 'all delivered');
  for (const record of records) {
    t.ok([0, 1001, 4001].includes(record['class_uid'] as number), `class_uid ${String(record['class_uid'])} is an OCSF class`);
    t.equal((record['metadata'] as { product: { name: string } }).product.name, 'cordon', 'OCSF metadata');
    t.notOk('kind' in record, 'not the native event');
  }
});
