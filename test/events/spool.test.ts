/**
 * The durable spool: write → read → ack, resume after restart from the
 * persisted cursor, torn and corrupt lines skipped and counted, the size cap
 * dropping the oldest segments with the count reported, poisoned batches set
 * aside, and a full queue refusing instead of waiting.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Spool } from '../../src/events/spool.js';
import type { SpoolLossReason, SpoolOptions, SpoolRecord } from '../../src/events/spool.js';
import type { CordonEvent } from '../../src/events/types.js';
import { stampedEvents } from '../helpers/event-fixtures.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-spool-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function record(event: CordonEvent): SpoolRecord {
  return { data: Buffer.from(JSON.stringify(event) + '\n'), timeMs: Date.parse(event.time) };
}

interface Losses {
  events: { count: number; reason: SpoolLossReason }[];
  total(reason: SpoolLossReason): number;
}

async function openSpool(dir: string, extra: Partial<SpoolOptions> = {}): Promise<{ spool: Spool; losses: Losses }> {
  const events: { count: number; reason: SpoolLossReason }[] = [];
  const losses: Losses = { events, total: (reason) => events.filter((e) => e.reason === reason).reduce((a, e) => a + e.count, 0) };
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, ...extra, onLoss: (count, reason) => events.push({ count, reason }) });
  await spool.open();
  return { spool, losses };
}

/** Reads and acks everything currently spooled; returns the ids in order. */
async function drain(spool: Spool, batch = 100): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const b = await spool.readBatch(batch, 1024 * 1024);
    if (b === null) break;
    ids.push(...b.events.map((e) => e.id));
    await spool.ack(b);
  }
  return ids;
}

t.test('written events are read back in order and deleted once acked', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await openSpool(dir, { segmentMaxBytes: 4096 });
  const events = stampedEvents(200);
  for (const e of events) spool.enqueue(record(e));
  await spool.sync();
  const stats = spool.stats();
  t.equal(stats.queued, 200, 'all 200 queued (unacknowledged)');
  t.ok(stats.segments > 1, `rolled into ${stats.segments} segments`);
  t.ok(stats.spooledBytes > 0, 'spooled bytes reported');
  t.ok(stats.oldestUnsentMs !== null, 'oldest unsent time known');
  const ids = await drain(spool, 37);
  t.same(ids, events.map((e) => e.id), 'every event read once, in order');
  const after = spool.stats();
  t.equal(after.queued, 0, 'nothing unacknowledged');
  t.equal(after.spooledBytes, 0, 'no unacknowledged bytes');
  t.equal(after.oldestUnsentMs, null, 'no oldest unsent');
  t.equal(after.segments, 1, 'only the head segment remains');
  await spool.close();
  const cursor = JSON.parse(await readFile(join(dir, 'cursor.json'), 'utf8')) as { seq: number; offset: number };
  t.ok(cursor.offset > 0, 'cursor persisted at the end of the head segment');
  t.equal((await stat(join(dir, 'cursor.json'))).mode & 0o777, 0o600, 'cursor file is private');
});

t.test('restart resumes from the persisted cursor (acked events are not re-read)', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(100);
  let acked = 0;
  {
    const { spool } = await openSpool(dir, { segmentMaxBytes: 4096 });
    for (const e of events) spool.enqueue(record(e));
    await spool.sync();
    const first = await spool.readBatch(10, 1024 * 1024);
    await spool.ack(first!);
    acked = first!.events.length;
    // Read a second batch but do not ack it: it must come back after the restart.
    await spool.readBatch(30, 1024 * 1024);
    await spool.close();
  }
  const { spool } = await openSpool(dir, { segmentMaxBytes: 4096 });
  t.equal(acked, 10, 'first batch held 10 events');
  t.equal(spool.stats().queued, 90, '90 unacknowledged after restart');
  const more = stampedEvents(5, (i) => ({ kind: 'daemon', action: 'start', message: `after restart ${i}`, policy: null }));
  for (const e of more) spool.enqueue(record(e));
  await spool.sync();
  const ids = await drain(spool);
  t.same(ids, [...events.slice(10), ...more].map((e) => e.id), 'resumes exactly after the acked batch, then the new events');
  await spool.close();
});

t.test('a torn last line (crash mid-write) is skipped and counted; corrupt lines too', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(3);
  const seg = join(dir, '000000000001.seg');
  const lines = events.map((e) => JSON.stringify(e) + '\n');
  await writeFile(seg, lines[0]! + 'not json at all\n' + lines[1]! + lines[2]!.slice(0, 40));
  const { spool, losses } = await openSpool(dir);
  t.equal(losses.total('spool-torn'), 1, 'one torn line reported on open');
  t.equal(spool.stats().torn, 1, 'torn counted');
  const ids = await drain(spool);
  t.same(ids, [events[0]!.id, events[1]!.id], 'the two whole events are delivered');
  t.equal(losses.total('spool-corrupt'), 1, 'the unparseable line is reported once');
  const next = stampedEvents(1, () => ({ kind: 'daemon', action: 'stop', message: 'new', policy: null }))[0]!;
  spool.enqueue(record(next));
  await spool.sync();
  t.same(await drain(spool), [next.id], 'new events go to a fresh segment, not after the torn bytes');
  await spool.close();
});

t.test('a missing or garbled cursor file re-delivers from the oldest segment (never loses)', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(10);
  {
    const { spool } = await openSpool(dir);
    for (const e of events) spool.enqueue(record(e));
    await spool.sync();
    await spool.close();
  }
  await writeFile(join(dir, 'cursor.json'), '{"seq": "x"');
  const { spool } = await openSpool(dir);
  t.same(await drain(spool), events.map((e) => e.id), 'all ten delivered');
  await spool.close();
});

t.test('cap: the oldest segments are dropped, counted and reported', async (t) => {
  const dir = await tempDir(t);
  const maxBytes = 64 * 1024;
  const { spool, losses } = await openSpool(dir, { maxBytes });
  const events = stampedEvents(2000);
  for (let i = 0; i < events.length; i++) {
    spool.enqueue(record(events[i]!));
    if (i % 100 === 99) await spool.sync();
  }
  await spool.sync();
  const stats = spool.stats();
  t.ok(stats.diskBytes <= maxBytes, `disk use ${stats.diskBytes} stays under the cap ${maxBytes}`);
  const dropped = losses.total('spool-full');
  t.ok(dropped > 0, `${dropped} events dropped`);
  t.equal(stats.dropped, dropped, 'drop counter matches the reports');
  const ids = await drain(spool, 500);
  t.equal(ids.length + dropped, events.length, 'every event is either delivered or counted as dropped');
  t.same(ids, events.slice(dropped).map((e) => e.id), 'the newest events are the ones kept');
  const segs = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
  t.equal(segs.length, 1, 'only the head segment remains after draining');
  await spool.close();
});

t.test('an in-flight batch whose segment the cap dropped is not acked over newer data', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await openSpool(dir, { maxBytes: 64 * 1024 });
  const events = stampedEvents(2000);
  spool.enqueue(record(events[0]!));
  await spool.sync();
  const inflight = await spool.readBatch(10, 1024 * 1024);
  t.ok(inflight !== null && spool.isCurrent(inflight), 'batch is current before the cap acts');
  for (const e of events.slice(1)) spool.enqueue(record(e));
  await spool.sync();
  t.notOk(spool.isCurrent(inflight!), 'batch is stale after its segment was dropped');
  const before = spool.stats().queued;
  await spool.ack(inflight!);
  t.equal(spool.stats().queued, before, 'acking the stale batch changes nothing');
  await spool.close();
});

t.test('a poisoned batch is set aside with its metadata and acked', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await openSpool(dir);
  const events = stampedEvents(5);
  for (const e of events) spool.enqueue(record(e));
  await spool.sync();
  const batch = (await spool.readBatch(2, 1024 * 1024))!;
  const file = await spool.setAside(batch, { sink: 'siem', status: 400, error: 'HTTP 400: bad' });
  t.ok(file !== null && file.startsWith(join(dir, 'poisoned')), 'written under poisoned/');
  const kept = (await readFile(file!, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as CordonEvent).id);
  t.same(kept, events.slice(0, 2).map((e) => e.id), 'the rejected events are kept verbatim');
  const meta = JSON.parse(await readFile(file!.replace(/\.jsonl$/, '.meta.json'), 'utf8')) as Record<string, unknown>;
  t.match(meta, { sink: 'siem', status: 400, count: 2, first_id: events[0]!.id, last_id: events[1]!.id }, 'metadata says why and what');
  t.same(await drain(spool), events.slice(2).map((e) => e.id), 'delivery continues after the poisoned batch');
  t.equal(spool.stats().poisoned, 2, 'poisoned counter');
  await spool.close();
});

t.test('a full in-memory queue refuses (and counts) instead of waiting', async (t) => {
  const dir = await tempDir(t);
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, queueCapacity: 5 });
  // Not opened: nothing drains the queue.
  const results = stampedEvents(8).map((e) => spool.enqueue(record(e)));
  t.same(results, [true, true, true, true, true, false, false, false], 'five accepted, three refused');
  t.equal(spool.stats().dropped, 3, 'three counted as dropped');
  await spool.open();
  await spool.sync();
  t.equal(spool.stats().queued, 5, 'the five accepted reach the disk after open');
  await spool.close();
});

t.test('sync resolves only after the data is on disk', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await openSpool(dir, { fsyncIntervalMs: 10_000 });
  const events = stampedEvents(50);
  for (const e of events) spool.enqueue(record(e));
  await spool.sync();
  const segs = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
  let text = '';
  for (const s of segs) text += await readFile(join(dir, s), 'utf8');
  t.equal(text, events.map((e) => JSON.stringify(e) + '\n').join(''), 'the segment holds all fifty lines when sync resolves');
  await spool.close();
});

t.test('segments left by an earlier run with a line appended by hand are still read whole', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(4);
  await writeFile(join(dir, '000000000007.seg'), JSON.stringify(events[0]) + '\n' + JSON.stringify(events[1]) + '\n');
  await appendFile(join(dir, '000000000009.seg'), JSON.stringify(events[2]) + '\n');
  const { spool } = await openSpool(dir);
  spool.enqueue(record(events[3]!));
  await spool.sync();
  t.same(await drain(spool), events.map((e) => e.id), 'old segments in order, then the new head');
  await spool.close();
});
