/**
 * The spool's in-memory structures on their own: the line queue (FIFO with
 * times, refuses when full) and the memory tail of written chunks (batches
 * across chunks, the cap dropping single lines, trims inside a chunk).
 * test/events/spool.test.ts checks end to end that tail batches equal disk
 * batches byte for byte.
 */
import t from 'tap';
import { LineQueue, MemoryTail } from '../../src/events/spool-memory.js';
import type { TailChunk } from '../../src/events/spool-memory.js';

/** A chunk of `lines` written at (seq, offset); each line's time is 1000 + its global index. */
function chunk(seq: number, offset: number, lines: string[], firstIndex = 0): TailChunk {
  const data = Buffer.from(lines.join(''), 'utf8');
  const ends = new Uint32Array(lines.length);
  const times = new Float64Array(lines.length);
  let at = 0;
  lines.forEach((line, i) => {
    at += Buffer.byteLength(line, 'utf8');
    ends[i] = at;
    times[i] = 1000 + firstIndex + i;
  });
  return { seq, offset, data, ends, times, first: 0 };
}

const A = ['a1\n', 'a22\n', 'a333\n']; // 3 + 4 + 5 = 12 bytes
const B = ['b1\n', 'ü2\n']; // 3 + 4 = 7 bytes (ü is two bytes)

t.test('line queue: first in, first out, with each line’s time; full refuses', async (t) => {
  const q = new LineQueue(3);
  t.ok(q.push('x\n', 1));
  t.ok(q.push('y\n', 2));
  t.ok(q.push('z\n', 3));
  t.notOk(q.push('w\n', 4), 'a fourth line is refused, not stored');
  t.equal(q.length, 3);
  const seen: [string, number][] = [];
  q.shift();
  t.ok(q.push('v\n', 5), 'room again after a shift (the ring wraps)');
  while (q.length > 0) {
    seen.push([q.peekLine(), q.peekTime()]);
    q.shift();
  }
  t.same(seen, [['y\n', 2], ['z\n', 3], ['v\n', 5]]);
  t.throws(() => new LineQueue(0), /positive integer/);
});

t.test('memory tail batches', async (t) => {
  const cases: { name: string; at: [number, number]; maxEvents: number; maxBytes: number; want: { text: string; count: number; end: number; firstTimeMs: number } | null }[] = [
    { name: 'everything contiguous in one segment, across two chunks', at: [1, 0], maxEvents: 100, maxBytes: 1024, want: { text: A.join('') + B.join(''), count: 5, end: 19, firstTimeMs: 1000 } },
    { name: 'capped by events inside the first chunk', at: [1, 0], maxEvents: 2, maxBytes: 1024, want: { text: 'a1\na22\n', count: 2, end: 7, firstTimeMs: 1000 } },
    { name: 'capped by bytes: the next line would not fit', at: [1, 0], maxEvents: 100, maxBytes: 13, want: { text: A.join(''), count: 3, end: 12, firstTimeMs: 1000 } },
    { name: 'a first line longer than maxBytes widens the window by doubling', at: [1, 0], maxEvents: 100, maxBytes: 2, want: { text: 'a1\n', count: 1, end: 3, firstTimeMs: 1000 } },
    { name: 'not at the cursor: the caller reads the disk', at: [1, 3], maxEvents: 100, maxBytes: 1024, want: null },
    { name: 'another segment: the caller reads the disk', at: [2, 0], maxEvents: 100, maxBytes: 1024, want: null },
  ];
  for (const c of cases) {
    const tail = new MemoryTail(1024);
    tail.push(chunk(1, 0, A));
    tail.push(chunk(1, 12, B, 3));
    tail.push(chunk(2, 0, ['c1\n'], 5));
    const got = tail.batchAt(c.at[0], c.at[1], c.maxEvents, c.maxBytes);
    if (c.want === null) t.equal(got, null, c.name);
    else t.same(got === null ? null : { text: got.data.toString('utf8'), count: got.count, end: got.end, firstTimeMs: got.firstTimeMs }, c.want, c.name);
  }
});

t.test('memory tail: a batch stops at the end of its segment', async (t) => {
  const tail = new MemoryTail(1024);
  tail.push(chunk(1, 0, A));
  tail.push(chunk(2, 0, B, 3));
  t.equal(tail.batchAt(1, 0, 100, 1024)?.data.toString(), A.join(''));
});

t.test('memory tail: a batch inside one chunk is a view of it, not a copy', async (t) => {
  const tail = new MemoryTail(1024);
  const c = chunk(1, 0, A);
  tail.push(c);
  const got = tail.batchAt(1, 0, 2, 1024)!;
  c.data[0] = 0x41; // only this test writes into a chunk: a view sees it, a copy would not
  t.equal(got.data.toString(), 'A1\na22\n', 'same memory');
});

t.test('memory tail: trims drop lines, inside a chunk too', async (t) => {
  const tail = new MemoryTail(1024);
  tail.push(chunk(1, 0, A));
  tail.push(chunk(1, 12, B, 3));
  t.equal(tail.bytes, 19);
  tail.trimBefore(1, 3); // acked "a1\n"
  t.equal(tail.bytes, 16, 'one line gone');
  t.same(tail.batchAt(1, 3, 100, 1024)?.firstTimeMs, 1001, 'the next batch starts at the second line, with its time');
  tail.trimBefore(1, 15); // acked through "b1\n"
  t.equal(tail.bytes, 4, 'the first chunk is freed, one line of the second left');
  t.equal(tail.batchAt(1, 15, 100, 1024)?.data.toString(), 'ü2\n');
  tail.trimBefore(2, 0); // a later segment: everything before it is gone
  t.equal(tail.bytes, 0);
  t.equal(tail.batchAt(1, 15, 100, 1024), null);
});

t.test('memory tail: the cap drops the oldest lines one by one and keeps the newest that fit', async (t) => {
  const tail = new MemoryTail(9);
  tail.push(chunk(1, 0, A)); // 12 bytes > 9: "a1\n" (3) drops, 9 left
  t.equal(tail.bytes, 9);
  t.equal(tail.batchAt(1, 0, 100, 1024), null, 'the dropped line is not served');
  t.equal(tail.batchAt(1, 3, 100, 1024)?.data.toString(), 'a22\na333\n');
  tail.push(chunk(1, 12, B, 3)); // +7 = 16: drops "a22\n" and "a333\n"
  t.equal(tail.bytes, 7);
  t.equal(tail.batchAt(1, 12, 100, 1024)?.data.toString(), B.join(''));
  const off = new MemoryTail(0);
  off.push(chunk(1, 0, A));
  t.equal(off.bytes, 0, 'a cap of 0 turns the tail off');
  t.equal(off.batchAt(1, 0, 100, 1024), null);
});
