/**
 * What a spool holds in memory: the lines queued for the disk, and the tail
 * of chunks it wrote last, from which a sender that keeps up reads its
 * batches without touching the disk.
 *
 * Neither holds an object per event: under proxy load, objects that live
 * until the upstream acknowledges them outlive young-generation collections.
 * With a record, a tail entry and a Buffer view per event the sink cost the
 * proxy +11.8 % CPU per request; without them +8.1 %, in the same run
 * (bench/RESULTS.md). So queued lines are a ring of strings with a parallel
 * Float64Array of times, chunks are encoded into a reused stage (no joined
 * string), and the tail keeps one entry per written chunk: its bytes and
 * typed arrays of line ends and times.
 */
import type { CordonEvent } from './types.js';

/** Queued lines and their event times, oldest first; a full queue refuses. */
export class LineQueue {
  private readonly lines: (string | undefined)[];
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
    this.lines = new Array<string | undefined>(capacity);
    this.times = new Float64Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** false (and nothing stored) when full. */
  push(line: string, timeMs: number): boolean {
    if (this.size === this.capacity) return false;
    const at = (this.head + this.size) % this.capacity;
    this.lines[at] = line;
    this.times[at] = timeMs;
    this.size++;
    return true;
  }

  /** The oldest line; length > 0. */
  peekLine(): string {
    return this.lines[this.head]!;
  }

  /** The oldest line's time; length > 0. */
  peekTime(): number {
    return this.times[this.head]!;
  }

  /** Drops the oldest line. */
  shift(): void {
    if (this.size === 0) return;
    this.lines[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
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
