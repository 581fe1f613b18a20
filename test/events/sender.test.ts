/**
 * Delivery against a misbehaving upstream (issue 5, "must show"): one that
 * answers slowly, errors (500 → set aside, not retried forever), answers 429
 * with Retry-After (seconds and HTTP date), closes the connection mid-request,
 * and rejects one bad event inside a batch (400 → the batch is split so only
 * that event is set aside). Delays are observed through an injected sleep,
 * never measured. A transport that takes raw NDJSON gets the spooled bytes
 * and the sender never parses them; one that does not gets the events.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { SinkSender, backoffDelayMs } from '../../src/events/sender.js';
import type { SendOutcome, SenderOptions, SinkTransport } from '../../src/events/sender.js';
import { HttpBatchTransport } from '../../src/events/sinks/http.js';
import { classifyHttpResponse, parseRetryAfter } from '../../src/events/sinks/http-post.js';
import { Spool } from '../../src/events/spool.js';
import type { CordonEvent } from '../../src/events/types.js';
import { EventCollector, ndjsonIds } from '../helpers/event-collector.js';
import type { CollectorScript } from '../helpers/event-collector.js';
import { stampedEvents } from '../helpers/event-fixtures.js';

const REQUEST_TIMEOUT_MS = 300;
const WAIT_LIMIT_MS = 20_000;

interface Run {
  collector: EventCollector;
  sleeps: number[];
  reports: { action: string; details: Record<string, unknown> }[];
  sender: SinkSender;
  spool: Spool;
  dir: string;
  delivered: Set<string>;
  deliveredCount: number;
}

async function runAgainst(t: Test, script: CollectorScript, events: CordonEvent[], extra: Partial<SenderOptions> = {}): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-sender-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const collector = await EventCollector.start(script);
  t.teardown(() => collector.close());
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024 });
  await spool.open();
  const transport = new HttpBatchTransport(
    { name: 'up', type: 'http', url: collector.url('/ingest'), format: 'native', headers: {}, spool_max_bytes: 64 * 1024 * 1024 },
    { version: 'test', timeoutMs: REQUEST_TIMEOUT_MS },
  );
  const sleeps: number[] = [];
  const reports: Run['reports'] = [];
  const sender = new SinkSender({
    name: 'up',
    spool,
    transport,
    report: (action, _message, details) => reports.push({ action, details }),
    sleep: async (ms) => {
      sleeps.push(ms);
      await new Promise((r) => setTimeout(r, 5));
    },
    random: () => 0.5,
    ...extra,
  });
  for (const e of events) spool.enqueue(JSON.stringify(e) + '\n', Date.parse(e.time));
  await spool.sync();
  sender.start();
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (spool.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await sender.stop();
  await transport.close();
  const delivered = new Set<string>();
  let deliveredCount = 0;
  for (const req of collector.accepted()) {
    for (const id of ndjsonIds(req.body)) {
      delivered.add(id);
      deliveredCount++;
    }
  }
  t.teardown(() => spool.close());
  return { collector, sleeps, reports, sender, spool, dir, delivered, deliveredCount };
}

async function poisonedIds(dir: string): Promise<string[]> {
  const names = (await readdir(join(dir, 'poisoned')).catch(() => [] as string[])).filter((n) => n.endsWith('.jsonl')).sort();
  const ids: string[] = [];
  for (const n of names) ids.push(...ndjsonIds(await readFile(join(dir, 'poisoned', n))));
  return ids;
}

t.test('slow upstream: the request times out and the batch is retried', async (t) => {
  const events = stampedEvents(20);
  const run = await runAgainst(t, (n) => (n === 1 ? { status: 200, delayMs: REQUEST_TIMEOUT_MS * 10 } : { status: 200 }), events);
  t.equal(run.spool.stats().queued, 0, 'spool drained');
  t.ok(events.every((e) => run.delivered.has(e.id)), 'every event delivered');
  t.equal(run.sleeps.length, 1, 'one backoff wait');
  t.equal(run.sleeps[0], backoffDelayMs(0, 500, 60_000, () => 0.5), 'first retry waits the first backoff step');
  t.match(run.reports.map((r) => r.action), ['sink-error', 'sink-recovered'], 'failure and recovery each reported once');
  t.match(String(run.reports[0]?.details['error']), /timed out/, 'the error says it timed out');
});

t.test('500 is not retried: the batch is set aside in poisoned/ and reported', async (t) => {
  const events = stampedEvents(10);
  const run = await runAgainst(t, (n) => (n === 1 ? { status: 500, body: 'internal error' } : { status: 200 }), events, { batchMaxEvents: 4 });
  t.equal(run.collector.requests.length, 3, 'three requests: 4 (rejected), 4, 2 — the rejected batch was not sent again');
  t.same(await poisonedIds(run.dir), events.slice(0, 4).map((e) => e.id), 'the rejected batch is kept in poisoned/');
  t.same([...run.delivered], events.slice(4).map((e) => e.id), 'the rest is delivered');
  t.same(run.sleeps, [], 'no backoff for a permanent rejection');
  const poison = run.reports.find((r) => r.action === 'poisoned-batch');
  t.match(poison?.details, { sink: 'up', count: 4, status: 500 }, 'reported as poisoned-batch with status and count');
  t.equal(run.sender.status().poisonedBatches, 1, 'poisoned batches counted');
});

t.test('429 with Retry-After seconds waits exactly that long', async (t) => {
  const events = stampedEvents(5);
  const run = await runAgainst(t, (n) => (n === 1 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 }), events);
  t.same(run.sleeps, [3000], 'waited 3000 ms as told');
  t.ok(events.every((e) => run.delivered.has(e.id)), 'delivered after the wait');
});

t.test('503 with Retry-After as an HTTP date waits until that date', async (t) => {
  const events = stampedEvents(5);
  const run = await runAgainst(t, (n) => (n === 1 ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 5000).toUTCString() } } : { status: 200 }), events);
  t.equal(run.sleeps.length, 1, 'one wait');
  t.ok(run.sleeps[0]! > 3000 && run.sleeps[0]! <= 5000, `waited until the date (${run.sleeps[0]} ms)`);
  t.ok(events.every((e) => run.delivered.has(e.id)), 'delivered after the wait');
});

t.test('Retry-After beyond the cap is capped', async (t) => {
  const events = stampedEvents(2);
  const run = await runAgainst(t, (n) => (n === 1 ? { status: 429, headers: { 'retry-after': '86400' } } : { status: 200 }), events, { retryAfterMaxMs: 7000 });
  t.same(run.sleeps, [7000], 'a day-long Retry-After is capped at retryAfterMaxMs');
});

t.test('connection closed mid-request is retried with backoff', async (t) => {
  const events = stampedEvents(15);
  const run = await runAgainst(t, (n) => (n <= 2 ? { destroyMidRequest: true } : { status: 200 }), events);
  t.ok(events.every((e) => run.delivered.has(e.id)), 'every event delivered');
  t.same(run.sleeps, [backoffDelayMs(0, 500, 60_000, () => 0.5), backoffDelayMs(1, 500, 60_000, () => 0.5)], 'backoff grows between attempts');
  t.match(String(run.reports[0]?.details['error']), /socket hang up|ECONNRESET/, 'the error names the reset');
  t.equal(run.reports.filter((r) => r.action === 'sink-error').length, 1, 'sink-error reported once, not per retry');
});

t.test('400 for one bad event: the batch is split so only that event is set aside', async (t) => {
  const events = stampedEvents(16);
  const bad = events[11]!.id;
  const run = await runAgainst(t, (_n, body) => (body.includes(bad) ? { status: 400, body: '{"error":"invalid event"}' } : { status: 200 }), events, { batchMaxEvents: 16 });
  t.same(await poisonedIds(run.dir), [bad], 'only the bad event is in poisoned/');
  t.same(
    [...run.delivered].sort(),
    events.filter((e) => e.id !== bad).map((e) => e.id).sort(),
    'the fifteen good events are delivered',
  );
  t.ok(run.collector.requests.length <= 12, `isolated in ${run.collector.requests.length} requests (log2 splitting)`);
  t.equal(run.deliveredCount, 15, 'no good event delivered twice');
});

t.test('401 (misconfigured token) is set aside without splitting', async (t) => {
  const events = stampedEvents(6);
  const run = await runAgainst(t, () => ({ status: 401, body: 'bad token' }), events, { batchMaxEvents: 6 });
  t.equal(run.collector.requests.length, 1, 'one request: a 401 is not about the content, so no splitting');
  t.same(await poisonedIds(run.dir), events.map((e) => e.id), 'kept in poisoned/ for replay');
});

t.test('classification of HTTP statuses', async (t) => {
  const cases: { name: string; status: number; kind: string; splittable?: boolean }[] = [
    { name: '200 ok', status: 200, kind: 'ok' },
    { name: '204 ok', status: 204, kind: 'ok' },
    { name: '408 retry', status: 408, kind: 'retry' },
    { name: '429 retry', status: 429, kind: 'retry' },
    { name: '502 retry', status: 502, kind: 'retry' },
    { name: '503 retry', status: 503, kind: 'retry' },
    { name: '504 retry', status: 504, kind: 'retry' },
    { name: '500 poison', status: 500, kind: 'poison', splittable: false },
    { name: '501 poison', status: 501, kind: 'poison', splittable: false },
    { name: '400 poison, splittable', status: 400, kind: 'poison', splittable: true },
    { name: '413 poison, splittable', status: 413, kind: 'poison', splittable: true },
    { name: '422 poison, splittable', status: 422, kind: 'poison', splittable: true },
    { name: '401 poison', status: 401, kind: 'poison', splittable: false },
    { name: '403 poison', status: 403, kind: 'poison', splittable: false },
    { name: '404 poison', status: 404, kind: 'poison', splittable: false },
    { name: '301 poison (redirects are not followed)', status: 301, kind: 'poison', splittable: false },
  ];
  for (const c of cases) {
    const outcome = classifyHttpResponse({ status: c.status, headers: {}, body: '' });
    t.equal(outcome.kind, c.kind, c.name);
    if (outcome.kind === 'poison') t.equal(outcome.splittable, c.splittable, `${c.name}: splittable`);
  }
});

t.test('Retry-After parsing', async (t) => {
  const now = Date.parse('2026-11-25T09:00:00Z');
  const cases: { name: string; value: string | undefined; ms: number | undefined }[] = [
    { name: 'seconds', value: '120', ms: 120_000 },
    { name: 'zero', value: '0', ms: 0 },
    { name: 'HTTP date', value: 'Wed, 25 Nov 2026 09:00:30 GMT', ms: 30_000 },
    { name: 'date in the past', value: 'Wed, 25 Nov 2026 08:00:00 GMT', ms: 0 },
    { name: 'absent', value: undefined, ms: undefined },
    { name: 'garbage', value: 'soon', ms: undefined },
    { name: 'negative', value: '-5', ms: undefined },
  ];
  for (const c of cases) t.equal(parseRetryAfter(c.value, now), c.ms, c.name);
});

t.test('backoff: exponential, jittered, capped', async (t) => {
  t.equal(backoffDelayMs(0, 500, 60_000, () => 0), 250, 'attempt 0, no jitter: half the base');
  t.equal(backoffDelayMs(0, 500, 60_000, () => 1), 500, 'attempt 0, full jitter: the base');
  t.equal(backoffDelayMs(3, 500, 60_000, () => 0.5), 3000, 'attempt 3: 4000 step, 3000 with mid jitter');
  t.equal(backoffDelayMs(30, 500, 60_000, () => 1), 60_000, 'capped at the max');
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) seen.add(backoffDelayMs(4, 500, 60_000));
  t.ok(seen.size > 1, 'real randomness spreads retries out');
});

interface FakeTransportLog {
  bodies: Buffer[];
  eventBatches: CordonEvent[][];
}

/** A transport that accepts everything and records what it was given; raw NDJSON only when `raw`. */
function fakeTransport(raw: boolean): { transport: SinkTransport; log: FakeTransportLog } {
  const log: FakeTransportLog = { bodies: [], eventBatches: [] };
  const ok: SendOutcome = { kind: 'ok' };
  const transport: SinkTransport = {
    type: 'http',
    send: async (events) => {
      log.eventBatches.push(events);
      return ok;
    },
    close: async () => undefined,
  };
  if (raw) {
    transport.sendNdjson = async (body) => {
      log.bodies.push(Buffer.from(body));
      return ok;
    };
  }
  return { transport, log };
}

/** Spools `events`, runs a sender over them until the spool is drained, and stops it. */
async function drainWith(t: Test, transport: SinkTransport, events: CordonEvent[], during?: () => void, after?: () => void): Promise<{ spool: Spool; sender: SinkSender }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-sender-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024 });
  await spool.open();
  t.teardown(() => spool.close());
  for (const e of events) spool.enqueue(JSON.stringify(e) + '\n', Date.parse(e.time));
  await spool.sync();
  const sender = new SinkSender({ name: 'up', spool, transport, batchMaxEvents: 8 });
  during?.();
  try {
    sender.start();
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (spool.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await sender.stop();
  } finally {
    after?.();
  }
  return { spool, sender };
}

t.test('a transport with sendNdjson gets the spooled bytes, and the sender never parses the batch', async (t) => {
  const events = stampedEvents(30);
  const ids = new Set(events.map((e) => e.id));
  const { transport, log } = fakeTransport(true);
  const realParse = JSON.parse;
  let eventParses = 0;
  const { spool, sender } = await drainWith(
    t,
    transport,
    events,
    () => {
      JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
        if (typeof text === 'string' && [...ids].some((id) => text.includes(id))) eventParses++;
        return realParse(text, reviver);
      }) as typeof JSON.parse;
    },
    () => {
      JSON.parse = realParse;
    },
  );
  t.equal(spool.stats().queued, 0, 'spool drained');
  t.equal(log.eventBatches.length, 0, 'send(events) was never called');
  t.equal(log.bodies.length, Math.ceil(events.length / 8), 'one body per batch of 8');
  t.equal(Buffer.concat(log.bodies).toString('utf8'), events.map((e) => JSON.stringify(e) + '\n').join(''), 'the bodies are the spooled lines, in order');
  t.equal(eventParses, 0, 'no event line was JSON.parsed on the way');
  t.equal(sender.status().delivered, events.length, 'delivered counts events, not bodies');
});

t.test('a transport without sendNdjson still gets the events', async (t) => {
  const events = stampedEvents(20);
  const { transport, log } = fakeTransport(false);
  const { spool, sender } = await drainWith(t, transport, events);
  t.equal(spool.stats().queued, 0, 'spool drained');
  t.equal(log.bodies.length, 0, 'no raw body');
  t.same(log.eventBatches.map((b) => b.length), [8, 8, 4], 'batches of 8');
  t.same(log.eventBatches.flat(), events, 'the events themselves, in order');
  t.equal(sender.status().delivered, events.length, 'all delivered');
});

t.test('linger: a trickle of events goes out as a few POSTs, not one per event', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-sender-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const collector = await EventCollector.start();
  t.teardown(() => collector.close());
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, writeDelayMs: 0 });
  await spool.open();
  t.teardown(() => spool.close());
  const transport = new HttpBatchTransport(
    { name: 'up', type: 'http', url: collector.url('/ingest'), format: 'native', headers: {}, spool_max_bytes: 64 * 1024 * 1024 },
    { version: 'test', timeoutMs: 2_000 },
  );
  t.teardown(() => transport.close());
  const LINGER_MS = 150;
  const sender = new SinkSender({ name: 'up', spool, transport, lingerMs: LINGER_MS });
  sender.start();
  const events = stampedEvents(40);
  // One event every ~10 ms for ~400 ms: without lingering each would be its own POST.
  for (const e of events) {
    spool.enqueue(JSON.stringify(e) + '\n', Date.parse(e.time));
    await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (spool.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await sender.stop();
  const ids = collector.accepted().flatMap((req) => ndjsonIds(req.body));
  t.same(ids, events.map((e) => e.id), 'every event delivered once, in order');
  const posts = collector.accepted().length;
  t.ok(posts <= 10, `40 events trickling in over ~400 ms went out in ${posts} POSTs (one per event without lingering)`);
});

t.test('linger: a full batch is sent at once, the next full one right after', async (t) => {
  const events = stampedEvents(30);
  // runAgainst stops the sender once the spool is empty (or after 20 s): a 60 s linger after a full batch would leave events behind.
  const run = await runAgainst(t, () => ({ status: 200 }), events, { batchMaxEvents: 10, lingerMs: 60_000 });
  t.equal(run.deliveredCount, 30, 'all 30 delivered: no linger between full batches');
  t.equal(run.collector.accepted().length, 3, 'three full batches of 10');
});
