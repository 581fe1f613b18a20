/**
 * Crash while a batch is in flight: the upstream has received a batch but not
 * answered when the producer is SIGKILLed. The cursor never moved past it, so
 * after the restart it is sent again: nothing is lost, and the re-sent events
 * show up as duplicates (at-least-once; upstream de-duplicates by id).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EventCollector } from '../helpers/event-collector.js';
import { buildProducer, deliveredCounts, receivedIds, startProducer, until } from '../helpers/event-producer-harness.js';

const WAIT_LIMIT_MS = 45_000;
const HOLD_MS = 600_000; // longer than the test: the held requests are never answered

t.test('a batch received but not acknowledged before SIGKILL is re-sent after restart', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'cordon-sigkill-inflight-'));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  const producer = buildProducer();
  t.teardown(producer.cleanup);
  let holding = true;
  const collector = await EventCollector.start(() => (holding ? { status: 200, delayMs: HOLD_MS } : { status: 200 }));
  t.teardown(() => collector.close());
  const url = collector.url('/ingest');

  const first = startProducer(producer.script, stateDir, url, 400);
  t.teardown(() => {
    first.child.kill('SIGKILL');
  });
  t.ok(await until(() => first.lines.includes('DONE') && collector.requests.length >= 1, WAIT_LIMIT_MS), 'all events accepted and a batch is in flight');
  first.child.kill('SIGKILL');
  t.equal(await first.exited, null, 'killed');
  const inFlight = receivedIds(collector);
  t.ok(inFlight.size > 0, `${inFlight.size} events were received but never acknowledged`);
  t.equal(collector.accepted().length, 0, 'nothing was acknowledged before the kill');

  holding = false;
  const second = startProducer(producer.script, stateDir, url, 0);
  t.teardown(() => {
    second.child.kill('SIGKILL');
  });
  const accepted = new Set(first.accepted);
  const allArrived = await until(() => {
    const got = deliveredCounts(collector);
    for (const id of accepted) if (!got.has(id)) return false;
    return true;
  }, WAIT_LIMIT_MS);
  t.ok(allArrived, `all ${accepted.size} accepted events delivered after the restart`);
  const delivered = deliveredCounts(collector);
  const resent = [...inFlight].filter((id) => delivered.has(id)).length;
  t.equal(resent, inFlight.size, 'every event of the unacknowledged batch was sent again');
  t.comment(`accepted: ${accepted.size}; in flight at the kill: ${inFlight.size}; duplicates seen upstream (held + re-sent): ${inFlight.size}`);
  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0, 'clean shutdown');
});
