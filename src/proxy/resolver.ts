/**
 * Resolve a name exactly once per decision (DESIGN §2 "Names, then
 * addresses"): the proxy checks every address this returns and then dials one
 * of them, so nothing downstream may ever look the name up again.
 *
 * Two back-ends: the system resolver (getaddrinfo via dns.lookup, which honours
 * /etc/hosts and the OS configuration) or one DNS server given as HOST:PORT
 * (`--resolver`), asked for A and AAAA in parallel. Both are bounded by a
 * timeout and return canonical IP texts (via canonicalizeAddress), in the
 * order the resolver gave them; [] means the name does not resolve.
 */
import { lookup } from 'node:dns/promises';
import { Resolver as DnsResolver } from 'node:dns/promises';
import { canonicalizeAddress } from '../match/canonical.js';

export const RESOLVE_TIMEOUT_MS = 5_000;

/** Errors that mean "no such name / no records", not "the resolver failed". */
const NO_ANSWER_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME', 'EAI_NONAME', 'EAI_NODATA']);

export interface Resolver {
  /** Canonical IP texts of `name`; [] when it has none. Rejects on timeout or resolver failure. */
  resolve(name: string): Promise<string[]>;
  /** A short description for status and logs, e.g. "system" or "dns 127.0.0.1:5353". */
  readonly description: string;
}

export interface ResolverOptions {
  /** HOST:PORT (or [v6]:PORT) of a DNS server; absent = the system resolver. */
  server?: string | null;
  timeoutMs?: number;
}

export class ResolveTimeoutError extends Error {
  constructor(name: string, ms: number) {
    super(`resolving ${name} timed out after ${ms} ms`);
    this.name = 'ResolveTimeoutError';
  }
}

export function createResolver(opts: ResolverOptions = {}): Resolver {
  const timeoutMs = opts.timeoutMs ?? RESOLVE_TIMEOUT_MS;
  if (opts.server) return new ServerResolver(opts.server, timeoutMs);
  return new SystemResolver(timeoutMs);
}

function canonicalList(raw: string[]): string[] {
  const out: string[] = [];
  for (const text of raw) {
    const c = canonicalizeAddress(text);
    if (c.ok && !out.includes(c.value.host)) out.push(c.value.host);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(new ResolveTimeoutError(name, ms));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function isNoAnswer(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NO_ANSWER_CODES.has(code);
}

class SystemResolver implements Resolver {
  readonly description = 'system';
  constructor(private readonly timeoutMs: number) {}

  async resolve(name: string): Promise<string[]> {
    try {
      const answers = await withTimeout(lookup(name, { all: true, verbatim: true }), this.timeoutMs, name);
      return canonicalList(answers.map((a) => a.address));
    } catch (e) {
      if (isNoAnswer(e)) return [];
      throw e;
    }
  }
}

class ServerResolver implements Resolver {
  readonly description: string;
  readonly #server: string;
  readonly #timeoutMs: number;

  constructor(server: string, timeoutMs: number) {
    this.#server = server;
    this.#timeoutMs = timeoutMs;
    this.description = `dns ${server}`;
    // Validate now so a bad --resolver fails at start, not on the first request.
    new DnsResolver().setServers([server]);
  }

  async resolve(name: string): Promise<string[]> {
    // One c-ares channel per lookup: its own timeout, and cancel() on our deadline.
    const r = new DnsResolver({ timeout: this.#timeoutMs, tries: 1 });
    r.setServers([this.#server]);
    const family = async (p: Promise<string[]>): Promise<string[] | Error> => {
      try {
        return await p;
      } catch (e) {
        return isNoAnswer(e) ? [] : (e as Error);
      }
    };
    const [v4, v6] = await withTimeout(
      Promise.all([family(r.resolve4(name)), family(r.resolve6(name))]),
      this.#timeoutMs,
      name,
      () => r.cancel(),
    );
    if (v4 instanceof Error && v6 instanceof Error) throw v4;
    return canonicalList([...(v4 instanceof Error ? [] : v4), ...(v6 instanceof Error ? [] : v6)]);
  }
}
