/**
 * Bench only: the floor of an upstream sink, loaded into a cordon daemon with
 * `node --import` by bench/sink-pairs.bench.ts (spec suffix "@floor"), so the
 * sink's cost under proxy load can be set against the least any sink could
 * cost with the same promise, in the same rounds.
 *
 * The floor does only what no durable HTTP sink can skip: it takes every
 * event's line as the pipeline dispatches it (a subscriber, the same point in
 * the dispatch as the spools' queues), encodes it into one buffer at once,
 * writes what it holds every SPOOL_WRITE_INTERVAL_MS, fsyncs every
 * FSYNC_INTERVAL_MS and POSTs what was written every POST_INTERVAL_MS on one
 * keep-alive connection — cordon's spool defaults for the first two, its
 * send linger for the third. No spool format, cap, cursor, retry or
 * deletion; nothing in cordon depends on it.
 *
 * Env: CORDON_BENCH_FLOOR_URL (the collector) and CORDON_BENCH_FLOOR_FILE
 * (where to append); without both it does nothing.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { EventPipeline } from '../src/events/pipeline.js';

export const FLOOR_URL_ENV = 'CORDON_BENCH_FLOOR_URL';
export const FLOOR_FILE_ENV = 'CORDON_BENCH_FLOOR_FILE';
const SPOOL_WRITE_INTERVAL_MS = 50;
const FSYNC_INTERVAL_MS = 250;
const POST_INTERVAL_MS = 100;
/** Lines that would not fit are left out (and counted); at the bench's rate 50 ms of lines is ~200 KiB. */
const STAGE_BYTES = 4 * 1024 * 1024;
/** A UTF-8 encoding takes at most this many bytes per UTF-16 code unit. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

function startFloor(pipeline: EventPipeline, file: FileHandle, url: URL): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const stage = Buffer.allocUnsafeSlow(STAGE_BYTES);
  let staged = 0;
  let unsent: Buffer[] = [];
  let writing = false;
  let posting = false;
  let dirty = false;
  let left = 0;
  pipeline.subscribe((_event, line) => {
    if (staged + line.length * MAX_UTF8_BYTES_PER_UNIT > STAGE_BYTES) left++;
    else staged += stage.write(line, staged, 'utf8');
  });
  const writeTimer = setInterval(() => {
    if (writing || staged === 0) return;
    writing = true;
    const chunk = Buffer.allocUnsafe(staged);
    stage.copy(chunk, 0, 0, staged);
    staged = 0;
    file.write(chunk).then(
      () => {
        unsent.push(chunk);
        dirty = true;
        writing = false;
      },
      (err: unknown) => process.stderr.write(`sink floor: write failed: ${String(err)}\n`),
    );
  }, SPOOL_WRITE_INTERVAL_MS);
  const syncTimer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    file.sync().catch((err: unknown) => process.stderr.write(`sink floor: fsync failed: ${String(err)}\n`));
  }, FSYNC_INTERVAL_MS);
  const postTimer = setInterval(() => {
    if (posting || unsent.length === 0) return;
    posting = true;
    const body = unsent.length === 1 ? unsent[0]! : Buffer.concat(unsent);
    unsent = [];
    const done = (): void => {
      posting = false;
    };
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', done);
      },
    );
    req.on('error', done);
    req.end(body);
  }, POST_INTERVAL_MS);
  for (const timer of [writeTimer, syncTimer, postTimer]) timer.unref();
  process.once('exit', () => {
    if (left > 0) process.stderr.write(`sink floor: ${left} line(s) did not fit the stage buffer\n`);
  });
}

const floorUrl = process.env[FLOOR_URL_ENV];
const floorFile = process.env[FLOOR_FILE_ENV];
if (floorUrl !== undefined && floorFile !== undefined) {
  const url = new URL(floorUrl);
  const originalStart = EventPipeline.prototype.start;
  const floored = new WeakSet<EventPipeline>();
  EventPipeline.prototype.start = async function startWithFloor(this: EventPipeline): Promise<void> {
    await originalStart.call(this);
    if (floored.has(this)) return;
    floored.add(this);
    startFloor(this, await open(floorFile, 'a'), url);
  };
}
