/**
 * What a spool holds in memory: the lines queued for the disk, and the tail
 * of chunks it wrote last, from which a sender that keeps up reads its
 * batches without touching the disk.
 *
 * Neither holds an object per event. Under proxy load, whatever a sink keeps
 * from one young-generation collection to the next is copied by it and then
 * promoted, so the sink's cost showed up as a slower proxy, spread over
 * every function, not in the spool's own code. With a record, a tail entry
 * and a Buffer view per event the sink cost +11.8 % CPU per request; with
 * the strings in a ring (the tail already one entry per chunk) +8–11 %; with
 * each line encoded as it is queued +1.5–5 %, no more than a floor that only
 * writes, fsyncs and posts the same lines (bench/RESULTS.md). So the queue
 * holds the lines' UTF-8 bytes back to back with typed arrays of ends and
 * times, and the tail keeps one entry per written chunk: its bytes and typed
 * arrays of line ends and times.
 */
import type { CordonEvent } from './types.js';

/**
 * The queue's bytes start in a buffer this big (or the byte cap, if
 * smaller), which doubles as needed and is never shrunk. Under proxy load
 * the sink cost +10–14 % CPU per request with a 256 KiB start and +3–6 %
 * with 1 MiB, in alternating runs (bench/RESULTS.md); why is not
 * established (the allocator's thresholds are the likely suspect). Keep it
 * at least one chunk.
 */
const QUEUE_INITIAL_BYTES = 1024 * 1024;
/** A UTF-16 code unit encodes to at most this many UTF-8 bytes. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * Lines queued for the disk, oldest first, each UTF-8 encoded the moment it
 * is queued, with its event time. Holding the encoded bytes instead of the
 * strings means the queue keeps no young object alive until the writer runs;
 * refuses (nothing stored) at `capacity` lines or `maxBytes` bytes.
 *
 * The lines sit back to back in one buffer; `ends` and `times` are indexed
 * from `head`. Taking lines from the front only moves `head`; the rest is
 * moved to the front when the end of the buffer or of the index is reached
 * (the writer usually takes everything, which empties the queue for free).
 */
export class LineQueue {
  private buf: Buffer;
  private readonly ends: Uint32Array;
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;
  /** Byte offset of the oldest line, and the end of the newest. */
  private start = 0;
  private used = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`queue byte cap must be a positive integer, got ${maxBytes}`);
    this.buf = Buffer.allocUnsafeSlow(Math.min(QUEUE_INITIAL_BYTES, maxBytes));
    this.ends = new Uint32Array(capacity);
    this.times = new Float64Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Encoded bytes queued. */
  get bytes(): number {
    return this.used - this.start;
  }

  /** Encodes and queues `line`; false (and nothing stored) when full. */
  push(line: string, timeMs: number): boolean {
    if (this.size === this.capacity) return false;
    if (this.head + this.size === this.capacity) this.compact();
    if (this.used + line.length * MAX_UTF8_BYTES_PER_UNIT > this.buf.length && !this.makeRoom(Buffer.byteLength(line, 'utf8'))) return false;
    this.used += this.buf.write(line, this.used, 'utf8');
    const at = this.head + this.size;
    this.ends[at] = this.used;
    this.times[at] = timeMs;
    this.size++;
    return true;
  }

  /** Encoded size of the k-th oldest line; k < length. */
  sizeAt(k: number): number {
    const i = this.head + k;
    return this.ends[i]! - (k === 0 ? this.start : this.ends[i - 1]!);
  }

  /** Event time of the k-th oldest line; k < length. */
  timeAt(k: number): number {
    return this.times[this.head + k]!;
  }

  /** How many of the oldest lines fit in `limit` bytes; at least one when any is queued (a line longer than the limit goes alone). */
  countWithin(limit: number): number {
    let n = Math.min(1, this.size);
    while (n < this.size && this.ends[this.head + n]! - this.start <= limit) n++;
    return n;
  }

  /** Encoded bytes of the `count` oldest lines; count <= length. */
  bytesOf(count: number): number {
    return count <= 0 ? 0 : this.ends[this.head + count - 1]! - this.start;
  }

  /**
   * The `count` oldest lines (all there are, if fewer), removed from the
   * queue: their bytes as one Buffer of exactly their size, each line's end
   * within it, and each line's time.
   */
  takeChunk(count: number): { data: Buffer; ends: Uint32Array; times: Float64Array } {
    const n = Math.max(0, Math.min(count, this.size));
    const from = this.start;
    const data = Buffer.allocUnsafe(this.bytesOf(n));
    this.buf.copy(data, 0, from, from + data.length);
    const ends = this.ends.slice(this.head, this.head + n);
    for (let i = 0; i < n; i++) ends[i] -= from;
    const times = this.times.slice(this.head, this.head + n);
    this.drop(n);
    return { data, ends, times };
  }

  /** Removes the `count` oldest lines. */
  drop(count: number): void {
    const n = Math.min(count, this.size);
    if (n <= 0) return;
    this.start = this.ends[this.head + n - 1]!;
    this.head += n;
    this.size -= n;
    if (this.size === 0) {
      this.head = 0;
      this.start = 0;
      this.used = 0;
    }
  }

  /** Room for `exact` more bytes within the cap: compacts, then grows the buffer if still short. */
  private makeRoom(exact: number): boolean {
    if (this.bytes + exact > this.maxBytes) return false;
    this.compact();
    if (this.used + exact > this.buf.length) {
      const next = Buffer.allocUnsafeSlow(Math.min(this.maxBytes, Math.max(this.buf.length * 2, this.used + exact)));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    return true;
  }

  /** Moves the queued lines to the front of the buffer and of the index. */
  private compact(): void {
    if (this.head === 0 && this.start === 0) return;
    const shift = this.start;
    this.buf.copyWithin(0, shift, this.used);
    for (let k = 0; k < this.size; k++) {
      this.ends[k] = this.ends[this.head + k]! - shift;
      this.times[k] = this.times[this.head + k]!;
    }
    this.used -= shift;
    this.start = 0;
    this.head = 0;
  }
}

/**
 * One written chunk: its place on disk, its bytes, and per line the end
 * offset within `data` and the event time. Lines before `first` are gone
 * (acknowledged or over the cap).
 */
export interface TailChunk {
  readonly seq: number;
  readonly offset: number;
  readonly data: Buffer;
  readonly ends: Uint32Array;
  readonly times: Float64Array;
  first: number;
}

function lineStart(c: TailChunk, i: number): number {
  return i === 0 ? 0 : c.ends[i - 1]!;
}

/** The tail's array is compacted once at least this many dropped slots make up half of it. */
const TAIL_COMPACT_MIN_SLOTS = 256;

/**
 * The just-written chunks, oldest first, capped by the bytes of their live
 * lines (the oldest lines fall off first). Only chunks this process wrote go
 * in, in file order, so the chunks of one segment are contiguous. A chunk is
 * freed when its last line is dropped.
 */
export class MemoryTail {
  private chunks: (TailChunk | undefined)[] = [];
  private start = 0;
  private size = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes of the live lines. */
  get bytes(): number {
    return this.size;
  }

  push(chunk: TailChunk): void {
    if (this.maxBytes <= 0 || chunk.ends.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.ends[chunk.ends.length - 1]! - lineStart(chunk, chunk.first);
    while (this.size > this.maxBytes) this.dropOldestLine();
  }

  /** Drops the lines that start before (seq, offset): those are acknowledged or gone. */
  trimBefore(seq: number, offset: number): void {
    for (let c = this.oldest(); c !== undefined; c = this.oldest()) {
      if (c.seq > seq) return;
      const end = c.offset + c.ends[c.ends.length - 1]!;
      if (c.seq < seq || end <= offset) {
        this.dropChunk();
        continue;
      }
      while (c.first < c.ends.length && c.offset + lineStart(c, c.first) < offset) this.dropLine(c);
      return;
    }
  }

  clear(): void {
    this.chunks = [];
    this.start = 0;
    this.size = 0;
  }

  /**
   * Up to `maxEvents` lines from the oldest live one, if it starts exactly at
   * (seq, offset), else null. Within `maxBytes`, except that a first line
   * longer than that widens the window by doubling until it fits (as the
   * disk read does). The bytes are a view of the chunk when the lines lie in
   * one (chunks are never modified).
   */
  batchAt(seq: number, offset: number, maxEvents: number, maxBytes: number): { data: Buffer; count: number; end: number; firstTimeMs: number } | null {
    const first = this.oldest();
    if (first === undefined || maxEvents < 1) return null;
    if (first.seq !== seq || first.offset + lineStart(first, first.first) !== offset) return null;
    const firstLen = first.ends[first.first]! - lineStart(first, first.first);
    let budget = Math.max(1, maxBytes);
    while (budget < firstLen) budget *= 2;
    const parts: Buffer[] = [];
    let count = 0;
    let bytes = 0;
    let end = offset;
    for (let k = this.start; k < this.chunks.length && count < maxEvents; k++) {
      const c = this.chunks[k]!;
      const from = k === this.start ? c.first : 0;
      if (c.seq !== seq || c.offset + lineStart(c, from) !== end) break;
      let i = from;
      while (i < c.ends.length && count < maxEvents && bytes + (c.ends[i]! - lineStart(c, i)) <= budget) {
        bytes += c.ends[i]! - lineStart(c, i);
        count++;
        i++;
      }
      if (i === from) break;
      parts.push(c.data.subarray(lineStart(c, from), c.ends[i - 1]!));
      end = c.offset + c.ends[i - 1]!;
      if (i < c.ends.length) break;
    }
    return { data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes), count, end, firstTimeMs: first.times[first.first]! };
  }

  private oldest(): TailChunk | undefined {
    return this.chunks[this.start];
  }

  private dropOldestLine(): void {
    const c = this.oldest();
    if (c !== undefined) this.dropLine(c);
  }

  private dropLine(c: TailChunk): void {
    this.size -= c.ends[c.first]! - lineStart(c, c.first);
    c.first++;
    if (c.first === c.ends.length) this.removeOldestSlot();
  }

  private dropChunk(): void {
    const c = this.oldest()!;
    this.size -= c.ends[c.ends.length - 1]! - lineStart(c, c.first);
    this.removeOldestSlot();
  }

  private removeOldestSlot(): void {
    this.chunks[this.start] = undefined;
    this.start++;
    if (this.start === this.chunks.length) {
      this.chunks = [];
      this.start = 0;
    } else if (this.start >= TAIL_COMPACT_MIN_SLOTS && this.start * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.start);
      this.start = 0;
    }
  }
}

/**
 * A batch served from the memory tail: `data` is the spooled bytes; the
 * lines and events are split and parsed only if someone asks (a transport
 * that needs objects, or setting the batch aside). Its lines were written by
 * this process, so none is corrupt.
 */
export class MemoryBatch {
  readonly corrupt = 0;
  private splitLines: string[] | null = null;
  private parsedEvents: CordonEvent[] | null = null;

  constructor(
    readonly seq: number,
    readonly startOffset: number,
    readonly endOffset: number,
    readonly endLine: number,
    readonly count: number,
    readonly data: Buffer,
  ) {}

  get bytes(): number {
    return this.data.length;
  }

  get lines(): string[] {
    if (this.splitLines === null) {
      const text = this.data.toString('utf8');
      const lines: string[] = [];
      let from = 0;
      while (from < text.length) {
        const nl = text.indexOf('\n', from);
        const end = nl < 0 ? text.length : nl + 1;
        lines.push(text.slice(from, end));
        from = end;
      }
      this.splitLines = lines;
    }
    return this.splitLines;
  }

  get events(): CordonEvent[] {
    this.parsedEvents ??= this.lines.map((line) => JSON.parse(line) as CordonEvent);
    return this.parsedEvents;
  }
}
