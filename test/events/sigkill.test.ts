/**
 * Durability across a crash (issue 5, "must show"): a producer emits events
 * while its upstream is down; every event it printed as accepted must reach
 * the upstream after the producer is SIGKILLed, restarted, and the upstream
 * comes up. Proven by id; duplicates are reported (at-least-once allows them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EventCollector } from '../helpers/event-collector.js';
import { buildProducer, deliveredCounts, downPort, startProducer, until } from '../helpers/event-producer-harness.js';

const KILL_AFTER_ACCEPTED = 300;
const WAIT_LIMIT_MS = 45_000;

t.test('every event accepted before SIGKILL reaches the upstream after restart', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'cordon-sigkill-'));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  const producer = buildProducer();
  t.teardown(producer.cleanup);
  const port = await downPort();
  const url = `http://127.0.0.1:${port}/ingest`;

  // Run 1: upstream down, events flowing, then SIGKILL.
  const first = startProducer(producer.script, stateDir, url, 1_000_000);
  t.teardown(() => {
    first.child.kill('SIGKILL');
  });
  const enough = await until(() => first.accepted.length >= KILL_AFTER_ACCEPTED, WAIT_LIMIT_MS);
  t.ok(enough, `producer accepted at least ${KILL_AFTER_ACCEPTED} events while the upstream was down`, { lines: first.lines.slice(-5) });
  first.child.kill('SIGKILL');
  t.equal(await first.exited, null, 'the producer died by signal, not by exiting');
  const acceptedBeforeKill = new Set(first.accepted);
  t.equal(acceptedBeforeKill.size, first.accepted.length, 'every accepted id is unique');

  // Run 2: restart on the same state dir (resumes the spool), then bring the upstream up.
  const second = startProducer(producer.script, stateDir, url, 0);
  t.teardown(() => {
    second.child.kill('SIGKILL');
  });
  t.ok(await until(() => second.lines.includes('READY'), WAIT_LIMIT_MS), 'restarted producer is ready');
  const collector = await EventCollector.start(undefined, port);
  t.teardown(() => collector.close());

  const allArrived = await until(() => {
    const got = deliveredCounts(collector);
    for (const id of acceptedBeforeKill) if (!got.has(id)) return false;
    return true;
  }, WAIT_LIMIT_MS);
  const received = deliveredCounts(collector);
  t.ok(allArrived, 'all accepted events arrived');
  t.same(
    [...acceptedBeforeKill].filter((id) => !received.has(id)),
    [],
    'no event accepted before the kill is missing upstream',
  );
  let duplicates = 0;
  for (const n of received.values()) if (n > 1) duplicates += n - 1;
  const extra = [...received.keys()].filter((id) => !acceptedBeforeKill.has(id)).length;
  t.comment(`accepted before kill: ${acceptedBeforeKill.size}; received ids: ${received.size}; duplicates: ${duplicates}; other ids (written but not yet printed when killed, sink-error events): ${extra}`);
  t.ok(collector.requests.every((r) => r.headers['content-type'] === 'application/x-ndjson'), 'every delivery is NDJSON');

  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0, 'restarted producer shuts down cleanly on SIGTERM');
});
