/**
 * The pipeline as the daemon sees it: emit never throws or waits, recent()
 * and subscribe() for the status API, decision counters, sink status exactly
 * as DESIGN §7, overflow of any bounded queue counted and reported as an
 * `events-dropped` daemon event, the spool cap reported the same way, and
 * close() flushing what it can.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EventPipeline } from '../../src/events/pipeline.js';
import type { EventPipelineOptions } from '../../src/events/pipeline.js';
import type { CordonEvent, DaemonEvent, EventInput } from '../../src/events/types.js';
import { EventCollector } from '../helpers/event-collector.js';
import { daemonInput, invalidTargetInput, mountInput, networkAuditInput, networkClosedInput, networkDenyInput } from '../helpers/event-fixtures.js';

const WAIT_LIMIT_MS = 20_000;
const DOWN_URL = 'http://127.0.0.1:9/ingest'; // discard port: nothing listens

async function until(check: () => boolean, limitMs = WAIT_LIMIT_MS): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
}

async function makePipeline(t: Test, extra: Partial<EventPipelineOptions> = {}, start = true): Promise<{ pipeline: EventPipeline; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-pipeline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pipeline = new EventPipeline({
    stateDir: dir,
    identity: { user: 'alice@acme.com', device: 'alice-mbp' },
    sender: { backoffBaseMs: 20, backoffMaxMs: 100 },
    dropReportIntervalMs: 50,
    ...extra,
  });
  if (start) await pipeline.start();
  t.teardown(() => pipeline.close());
  return { pipeline, dir };
}

function droppedEvents(pipeline: EventPipeline): DaemonEvent[] {
  return pipeline.recent().filter((e): e is DaemonEvent => e.kind === 'daemon' && e.action === 'events-dropped');
}

t.test('emit stamps and returns the event; never throws, even on garbage', async (t) => {
  const { pipeline, dir } = await makePipeline(t);
  const e = pipeline.emit(networkDenyInput());
  t.match(e, { schema: 'cordon.event/v1', kind: 'network', user: 'alice@acme.com', device: 'alice-mbp' }, 'stamped');
  let bad: CordonEvent | undefined;
  t.doesNotThrow(() => (bad = pipeline.emit(null as unknown as EventInput)), 'null input does not throw');
  t.match(bad, { kind: 'daemon', action: 'internal-error', message: /invalid event input/ }, 'a producer bug is recorded as an internal-error event');
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  t.doesNotThrow(() => pipeline.emit({ kind: 'daemon', action: 'x', message: 'cyclic', details: cyclic, policy: null }), 'a cyclic details object does not throw');
  await pipeline.sync();
  t.equal(pipeline.counters().internal_errors, 1, 'the invalid input is counted');
  const lines = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean);
  t.same((JSON.parse(lines.at(-1)!) as DaemonEvent).details, { self: '[Circular]' }, 'a cyclic object is logged with the cycle cut');
});

t.test('recent(limit): newest events, oldest first, bounded', async (t) => {
  const { pipeline } = await makePipeline(t, { recentCapacity: 5 });
  const ids = Array.from({ length: 8 }, (_, i) => pipeline.emit(daemonInput(i)).id);
  t.same(pipeline.recent(3).map((e) => e.id), ids.slice(5), 'the last three');
  t.same(pipeline.recent().map((e) => e.id), ids.slice(3), 'capacity five keeps the newest five');
  t.same(pipeline.recent(100).length, 5, 'limit above capacity gives what is there');
});

t.test('subscribe: events in order; unsubscribe; a throwing subscriber does not hurt others', async (t) => {
  const { pipeline } = await makePipeline(t);
  const seen: string[] = [];
  const lines: string[] = [];
  const unsubscribe = pipeline.subscribe((e, line) => {
    seen.push(e.id);
    lines.push(line);
  });
  pipeline.subscribe(() => {
    throw new Error('broken follower');
  });
  const a = pipeline.emit(daemonInput(1)).id;
  const b = pipeline.emit(daemonInput(2)).id;
  await pipeline.sync();
  t.same(seen, [a, b], 'both events, in order');
  t.same(lines.map((l) => (JSON.parse(l) as CordonEvent).id), [a, b], 'each with its NDJSON line');
  t.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')), 'one line each, newline-terminated');
  unsubscribe();
  pipeline.emit(daemonInput(3));
  await pipeline.sync();
  t.same(seen, [a, b], 'nothing after unsubscribe');
});

t.test('counters: allowed, denied, audited, invalid', async (t) => {
  const { pipeline } = await makePipeline(t);
  const inputs = [networkDenyInput(), networkDenyInput(), networkAuditInput(), networkClosedInput(), mountInput(), invalidTargetInput(), daemonInput()];
  for (const i of inputs) pipeline.emit(i);
  t.match(pipeline.counters(), { allowed: 2, denied: 2, audited: 1, invalid: 1, events: 7, dropped: 0 });
});

t.test('events emitted before start() are kept and written after it', async (t) => {
  const { pipeline, dir } = await makePipeline(t, {}, false);
  const early = pipeline.emit(daemonInput(0));
  await pipeline.start();
  await pipeline.sync();
  const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
  t.equal(text, JSON.stringify(early) + '\n', 'in the audit log');
});

t.test('a full bus drops, counts, and reports with an events-dropped event', async (t) => {
  const { pipeline } = await makePipeline(t, { busCapacity: 10 });
  // One synchronous burst: nothing is dispatched until this turn of the event loop ends.
  for (let i = 0; i < 100; i++) pipeline.emit(daemonInput(i));
  t.equal(pipeline.counters().bus_dropped, 90, '90 of 100 dropped');
  t.ok(await until(() => droppedEvents(pipeline).length > 0), 'an events-dropped event was emitted');
  const [report] = droppedEvents(pipeline);
  t.match(report!.details, { count: 90, reason: 'queue-full', bus: 90 }, 'it says how many and where');
});

t.test('a full sink queue drops for that sink only, counts, and reports', async (t) => {
  const { pipeline, dir } = await makePipeline(t, {
    sinks: [{ name: 'slow', type: 'http', url: DOWN_URL, format: 'native', headers: {}, spool_max_bytes: 1 << 24 }],
    spool: { queueCapacity: 5 },
  });
  for (let i = 0; i < 50; i++) pipeline.emit(daemonInput(i));
  t.ok(await until(() => droppedEvents(pipeline).some((e) => (e.details as { sinks?: Record<string, number> }).sinks?.['slow'] !== undefined)), 'events-dropped names the sink');
  t.ok(pipeline.sinkStatus()[0]!.dropped > 0, 'sink status counts the drops');
  await pipeline.sync();
  const audit = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean);
  t.ok(audit.length >= 50, 'the audit log still has every event');
});

t.test('the spool cap drops the oldest events and says how many', async (t) => {
  const { pipeline } = await makePipeline(t, {
    sinks: [{ name: 'down', type: 'http', url: DOWN_URL, format: 'native', headers: {}, spool_max_bytes: 65_536 }],
  });
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) pipeline.emit(networkDenyInput(`host-${round}-${i}.example.com`));
    await pipeline.sync();
  }
  const spoolFull = droppedEvents(pipeline).filter((e) => (e.details as { reason?: string }).reason === 'spool-full');
  t.ok(spoolFull.length > 0, 'events-dropped with reason spool-full');
  const reported = spoolFull.reduce((n, e) => n + ((e.details as { count: number }).count ?? 0), 0);
  const status = pipeline.sinkStatus()[0]!;
  t.ok(status.dropped >= reported && reported > 0, `status counts ${status.dropped} dropped, reports say ${reported}`);
  t.ok(status.spooled_bytes <= 65_536, 'spool stays under its cap');
});

t.test('sinkStatus is exactly the DESIGN §7 shape, down then recovered', async (t) => {
  const collector = await EventCollector.start(() => ({ status: 503 }));
  t.teardown(() => collector.close());
  const { pipeline } = await makePipeline(t, {
    sinks: [{ name: 'siem', type: 'otlp', url: collector.url('/v1/logs'), format: 'native', headers: {}, spool_max_bytes: 1 << 24 }],
  });
  for (let i = 0; i < 5; i++) pipeline.emit(networkDenyInput());
  await pipeline.sync();
  t.ok(await until(() => pipeline.sinkStatus()[0]!.last_error !== null), 'error seen');
  const down = pipeline.sinkStatus()[0]!;
  t.same(Object.keys(down), ['name', 'type', 'queued', 'spooled_bytes', 'oldest_unsent_s', 'last_success_at', 'last_error', 'dropped'], 'exact keys, DESIGN order');
  t.match(down, { name: 'siem', type: 'otlp', last_success_at: null, dropped: 0 }, 'name, type, no success yet');
  t.ok(down.queued >= 5, 'queued counts unsent events');
  t.ok(down.spooled_bytes > 0, 'spooled bytes');
  t.equal(typeof down.oldest_unsent_s, 'number', 'oldest unsent age in seconds');
  t.match(down.last_error, /HTTP 503/, 'last error says why');
  t.ok(pipeline.recent().some((e) => e.kind === 'daemon' && e.action === 'sink-error'), 'a sink-error event was emitted');
  collector.setScript(() => ({ status: 200 }));
  t.ok(await until(() => pipeline.sinkStatus()[0]!.queued === 0 && pipeline.sinkStatus()[0]!.last_success_at !== null), 'recovered and drained');
  const up = pipeline.sinkStatus()[0]!;
  t.match(up, { queued: 0, spooled_bytes: 0, oldest_unsent_s: null, last_error: null }, 'healthy status');
  t.ok(!Number.isNaN(Date.parse(up.last_success_at!)), 'last_success_at is an ISO time');
  t.ok(pipeline.recent().some((e) => e.kind === 'daemon' && e.action === 'sink-recovered'), 'a sink-recovered event was emitted');
});

t.test('close flushes the audit log and the spool; a restart delivers the rest', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-pipeline-close-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sinks = [{ name: 'later', type: 'http' as const, url: DOWN_URL, format: 'native' as const, headers: {}, spool_max_bytes: 1 << 24 }];
  const first = new EventPipeline({ stateDir: dir, sinks, sender: { backoffBaseMs: 20, backoffMaxMs: 100 } });
  await first.start();
  const emitted: CordonEvent[] = [];
  for (let i = 0; i < 200; i++) emitted.push(first.emit(daemonInput(i)));
  await first.close();
  t.doesNotThrow(() => first.emit(daemonInput(999)), 'emit after close does not throw');
  const audit = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as CordonEvent).id);
  for (const e of emitted) if (!audit.includes(e.id)) t.fail(`audit log lacks ${e.id}`);
  t.pass('every event emitted before close is in the audit log');

  const collector = await EventCollector.start();
  t.teardown(() => collector.close());
  const second = new EventPipeline({ stateDir: dir, sinks: [{ ...sinks[0]!, url: collector.url('/ingest') }] });
  await second.start();
  t.teardown(() => second.close());
  t.ok(await until(() => second.sinkStatus()[0]!.queued === 0), 'spool drained after restart');
  const got = new Set(collector.accepted().flatMap((r) => r.body.toString('utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as CordonEvent).id)));
  t.same(emitted.filter((e) => !got.has(e.id)), [], 'every event spooled before close is delivered after restart');
});

t.test('invalid sink configuration is refused at construction', async (t) => {
  t.throws(
    () => new EventPipeline({ stateDir: '/nonexistent', sinks: [{ name: 'x', type: 'hec', url: 'http://h:8088', format: 'native', headers: {}, spool_max_bytes: 1 << 20 }] }),
    /hec sink needs headers.Authorization/,
  );
});
