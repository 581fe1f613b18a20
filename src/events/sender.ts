/**
 * The drain loop of one upstream sink: reads batches from the sink's spool,
 * hands them to the transport, and acknowledges them in the spool only when
 * the upstream accepted them (at-least-once delivery).
 *
 * Outcomes (decided by the transport):
 *   ok     → ack, reset backoff.
 *   retry  → network error, timeout, HTTP 408/429/502/503/504: the same batch
 *            again after exponential backoff with jitter, or exactly after
 *            Retry-After when the upstream sent one (capped).
 *   poison → any other rejection (HTTP 400, 401, 403, 404, 413, 500, ...):
 *            retrying cannot help. When the status says "this content" (400,
 *            413, 422) and the batch has more than one event, the batch is
 *            halved until the bad event is alone, so one malformed event does
 *            not take its neighbours with it; the rest is set aside in
 *            poisoned/, acked, and reported.
 *
 * Health transitions (failing → recovered) are reported once each, not per
 * retry, so a down SIEM does not flood the spool with its own error events.
 */
import type { SinkType } from './sink-config.js';
import type { Spool, SpoolBatch } from './spool.js';
import type { CordonEvent } from './types.js';

export const DEFAULT_BATCH_MAX_EVENTS = 500;
export const DEFAULT_BATCH_MAX_BYTES = 1024 * 1024;
export const DEFAULT_BACKOFF_BASE_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
export const DEFAULT_RETRY_AFTER_MAX_MS = 10 * 60_000;
/**
 * After delivering a batch smaller than the maximum, the sender waits this
 * long before reading the next, so events trickling in under load go out as
 * a few large POSTs instead of hundreds of small ones a second (each POST
 * costs the daemon and the collector CPU). Delivery latency grows by at most
 * this much; a full batch is sent at once.
 */
export const DEFAULT_SEND_LINGER_MS = 100;
const MAX_BACKOFF_EXPONENT = 20;

export type SendOutcome =
  | { kind: 'ok'; warning?: string; rejected?: number }
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  | { kind: 'poison'; error: string; status?: number; splittable: boolean };

/** How events leave for one upstream; one per sink. */
export interface SinkTransport {
  readonly type: SinkType;
  send(events: CordonEvent[], signal: AbortSignal): Promise<SendOutcome>;
  /**
   * Sends the batch's spooled NDJSON bytes as they are. Only a transport
   * whose wire body is exactly those bytes has it; the sender then never
   * parses the batch (re-parsing and re-serializing every event dominated
   * the sink path's CPU).
   */
  sendNdjson?(body: Buffer, signal: AbortSignal): Promise<SendOutcome>;
  close(): Promise<void>;
}

export type SenderReport = (action: 'sink-error' | 'sink-recovered' | 'poisoned-batch' | 'events-dropped', message: string, details: Record<string, unknown>) => void;

export interface SenderOptions {
  name: string;
  spool: Spool;
  transport: SinkTransport;
  report?: SenderReport;
  batchMaxEvents?: number;
  batchMaxBytes?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  retryAfterMaxMs?: number;
  random?: () => number;
  /** Default DEFAULT_SEND_LINGER_MS; 0 sends whatever is spooled as soon as the previous batch is acknowledged. */
  lingerMs?: number;
  /** Waits `ms` unless aborted; replaceable so tests can see the delays asked for. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  onError?: (error: Error, what: string) => void;
}

export interface SenderStatus {
  lastSuccessAt: string | null;
  lastError: string | null;
  failing: boolean;
  delivered: number;
  retries: number;
  poisonedBatches: number;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Exponential backoff with equal jitter: half the step fixed, half random. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, MAX_BACKOFF_EXPONENT));
  return Math.round(step / 2 + random() * (step / 2));
}

export class SinkSender {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly batchMaxEvents: number;
  private readonly batchMaxBytes: number;
  private readonly lingerMs: number;
  private readonly state: SenderStatus = {
    lastSuccessAt: null,
    lastError: null,
    failing: false,
    delivered: 0,
    retries: 0,
    poisonedBatches: 0,
  };
  private failingSinceMs: number | null = null;

  constructor(private readonly options: SenderOptions) {
    this.batchMaxEvents = options.batchMaxEvents ?? DEFAULT_BATCH_MAX_EVENTS;
    this.batchMaxBytes = options.batchMaxBytes ?? DEFAULT_BATCH_MAX_BYTES;
    this.lingerMs = options.lingerMs ?? DEFAULT_SEND_LINGER_MS;
  }

  start(): void {
    if (this.loop !== null) return;
    this.loop = this.run().catch((err) => {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)), 'sender');
    });
  }

  /** Aborts an in-flight request or wait and returns when the loop has exited. The spool keeps the batch. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.loop !== null) await this.loop;
  }

  status(): SenderStatus {
    return { ...this.state };
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private sleep(ms: number): Promise<void> {
    return (this.options.sleep ?? abortableSleep)(ms, this.abort.signal);
  }

  private async run(): Promise<void> {
    const { spool, transport } = this.options;
    const signal = this.abort.signal;
    let attempt = 0;
    let batch: SpoolBatch | null = null;
    let limit = this.batchMaxEvents;
    /** While halving around a rejected batch: the end of that batch. */
    let splitUntil: { seq: number; offset: number } | null = null;

    while (!this.stopped) {
      if (batch !== null && !spool.isCurrent(batch)) batch = null; // the cap dropped it meanwhile
      if (batch === null) {
        const version = spool.dataVersion;
        batch = await spool.readBatch(limit, this.batchMaxBytes);
        if (this.stopped) return;
        if (batch === null) {
          await spool.waitForData(version, signal);
          continue;
        }
        if (batch.count === 0) {
          await spool.ack(batch);
          batch = null;
          continue;
        }
      }

      let outcome: SendOutcome;
      try {
        outcome = transport.sendNdjson !== undefined ? await transport.sendNdjson(batch.data, signal) : await transport.send(batch.events, signal);
      } catch (err) {
        outcome = { kind: 'retry', error: err instanceof Error ? err.message : String(err) };
      }
      if (this.stopped) return;

      if (outcome.kind === 'ok') {
        await spool.ack(batch);
        this.state.delivered += batch.count;
        this.onSuccess(outcome);
        if (splitUntil !== null && (batch.seq > splitUntil.seq || batch.endOffset >= splitUntil.offset)) {
          splitUntil = null;
          limit = this.batchMaxEvents;
        }
        const sent = batch.count;
        batch = null;
        attempt = 0;
        // Linger after a short batch (not while halving around a rejected one): let the next one fill up.
        if (this.lingerMs > 0 && splitUntil === null && sent < this.batchMaxEvents) await abortableSleep(this.lingerMs, signal);
        continue;
      }

      if (outcome.kind === 'retry') {
        this.onFailure(outcome.error);
        this.state.retries++;
        const cap = this.options.retryAfterMaxMs ?? DEFAULT_RETRY_AFTER_MAX_MS;
        const delay =
          outcome.retryAfterMs !== undefined
            ? Math.min(Math.max(0, outcome.retryAfterMs), cap)
            : backoffDelayMs(attempt, this.options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS, this.options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS, this.options.random);
        attempt++;
        await this.sleep(delay);
        continue;
      }

      // poison
      if (outcome.splittable && batch.count > 1) {
        if (splitUntil === null) splitUntil = { seq: batch.seq, offset: batch.endOffset };
        limit = Math.ceil(batch.count / 2);
        batch = null;
        continue;
      }
      const file = await spool.setAside(batch, { sink: this.options.name, status: outcome.status ?? null, error: outcome.error });
      this.state.poisonedBatches++;
      this.state.lastError = `rejected: ${outcome.error}`;
      this.options.report?.('poisoned-batch', `sink ${this.options.name} rejected ${batch.count} event(s) for good: ${outcome.error}`, {
        sink: this.options.name,
        count: batch.count,
        status: outcome.status ?? null,
        error: outcome.error,
        file,
        first_id: batch.events[0]?.id ?? null,
        last_id: batch.events[batch.count - 1]?.id ?? null,
      });
      batch = null;
      attempt = 0;
    }
  }

  private onSuccess(outcome: { warning?: string; rejected?: number }): void {
    const now = Date.now();
    this.state.lastSuccessAt = new Date(now).toISOString();
    if (this.state.failing) {
      this.options.report?.('sink-recovered', `sink ${this.options.name} is delivering again`, {
        sink: this.options.name,
        failed_for_s: this.failingSinceMs === null ? null : Math.round((now - this.failingSinceMs) / 1000),
      });
    }
    this.state.failing = false;
    this.failingSinceMs = null;
    this.state.lastError = outcome.warning ?? null;
    if (outcome.rejected !== undefined && outcome.rejected > 0) {
      this.options.report?.('events-dropped', `sink ${this.options.name} accepted the batch but rejected ${outcome.rejected} event(s): ${outcome.warning ?? ''}`, {
        sink: this.options.name,
        count: outcome.rejected,
        reason: 'upstream-rejected',
      });
    }
  }

  private onFailure(error: string): void {
    this.state.lastError = error;
    if (!this.state.failing) {
      this.state.failing = true;
      this.failingSinceMs = Date.now();
      this.options.report?.('sink-error', `sink ${this.options.name} is failing: ${error}`, { sink: this.options.name, error });
    }
  }
}
