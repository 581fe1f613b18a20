/**
 * The local audit log, `$STATE_DIR/events.jsonl` (DESIGN §5): one JSON line per
 * event, through pino and its async destination (sonic-boom), rotated by size
 * and age without losing or splitting a line, with a retention count.
 *
 * The line is exactly the event object. Pino always opens a line with its
 * level key, so the level formatter emits `{"schema":"cordon.event/v1"` in its
 * place and a serializer drops the event's own `schema` key; with
 * `base: null` and `timestamp: false` nothing else is added. Pino writes into
 * a small stream object of ours that hands the line to the destination and
 * also returns it to the pipeline, which reuses it for the spools (one
 * serialization per event).
 *
 * Backpressure: when the destination's write() returns false the lines wait
 * in a bounded queue until 'drain'; a full queue drops and counts. Rotation
 * happens between writes: new lines queue, the destination is flushed,
 * events.jsonl is renamed to events-<ULID>.jsonl, the destination reopens a
 * fresh events.jsonl, and the queue drains into it. Lines are only ever
 * written whole, so no line is split across files.
 */
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
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
/** sonic-boom buffers this much before writing... */
const DESTINATION_MIN_LENGTH = 8 * 1024;
/** ...and writes at most this much per write(2). */
const DESTINATION_MAX_WRITE = 256 * 1024;
/** ...and flushes a partial buffer after this long, so the log is near real time. */
const DESTINATION_PERIODIC_FLUSH_MS = 200;
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
  write(data: string): boolean;
  flush(cb: (err?: Error) => void): void;
  reopen(file?: string): void;
  end(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The pino logger that renders an event as exactly its own JSON line. */
export function createEventSerializer(): (event: CordonEvent) => string {
  const capture = {
    line: '',
    write(s: string): void {
      this.line = s;
    },
  };
  const logger = eventLogger(capture);
  return (event) => {
    logger.info(event);
    return capture.line;
  };
}

function eventLogger(stream: DestinationStream): Logger {
  return pino(
    {
      base: null,
      timestamp: false,
      formatters: { level: () => ({ schema: EVENT_SCHEMA }) },
      serializers: { schema: () => undefined },
    },
    stream,
  );
}

export class AuditLog {
  readonly path: string;
  private readonly rotation: AuditLogRotation;
  private readonly pending: BoundedQueue<string>;
  private readonly logger: Logger;
  private readonly rotatedIds = new UlidFactory();
  private readonly now: () => number;
  private dest: SonicBoom | null = null;
  private line = '';
  private bytes = 0;
  private openedAtMs = 0;
  private congested = false;
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
    const self = this;
    this.logger = eventLogger({
      write(s: string): void {
        self.line = s;
      },
    });
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
      minLength: DESTINATION_MIN_LENGTH,
      maxWrite: DESTINATION_MAX_WRITE,
      periodicFlush: DESTINATION_PERIODIC_FLUSH_MS,
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
    dest.on('error', (err) => this.reportError(err, 'write'));
    this.dest = dest;
    this.ageTimer = setInterval(() => this.checkAge(), Math.min(AGE_CHECK_INTERVAL_MS, Math.max(1000, this.rotation.maxAgeMs / 4)));
    this.ageTimer.unref();
    await this.applyRetention();
    this.pump();
  }

  /**
   * Renders the event as its JSON line (with the trailing newline) and appends
   * it. Never throws, never waits; returns the line for reuse.
   */
  write(event: CordonEvent): string {
    this.logger.info(event);
    const line = this.line;
    this.append(line);
    return line;
  }

  /** Appends one already-rendered line (must end with "\n"). */
  append(line: string): void {
    if (this.closed) {
      this.counters.dropped++;
      return;
    }
    if (this.dest === null || this.congested || this.rotating !== null || this.pending.length > 0) {
      this.enqueue(line);
      if (this.dest !== null && this.rotating === null && !this.congested) this.pump();
      return;
    }
    const size = Buffer.byteLength(line);
    if (this.rotationDue(size)) {
      this.enqueue(line);
      this.startRotation();
      return;
    }
    this.writeDest(line, size);
  }

  stats(): AuditLogStats {
    return { ...this.counters, pending: this.pending.length, bytes: this.bytes };
  }

  /** Writes out every queued line and fsyncs. */
  async flush(): Promise<void> {
    if (this.rotating !== null) await this.rotating;
    this.pump(true);
    await this.flushDest();
  }

  /** Rotates now (if anything was written to the current file). */
  async rotateNow(): Promise<void> {
    if (this.rotating !== null) return this.rotating;
    if (this.bytes === 0) return;
    this.startRotation();
    await this.rotating;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.ageTimer !== null) clearInterval(this.ageTimer);
    if (this.rotating !== null) await this.rotating;
    this.pump(true);
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

  private enqueue(line: string): void {
    if (!this.pending.push(line)) this.counters.dropped++;
  }

  private rotationDue(nextBytes: number): boolean {
    if (this.bytes === 0) return false;
    return this.bytes + nextBytes > this.rotation.maxBytes || this.now() - this.openedAtMs >= this.rotation.maxAgeMs;
  }

  private writeDest(line: string, size: number): void {
    this.bytes += size;
    this.counters.written++;
    if (!this.dest!.write(line)) this.congested = true;
  }

  /** Moves queued lines into the destination while it accepts them (or all of them when forced). */
  private pump(force = false): void {
    while (this.pending.length > 0 && this.dest !== null && this.rotating === null && (force || !this.congested)) {
      const line = this.pending.peek()!;
      const size = Buffer.byteLength(line);
      if (this.rotationDue(size) && !force) {
        this.startRotation();
        return;
      }
      this.pending.shift();
      this.writeDest(line, size);
    }
  }

  private checkAge(): void {
    if (this.rotating === null && this.dest !== null && !this.closed && this.bytes > 0 && this.now() - this.openedAtMs >= this.rotation.maxAgeMs) {
      this.startRotation();
    }
  }

  private startRotation(): void {
    if (this.rotating !== null || this.dest === null) return;
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

  private flushDest(): Promise<void> {
    const dest = this.dest;
    if (dest === null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      dest.flush((err) => {
        if (err) this.reportError(err, 'flush');
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
