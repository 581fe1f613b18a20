/**
 * One HTTP POST to an upstream collector and the classification of its
 * result, shared by the OTLP, HTTP/NDJSON and HEC sinks. Retry only what can
 * succeed later: network errors, timeouts and HTTP 408, 429, 502, 503, 504
 * (the OTLP/HTTP retryable set, plus 408), honouring Retry-After in seconds
 * or as an HTTP date. Everything else the upstream refuses is poison (see
 * sender.ts); 400, 413 and 422 are about the content, so the sender may split
 * the batch to isolate the bad event. Redirects are not followed (a redirect
 * is a misconfigured URL, and following it could send events elsewhere).
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { SendOutcome } from '../sender.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 502, 503, 504]);
export const SPLITTABLE_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);
const RESPONSE_BODY_MAX_BYTES = 64 * 1024;
const ERROR_TEXT_MAX_CHARS = 300;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpPostOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for https:// upstreams. */
  ca?: string | Buffer;
  userAgent?: string;
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse alone would take "-5" for a year.
  if (!/^[A-Za-z]+,? /.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (!Number.isFinite(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > ERROR_TEXT_MAX_CHARS ? `${flat.slice(0, ERROR_TEXT_MAX_CHARS)}…` : flat;
}

/** The sender outcome for an HTTP response (2xx = ok). */
export function classifyHttpResponse(res: HttpResponse, nowMs: number = Date.now()): SendOutcome {
  if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
  const error = `HTTP ${res.status}${res.body !== '' ? `: ${excerpt(res.body)}` : ''}`;
  if (RETRYABLE_STATUSES.has(res.status)) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], nowMs);
    return retryAfterMs === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs };
  }
  return { kind: 'poison', error, status: res.status, splittable: SPLITTABLE_STATUSES.has(res.status) };
}

export class HttpPoster {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpPostOptions) {
    this.url = new URL(options.url);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(options.ca !== undefined ? { ca: options.ca } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  /** POSTs the body; resolves with the response, rejects on network error, timeout or abort. */
  post(body: Buffer, contentType: string, signal: AbortSignal): Promise<HttpResponse> {
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err !== null) reject(err);
        else resolve(res!);
      };
      const req = request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          ...this.options.headers,
          'content-type': contentType,
          'content-length': String(body.length),
          'user-agent': this.options.userAgent ?? 'cordon',
        },
      });
      const timer = setTimeout(() => {
        const err = new Error(`timed out after ${this.timeoutMs} ms`);
        req.destroy(err);
        finish(err);
      }, this.timeoutMs);
      timer.unref();
      const onAbort = (): void => {
        const err = new Error('aborted');
        req.destroy(err);
        finish(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(err));
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < RESPONSE_BODY_MAX_BYTES) chunks.push(chunk.subarray(0, RESPONSE_BODY_MAX_BYTES - size));
          size += chunk.length;
        });
        res.on('error', (err) => finish(err));
        res.on('aborted', () => finish(new Error('response aborted')));
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A network error, timeout or abort: always worth retrying. */
export function networkErrorOutcome(err: unknown): SendOutcome {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'retry', error: code !== undefined && !message.includes(code) ? `${code}: ${message}` : message };
}

/** POST and classify. */
export async function postAndClassify(poster: HttpPoster, body: Buffer, contentType: string, signal: AbortSignal): Promise<SendOutcome> {
  try {
    return classifyHttpResponse(await poster.post(body, contentType, signal));
  } catch (err) {
    return networkErrorOutcome(err);
  }
}
