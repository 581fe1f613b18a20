/**
 * The local audit log, `$STATE_DIR/events.jsonl` (DESIGN §5): one JSON line per
 * event, written through pino's async destination (`pino.destination`, i.e.
 * sonic-boom), rotated by size and age without losing or splitting a line,
 * with a retention count.
 *
 * The line is exactly the event object: `JSON.stringify(event)`. Pino's own
 * envelope can be made exact (see `createEventSerializer`: the level
 * formatter emits `{"schema":"cordon.event/v1"` and a serializer drops the
 * event's own `schema` key), but its per-key serializer costs about twice a
 * single native JSON.stringify on these nested objects, and the same line is
 * reused for every sink's spool. So lines are rendered with JSON.stringify and
 * written to the pino destination directly; the pino serializer is kept as the
 * fallback for what JSON.stringify refuses (a cycle, a BigInt), so even a
 * malformed event is logged (with "[Circular]") rather than lost.
 *
 * Writing: lines queue (bounded; full → counted drop) and are handed to the
 * destination in chunks of whole lines, at most AUDIT_WRITE_DELAY_MS later
 * (sooner for a large burst), so isolated events share one write.
 * When the destination's write() returns false the queue waits for 'drain'.
 * Rotation happens between chunks: the queue holds, the destination is
 * drained and fsynced, events.jsonl is renamed to events-<ULID>.jsonl, the
 * destination reopens a fresh events.jsonl, and the queue resumes into it.
 * A line is never split across files.
 */
import { fsync } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { DestinationStream } from 'pino';
import { BoundedQueue } from './bounded-queue.js';
import { EVENT_SCHEMA } from './types.js';
import type { CordonEvent } from './types.js';
import { UlidFactory } from './ulid.js';

export const AUDIT_LOG_FILE = 'events.jsonl';
export const ROTATED_FILE_PATTERN = /^events-[0-9A-HJKMNP-TV-Z]{26}\.jsonl$/;
export const DEFAULT_AUDIT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_AUDIT_MAX_AGE_MS = 24 * 3600 * 1000;
export const DEFAULT_AUDIT_RETAIN_FILES = 14;
export const DEFAULT_AUDIT_QUEUE_CAPACITY = 65_536;
/**
 * Lines are handed to the destination in chunks of up to this size, one chunk
 * in flight (its write() returns false past 16 KiB, and we wait for 'drain');
 * sonic-boom writes a chunk with one write(2).
 */
const WRITE_CHUNK_BYTES = 1024 * 1024;
const DESTINATION_MAX_WRITE = WRITE_CHUNK_BYTES;
/**
 * Queued lines wait up to this long before they are written, so a trickle of
 * events (one per event-loop turn under proxy load) becomes one write: each
 * write is an fs.write on the libuv pool plus a completion wake-up, measured
 * at ~135 µs of CPU, against ~0 for the rest of an event's path.
 * flush(), rotation and close() do not wait for it.
 */
export const AUDIT_WRITE_DELAY_MS = 10;
/** This many queued lines are written without waiting for AUDIT_WRITE_DELAY_MS. */
const WRITE_NOW_LINES = 256;
const AGE_CHECK_INTERVAL_MS = 60_000;
const LOG_FILE_MODE = 0o640;

export interface AuditLogRotation {
  maxBytes: number;
  maxAgeMs: number;
  /** Rotated files kept; older ones are deleted. */
  retainFiles: number;
}

export interface AuditLogOptions extends Partial<AuditLogRotation> {
  dir: string;
  queueCapacity?: number;
  onError?: (error: Error, what: string) => void;
  now?: () => number;
}

export interface AuditLogStats {
  written: number;
  dropped: number;
  pending: number;
  rotations: number;
  bytes: number;
}

interface SonicBoom {
  readonly fd: number;
  write(data: Buffer): boolean;
  reopen(file?: string): void;
  end(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * A rendered line ending with "\n", kept as a string until its chunk is
 * written: one Buffer is encoded per chunk instead of one per line.
 */
export interface LogLine {
  text: string;
  /** Its length in UTF-8 bytes. */
  bytes: number;
}

/** A LogLine for `text`. */
export function logLine(text: string): LogLine {
  return { text, bytes: Buffer.byteLength(text, 'utf8') };
}

/**
 * A pino logger whose output line for an event is exactly the event's JSON:
 * pino always opens a line with its level key, so the level formatter emits
 * the constant first key `{"schema":"cordon.event/v1"` and a serializer drops
 * the event's own `schema`; base and timestamp are off.
 */
export function createEventSerializer(): (event: CordonEvent) => string {
  const capture = {
    line: '',
    write(s: string): void {
      this.line = s;
    },
  };
  const logger = pino(
    {
      base: null,
      timestamp: false,
      formatters: { level: () => ({ schema: EVENT_SCHEMA }) },
      serializers: { schema: () => undefined },
    },
    capture as DestinationStream,
  );
  return (event) => {
    logger.info(event);
    return capture.line;
  };
}

/** Renders events as JSON lines: JSON.stringify, or pino's cycle-safe serializer when that throws. */
export function createLineRenderer(): (event: CordonEvent) => string {
  const safe = createEventSerializer();
  return (event) => {
    try {
      return JSON.stringify(event) + '\n';
    } catch {
      return safe(event);
    }
  };
}

export class AuditLog {
  readonly path: string;
  private readonly rotation: AuditLogRotation;
  private readonly pending: BoundedQueue<LogLine>;
  private readonly render: (event: CordonEvent) => string;
  private readonly rotatedIds = new UlidFactory();
  private readonly now: () => number;
  private dest: SonicBoom | null = null;
  private bytes = 0;
  private openedAtMs = 0;
  private congested = false;
  private pumpScheduled = false;
  private pumpTimer: NodeJS.Timeout | null = null;
  /** Bytes given to the destination, and bytes it reported written: equal when nothing is in flight. */
  private handedBytes = 0;
  private writtenBytes = 0;
  private idleWaiters: (() => void)[] = [];
  private rotating: Promise<void> | null = null;
  private closed = false;
  private ageTimer: NodeJS.Timeout | null = null;
  private counters = { written: 0, dropped: 0, rotations: 0 };

  constructor(private readonly options: AuditLogOptions) {
    this.path = join(options.dir, AUDIT_LOG_FILE);
    this.rotation = {
      maxBytes: options.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES,
      maxAgeMs: options.maxAgeMs ?? DEFAULT_AUDIT_MAX_AGE_MS,
      retainFiles: options.retainFiles ?? DEFAULT_AUDIT_RETAIN_FILES,
    };
    this.pending = new BoundedQueue(options.queueCapacity ?? DEFAULT_AUDIT_QUEUE_CAPACITY);
    this.now = options.now ?? Date.now;
    this.render = createLineRenderer();
  }

  async open(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o750 });
    try {
      const st = await stat(this.path);
      this.bytes = st.size;
      this.openedAtMs = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
    } catch {
      this.bytes = 0;
      this.openedAtMs = this.now();
    }
    const dest = pino.destination({
      dest: this.path,
      sync: false,
      mkdir: true,
      append: true,
      minLength: 0,
      maxWrite: DESTINATION_MAX_WRITE,
      // Buffers in, so sonic-boom does not re-encode each written string to find what is left.
      contentMode: 'buffer',
      mode: LOG_FILE_MODE,
    } as Parameters<typeof pino.destination>[0]) as unknown as SonicBoom;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        dest.off('error', onError);
        resolve();
      };
      const onError = (err: unknown): void => {
        dest.off('ready', onReady);
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      dest.once('ready', onReady);
      dest.once('error', onError);
    });
    dest.on('drain', () => {
      this.congested = false;
      this.pump();
    });
    dest.on('error', (err) => {
      // What was in flight is lost; do not let a flush wait for it forever.
      this.writtenBytes = this.handedBytes;
      for (const wake of this.idleWaiters.splice(0)) wake();
      this.reportError(err, 'write');
    });
    dest.on('write', (n) => {
      this.writtenBytes += n as number;
      if (this.writtenBytes >= this.handedBytes) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    this.dest = dest;
    this.ageTimer = setInterval(() => this.checkAge(), Math.min(AGE_CHECK_INTERVAL_MS, Math.max(1000, this.rotation.maxAgeMs / 4)));
    this.ageTimer.unref();
    await this.applyRetention();
    this.pump();
  }

  /** Renders the event as its JSON line, appends it, and returns the line (for reuse). Never throws, never waits. */
  write(event: CordonEvent): LogLine {
    const out = logLine(this.render(event));
    this.append(out);
    return out;
  }

  /**
   * Appends one rendered line. Lines queue and are handed to the destination
   * in chunks, at most AUDIT_WRITE_DELAY_MS later (a timer), or after the
   * current synchronous run (a microtask) once WRITE_NOW_LINES are queued,
   * so a burst or a trickle becomes one write.
   */
  append(entry: LogLine): void {
    if (this.closed) {
      this.counters.dropped++;
      return;
    }
    this.enqueue(entry);
    if (this.pumpScheduled) return;
    if (this.pending.length >= WRITE_NOW_LINES) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    } else if (this.pumpTimer === null) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        this.pump();
      }, AUDIT_WRITE_DELAY_MS);
    }
  }

  stats(): AuditLogStats {
    return { ...this.counters, pending: this.pending.length, bytes: this.bytes };
  }

  /** Writes out every queued line (rotating as due) and fsyncs. */
  async flush(): Promise<void> {
    await this.drainPending();
    await this.flushDest();
  }

  /** Rotates now (if anything was written to the current file). */
  async rotateNow(): Promise<void> {
    await this.drainPending();
    if (this.bytes === 0) return;
    this.startRotation();
    if (this.rotating !== null) await this.rotating;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.ageTimer !== null) clearInterval(this.ageTimer);
    if (this.pumpTimer !== null) clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    await this.drainPending();
    this.closed = true;
    const dest = this.dest;
    if (dest === null) return;
    await this.flushDest();
    await new Promise<void>((resolve) => {
      dest.once('close', () => resolve());
      dest.once('error', () => resolve());
      dest.end();
    });
    this.dest = null;
  }

  /** Moves every queued line into the destination, ignoring congestion, waiting out rotations. */
  private async drainPending(): Promise<void> {
    while (this.dest !== null && !this.closed) {
      if (this.rotating !== null) {
        await this.rotating;
        continue;
      }
      if (this.pending.length === 0) return;
      this.pump(true);
      if (this.rotating === null && this.pending.length > 0) return; // cannot happen; never spin
    }
  }

  private enqueue(entry: LogLine): void {
    if (!this.pending.push(entry)) this.counters.dropped++;
  }

  private aged(): boolean {
    return this.now() - this.openedAtMs >= this.rotation.maxAgeMs;
  }

  private writeDest(chunk: string[], size: number, lines: number): void {
    try {
      const ok = this.dest!.write(Buffer.from(chunk.length === 1 ? chunk[0]! : chunk.join(''), 'utf8'));
      this.handedBytes += size;
      if (!ok) this.congested = true;
    } catch (err) {
      this.counters.dropped += lines;
      this.reportError(err, 'write');
      return;
    }
    this.bytes += size;
    this.counters.written += lines;
  }

  /**
   * Moves queued lines into the destination, in chunks of whole lines, while
   * it accepts them (`ignoreCongestion`: regardless). A chunk stops where the
   * file would need rotating; the rotation then runs before the next chunk.
   */
  private pump(ignoreCongestion = false): void {
    while (this.pending.length > 0 && this.dest !== null && !this.closed && this.rotating === null && (ignoreCongestion || !this.congested)) {
      if (this.bytes > 0 && this.aged()) {
        this.startRotation();
        return;
      }
      const chunk: string[] = [];
      let size = 0;
      let lines = 0;
      while (this.pending.length > 0 && size < WRITE_CHUNK_BYTES) {
        const next = this.pending.peek()!;
        const fileBytes = this.bytes + size;
        // A file always takes its first line, however long.
        if (fileBytes > 0 && fileBytes + next.bytes > this.rotation.maxBytes) break;
        this.pending.shift();
        chunk.push(next.text);
        size += next.bytes;
        lines++;
      }
      if (lines === 0) {
        // The next line does not fit in this file.
        this.startRotation();
        return;
      }
      this.writeDest(chunk, size, lines);
    }
  }

  private checkAge(): void {
    if (this.rotating === null && this.dest !== null && !this.closed && this.bytes > 0 && this.aged()) {
      this.startRotation();
    }
  }

  private startRotation(): void {
    if (this.rotating !== null || this.dest === null || this.closed) return;
    this.rotating = this.rotate()
      .catch((err) => this.reportError(err, 'rotate'))
      .finally(() => {
        this.rotating = null;
        this.pump();
      });
  }

  private async rotate(): Promise<void> {
    const dest = this.dest!;
    await this.flushDest();
    const rotatedName = `events-${this.rotatedIds.next(this.now())}.jsonl`;
    try {
      await rename(this.path, join(this.options.dir, rotatedName));
    } catch (err) {
      // The file vanished (removed by hand): start a fresh one anyway.
      this.reportError(err, 'rename');
    }
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        dest.off('error', onError);
        resolve();
      };
      const onError = (err: unknown): void => {
        dest.off('ready', onReady);
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      dest.once('ready', onReady);
      dest.once('error', onError);
      dest.reopen();
    });
    this.bytes = 0;
    this.openedAtMs = this.now();
    this.congested = false;
    this.counters.rotations++;
    await this.applyRetention();
  }

  /**
   * Waits until the destination has written everything handed to it, then
   * fsyncs. (sonic-boom's own flush() can call back while a buffer below its
   * minimum length is still pending, so completion is tracked from its
   * 'write' events instead.)
   */
  private async flushDest(): Promise<void> {
    const dest = this.dest;
    if (dest === null) return;
    while (this.writtenBytes < this.handedBytes) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await new Promise<void>((resolve) => {
      fsync(dest.fd, (err) => {
        if (err) this.reportError(err, 'fsync');
        resolve();
      });
    });
  }

  private async applyRetention(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.options.dir)).filter((n) => ROTATED_FILE_PATTERN.test(n)).sort();
    } catch (err) {
      this.reportError(err, 'retention');
      return;
    }
    const excess = names.length - this.rotation.retainFiles;
    for (let i = 0; i < excess; i++) {
      try {
        await unlink(join(this.options.dir, names[i]!));
      } catch (err) {
        this.reportError(err, 'retention');
      }
    }
  }

  private reportError(err: unknown, what: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.options.onError?.(error, what);
  }
}
