/**
 * Remote policy source (DESIGN §3 "Remote"): an HTTPS URL polled with
 * If-None-Match/ETag so that any static host, object store or CDN can serve a
 * fleet and an unchanged policy costs one 304.
 *
 * Why it is careful: this is the channel through which a machine's whole
 * security policy arrives. Cleartext is allowed only to loopback; redirects
 * are followed only within the configured origin (so a compromised or
 * misconfigured CDN rule cannot point the fleet elsewhere, and the bearer
 * token never leaves the origin); bodies are size-capped; every request has
 * a timeout; failures back off exponentially; every delay is jittered so a
 * fleet does not poll in lockstep.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { CheckTrigger, FetchOptions, FetchOutcome, PolicySource } from './types.js';

export const DEFAULT_POLL_INTERVAL_MS = 300_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const MAX_REDIRECTS = 3;
/** A policy is a few KiB; anything this large is refused rather than parsed. */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
export const MAX_SIGNATURE_BYTES = 1024;
export const MAX_TOKEN_FILE_BYTES = 16 * 1024;
/** Delays are spread uniformly over ±10 % so a fleet does not poll in lockstep. */
export const POLL_JITTER_FRACTION = 0.1;
/** First retry after a failure; doubles per consecutive failure. */
export const BACKOFF_INITIAL_MS = 1_000;
/** Backoff never exceeds max(poll interval, this). */
export const BACKOFF_MAX_MS = 300_000;
export const USER_AGENT = 'cordon-policy-fetch/1';
const SIGNATURE_SUFFIX = '.sig';
const DEFAULT_FILE_NAME = 'policy.yaml';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface UrlSourceOptions {
  pollIntervalMs?: number;
  requestTimeoutMs?: number;
  /** File holding a bearer token (read on every request, so it can be rotated in place). */
  bearerTokenFile?: string | null;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  maxBytes?: number;
  /** Uniform [0,1) source for jitter (tests pass a fixed one). */
  random?: () => number;
  /** Timer used for polling (tests record the delays asked for). Default: setTimeout. */
  setTimer?: (fn: () => void, delayMs: number) => NodeJS.Timeout;
}

/** True when the text looks like a URL (`scheme://`) rather than a path. */
export function isUrlSource(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text);
}

/**
 * Checks a policy URL: https://, or http:// only to a loopback host
 * (127.0.0.0/8, [::1], localhost); no credentials, no fragment.
 */
export function validatePolicyUrl(text: string): { ok: true; url: URL } | { ok: false; error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, error: `'${text}' is not a valid URL` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, error: 'credentials in a policy URL are not allowed; use policy.bearer_token_file' };
  }
  if (url.hash !== '') return { ok: false, error: 'a policy URL must not have a fragment' };
  if (url.protocol === 'https:') return { ok: true, url };
  if (url.protocol === 'http:') {
    if (isLoopbackHostname(url.hostname)) return { ok: true, url };
    return {
      ok: false,
      error: `http:// is allowed only to a loopback host (127.0.0.1, [::1], localhost), not '${url.hostname}'; use https://`,
    };
  }
  return { ok: false, error: `policy URL scheme must be https:// (or http:// to loopback), got '${url.protocol}//'` };
}

/** The signature URL: the URL's path with `.sig` appended (the query, if any, is kept). */
export function signatureUrlFor(url: URL): URL {
  const sig = new URL(url.href);
  sig.pathname = `${sig.pathname}${SIGNATURE_SUFFIX}`;
  return sig;
}

/** `base` ± `fraction`, from a uniform random in [0,1). */
export function jittered(baseMs: number, random: () => number, fraction = POLL_JITTER_FRACTION): number {
  return Math.max(0, Math.round(baseMs * (1 + (random() * 2 - 1) * fraction)));
}

/** Delay before the next attempt after `failures` consecutive failures (0 = the poll interval). */
export function nextDelayMs(failures: number, pollIntervalMs: number, initialMs = BACKOFF_INITIAL_MS, maxMs = BACKOFF_MAX_MS): number {
  if (failures <= 0) return pollIntervalMs;
  const cap = Math.max(pollIntervalMs, maxMs);
  return Math.min(initialMs * 2 ** Math.min(failures - 1, 40), cap);
}

function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host.toLowerCase() === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

class FetchFailure extends Error {}

export class UrlPolicySource implements PolicySource {
  readonly kind = 'url' as const;
  readonly source: string;
  readonly #url: URL;
  readonly #pollIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #tokenFile: string | null;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #maxBytes: number;
  readonly #random: () => number;
  readonly #setTimer: (fn: () => void, delayMs: number) => NodeJS.Timeout;
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #inflight = new Set<AbortController>();

  constructor(url: string, options: UrlSourceOptions = {}) {
    const checked = validatePolicyUrl(url);
    if (!checked.ok) throw new Error(checked.error);
    this.#url = checked.url;
    this.source = checked.url.href;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#tokenFile = options.bearerTokenFile ?? null;
    this.#backoffInitialMs = options.backoffInitialMs ?? BACKOFF_INITIAL_MS;
    this.#backoffMaxMs = options.backoffMaxMs ?? BACKOFF_MAX_MS;
    this.#maxBytes = options.maxBytes ?? MAX_POLICY_BYTES;
    this.#random = options.random ?? Math.random;
    this.#setTimer = options.setTimer ?? ((fn, delayMs) => setTimeout(fn, delayMs));
  }

  /** Consecutive failed fetches (reset by a 200 or a 304). */
  get failures(): number {
    return this.#failures;
  }

  async fetch(options: FetchOptions): Promise<FetchOutcome> {
    try {
      const token = await this.#readToken();
      const body = await this.#get(this.#url, options.etag, token, this.#maxBytes, false);
      if (body.status === 304) {
        this.#failures = 0;
        return { status: 'not-modified' };
      }
      let signature: string | null = null;
      if (options.withSignatures) {
        const sig = await this.#get(signatureUrlFor(this.#url), null, token, MAX_SIGNATURE_BYTES, true);
        if (sig.status === 200) signature = sig.bytes.toString('utf8');
        else if (sig.status !== 404) throw new FetchFailure(`${sig.url}: HTTP ${sig.status}`);
      }
      this.#failures = 0;
      return {
        status: 'candidate',
        candidate: {
          kind: 'url',
          source: this.source,
          location: this.source,
          files: [{ name: DEFAULT_FILE_NAME, bytes: body.bytes, signature }],
          etag: body.etag,
        },
      };
    } catch (err) {
      this.#failures += 1;
      return { status: 'error', error: err instanceof FetchFailure ? err.message : `${this.source}: ${errorText(err)}` };
    }
  }

  async watch(trigger: CheckTrigger): Promise<void> {
    this.#schedule(trigger);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const controller of this.#inflight) controller.abort();
  }

  #schedule(trigger: CheckTrigger): void {
    if (this.#closed) return;
    const delay = jittered(nextDelayMs(this.#failures, this.#pollIntervalMs, this.#backoffInitialMs, this.#backoffMaxMs), this.#random);
    this.#timer = this.#setTimer(() => {
      this.#timer = null;
      trigger()
        .catch(() => undefined)
        .finally(() => this.#schedule(trigger));
    }, delay);
    this.#timer.unref();
  }

  async #readToken(): Promise<string | null> {
    if (this.#tokenFile === null) return null;
    let text: string;
    try {
      const buf = await readFile(this.#tokenFile);
      if (buf.length > MAX_TOKEN_FILE_BYTES) throw new FetchFailure(`bearer token file ${this.#tokenFile} is too large`);
      text = buf.toString('utf8').trim();
    } catch (err) {
      if (err instanceof FetchFailure) throw err;
      throw new FetchFailure(`cannot read bearer token file ${this.#tokenFile}: ${errorText(err)}`);
    }
    if (text === '' || /[\s\0]/.test(text)) {
      throw new FetchFailure(`bearer token file ${this.#tokenFile} must hold one token (no whitespace inside)`);
    }
    return text;
  }

  /**
   * GET with manual, same-origin-only redirects, a timeout covering headers and
   * body, and a size cap. `allowMissing`: a 404 is returned rather than thrown.
   */
  async #get(
    start: URL,
    etag: string | null,
    token: string | null,
    maxBytes: number,
    allowMissing: boolean,
  ): Promise<{ status: number; url: string; bytes: Buffer; etag: string | null }> {
    const controller = new AbortController();
    this.#inflight.add(controller);
    const timer = setTimeout(() => controller.abort(new FetchFailure(`${start.href}: timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
    try {
      let url = start;
      for (let hop = 0; ; hop += 1) {
        const headers: Record<string, string> = {
          accept: 'application/yaml, text/yaml, text/plain;q=0.9, */*;q=0.1',
          'cache-control': 'no-cache',
          'user-agent': USER_AGENT,
        };
        if (etag !== null) headers['if-none-match'] = etag;
        if (token !== null) headers.authorization = `Bearer ${token}`;
        const res = await fetch(url, { redirect: 'manual', headers, signal: controller.signal });
        if (REDIRECT_STATUSES.has(res.status)) {
          await res.body?.cancel().catch(() => undefined);
          const location = res.headers.get('location');
          if (location === null) throw new FetchFailure(`${url.href}: HTTP ${res.status} without a Location header`);
          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            throw new FetchFailure(`${url.href}: redirect to an invalid URL '${location}'`);
          }
          if (next.origin !== this.#url.origin) {
            throw new FetchFailure(`${url.href}: redirect to another origin refused (${next.origin})`);
          }
          if (hop + 1 > MAX_REDIRECTS) throw new FetchFailure(`${start.href}: more than ${MAX_REDIRECTS} redirects`);
          url = next;
          continue;
        }
        if (res.status === 304) {
          await res.body?.cancel().catch(() => undefined);
          if (etag === null) throw new FetchFailure(`${url.href}: HTTP 304 to a request without If-None-Match`);
          return { status: 304, url: url.href, bytes: Buffer.alloc(0), etag };
        }
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => undefined);
          if (res.status === 404 && allowMissing) return { status: 404, url: url.href, bytes: Buffer.alloc(0), etag: null };
          throw new FetchFailure(`${url.href}: HTTP ${res.status}`);
        }
        const bytes = await readCapped(res, maxBytes, url.href);
        return { status: 200, url: url.href, bytes, etag: res.headers.get('etag') };
      }
    } catch (err) {
      if (controller.signal.aborted && controller.signal.reason instanceof FetchFailure) throw controller.signal.reason;
      if (controller.signal.aborted && this.#closed) throw new FetchFailure(`${start.href}: source closed`);
      throw err;
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(controller);
    }
  }
}

async function readCapped(res: Response, maxBytes: number, where: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchFailure(`${where}: body of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FetchFailure(`${where}: body exceeds the ${maxBytes}-byte limit`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
    if (code !== undefined) return `${err.message} (${code})`;
    return err.message;
  }
  return String(err);
}
