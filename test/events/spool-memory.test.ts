/**
 * The spool's in-memory structures on their own: the line queue (encoded
 * lines with times, FIFO, refuses at its line or byte cap) and the memory
 * tail of written chunks (batches across chunks, the cap dropping single
 * lines, trims inside a chunk).
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

/** Takes everything queued, line by line, as [text, time] pairs. */
function drain(q: LineQueue): [string, number][] {
  const out: [string, number][] = [];
  while (q.length > 0) {
    const time = q.timeAt(0);
    out.push([q.takeChunk(1).data.toString('utf8'), time]);
  }
  return out;
}

t.test('line queue: first in, first out, with each line’s time and exact UTF-8 size', async (t) => {
  const q = new LineQueue(8, 1024);
  const lines = ['x\n', 'ü\n', '😀\n', '\ud800\n']; // 2, 3, 5 bytes; a lone surrogate becomes U+FFFD (3 bytes) + \n
  lines.forEach((line, i) => t.ok(q.push(line, 10 + i)));
  t.same([0, 1, 2, 3].map((k) => q.sizeAt(k)), [2, 3, 5, 4], 'sizes are UTF-8 bytes, not UTF-16 units');
  t.equal(q.bytes, 14);
  t.equal(q.timeAt(1), 11);
  const two = q.takeChunk(2).data;
  t.equal(two.toString('utf8'), 'x\nü\n', 'take returns the oldest lines back to back');
  t.equal(two.length, 5, 'of exactly their size');
  t.same(drain(q), [['😀\n', 12], ['\ufffd\n', 13]]);
  t.equal(q.bytes, 0);
  t.equal(q.takeChunk(1).data.length, 0, 'taking from an empty queue gives no bytes');
  t.ok(q.push('a\n', 20) && q.push('b\n', 21));
  t.equal(q.takeChunk(5).data.toString('utf8'), 'a\nb\n', 'taking more than is queued gives what is there');
});

t.test('line queue: full by lines or by bytes refuses and stores nothing', async (t) => {
  const byLines = new LineQueue(2, 1024);
  t.ok(byLines.push('a\n', 1));
  t.ok(byLines.push('b\n', 2));
  t.notOk(byLines.push('c\n', 3), 'a third line is refused');
  byLines.drop(1);
  t.ok(byLines.push('d\n', 4), 'room again after the oldest is dropped');
  t.same(drain(byLines), [['b\n', 2], ['d\n', 4]]);

  const byBytes = new LineQueue(100, 10);
  t.ok(byBytes.push('12345678\n', 1), '9 bytes fit under a 10-byte cap');
  t.notOk(byBytes.push('ab\n', 2), 'a line that would pass the byte cap is refused');
  t.equal(byBytes.length, 1);
  t.ok(byBytes.push('\n', 3), 'one that fits exactly is taken');
  t.notOk(new LineQueue(4, 10).push('x'.repeat(11), 1), 'a line longer than the cap is refused');
  t.same(drain(byBytes), [['12345678\n', 1], ['\n', 3]]);

  t.throws(() => new LineQueue(0, 10), /positive integer/);
  t.throws(() => new LineQueue(10, 0), /positive integer/);
});

t.test('line queue: partial takes, compaction and growth keep every line intact and in order', async (t) => {
  // A small cap and index force the buffer to compact, grow and wrap many
  // times; a plain array of strings is the reference.
  const q = new LineQueue(16, 300);
  const model: [string, number][] = [];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let refused = 0;
  let taken = 0;
  for (let step = 0; step < 5000; step++) {
    if (next(3) > 0) {
      const line = `${step}:${'é'.repeat(next(30))}${'z'.repeat(next(40))}\n`;
      const fits = model.length < 16 && model.reduce((n, [l]) => n + Buffer.byteLength(l), 0) + Buffer.byteLength(line) <= 300;
      if (q.push(line, step) !== fits) t.fail(`step ${step}: push should be ${fits ? 'accepted' : 'refused'} by the caps`);
      if (fits) model.push([line, step]);
      else refused++;
    } else if (model.length > 0) {
      const count = 1 + next(model.length);
      const want = model.splice(0, count);
      if (q.timeAt(0) !== want[0]![1]) t.fail(`step ${step}: oldest time ${q.timeAt(0)}, expected ${want[0]![1]}`);
      if (next(2) === 0) {
        const text = q.takeChunk(count).data.toString('utf8');
        if (text !== want.map(([l]) => l).join('')) t.fail(`step ${step}: take ${count} returned other bytes`);
        taken++;
      } else q.drop(count);
    }
    if (q.length !== model.length) t.fail(`step ${step}: length ${q.length}, expected ${model.length}`);
  }
  t.ok(refused > 0, `the caps were reached (${refused} refused)`);
  t.ok(taken > 100, `${taken} partial takes matched the reference`);
  t.same(drain(q), model);
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
