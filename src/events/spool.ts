/**
 * The durable per-sink spool (DESIGN §5): events bound for one upstream sink
 * are appended to segment files under $STATE_DIR/spool/<sink>/ before they
 * count as accepted, and the sender drains them in batches, advancing a
 * persisted cursor only past what the upstream acknowledged. It survives
 * restarts and crashes, and it is capped in size.
 *
 * Layout:  000000000001.seg 000000000002.seg ...   one native event JSON per line
 *          cursor.json   {"seq":N,"offset":BYTES,"line":LINES}  everything before is acknowledged
 *          poisoned/<ULID>.jsonl + .meta.json      batches the upstream rejected for good
 *
 * Writing: lines wait in a bounded in-memory queue (full → counted drop,
 * never a wait), up to DEFAULT_WRITE_DELAY_MS so that a trickle becomes one
 * write (lines that arrive while a write is in flight wait too, unless
 * WRITE_NOW_RECORDS are queued), already UTF-8 encoded (spool-memory.ts),
 * and one writer appends them in chunks to the head segment;
 * the head rolls at segmentMaxBytes. fsync is batched: at most every
 * fsyncIntervalMs, or at once after fsyncEveryRecords. `sync()` resolves when
 * everything queued before the call is written and fsynced.
 *
 * Reading: only bytes the writer has completed are read. A batch ends on a
 * line boundary; lines that do not parse are skipped and counted. On open,
 * every segment is sealed and scanned; a torn last line (a crash mid-write)
 * is excluded and counted; appends go to a new segment.
 *
 * Memory tail: the chunks this process wrote last (their lines up to
 * MEMORY_TAIL_MAX_BYTES) are also kept in memory with their segment and
 * offset (spool-memory.ts: no object per event). A sender that keeps up
 * reads its batch from there: no file read, no JSON.parse (the batch's
 * `data` is the spooled bytes, and `events` is
 * parsed only if a transport asks for objects). Re-reading and re-parsing
 * every line cost ~20 µs of main-thread CPU per event. A sender further
 * behind than the tail, or reading segments recovered at open(), reads the
 * disk as before; the tail never holds a line the disk does not, so the two
 * paths return the same batch.
 *
 * Cap: before a chunk is written, whole segments are deleted oldest-first
 * while the spool would exceed maxBytes; their unacknowledged lines are
 * counted and reported through onLoss. The cursor file is replaced
 * atomically (write tmp, fsync, rename), at most once a second and at close;
 * a lost or stale cursor only causes re-delivery (at-least-once), never loss.
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LineQueue, MemoryBatch, MemoryTail } from './spool-memory.js';
import type { CordonEvent } from './types.js';
import { UlidFactory } from './ulid.js';

export const DEFAULT_SPOOL_QUEUE_CAPACITY = 65_536;
/** Encoded bytes the write queue holds at most (a full queue drops and counts, never waits). */
export const DEFAULT_SPOOL_QUEUE_MAX_BYTES = 64 * 1024 * 1024;
/**
 * At most this long between a write and its fsync (a power loss can take
 * that much written data). Every fsync is a thread-pool round trip: with
 * 50 ms here and a 10 ms write delay, a sink cost ~7 µs more CPU per event
 * at 5,000 events/s than with 250 ms and 50 ms (bench/sink-cost.bench.ts).
 */
export const DEFAULT_FSYNC_INTERVAL_MS = 250;
export const DEFAULT_FSYNC_EVERY_RECORDS = 4096;
/**
 * Queued records wait up to this long before they are written, so events
 * trickling in one per request become one write instead of thousands (each
 * write is a libuv pool round trip; unbatched, the spool cost the proxy ~40 µs
 * of CPU per request, and 10 ms still cost several µs per event). A daemon
 * killed outright loses at most this much not-yet-accepted work.
 * sync(), close() and a due fsync do not wait.
 */
export const DEFAULT_WRITE_DELAY_MS = 50;
/**
 * The cursor file is rewritten at most this often (and at close): one
 * tmp-write + fsync + rename per acknowledged batch was the sink's largest
 * remaining cost under load. After a crash, up to this much acknowledged
 * progress is re-delivered (at-least-once).
 */
export const DEFAULT_CURSOR_PERSIST_DELAY_MS = 1000;
/** This many queued records are written without waiting for the write delay. */
export const WRITE_NOW_RECORDS = 1024;
export const MIN_SEGMENT_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
/** The cap is enforced in whole segments; this many segments fit under it. */
const SEGMENTS_PER_CAP = 8;
const CHUNK_MAX_BYTES = 1024 * 1024;
const SCAN_CHUNK_BYTES = 1024 * 1024;
const CURSOR_FILE = 'cursor.json';
const POISONED_DIR = 'poisoned';
const SEGMENT_PATTERN = /^(\d{12})\.seg$/;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const NEWLINE = 0x0a;
const READ_RETRY_LIMIT = 64;
/** Default cap of the memory tail per spool: enough for a sender that keeps up, small next to the disk spool. */
export const MEMORY_TAIL_MAX_BYTES = 4 * 1024 * 1024;

export type SpoolLossReason = 'spool-full' | 'spool-torn' | 'spool-corrupt' | 'spool-write-error';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** Lines the write queue holds at most; default DEFAULT_SPOOL_QUEUE_CAPACITY. */
  queueCapacity?: number;
  /** Encoded bytes the write queue holds at most; default DEFAULT_SPOOL_QUEUE_MAX_BYTES. */
  queueMaxBytes?: number;
  segmentMaxBytes?: number;
  fsyncIntervalMs?: number;
  fsyncEveryRecords?: number;
  /** Default DEFAULT_WRITE_DELAY_MS; 0 writes at once. */
  writeDelayMs?: number;
  /** Default DEFAULT_CURSOR_PERSIST_DELAY_MS; 0 rewrites the cursor file on every ack. */
  cursorPersistDelayMs?: number;
  /** Bytes of just-written lines kept in memory for readBatch; default MEMORY_TAIL_MAX_BYTES, 0 turns the tail off. */
  memoryTailMaxBytes?: number;
  onLoss?: (count: number, reason: SpoolLossReason) => void;
  onError?: (error: Error, what: string) => void;
  /** How a chunk reaches the head segment; default: write(2) until all of it is written. Tests slow it down. */
  writeData?: (handle: FileHandle, data: Buffer) => Promise<void>;
}

export interface SpoolBatch {
  readonly seq: number;
  readonly startOffset: number;
  readonly endOffset: number;
  readonly endLine: number;
  /** Events in the batch (the valid lines); use this rather than events.length, which may parse. */
  readonly count: number;
  /** The valid lines as NDJSON bytes, each ending with "\n": the wire body of a native NDJSON sink. */
  readonly data: Buffer;
  /** The parsed events; a batch served from memory parses them on first access. */
  readonly events: CordonEvent[];
  /** The raw lines (with "\n") of `events`, for setting a batch aside; split on first access too. */
  readonly lines: string[];
  /** Lines in the range that did not parse. */
  readonly corrupt: number;
  /** Bytes of the range, valid and corrupt lines alike. */
  readonly bytes: number;
}

export interface SpoolStats {
  /** Events not yet acknowledged upstream: in memory + on disk. */
  queued: number;
  /** Events waiting in memory for the disk. */
  inMemory: number;
  /** Unacknowledged bytes on disk. */
  spooledBytes: number;
  /** All segment bytes on disk (acknowledged part of the oldest segment included). */
  diskBytes: number;
  segments: number;
  oldestUnsentMs: number | null;
  /** Events accepted onto disk since start. */
  written: number;
  acked: number;
  dropped: number;
  torn: number;
  corrupt: number;
  poisoned: number;
  /** Batches served from the memory tail / read from segment files, since start. */
  memoryBatches: number;
  diskBatches: number;
  /** Bytes held in the memory tail (records written but not yet acknowledged, up to the tail cap). */
  memoryTailBytes: number;
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes of whole lines. */
  size: number;
  lines: number;
  firstTimeMs: number | null;
  handle: FileHandle | null;
}

interface Cursor {
  seq: number;
  offset: number;
  line: number;
}

interface SyncWaiter {
  seq: number;
  resolve: () => void;
}

interface ScanResult {
  size: number;
  lines: number;
  torn: boolean;
  firstTimeMs: number | null;
  linesBefore: number;
}

function segmentName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.seg`;
}

function lineTimeMs(text: string): number | null {
  try {
    const parsed = JSON.parse(text) as { time?: unknown };
    const ms = typeof parsed.time === 'string' ? Date.parse(parsed.time) : NaN;
    return Number.isFinite(ms) ? ms : null;
  } catch {
    return null;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** Counts whole lines of a segment file; `offset` is where the cursor sits (lines before it are counted too). */
async function scanSegment(path: string, offset: number): Promise<ScanResult> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
    let position = 0;
    let lines = 0;
    let linesBefore = 0;
    let lastNewlineEnd = 0;
    let firstLine: string | null = null;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, SCAN_CHUNK_BYTES, position);
      if (bytesRead === 0) break;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(NEWLINE, from);
        if (nl < 0 || nl >= bytesRead) break;
        const lineEnd = position + nl + 1;
        if (firstLine === null && position === 0) firstLine = buf.toString('utf8', 0, nl);
        lines++;
        if (lineEnd <= offset) linesBefore++;
        lastNewlineEnd = lineEnd;
        from = nl + 1;
      }
      position += bytesRead;
    }
    return {
      size: lastNewlineEnd,
      lines,
      torn: position > lastNewlineEnd,
      firstTimeMs: firstLine === null ? null : lineTimeMs(firstLine),
      linesBefore,
    };
  } finally {
    await handle.close();
  }
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(buf, filled, length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === length ? buf : buf.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

async function writeFully(handle: FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
    written += bytesWritten;
  }
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentMaxBytes: number;
  private readonly queue: LineQueue;
  private readonly fsyncIntervalMs: number;
  private readonly fsyncEveryRecords: number;
  private readonly poisonedIds = new UlidFactory();
  private segments: Segment[] = [];
  private head: Segment | null = null;
  private nextSeq = 1;
  private cursor: Cursor = { seq: 1, offset: 0, line: 0 };
  private cursorTimeMs: number | null = null;
  private totalBytes = 0;
  private totalLines = 0;
  private enqueuedSeq = 0;
  private writtenSeq = 0;
  private syncedSeq = 0;
  private syncWaiters: SyncWaiter[] = [];
  private dataWaiters: (() => void)[] = [];
  private version = 0;
  private fsyncDue = false;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private readonly writeDelayMs: number;
  private writeTimer: NodeJS.Timeout | null = null;
  /** The write delay has passed (or is skipped): the next kick writes. */
  private writeDue = false;
  /** Set by close(): everything queued is written now, no write delay. */
  private flushing = false;
  private pumping: Promise<void> | null = null;
  private persistChain: Promise<void> = Promise.resolve();
  private readonly cursorPersistDelayMs: number;
  private cursorDirty = false;
  private cursorTimer: NodeJS.Timeout | null = null;
  private opened = false;
  private closing = false;
  private readonly tail: MemoryTail;
  private counters = { written: 0, acked: 0, dropped: 0, torn: 0, corrupt: 0, poisoned: 0, memoryBatches: 0, diskBatches: 0 };

  constructor(private readonly options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    const bySize = Math.floor(options.maxBytes / SEGMENTS_PER_CAP);
    this.segmentMaxBytes = options.segmentMaxBytes ?? Math.max(MIN_SEGMENT_BYTES, Math.min(MAX_SEGMENT_BYTES, bySize));
    this.queue = new LineQueue(options.queueCapacity ?? DEFAULT_SPOOL_QUEUE_CAPACITY, options.queueMaxBytes ?? DEFAULT_SPOOL_QUEUE_MAX_BYTES);
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? DEFAULT_FSYNC_INTERVAL_MS;
    this.fsyncEveryRecords = options.fsyncEveryRecords ?? DEFAULT_FSYNC_EVERY_RECORDS;
    this.writeDelayMs = options.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS;
    this.cursorPersistDelayMs = options.cursorPersistDelayMs ?? DEFAULT_CURSOR_PERSIST_DELAY_MS;
    this.tail = new MemoryTail(options.memoryTailMaxBytes ?? MEMORY_TAIL_MAX_BYTES);
  }

  /** Recovers what a previous run left: segments, cursor, torn tails. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    const saved = await this.readCursorFile();
    // New segments must sort after the saved cursor, or a restart would take them for acknowledged ones.
    if (saved !== null) this.nextSeq = saved.seq + 1;
    const seqs = (await readdir(this.dir))
      .map((name) => SEGMENT_PATTERN.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let torn = 0;
    for (const seq of seqs) {
      const path = join(this.dir, segmentName(seq));
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (saved !== null && seq < saved.seq) {
        // Fully acknowledged before the crash; its deletion did not happen.
        await unlink(path).catch(() => undefined);
        continue;
      }
      const scan = await scanSegment(path, saved !== null && seq === saved.seq ? saved.offset : 0);
      if (scan.torn) torn++;
      this.segments.push({ seq, path, size: scan.size, lines: scan.lines, firstTimeMs: scan.firstTimeMs, handle: null });
      this.totalBytes += scan.size;
      this.totalLines += scan.lines;
      if (saved !== null && seq === saved.seq) {
        const offset = Math.min(saved.offset, scan.size);
        this.cursor = { seq, offset, line: offset === scan.size ? scan.lines : scan.linesBefore };
      }
    }
    const first = this.segments[0];
    if (first === undefined) this.cursor = { seq: this.nextSeq, offset: 0, line: 0 };
    else if (saved === null || first.seq !== saved.seq) this.cursor = { seq: first.seq, offset: 0, line: 0 };
    this.trimTail();
    this.counters.torn += torn;
    this.opened = true;
    if (torn > 0) this.options.onLoss?.(torn, 'spool-torn');
    this.advancePastFinished();
    this.kick(); // records queued before open
  }

  /**
   * Queues one event for the disk: its JSON line ending with "\n" (shared
   * with the audit log and other spools; strings are immutable) and its time,
   * for the oldest-unsent age. False (and counted) when the queue is full.
   * Never waits.
   */
  enqueue(line: string, timeMs: number): boolean {
    if (this.closing || !this.queue.push(line, timeMs)) {
      this.counters.dropped++;
      return false;
    }
    this.enqueuedSeq++;
    this.kick();
    return true;
  }

  /** Resolves once every record queued before the call is on disk and fsynced (or counted lost). */
  sync(): Promise<void> {
    const target = this.enqueuedSeq;
    if (this.syncedSeq >= target) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.syncWaiters.push({ seq: target, resolve });
      this.kick();
    });
  }

  /** Changes whenever new data reaches the disk; pass it to waitForData. */
  get dataVersion(): number {
    return this.version;
  }

  /** Resolves when data newer than `version` is on disk, on close, or on abort. */
  waitForData(version: number, signal?: AbortSignal): Promise<void> {
    if (this.version !== version || this.closing || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.dataWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** The next unacknowledged lines from the cursor (one segment at most), or null when there are none. */
  async readBatch(maxEvents: number, maxBytes: number): Promise<SpoolBatch | null> {
    for (let attempt = 0; attempt < READ_RETRY_LIMIT && this.opened && !this.closing; attempt++) {
      const fromMemory = this.memoryBatch(maxEvents, maxBytes);
      if (fromMemory !== null) return fromMemory;
      const seg = this.segments.find((s) => s.seq === this.cursor.seq);
      if (seg === undefined) return null;
      const start = this.cursor.offset;
      const available = seg.size - start;
      if (available <= 0) {
        if (seg !== this.head && this.segments.indexOf(seg) < this.segments.length - 1) {
          this.advancePastFinished();
          continue;
        }
        return null;
      }
      let want = Math.min(available, Math.max(1, maxBytes)); // never a zero-byte window (it would never grow)
      let buf: Buffer;
      let end = -1;
      try {
        for (;;) {
          buf = await readAt(seg.path, start, want);
          end = this.batchEnd(buf, maxEvents);
          if (end > 0 || want >= available || buf.length < want) break;
          want = Math.min(available, want * 2); // one line longer than maxBytes
        }
      } catch (err) {
        if (isEnoent(err)) continue; // dropped by the cap meanwhile
        throw err;
      }
      if (this.cursor.seq !== seg.seq || this.cursor.offset !== start) continue;
      if (end <= 0) return null;
      this.counters.diskBatches++;
      return this.parseBatch(seg.seq, start, buf!.subarray(0, end));
    }
    return null;
  }

  /** True while `batch` still starts at the cursor (the cap has not dropped it, nobody acked it). */
  isCurrent(batch: SpoolBatch): boolean {
    return batch.seq === this.cursor.seq && batch.startOffset === this.cursor.offset;
  }

  /** Marks the batch delivered: advances and persists the cursor, deletes finished segments. */
  async ack(batch: SpoolBatch): Promise<void> {
    if (!this.isCurrent(batch)) return;
    this.cursor = { seq: batch.seq, offset: batch.endOffset, line: batch.endLine };
    this.cursorTimeMs = null;
    this.trimTail();
    this.counters.acked += batch.count;
    if (batch.corrupt > 0) {
      this.counters.corrupt += batch.corrupt;
      this.options.onLoss?.(batch.corrupt, 'spool-corrupt');
    }
    this.advancePastFinished();
    await this.persistCursor();
  }

  /** Moves a batch the upstream rejected for good to poisoned/, then acks it. Returns the file written. */
  async setAside(batch: SpoolBatch, meta: Record<string, unknown>): Promise<string | null> {
    if (!this.isCurrent(batch)) return null;
    const dir = join(this.dir, POISONED_DIR);
    const id = this.poisonedIds.next();
    const file = join(dir, `${id}.jsonl`);
    try {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await writeFile(file, batch.lines.join(''), { mode: FILE_MODE });
      const first = batch.events[0];
      const last = batch.events[batch.events.length - 1];
      const info = { ...meta, count: batch.count, first_id: first?.id ?? null, last_id: last?.id ?? null, at: new Date().toISOString() };
      await writeFile(join(dir, `${id}.meta.json`), JSON.stringify(info) + '\n', { mode: FILE_MODE });
      await this.capPoisoned(dir);
    } catch (err) {
      this.options.onError?.(asError(err), 'set-aside');
    }
    this.counters.poisoned += batch.count;
    await this.ack(batch);
    return file;
  }

  stats(): SpoolStats {
    const cursorSeg = this.segments.find((s) => s.seq === this.cursor.seq);
    const unackedLines = Math.max(0, this.totalLines - (cursorSeg !== undefined ? this.cursor.line : 0));
    const unackedBytes = Math.max(0, this.totalBytes - (cursorSeg !== undefined ? this.cursor.offset : 0));
    let oldest: number | null = null;
    if (unackedLines > 0) {
      oldest = this.cursorTimeMs ?? cursorSeg?.firstTimeMs ?? this.segments.find((s) => s.firstTimeMs !== null)?.firstTimeMs ?? null;
    } else if (this.queue.length > 0) {
      oldest = this.queue.timeAt(0);
    }
    return {
      queued: unackedLines + this.queue.length,
      inMemory: this.queue.length,
      spooledBytes: unackedBytes,
      diskBytes: this.totalBytes,
      segments: this.segments.length,
      oldestUnsentMs: oldest,
      memoryTailBytes: this.tail.bytes,
      ...this.counters,
    };
  }

  /** Writes what is queued, fsyncs, persists the cursor and closes files. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.flushing = true;
    this.fsyncDue = true;
    this.kick();
    while (this.pumping !== null) await this.pumping;
    this.closing = true;
    if (this.fsyncTimer !== null) clearTimeout(this.fsyncTimer);
    this.fsyncTimer = null;
    if (this.writeTimer !== null) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    this.tail.clear();
    for (const wake of this.dataWaiters.splice(0)) wake();
    await this.flushCursor();
    await this.persistChain;
    if (this.head?.handle) {
      try {
        await this.head.handle.sync();
        await this.head.handle.close();
      } catch (err) {
        this.options.onError?.(asError(err), 'close');
      }
      this.head.handle = null;
    }
    this.syncedSeq = this.writtenSeq;
    this.settleSyncWaiters();
  }

  // ----- writer -----

  private kick(): void {
    if (this.pumping !== null || !this.opened) return;
    if (this.queue.length === 0 && !this.fsyncDue && !(this.syncWaiters.length > 0 && this.syncedSeq < this.writtenSeq)) {
      this.settleSyncWaiters();
      return;
    }
    if (!this.writeDue && this.delayNextWrite()) {
      if (this.writeTimer === null && !this.closing) {
        this.writeTimer = setTimeout(() => {
          this.writeTimer = null;
          this.writeDue = true;
          this.kick();
        }, this.writeDelayMs);
        this.writeTimer.unref();
      }
      return;
    }
    this.writeDue = false;
    if (this.writeTimer !== null) {
      clearTimeout(this.writeTimer);
      this.writeTimer = null;
    }
    this.pumping = this.pump()
      .catch((err) => this.options.onError?.(asError(err), 'pump'))
      .finally(() => {
        this.pumping = null;
        if (!this.closing) this.kick();
      });
  }

  /** Whether the queued records wait for the write delay instead of being written now. */
  private delayNextWrite(): boolean {
    return !this.flushing && !this.fsyncDue && this.syncWaiters.length === 0 && this.queue.length < WRITE_NOW_RECORDS && this.writeDelayMs > 0;
  }

  /**
   * One writer: a due fsync (interval or record count) goes before the next
   * chunk, so a sustained flood cannot starve durability; a sync() waiter
   * gets its fsync once the queue it waits on is written.
   */
  private async pump(): Promise<void> {
    for (;;) {
      const waiting = this.syncWaiters.length > 0 && this.syncedSeq < this.writtenSeq;
      if (this.fsyncDue || (waiting && this.queue.length === 0)) {
        this.fsyncDue = false;
        await this.fsyncHead();
        continue;
      }
      if (this.queue.length > 0) {
        await this.writeChunk();
        // What arrived during the write waits for the write delay too (kick()
        // arms it when this returns). Writing it at once kept a busy proxy in
        // a loop of tiny writes, one thread-pool round trip per few events.
        if (this.delayNextWrite()) return;
        continue;
      }
      return;
    }
  }

  private async writeChunk(): Promise<void> {
    let head: Segment;
    try {
      head = await this.ensureHead();
    } catch (err) {
      this.loseQueued(this.queue.length, 'spool-write-error');
      this.options.onError?.(asError(err), 'open-segment');
      return;
    }
    const room = Math.max(0, this.segmentMaxBytes - head.size);
    const queue = this.queue;
    const count = queue.countWithin(Math.min(CHUNK_MAX_BYTES, room));
    if (count === 0) return;
    const bytes = queue.bytesOf(count);
    if (bytes > this.maxBytes) {
      this.loseQueued(count, 'spool-full');
      return;
    }
    this.enforceCap(bytes);
    const { data, ends, times } = queue.takeChunk(count);
    try {
      await (this.options.writeData ?? writeFully)(head.handle!, data);
    } catch (err) {
      // The head may now end in a partial line; seal it at its last good size.
      await head.handle?.close().catch(() => undefined);
      head.handle = null;
      this.head = null;
      this.lose(count, 'spool-write-error');
      this.options.onError?.(asError(err), 'write');
      return;
    }
    this.tail.push({ seq: head.seq, offset: head.size, data, ends, times, first: 0 });
    head.size += bytes;
    head.lines += count;
    if (head.firstTimeMs === null) head.firstTimeMs = times[0]!;
    this.totalBytes += bytes;
    this.totalLines += count;
    this.writtenSeq += count;
    this.counters.written += count;
    this.version++;
    for (const wake of this.dataWaiters.splice(0)) wake();
    if (this.writtenSeq - this.syncedSeq >= this.fsyncEveryRecords) this.fsyncDue = true;
    else this.scheduleFsync();
  }

  private scheduleFsync(): void {
    if (this.fsyncTimer !== null || this.closing) return;
    this.fsyncTimer = setTimeout(() => {
      this.fsyncTimer = null;
      this.fsyncDue = true;
      this.kick();
    }, this.fsyncIntervalMs);
    this.fsyncTimer.unref();
  }

  private async fsyncHead(): Promise<void> {
    const target = this.writtenSeq;
    if (this.syncedSeq >= target) {
      this.settleSyncWaiters();
      return;
    }
    if (this.head?.handle) {
      try {
        await this.head.handle.sync();
      } catch (err) {
        this.options.onError?.(asError(err), 'fsync');
      }
    }
    this.syncedSeq = Math.max(this.syncedSeq, target);
    this.settleSyncWaiters();
  }

  private settleSyncWaiters(): void {
    if (this.syncWaiters.length === 0) return;
    const still: SyncWaiter[] = [];
    for (const w of this.syncWaiters) {
      if (w.seq <= this.syncedSeq) w.resolve();
      else still.push(w);
    }
    this.syncWaiters = still;
  }

  private async ensureHead(): Promise<Segment> {
    const current = this.head;
    if (current?.handle && current.size < this.segmentMaxBytes) return current;
    if (current?.handle) {
      // Roll: the old head is complete; make it durable before sealing it.
      await current.handle.sync();
      await current.handle.close();
      current.handle = null;
      this.syncedSeq = Math.max(this.syncedSeq, this.writtenSeq);
      this.settleSyncWaiters();
    }
    const seq = this.nextSeq++;
    const path = join(this.dir, segmentName(seq));
    const handle = await open(path, 'a', FILE_MODE);
    const seg: Segment = { seq, path, size: 0, lines: 0, firstTimeMs: null, handle };
    this.segments.push(seg);
    this.head = seg;
    if (this.segments.length === 1) {
      this.cursor = { seq, offset: 0, line: 0 };
      this.trimTail();
    }
    await this.syncDir();
    this.advancePastFinished();
    return seg;
  }

  private async syncDir(): Promise<void> {
    try {
      const handle = await open(this.dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // Directory fsync is best effort (not supported everywhere).
    }
  }

  /** Deletes the oldest segments (never the head) while `incoming` more bytes would exceed the cap. */
  private enforceCap(incoming: number): void {
    while (this.totalBytes + incoming > this.maxBytes && this.segments.length > 1 && this.segments[0] !== this.head) {
      const seg = this.segments.shift()!;
      const atCursor = this.cursor.seq === seg.seq;
      const unacked = atCursor ? seg.lines - this.cursor.line : this.cursor.seq < seg.seq ? seg.lines : 0;
      this.totalBytes -= seg.size;
      this.totalLines -= seg.lines;
      unlink(seg.path).catch((err) => this.options.onError?.(asError(err), 'cap'));
      if (this.cursor.seq <= seg.seq) {
        this.cursor = { seq: this.segments[0]!.seq, offset: 0, line: 0 };
        this.cursorTimeMs = null;
        void this.persistCursor();
      }
      this.trimTail();
      if (unacked > 0) this.reportLoss(unacked, 'spool-full');
    }
  }

  /** Records taken from the queue that will never reach the disk. */
  private lose(count: number, reason: SpoolLossReason): void {
    this.writtenSeq += count;
    this.fsyncDue = true;
    this.reportLoss(count, reason);
  }

  private reportLoss(count: number, reason: SpoolLossReason): void {
    this.counters.dropped += count;
    this.options.onLoss?.(count, reason);
  }

  private loseQueued(count: number, reason: SpoolLossReason): void {
    this.queue.drop(count);
    this.lose(count, reason);
  }

  // ----- reader -----

  /** End (exclusive) of the last whole line within `buf`, stopping after `maxEvents` lines. */
  private batchEnd(buf: Buffer, maxEvents: number): number {
    let end = 0;
    let count = 0;
    let from = 0;
    while (count < maxEvents) {
      const nl = buf.indexOf(NEWLINE, from);
      if (nl < 0) break;
      end = nl + 1;
      from = end;
      count++;
    }
    return end;
  }

  private parseBatch(seq: number, start: number, buf: Buffer): SpoolBatch {
    const text = buf.toString('utf8');
    const events: CordonEvent[] = [];
    const lines: string[] = [];
    let corrupt = 0;
    let lineCount = 0;
    let from = 0;
    while (from < text.length) {
      const nl = text.indexOf('\n', from);
      const stop = nl < 0 ? text.length : nl;
      const line = text.slice(from, stop);
      from = stop + 1;
      lineCount++;
      try {
        const event = JSON.parse(line) as CordonEvent;
        if (event === null || typeof event !== 'object' || typeof event.id !== 'string' || typeof event.kind !== 'string') throw new Error('not an event');
        events.push(event);
        lines.push(line + '\n');
      } catch {
        corrupt++;
      }
    }
    const first = events[0];
    if (first !== undefined) {
      const ms = Date.parse(first.time);
      this.cursorTimeMs = Number.isFinite(ms) ? ms : null;
    }
    // The bytes as read when every line is valid and decoded without replacement; else the valid lines re-encoded.
    const data = corrupt === 0 && !text.includes('\uFFFD') ? buf : Buffer.from(lines.join(''), 'utf8');
    return {
      seq,
      startOffset: start,
      endOffset: start + buf.length,
      endLine: this.cursor.line + lineCount,
      count: events.length,
      data,
      events,
      lines,
      corrupt,
      bytes: buf.length,
    };
  }

  /** Deletes sealed segments the cursor has passed and moves the cursor to the next one. */
  private advancePastFinished(): void {
    for (;;) {
      const first = this.segments[0];
      if (first === undefined || first === this.head || this.segments.length < 2) return;
      if (this.cursor.seq !== first.seq || this.cursor.offset < first.size) return;
      this.segments.shift();
      this.totalBytes -= first.size;
      this.totalLines -= first.lines;
      unlink(first.path).catch((err) => {
        if (!isEnoent(err)) this.options.onError?.(asError(err), 'delete-segment');
      });
      this.cursor = { seq: this.segments[0]!.seq, offset: 0, line: 0 };
      this.cursorTimeMs = null;
      this.trimTail();
      void this.persistCursor();
    }
  }

  /** Drops tail entries the cursor has passed; call whenever the cursor moves. */
  private trimTail(): void {
    this.tail.trimBefore(this.cursor.seq, this.cursor.offset);
  }

  /**
   * The batch at the cursor from the memory tail, or null when the tail does
   * not start exactly at the cursor (the sender is behind the tail, or reads
   * segments recovered at open): then the caller reads the disk.
   */
  private memoryBatch(maxEvents: number, maxBytes: number): SpoolBatch | null {
    this.trimTail();
    const found = this.tail.batchAt(this.cursor.seq, this.cursor.offset, maxEvents, maxBytes);
    if (found === null) return null;
    this.cursorTimeMs = found.firstTimeMs;
    this.counters.memoryBatches++;
    return new MemoryBatch(this.cursor.seq, this.cursor.offset, found.end, this.cursor.line + found.count, found.count, found.data);
  }

  // ----- cursor file -----

  private async readCursorFile(): Promise<Cursor | null> {
    try {
      const parsed = JSON.parse(await readFile(join(this.dir, CURSOR_FILE), 'utf8')) as Partial<Cursor>;
      if (Number.isSafeInteger(parsed.seq) && Number.isSafeInteger(parsed.offset) && parsed.seq! >= 1 && parsed.offset! >= 0) {
        return { seq: parsed.seq!, offset: parsed.offset!, line: 0 };
      }
    } catch {
      // Missing or unreadable: start from the oldest segment (re-delivery, never loss).
    }
    return null;
  }

  /**
   * Acks move the cursor many times a second under load; the file is
   * rewritten (tmp + fsync + rename) at most every cursorPersistDelayMs, and
   * at close. A crash loses at most that much cursor progress, which means
   * re-delivery of those events (at-least-once), never loss.
   */
  private persistCursor(): Promise<void> {
    if (this.cursorPersistDelayMs <= 0 || this.closing) return this.writeCursorNow();
    this.cursorDirty = true;
    if (this.cursorTimer === null) {
      this.cursorTimer = setTimeout(() => {
        this.cursorTimer = null;
        void this.flushCursor();
      }, this.cursorPersistDelayMs);
      this.cursorTimer.unref();
    }
    return Promise.resolve();
  }

  /** Writes a cursor change that is waiting for its delay now. */
  private flushCursor(): Promise<void> {
    if (this.cursorTimer !== null) {
      clearTimeout(this.cursorTimer);
      this.cursorTimer = null;
    }
    if (!this.cursorDirty) return this.persistChain;
    return this.writeCursorNow();
  }

  private writeCursorNow(): Promise<void> {
    this.cursorDirty = false;
    const text = JSON.stringify(this.cursor) + '\n';
    this.persistChain = this.persistChain
      .then(() => this.writeCursorFile(text))
      .catch((err) => this.options.onError?.(asError(err), 'cursor'));
    return this.persistChain;
  }

  private async writeCursorFile(text: string): Promise<void> {
    const path = join(this.dir, CURSOR_FILE);
    const tmp = `${path}.tmp`;
    const handle = await open(tmp, 'w', FILE_MODE);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  }

  private async capPoisoned(dir: string): Promise<void> {
    const names = (await readdir(dir)).sort();
    const sizes = new Map<string, number>();
    let total = 0;
    for (const name of names) {
      const size = (await stat(join(dir, name)).catch(() => null))?.size ?? 0;
      sizes.set(name, size);
      total += size;
    }
    for (const name of names) {
      if (total <= this.maxBytes) break;
      await unlink(join(dir, name)).catch(() => undefined);
      total -= sizes.get(name) ?? 0;
    }
  }
}
