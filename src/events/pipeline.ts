/**
 * The event pipeline (DESIGN §5): every decision and daemon/policy life event
 * goes in through `emit`, and comes out in the local audit log, the recent
 * ring (GET /v1/events), live subscribers (follow=1), and each upstream sink's
 * durable spool, from which a sender drains it.
 *
 *   emit ──stamp──► recent ring
 *        └────────► bus (bounded) ──setImmediate, in slices──► audit log (pino)
 *                                                        ├──► subscribers
 *                                                        └──► spool queue per sink ──► disk ──► sender ──► upstream
 *
 * The producer never waits: emit only stamps, counts and pushes onto the bus;
 * serialization and I/O happen later on the event loop. Every queue is
 * bounded; a full one drops and counts, and a `daemon` event
 * `events-dropped` reports the counts (at most once per report interval).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditLog, createLineRenderer, logLine } from './audit-log.js';
import type { AuditLogRotation } from './audit-log.js';
import { BoundedQueue } from './bounded-queue.js';
import { SinkSender } from './sender.js';
import type { SenderReport, SinkTransport } from './sender.js';
import { sinksConfigErrors } from './sink-config.js';
import type { SinkConfig, SinkType } from './sink-config.js';
import { createTransport } from './sinks/create-transport.js';
import { Spool } from './spool.js';
import type { SpoolLossReason } from './spool.js';
import { EventStamper, resolveIdentity } from './stamp.js';
import type { Identity, IdentityConfig } from './stamp.js';
import type { CordonEvent, DaemonEvent, EventEmitterPort, EventInput } from './types.js';

export const DEFAULT_BUS_CAPACITY = 65_536;
export const DEFAULT_RECENT_CAPACITY = 1000;
export const DEFAULT_DROP_REPORT_INTERVAL_MS = 1000;
/** Events handled per event-loop turn, so a burst never holds the loop for long. */
const DISPATCH_SLICE = 1024;
const SPOOL_DIR = 'spool';

export interface PipelineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SenderTuning {
  batchMaxEvents?: number;
  batchMaxBytes?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  retryAfterMaxMs?: number;
  /** HTTP request / syslog connect+write timeout. */
  requestTimeoutMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface SpoolTuning {
  queueCapacity?: number;
  fsyncIntervalMs?: number;
  fsyncEveryRecords?: number;
  segmentMaxBytes?: number;
}

export interface EventPipelineOptions {
  stateDir: string;
  identity?: IdentityConfig;
  sinks?: SinkConfig[];
  auditLog?: Partial<AuditLogRotation>;
  busCapacity?: number;
  recentCapacity?: number;
  logger?: PipelineLogger;
  /** cordon's version (OTLP service.version, OCSF product version, user-agent). */
  version?: string;
  /** Extra trusted CA certificates (PEM) for https:// and tls:// sinks. */
  tlsCa?: string | Buffer;
  dropReportIntervalMs?: number;
  sender?: SenderTuning;
  spool?: SpoolTuning;
  /** Replaces a sink's transport (tests); default from createTransport. */
  transportFactory?: (config: SinkConfig) => SinkTransport;
}

/** One entry of `sinks` in GET /v1/status (DESIGN §7). */
export interface SinkStatus {
  name: string;
  type: SinkType;
  queued: number;
  spooled_bytes: number;
  oldest_unsent_s: number | null;
  last_success_at: string | null;
  last_error: string | null;
  dropped: number;
}

export interface PipelineCounters {
  /** DESIGN §7 status counters (network and mount decision events). */
  allowed: number;
  denied: number;
  audited: number;
  invalid: number;
  /** Every event emitted. */
  events: number;
  /** Events lost anywhere (bus, audit log, any sink), summed over sinks. */
  dropped: number;
  bus_dropped: number;
  audit_log_written: number;
  audit_log_dropped: number;
  audit_log_rotations: number;
  delivered: number;
  poisoned: number;
  internal_errors: number;
}

export type EventSubscriber = (event: CordonEvent, line: string) => void;

interface SinkRuntime {
  config: SinkConfig;
  spool: Spool;
  sender: SinkSender;
  transport: SinkTransport;
  /** Queue-full drops not yet reported. */
  unreportedDrops: number;
}

const NOOP_LOGGER: PipelineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EventPipeline implements EventEmitterPort {
  readonly identity: Identity;
  private readonly stamper: EventStamper;
  private readonly bus: BoundedQueue<CordonEvent>;
  /** The newest events' JSON lines: one flat string each rather than an object graph per event. */
  private readonly recentRing: BoundedQueue<string>;
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly audit: AuditLog;
  private readonly render = createLineRenderer();
  private readonly sinks: SinkRuntime[] = [];
  private readonly logger: PipelineLogger;
  private readonly dropReportIntervalMs: number;
  private dispatchScheduled = false;
  private started = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private dropTimer: NodeJS.Timeout | null = null;
  private unreported = { bus: 0, auditLog: 0 };
  private lastAuditDropped = 0;
  private counts = { allowed: 0, denied: 0, audited: 0, invalid: 0, events: 0, busDropped: 0, internalErrors: 0 };

  constructor(private readonly options: EventPipelineOptions) {
    const sinks = options.sinks ?? [];
    const errors = sinksConfigErrors(sinks);
    if (errors.length > 0) throw new Error(`invalid sink configuration:\n${errors.join('\n')}`);
    this.logger = options.logger ?? NOOP_LOGGER;
    this.identity = resolveIdentity(options.identity ?? {});
    this.stamper = new EventStamper(this.identity);
    this.bus = new BoundedQueue(options.busCapacity ?? DEFAULT_BUS_CAPACITY);
    this.recentRing = new BoundedQueue(options.recentCapacity ?? DEFAULT_RECENT_CAPACITY);
    this.dropReportIntervalMs = options.dropReportIntervalMs ?? DEFAULT_DROP_REPORT_INTERVAL_MS;
    this.audit = new AuditLog({
      dir: options.stateDir,
      ...options.auditLog,
      onError: (err, what) => this.logger.error({ err: err.message, what }, 'audit log error'),
    });
    const version = options.version ?? 'unknown';
    const { requestTimeoutMs, ...senderTuning } = options.sender ?? {};
    for (const config of sinks) {
      const spool = new Spool({
        dir: join(options.stateDir, SPOOL_DIR, config.name),
        maxBytes: config.spool_max_bytes,
        ...options.spool,
        onLoss: (count, reason) => this.onSpoolLoss(config, count, reason),
        onError: (err, what) => this.logger.error({ sink: config.name, err: err.message, what }, 'spool error'),
      });
      const transport =
        options.transportFactory?.(config) ??
        createTransport(config, {
          version,
          ...(requestTimeoutMs !== undefined ? { timeoutMs: requestTimeoutMs } : {}),
          ...(options.tlsCa !== undefined ? { ca: options.tlsCa } : {}),
        });
      const report: SenderReport = (action, message, details) => {
        const log = action === 'sink-recovered' ? this.logger.info : this.logger.warn;
        log.call(this.logger, details, message);
        this.emitDaemon(action, message, details);
      };
      const sender = new SinkSender({
        name: config.name,
        spool,
        transport,
        report,
        ...senderTuning,
        onError: (err, what) => this.logger.error({ sink: config.name, err: err.message, what }, 'sender error'),
      });
      this.sinks.push({ config, spool, sender, transport, unreportedDrops: 0 });
    }
  }

  /** Opens the audit log and the spools (recovering what a previous run left) and starts the senders. */
  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.options.stateDir, { recursive: true, mode: 0o750 });
    await this.audit.open();
    for (const sink of this.sinks) await sink.spool.open();
    for (const sink of this.sinks) sink.sender.start();
    this.started = true;
    this.dropTimer = setInterval(() => this.reportDrops(), this.dropReportIntervalMs);
    this.dropTimer.unref();
    this.scheduleDispatch();
  }

  /**
   * Stamps the event and queues it; returns the stamped event. Never throws,
   * never waits. The pipeline owns `input` from here on: do not mutate it.
   */
  emit(input: EventInput): CordonEvent {
    let event: CordonEvent;
    try {
      event = this.stamper.stamp(input);
    } catch (err) {
      // A producer bug: record that it happened instead of the unusable input.
      this.counts.internalErrors++;
      return this.emit({ kind: 'daemon', action: 'internal-error', message: `invalid event input: ${errorText(err)}`, policy: null });
    }
    this.counts.events++;
    this.count(event);
    if (this.closed) {
      this.counts.busDropped++;
      return event;
    }
    if (!this.bus.push(event)) {
      this.counts.busDropped++;
      this.unreported.bus++;
      return event;
    }
    this.scheduleDispatch();
    return event;
  }

  /** The newest `limit` dispatched events (queued ones are dispatched first), oldest first. */
  recent(limit: number = this.recentRing.capacity): CordonEvent[] {
    if (this.started && !this.closed) this.dispatchAll();
    return this.recentRing.last(limit).map((line) => JSON.parse(line) as CordonEvent);
  }

  /**
   * Calls `fn(event, line)` for every event as it is dispatched (right after
   * it is handed to the audit log; `line` is its JSON with "\n", ready for an
   * NDJSON stream). Returns the unsubscribe function. A subscriber that
   * throws is logged and skipped; one that is slow slows the dispatcher, so
   * a network follower should buffer with its own bound.
   */
  subscribe(fn: EventSubscriber): () => void {
    this.subscribers.add(fn);
    return () => {
      this.subscribers.delete(fn);
    };
  }

  sinkStatus(nowMs: number = Date.now()): SinkStatus[] {
    return this.sinks.map((sink) => {
      const spool = sink.spool.stats();
      const sender = sink.sender.status();
      return {
        name: sink.config.name,
        type: sink.config.type,
        queued: spool.queued,
        spooled_bytes: spool.spooledBytes,
        oldest_unsent_s: spool.oldestUnsentMs === null ? null : Math.max(0, Math.floor((nowMs - spool.oldestUnsentMs) / 1000)),
        last_success_at: sender.lastSuccessAt,
        last_error: sender.lastError,
        dropped: spool.dropped + spool.torn + spool.corrupt,
      };
    });
  }

  counters(): PipelineCounters {
    const audit = this.audit.stats();
    let sinkDropped = 0;
    let delivered = 0;
    let poisoned = 0;
    for (const sink of this.sinks) {
      const spool = sink.spool.stats();
      sinkDropped += spool.dropped + spool.torn + spool.corrupt;
      poisoned += spool.poisoned;
      delivered += sink.sender.status().delivered;
    }
    return {
      allowed: this.counts.allowed,
      denied: this.counts.denied,
      audited: this.counts.audited,
      invalid: this.counts.invalid,
      events: this.counts.events,
      dropped: this.counts.busDropped + audit.dropped + sinkDropped,
      bus_dropped: this.counts.busDropped,
      audit_log_written: audit.written,
      audit_log_dropped: audit.dropped,
      audit_log_rotations: audit.rotations,
      delivered,
      poisoned,
      internal_errors: this.counts.internalErrors,
    };
  }

  /**
   * Resolves when every event emitted before the call is in the audit log
   * (flushed) and in every sink's spool (written and fsynced), or counted lost.
   */
  async sync(): Promise<void> {
    if (!this.started) return;
    this.dispatchAll();
    await Promise.all([this.audit.flush(), ...this.sinks.map((s) => s.spool.sync())]);
  }

  /** Rotates the audit log now (e.g. on SIGHUP). */
  rotateAuditLog(): Promise<void> {
    return this.audit.rotateNow();
  }

  /**
   * Flushes what can be flushed: dispatches the bus, stops the senders
   * (in-flight batches stay spooled), writes and fsyncs the spools, persists
   * cursors, flushes and closes the audit log.
   */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.dropTimer !== null) clearInterval(this.dropTimer);
    if (this.started) {
      this.reportDrops();
      this.dispatchAll();
    }
    this.closed = true;
    this.subscribers.clear();
    await Promise.all(this.sinks.map((s) => s.sender.stop()));
    for (const sink of this.sinks) await sink.spool.close();
    await this.audit.close();
    await Promise.all(this.sinks.map((s) => s.transport.close().catch(() => undefined)));
  }

  private count(event: CordonEvent): void {
    if (event.kind !== 'network' && event.kind !== 'mount') return;
    if (event.decision === 'allow') this.counts.allowed++;
    else if (event.reason === 'invalid-target') this.counts.invalid++;
    else if (event.enforced) this.counts.denied++;
    else this.counts.audited++;
  }

  private emitDaemon(action: string, message: string, details: Record<string, unknown>): void {
    const input: Omit<DaemonEvent, 'schema' | 'id' | 'time' | 'user' | 'device'> = { kind: 'daemon', action, message, details, policy: null };
    this.emit(input);
  }

  private scheduleDispatch(): void {
    if (this.dispatchScheduled || !this.started || this.bus.length === 0) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatchSlice(DISPATCH_SLICE);
      this.scheduleDispatch();
    });
  }

  private dispatchAll(): void {
    while (this.bus.length > 0) this.dispatchSlice(DISPATCH_SLICE);
  }

  private dispatchSlice(max: number): void {
    // Oldest-unsent ages are reported in seconds; the dispatch time stands in for each event's time.
    const nowMs = Date.now();
    for (let i = 0; i < max && this.bus.length > 0; i++) {
      const event = this.bus.shift()!;
      let line: string;
      try {
        line = this.render(event);
      } catch (err) {
        this.counts.internalErrors++;
        this.logger.error({ err: errorText(err), id: event.id }, 'event could not be serialized');
        continue;
      }
      this.recentRing.pushEvicting(line);
      this.audit.append(logLine(line));
      for (const sink of this.sinks) {
        if (!sink.spool.enqueue(line, nowMs)) sink.unreportedDrops++;
      }
      for (const fn of this.subscribers) {
        try {
          fn(event, line);
        } catch (err) {
          this.logger.warn({ err: errorText(err) }, 'event subscriber threw');
        }
      }
    }
  }

  private onSpoolLoss(config: SinkConfig, count: number, reason: SpoolLossReason): void {
    this.logger.warn({ sink: config.name, count, reason }, 'events dropped from spool');
    const why: Record<SpoolLossReason, string> = {
      'spool-full': `spool reached its cap of ${config.spool_max_bytes} bytes; the oldest events were dropped`,
      'spool-torn': 'a spool segment ended in a torn line (crash mid-write)',
      'spool-corrupt': 'spooled lines could not be parsed',
      'spool-write-error': 'events could not be written to the spool',
    };
    this.emitDaemon('events-dropped', `${count} event(s) dropped for sink ${config.name}: ${why[reason]}`, { sink: config.name, count, reason });
  }

  /** Emits one `events-dropped` event for queue overflows since the last report. */
  private reportDrops(): void {
    const audit = this.audit.stats();
    const auditDrops = audit.dropped - this.lastAuditDropped;
    this.lastAuditDropped = audit.dropped;
    const sinks: Record<string, number> = {};
    let total = this.unreported.bus + auditDrops;
    for (const sink of this.sinks) {
      if (sink.unreportedDrops > 0) {
        sinks[sink.config.name] = sink.unreportedDrops;
        total += sink.unreportedDrops;
        sink.unreportedDrops = 0;
      }
    }
    if (total === 0) return;
    const details = { count: total, reason: 'queue-full', bus: this.unreported.bus, audit_log: auditDrops, sinks };
    this.unreported.bus = 0;
    this.logger.warn(details, 'events dropped: queue full');
    this.emitDaemon('events-dropped', `${total} event(s) dropped because a pipeline queue was full`, details);
  }
}
