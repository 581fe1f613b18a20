/**
 * Child process for the crash tests (test/events/sigkill*.test.ts). Runs an
 * EventPipeline with one `http` sink, emits daemon events continuously and
 * prints `ACCEPTED <id>` for each event once `sync()` says it is written and
 * fsynced in the spool. The parent kills it with SIGKILL, restarts it (the
 * spool resumes), and checks upstream by id. Started through
 * event-producer-harness.ts, which transpiles it to JavaScript first.
 *
 *   node event-producer.js STATE_DIR URL EMIT_COUNT
 *   EMIT_COUNT 0: emit nothing, just deliver what the spool holds.
 */
import { EventPipeline } from '../../src/events/pipeline.js';

const BATCH = 20;
const PAUSE_MS = 2;

async function main(): Promise<void> {
  const [stateDir, url, countText] = process.argv.slice(2);
  if (stateDir === undefined || url === undefined || countText === undefined) throw new Error('usage: event-producer STATE_DIR URL EMIT_COUNT');
  const total = Number(countText);
  const pipeline = new EventPipeline({
    stateDir,
    identity: { user: 'producer', device: 'test-host' },
    sinks: [{ name: 'collector', type: 'http', url, format: 'native', headers: {}, spool_max_bytes: 64 * 1024 * 1024 }],
    sender: { backoffBaseMs: 20, backoffMaxMs: 200, requestTimeoutMs: 2000, batchMaxEvents: 100 },
  });
  await pipeline.start();
  process.stdout.write('READY\n');
  process.on('SIGTERM', () => {
    void pipeline.close().then(() => process.exit(0));
  });
  let emitted = 0;
  while (emitted < total) {
    const ids: string[] = [];
    for (let i = 0; i < BATCH && emitted < total; i++, emitted++) {
      ids.push(pipeline.emit({ kind: 'daemon', action: 'start', message: `producer event ${emitted}`, details: { n: emitted }, policy: null }).id);
    }
    await pipeline.sync();
    process.stdout.write(ids.map((id) => `ACCEPTED ${id}\n`).join(''));
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  }
  process.stdout.write('DONE\n');
  // Keep delivering until the parent stops us.
  setInterval(() => {
    const status = pipeline.sinkStatus()[0];
    process.stdout.write(`STATUS ${JSON.stringify(status)}\n`);
  }, 500);
}

main().catch((err: unknown) => {
  process.stderr.write(`producer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
