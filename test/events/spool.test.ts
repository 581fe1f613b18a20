/**
 * The durable spool: write → read → ack, resume after restart from the
 * persisted cursor, torn and corrupt lines skipped and counted, the size cap
 * dropping the oldest segments with the count reported, poisoned batches set
 * aside, and a full queue refusing instead of waiting. The memory tail: a
 * batch served from it is the batch the disk would give; a reader further
 * behind than the tail reads the disk; acks and the cap trim it.
 */
import { appendFile, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Spool, WRITE_NOW_RECORDS } from '../../src/events/spool.js';
import type { SpoolBatch, SpoolLossReason, SpoolOptions } from '../../src/events/spool.js';
import type { CordonEvent } from '../../src/events/types.js';
import { ALL_INPUTS, stampedEvents } from '../helpers/event-fixtures.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-spool-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lineOf(event: CordonEvent): string {
  return JSON.stringify(event) + '\n';
}

function enqueueEvent(spool: Spool, event: CordonEvent): boolean {
  return spool.enqueue(lineOf(event), Date.parse(event.time));
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
  for (const e of events) enqueueEvent(spool, e);
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
    for (const e of events) enqueueEvent(spool, e);
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
  for (const e of more) enqueueEvent(spool, e);
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
  enqueueEvent(spool, next);
  await spool.sync();
  t.same(await drain(spool), [next.id], 'new events go to a fresh segment, not after the torn bytes');
  await spool.close();
});

t.test('a missing or garbled cursor file re-delivers from the oldest segment (never loses)', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(10);
  {
    const { spool } = await openSpool(dir);
    for (const e of events) enqueueEvent(spool, e);
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
    enqueueEvent(spool, events[i]!);
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
  enqueueEvent(spool, events[0]!);
  await spool.sync();
  const inflight = await spool.readBatch(10, 1024 * 1024);
  t.ok(inflight !== null && spool.isCurrent(inflight), 'batch is current before the cap acts');
  for (const e of events.slice(1)) enqueueEvent(spool, e);
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
  for (const e of events) enqueueEvent(spool, e);
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
  const results = stampedEvents(8).map((e) => enqueueEvent(spool, e));
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
  for (const e of events) enqueueEvent(spool, e);
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
  enqueueEvent(spool, events[3]!);
  await spool.sync();
  t.same(await drain(spool), events.map((e) => e.id), 'old segments in order, then the new head');
  await spool.close();
});

/** Events of every kind (non-ASCII labels, escapes, newlines in messages), so line lengths vary. */
function mixedEvents(count: number): CordonEvent[] {
  return stampedEvents(count, (i) => ALL_INPUTS[i % ALL_INPUTS.length]!.input());
}

/** What a batch says about its range, independent of where it was read from. */
function batchView(b: SpoolBatch): Record<string, unknown> {
  return {
    seq: b.seq,
    startOffset: b.startOffset,
    endOffset: b.endOffset,
    endLine: b.endLine,
    count: b.count,
    corrupt: b.corrupt,
    bytes: b.bytes,
    lines: b.lines,
    ids: b.events.map((e) => e.id),
  };
}

/**
 * Writes `events` in `writes` separate writes, then reads every batch twice,
 * from the writing spool (its memory tail) and from a copy of the directory
 * (a recovering spool can only read the disk), with changing batch limits.
 */
async function compareMemoryWithDisk(t: Test, segmentMaxBytes: number, writes: number, segments: 'many' | 'one'): Promise<void> {
  const dir = await tempDir(t);
  const { spool: live } = await openSpool(dir, { segmentMaxBytes });
  const events = mixedEvents(120);
  const perWrite = Math.ceil(events.length / writes);
  for (let w = 0; w < writes; w++) {
    for (const e of events.slice(w * perWrite, (w + 1) * perWrite)) enqueueEvent(live, e);
    await live.sync();
  }
  // The same bytes in a second directory: a fresh spool there recovers them, so it can only read the disk.
  const copy = await tempDir(t);
  await cp(dir, copy, { recursive: true });
  const { spool: fresh } = await openSpool(copy, { segmentMaxBytes });
  if (segments === 'many') t.ok(live.stats().segments > 2, `the range spans ${live.stats().segments} segments`);
  else t.equal(live.stats().segments, 1, `the ${writes} writes share one segment`);
  const limits: [number, number][] = [
    [1, 1024 * 1024],
    [7, 1024 * 1024],
    [50, 2048],
    // Smaller than one line: both widen the window by doubling until the first line fits (and maybe the next).
    [500, 100],
    [500, 170],
    [500, 260],
    [500, 300],
    [3, 1024 * 1024],
    [500, 1024 * 1024],
  ];
  const ids: string[] = [];
  let batches = 0;
  for (let i = 0; i < 1000; i++) {
    const [maxEvents, maxBytes] = limits[i % limits.length]!;
    const fromMemory = await live.readBatch(maxEvents, maxBytes);
    const fromDisk = await fresh.readBatch(maxEvents, maxBytes);
    t.equal(fromMemory === null, fromDisk === null, `batch ${i}: both have data or neither`);
    if (fromMemory === null || fromDisk === null) break;
    batches++;
    t.ok(fromMemory.data.equals(fromDisk.data), `batch ${i}: same bytes`);
    t.same(batchView(fromMemory), batchView(fromDisk), `batch ${i}: same range, lines and ids`);
    ids.push(...fromMemory.events.map((e) => e.id));
    await live.ack(fromMemory);
    await fresh.ack(fromDisk);
  }
  t.same(ids, events.map((e) => e.id), 'every event, in order');
  t.equal(live.stats().memoryBatches, batches, 'the writing spool served every batch from memory');
  t.equal(live.stats().diskBatches, 0, 'and read no segment file');
  t.equal(fresh.stats().diskBatches, batches, 'the recovering spool read every batch from disk');
  t.equal(fresh.stats().memoryBatches, 0, 'recovered segments are never in the tail');
  t.equal(live.stats().segments, 1, 'finished segments were deleted after the acks');
  await live.close();
  await fresh.close();
}

t.test('memory tail: a batch served from memory equals the disk read of the same range, byte for byte', async (t) => {
  await t.test('one write over many small segments (batches start inside a written chunk)', async (t) => {
    await compareMemoryWithDisk(t, 4096, 1, 'many');
    t.end();
  });
  await t.test('many writes into one segment (batches span several written chunks)', async (t) => {
    await compareMemoryWithDisk(t, 16 * 1024 * 1024, 9, 'one');
    t.end();
  });
});

t.test('memory tail: a reader behind by more than the tail cap reads the disk until it catches up', async (t) => {
  const dir = await tempDir(t);
  const tailMax = 8 * 1024;
  const { spool } = await openSpool(dir, { memoryTailMaxBytes: tailMax });
  const events = mixedEvents(100);
  const sizes = events.map((e) => Buffer.byteLength(lineOf(e)));
  for (const e of events) enqueueEvent(spool, e);
  await spool.sync();
  // The tail keeps the newest lines that fit under its cap (of one written chunk here).
  let inTail = 0;
  let tailBytes = 0;
  for (let i = sizes.length - 1; i >= 0 && tailBytes + sizes[i]! <= tailMax; i--) {
    tailBytes += sizes[i]!;
    inTail++;
  }
  t.ok(inTail > 0 && inTail < events.length, `the tail holds ${inTail} of ${events.length} records`);
  t.equal(spool.stats().memoryTailBytes, tailBytes, 'tail bytes are capped');
  const ids = await drain(spool, 1);
  t.same(ids, events.map((e) => e.id), 'every event, in order');
  t.equal(spool.stats().diskBatches, events.length - inTail, 'the records that fell off the tail came from disk');
  t.equal(spool.stats().memoryBatches, inTail, 'the rest from memory');
  await spool.close();
});

t.test('memory tail: acks trim it', async (t) => {
  const dir = await tempDir(t);
  const { spool } = await openSpool(dir, { segmentMaxBytes: 4096 });
  const events = mixedEvents(40);
  const total = events.reduce((sum, e) => sum + Buffer.byteLength(lineOf(e)), 0);
  for (const e of events) enqueueEvent(spool, e);
  await spool.sync();
  t.equal(spool.stats().memoryTailBytes, total, 'everything written is in the tail');
  const first = (await spool.readBatch(5, 1024 * 1024))!;
  t.equal(spool.stats().memoryTailBytes, total, 'reading does not trim');
  await spool.ack(first);
  t.equal(spool.stats().memoryTailBytes, total - first.bytes, 'the ack trims what it acknowledged');
  let acked = first.bytes;
  for (;;) {
    const b = await spool.readBatch(100, 1024 * 1024);
    if (b === null) break;
    await spool.ack(b);
    acked += b.bytes;
    t.equal(spool.stats().memoryTailBytes, total - acked, `after acking up to ${b.seq}:${b.endOffset}`);
  }
  t.equal(acked, total, 'everything acked');
  t.equal(spool.stats().memoryTailBytes, 0, 'the tail is empty once everything is acked');
  await spool.close();
});

t.test('memory tail: cap drops (spool-full) still drop and count correctly', async (t) => {
  const dir = await tempDir(t);
  const maxBytes = 64 * 1024;
  const { spool, losses } = await openSpool(dir, { maxBytes });
  const events = mixedEvents(1500);
  enqueueEvent(spool, events[0]!);
  await spool.sync();
  const inflight = (await spool.readBatch(10, 1024 * 1024))!;
  t.equal(spool.stats().memoryBatches, 1, 'the in-flight batch came from memory');
  for (let i = 1; i < events.length; i++) {
    enqueueEvent(spool, events[i]!);
    if (i % 100 === 99) await spool.sync();
  }
  await spool.sync();
  const stats = spool.stats();
  const dropped = losses.total('spool-full');
  t.ok(dropped > 0, `${dropped} events dropped`);
  t.equal(stats.dropped, dropped, 'drop counter matches the reports');
  t.ok(stats.diskBytes <= maxBytes, `disk use ${stats.diskBytes} stays under the cap ${maxBytes}`);
  t.ok(stats.memoryTailBytes <= stats.spooledBytes, `the tail (${stats.memoryTailBytes} B) holds nothing of the dropped segments (${stats.spooledBytes} B unacknowledged)`);
  t.notOk(spool.isCurrent(inflight), 'the in-flight batch went with its segment');
  await spool.ack(inflight);
  t.equal(spool.stats().queued, stats.queued, 'acking it changes nothing');
  const ids = await drain(spool, 100);
  t.equal(ids.length + dropped, events.length, 'every event is either delivered or counted as dropped');
  t.same(ids, events.slice(dropped).map((e) => e.id), 'the newest events are the ones kept');
  t.equal(spool.stats().diskBatches, 0, 'the survivors were served from memory');
  await spool.close();
});

t.test('memory tail: a corrupt line in a recovered segment is still skipped and counted', async (t) => {
  const dir = await tempDir(t);
  const events = mixedEvents(4);
  const lines = events.map((e) => JSON.stringify(e) + '\n');
  await writeFile(join(dir, '000000000001.seg'), lines[0]! + '{"half": \n' + lines[1]!);
  const { spool, losses } = await openSpool(dir);
  enqueueEvent(spool, events[2]!);
  enqueueEvent(spool, events[3]!);
  await spool.sync();
  const recovered = (await spool.readBatch(100, 1024 * 1024))!;
  t.equal(recovered.count, 2, 'two valid lines in the recovered segment');
  t.equal(recovered.corrupt, 1, 'one corrupt line');
  t.equal(recovered.data.toString('utf8'), lines[0]! + lines[1]!, 'data holds only the valid lines');
  t.equal(spool.stats().diskBatches, 1, 'the recovered segment was read from disk');
  await spool.ack(recovered);
  t.equal(losses.total('spool-corrupt'), 1, 'the corrupt line is reported once');
  t.equal(spool.stats().corrupt, 1, 'and counted');
  const fresh = (await spool.readBatch(100, 1024 * 1024))!;
  t.same(fresh.events.map((e) => e.id), [events[2]!.id, events[3]!.id], 'then the new events');
  t.equal(fresh.data.toString('utf8'), lines[2]! + lines[3]!, 'as their spooled bytes');
  t.equal(spool.stats().memoryBatches, 1, 'served from memory');
  await spool.ack(fresh);
  t.equal(spool.stats().corrupt, 1, 'nothing else counted as corrupt');
  await spool.close();
});

t.test('cursor persistence is coalesced: many acks, one file write; a crash re-delivers, never loses', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(60);
  const CURSOR_DELAY_MS = 300;
  const cursorPath = join(dir, 'cursor.json');
  {
    const { spool } = await openSpool(dir, { cursorPersistDelayMs: CURSOR_DELAY_MS });
    for (const e of events.slice(0, 30)) enqueueEvent(spool, e);
    await spool.sync();
    const b1 = await spool.readBatch(10, 1024 * 1024);
    await spool.ack(b1!);
    const b2 = await spool.readBatch(10, 1024 * 1024);
    await spool.ack(b2!);
    let persisted = await readFile(cursorPath, 'utf8').catch(() => null);
    t.equal(persisted, null, 'two acks inside the delay: the cursor file is not written yet');
    await new Promise((resolve) => setTimeout(resolve, CURSOR_DELAY_MS * 3));
    persisted = await readFile(cursorPath, 'utf8');
    t.equal((JSON.parse(persisted) as { offset: number }).offset, b2!.endOffset, 'after the delay: one write holding the latest ack');
    const b3 = await spool.readBatch(10, 1024 * 1024);
    await spool.ack(b3!);
    // Simulate a crash: the third ack is not on disk yet and the spool is never closed.
    const crashCopy = join(dir, '..', `${dir.split('/').pop()}-crash`);
    await cp(dir, crashCopy, { recursive: true });
    t.teardown(() => rm(crashCopy, { recursive: true, force: true }));
    const crashed = await openSpool(crashCopy, { cursorPersistDelayMs: CURSOR_DELAY_MS });
    t.same(await drain(crashed.spool), events.slice(20, 30).map((e) => e.id), 'after a crash the unpersisted ack is re-delivered (at-least-once), nothing earlier');
    await crashed.spool.close();
    await spool.close();
  }
  const reopened = await openSpool(dir, { cursorPersistDelayMs: CURSOR_DELAY_MS });
  t.equal(reopened.spool.stats().queued, 0, 'close() wrote the final cursor: nothing is re-delivered after a clean stop');
  await reopened.spool.close();
});

t.test('lines with multi-byte UTF-8 (2-, 3- and 4-byte characters) are spooled byte for byte in one chunk', async (t) => {
  const dir = await tempDir(t);
  const events = stampedEvents(30, (i) => ({ kind: 'daemon', action: 'start', message: `ünïcødé ✓ ${i} 🛡`, policy: null }));
  const { spool } = await openSpool(dir, { writeDelayMs: 50 });
  for (const e of events) enqueueEvent(spool, e);
  await spool.sync();
  const expected = events.map((e) => JSON.stringify(e) + '\n').join('');
  const onDisk = await readFile(join(dir, '000000000001.seg'), 'utf8');
  t.equal(onDisk, expected, 'the segment holds exactly the lines, in order');
  const batch = await spool.readBatch(100, 1024 * 1024);
  t.equal(batch!.data.toString('utf8'), expected, 'the batch bytes equal the lines');
  t.same(batch!.events.map((e) => e.id), events.map((e) => e.id), 'every event parsed back');
  t.equal(spool.stats().spooledBytes, Buffer.byteLength(expected), 'byte accounting counts UTF-8 bytes, not characters');
  await spool.close();
});

t.test('records that arrive during a write wait for the write delay (no loop of tiny writes under load)', async (t) => {
  const dir = await tempDir(t);
  // Writes are held until the test releases them: a busy machine's slow thread pool.
  const writes: { bytes: number; release: () => void }[] = [];
  const writeData = async (handle: import('node:fs/promises').FileHandle, data: Buffer): Promise<void> => {
    await new Promise<void>((release) => writes.push({ bytes: data.length, release }));
    await handle.write(data, 0, data.length);
  };
  const { spool } = await openSpool(dir, { writeDelayMs: 60_000, writeData });
  const events = mixedEvents(WRITE_NOW_RECORDS + 5);
  // A full queue is written at once, without the delay.
  for (const e of events.slice(0, WRITE_NOW_RECORDS)) enqueueEvent(spool, e);
  const writesReach = async (n: number): Promise<void> => {
    for (let i = 0; i < 400 && writes.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  };
  await writesReach(1);
  t.equal(writes.length, 1, 'the full queue went to disk at once');
  // Five more arrive while that write is in flight.
  for (const e of events.slice(WRITE_NOW_RECORDS)) enqueueEvent(spool, e);
  const version = spool.dataVersion;
  writes[0]!.release();
  await spool.waitForData(version);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.equal(writes.length, 1, 'the five that arrived meanwhile were not written straight after (old behaviour: one write per few events)');
  t.equal(spool.stats().inMemory, 5, 'they wait in memory for the write delay');
  // close() writes what is queued without waiting for the delay.
  const closing = spool.close();
  await writesReach(2);
  t.equal(writes.length, 2, 'close() writes the rest at once');
  writes[1]!.release();
  await closing;
  const reopened = await openSpool(dir);
  t.same(await drain(reopened.spool, 500), events.map((e) => e.id), 'every record is on disk, in order');
  await reopened.spool.close();
});

