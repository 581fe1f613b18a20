/**
 * The policy store (DESIGN §3, §7 `status.policy`): the one place that holds
 * the policy in force and decides whether a candidate from a source may
 * replace it.
 *
 * Why it exists: a machine must never be left unprotected and never run a
 * policy that was tampered with or rolled back. Every candidate goes through
 * the same gate, whatever its source: signature (when trusted keys are
 * configured) → parse and validate → rollback check (`revision` never goes
 * down unless forced) → compile → persist as last-known-good → swap. The swap
 * replaces a single reference, so a decision in flight keeps the compiled
 * policy it started with and the next one sees the new policy whole. A
 * candidate that fails any step is rejected and reported; the policy in force
 * stays. With nothing valid at all — no source, no cache — the store holds
 * deny-all and says why (fail closed).
 *
 * Checks are serialised (one at a time, in order) so that a poll, a file event
 * and `POST /v1/policy/reload` / SIGHUP never race each other.
 *
 * States (status.policy.state):
 *   fresh    — the policy in force is what the source served at the last check;
 *   stale    — it could not be confirmed: the source failed or served something
 *              that was rejected (stale_since: since when);
 *   deny-all — no valid policy at all; last_error says why.
 */
import { createHash } from 'node:crypto';
import type { EventEmitterPort, EventPolicyRef } from '../events/types.js';
import { compilePolicy, denyAllPolicy, type CompiledPolicy } from './compile.js';
import { LastGoodCache, type LastGood } from './last-good.js';
import { formatPolicyErrors, loadPolicyPath, parsePolicyText } from './load.js';
import { verify, type TrustedKey } from './signature.js';
import type { FetchOutcome, PolicyCandidate, PolicyFileBytes, PolicySource, PolicySourceKind } from './sources/types.js';
import type { Mode, Policy } from './types.js';

/** Longest error text kept in status (the full list goes into the event). */
export const MAX_STATUS_ERROR_CHARS = 2000;
const NOT_STARTED = 'policy store not started';

export type PolicyState = 'fresh' | 'stale' | 'deny-all';

/** `GET /v1/status` → `policy` (DESIGN §7), plus `state` and `mode`. */
export interface PolicyStatus {
  name: string;
  revision: number | null;
  digest: string;
  /** The configured source (absolute path or URL). */
  source: string;
  /** Id (key file name) of the trusted key that verified the policy in force; null when unsigned. */
  key_id: string | null;
  /** When the policy in force was put in force by this daemon (ISO 8601). */
  loaded_at: string | null;
  /** When the source was last checked, whatever the outcome. */
  checked_at: string | null;
  /** Since when the policy in force is unconfirmed; null when fresh. */
  stale_since: string | null;
  /** Why the last check did not confirm or replace the policy; null after a good check. */
  last_error: string | null;
  state: PolicyState;
  /** The policy's own mode (a daemon --mode override is applied by the caller). */
  mode: Mode;
}

export interface ReloadResult {
  /** True when a new policy was swapped in. */
  changed: boolean;
  /** Why the check did not confirm or replace the policy; null on success. */
  error: string | null;
}

export type SwapListener = (next: CompiledPolicy, previous: CompiledPolicy) => void;

export interface PolicyStoreOptions {
  source: PolicySource;
  /** `$STATE_DIR`; the last-known-good copy lives in `$STATE_DIR/policy/`. */
  stateDir: string;
  events: EventEmitterPort;
  /** When non-empty, only policies signed by one of these keys are accepted (cache included). */
  trustedKeys?: readonly TrustedKey[];
  /** Accept a lower `revision` than the policy in force (rollback) on every check. */
  force?: boolean;
  now?: () => Date;
}

/** Why a candidate was refused (event details.reason). */
type RejectReason = 'signature' | 'invalid' | 'rollback' | 'compile';

interface Accepted {
  origin: 'source' | 'cache';
  kind: PolicySourceKind;
  files: PolicyFileBytes[];
  etag: string | null;
  keyId: string | null;
  fingerprint: string | null;
  policy: Policy;
}

type Validation =
  | { ok: true; policy: Policy; keyId: string | null; fingerprint: string | null }
  | { ok: false; reason: RejectReason; error: string; transient?: boolean };

export class PolicyStore {
  readonly #source: PolicySource;
  readonly #events: EventEmitterPort;
  readonly #keys: readonly TrustedKey[];
  readonly #force: boolean;
  readonly #now: () => Date;
  readonly #cache: LastGoodCache;
  readonly #listeners = new Set<SwapListener>();
  /** The policy in force: the one reference every decision reads. */
  #current: CompiledPolicy;
  #accepted: Accepted | null = null;
  #state: PolicyState = 'deny-all';
  #loadedAt: string | null = null;
  #checkedAt: string | null = null;
  #staleSince: string | null = null;
  #lastError: string | null = NOT_STARTED;
  /** Fingerprint of the last rejected candidate, so a source serving the same bad bytes is reported once. */
  #lastRejected: string | null = null;
  #tail: Promise<unknown> = Promise.resolve();
  #started = false;
  #starting = false;
  #closed = false;

  constructor(options: PolicyStoreOptions) {
    this.#source = options.source;
    this.#events = options.events;
    this.#keys = options.trustedKeys ?? [];
    this.#force = options.force ?? false;
    this.#now = options.now ?? (() => new Date());
    this.#cache = new LastGoodCache(options.stateDir);
    this.#current = denyAllPolicy(NOT_STARTED);
  }

  /** The compiled policy in force (deny-all until start() finds a valid one). */
  current(): CompiledPolicy {
    return this.#current;
  }

  status(): PolicyStatus {
    const policy = this.#current.policy;
    return {
      name: policy.name,
      revision: policy.revision,
      digest: policy.digest,
      source: this.#source.source,
      key_id: this.#accepted?.keyId ?? null,
      loaded_at: this.#loadedAt,
      checked_at: this.#checkedAt,
      stale_since: this.#staleSince,
      last_error: this.#lastError,
      state: this.#state,
      mode: policy.mode,
    };
  }

  /** Called after every swap with the new and the previous policy. Returns an unsubscribe function. */
  onSwap(listener: SwapListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Initial load: the source if it answers and verifies; else the
   * last-known-good copy (state stale); else deny-all (state deny-all, with
   * why). Then starts watching / polling the source.
   */
  async start(): Promise<PolicyStatus> {
    if (this.#started || this.#closed) throw new Error('policy store already started');
    this.#started = true;
    await this.#source.watch(() => this.#enqueue(() => this.#check(this.#force)).then(() => undefined));
    await this.#enqueue(() => this.#initialLoad());
    return this.status();
  }

  /** `POST /v1/policy/reload` and SIGHUP: check the source now. `force` accepts a lower revision this once. */
  async reload(options: { force?: boolean } = {}): Promise<ReloadResult> {
    if (this.#closed) return { changed: false, error: 'policy store is closed' };
    if (!this.#started) return { changed: false, error: NOT_STARTED };
    return this.#enqueue(() => this.#check(this.#force || options.force === true));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#source.close();
    await this.#tail.catch(() => undefined);
  }

  // -------------------------------------------------------------------------

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #initialLoad(): Promise<void> {
    this.#starting = true;
    try {
      const cacheProblem = await this.#loadCache();
      const result = await this.#check(this.#force);
      if (this.#state === 'deny-all') {
        const why = [result.error ?? 'no policy', cacheProblem].filter((s) => s !== null).join('; ');
        this.#enterDenyAll(`no valid policy: ${why}`);
      } else if (this.#state === 'stale') {
        this.#emitStale();
      }
    } finally {
      this.#starting = false;
    }
  }

  /** Puts a valid last-known-good copy in force (stale until the source confirms it); returns why it was not usable, if so. */
  async #loadCache(): Promise<string | null> {
    const read = await this.#cache.read();
    if (read.status === 'none') return 'no last-known-good copy';
    if (read.status === 'invalid') {
      this.#emit('rejected', `last-known-good copy unreadable: ${read.error}`, { origin: 'cache', reason: 'invalid', error: read.error });
      return `last-known-good copy unreadable: ${read.error}`;
    }
    const { meta, files, dir } = read.lastGood;
    if (meta.source !== this.#source.source) {
      return `last-known-good copy is from another source (${meta.source})`;
    }
    const validation = await this.#validate(meta.kind, cacheLocation(read.lastGood), files);
    let problem: string | null = null;
    if (!validation.ok) problem = validation.error;
    else if (validation.policy.digest !== meta.digest) problem = `digest ${validation.policy.digest} does not match the recorded ${meta.digest}`;
    let compiled: CompiledPolicy | null = null;
    if (problem === null && validation.ok) {
      try {
        compiled = compilePolicy(validation.policy);
      } catch (err) {
        problem = `does not compile: ${errorText(err)}`;
      }
    }
    if (problem !== null || compiled === null || !validation.ok) {
      const error = `last-known-good copy rejected: ${problem ?? 'invalid'}`;
      this.#emit('rejected', error, { origin: 'cache', reason: validation.ok ? 'invalid' : validation.reason, error: problem, dir });
      return error;
    }
    const accepted: Accepted = {
      origin: 'cache',
      kind: meta.kind,
      files,
      etag: meta.etag,
      keyId: validation.keyId,
      fingerprint: validation.fingerprint,
      policy: validation.policy,
    };
    this.#install(compiled, accepted, 'stale', 'not yet confirmed by the source', { cached_at: meta.accepted_at });
    return null;
  }

  async #check(force: boolean): Promise<ReloadResult> {
    if (this.#closed) return { changed: false, error: 'policy store is closed' };
    let outcome: FetchOutcome;
    try {
      outcome = await this.#source.fetch({ etag: this.#sourceEtag(), withSignatures: this.#keys.length > 0 });
    } catch (err) {
      outcome = { status: 'error', error: `internal error reading the source: ${errorText(err)}` };
    }
    // Closed while fetching: the answer (typically the abort) is not news about the source.
    if (this.#closed) return { changed: false, error: 'policy store is closed' };
    this.#checkedAt = this.#nowIso();
    if (outcome.status === 'error') {
      this.#unconfirmed(outcome.error);
      return { changed: false, error: outcome.error };
    }
    if (outcome.status === 'not-modified') {
      await this.#confirmed(null);
      return { changed: false, error: null };
    }
    try {
      return await this.#consider(outcome.candidate, force);
    } catch (err) {
      const error = `internal error validating the policy: ${errorText(err)}`;
      this.#unconfirmed(error);
      return { changed: false, error };
    }
  }

  async #consider(candidate: PolicyCandidate, force: boolean): Promise<ReloadResult> {
    const validation = await this.#validate(candidate.kind, candidate.location, candidate.files);
    if (!validation.ok) {
      if (validation.transient === true) {
        this.#unconfirmed(validation.error);
        return { changed: false, error: validation.error };
      }
      return this.#reject(candidate, validation.reason, validation.error);
    }
    const { policy } = validation;
    const inForce = this.#accepted;
    if (inForce !== null && policy.digest === inForce.policy.digest) {
      await this.#confirmed({ candidate, keyId: validation.keyId, fingerprint: validation.fingerprint });
      return { changed: false, error: this.#lastError };
    }
    const floor = inForce?.policy.revision ?? null;
    if (floor !== null && !force && (policy.revision === null || policy.revision < floor)) {
      const got = policy.revision === null ? 'no revision' : `revision ${policy.revision}`;
      return this.#reject(
        candidate,
        'rollback',
        `${candidate.location}: ${got} is older than revision ${floor} in force (rollback refused; reload with force to accept it)`,
        { revision: policy.revision, floor },
      );
    }
    let compiled: CompiledPolicy;
    try {
      compiled = compilePolicy(policy);
    } catch (err) {
      return this.#reject(candidate, 'compile', `${candidate.location}: does not compile: ${errorText(err)}`);
    }
    const accepted: Accepted = {
      origin: 'source',
      kind: candidate.kind,
      files: candidate.files,
      etag: candidate.etag,
      keyId: validation.keyId,
      fingerprint: validation.fingerprint,
      policy,
    };
    const persistError = await this.#persist(accepted);
    const forced = floor !== null && (policy.revision === null || policy.revision < floor);
    this.#install(compiled, accepted, 'fresh', persistError, forced ? { forced_rollback_from: floor } : {});
    return { changed: true, error: persistError };
  }

  /** Signature (when keys are configured), UTF-8, parse and validate. */
  async #validate(kind: PolicySourceKind, location: string, files: PolicyFileBytes[]): Promise<Validation> {
    let keyId: string | null = null;
    let fingerprint: string | null = null;
    if (this.#keys.length > 0) {
      const ids = new Set<string>();
      const prints = new Set<string>();
      for (const file of files) {
        const where = kind === 'directory' ? `${location}/${file.name}` : location;
        if (file.signature === null) {
          return { ok: false, reason: 'signature', error: `${where}: no signature (${where}.sig) and trusted keys are configured` };
        }
        const verdict = verify(file.bytes, file.signature, this.#keys);
        if (!verdict.ok) return { ok: false, reason: 'signature', error: `${where}: ${verdict.error}` };
        ids.add(verdict.keyId);
        prints.add(verdict.fingerprint);
      }
      keyId = [...ids].join(',');
      fingerprint = [...prints].join(',');
    }
    let result;
    if (kind === 'directory') {
      result = await loadPolicyPath(location);
      if (result.ok && result.policy.digest !== directoryDigest(files)) {
        // The files changed between our read (what was verified) and the loader's.
        return { ok: false, reason: 'invalid', transient: true, error: `${location}: policy files changed while being read; will retry` };
      }
    } else {
      const file = files[0];
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(file.bytes);
      } catch {
        return { ok: false, reason: 'invalid', error: `${location}: the policy file is not valid UTF-8` };
      }
      result = parsePolicyText(text, location);
    }
    if (!result.ok) return { ok: false, reason: 'invalid', error: formatPolicyErrors(result.errors) };
    return { ok: true, policy: result.policy, keyId, fingerprint };
  }

  async #persist(accepted: Accepted): Promise<string | null> {
    try {
      await this.#cache.write({
        source: this.#source.source,
        kind: accepted.kind,
        etag: accepted.etag,
        name: accepted.policy.name,
        revision: accepted.policy.revision,
        digest: accepted.policy.digest,
        keyId: accepted.keyId,
        fingerprint: accepted.fingerprint,
        acceptedAt: this.#nowIso(),
        files: accepted.files,
      });
      return null;
    } catch (err) {
      return `policy accepted, but the last-known-good copy could not be written to ${this.#cache.dir}: ${errorText(err)}`;
    }
  }

  /**
   * The atomic swap: one reference replaced (with the status that describes
   * it), then events and listeners.
   */
  #install(compiled: CompiledPolicy, accepted: Accepted, state: PolicyState, lastError: string | null, extra: Record<string, unknown>): void {
    const previous = this.#current;
    const policy = accepted.policy;
    const now = this.#nowIso();
    this.#emit('loaded', `accepted policy '${policy.name}'${policy.revision === null ? '' : ` revision ${policy.revision}`} from ${accepted.origin}`, {
      origin: accepted.origin,
      revision: policy.revision,
      digest: policy.digest,
      key_id: accepted.keyId,
      key_fingerprint: accepted.fingerprint,
      etag: accepted.etag,
      ...extra,
    }, policyRef(policy));
    this.#current = compiled;
    this.#accepted = accepted;
    this.#loadedAt = now;
    this.#state = state;
    this.#staleSince = state === 'stale' ? now : null;
    this.#lastError = lastError === null ? null : truncate(lastError);
    this.#lastRejected = null;
    this.#emit('swapped', `policy in force: '${policy.name}' (was '${previous.policy.name}')`, {
      origin: accepted.origin,
      previous: policyRef(previous.policy),
    }, policyRef(policy));
    this.#notify(compiled, previous);
  }

  #notify(next: CompiledPolicy, previous: CompiledPolicy): void {
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch {
        // A listener's failure must not undo or block the swap.
      }
    }
  }

  #reject(candidate: PolicyCandidate, reason: RejectReason, error: string, extra: Record<string, unknown> = {}): ReloadResult {
    const print = candidateFingerprint(candidate, error);
    if (print !== this.#lastRejected) {
      this.#lastRejected = print;
      this.#emit('rejected', `rejected policy from ${candidate.source}: ${firstLine(error)}`, {
        origin: 'source',
        reason,
        error,
        etag: candidate.etag,
        ...extra,
      });
    }
    this.#unconfirmed(error);
    return { changed: false, error };
  }

  /**
   * The source confirmed the policy in force: a 304, or the same bytes (then
   * `same` carries its ETag and signatures, which may have changed — a new
   * ETag from a re-deployed server, a re-signature with a rotated key — and
   * are recorded and persisted).
   */
  async #confirmed(same: { candidate: PolicyCandidate; keyId: string | null; fingerprint: string | null } | null): Promise<void> {
    this.#lastRejected = null;
    const inForce = this.#accepted;
    if (inForce === null) return;
    this.#lastError = null;
    if (this.#state === 'stale') {
      this.#state = 'fresh';
      this.#staleSince = null;
    }
    if (same === null) return;
    const { candidate, keyId, fingerprint } = same;
    const sigsOf = (files: PolicyFileBytes[]): string => files.map((f) => f.signature ?? '').join('\0');
    if (candidate.etag !== inForce.etag || keyId !== inForce.keyId || sigsOf(candidate.files) !== sigsOf(inForce.files)) {
      this.#accepted = { ...inForce, origin: 'source', etag: candidate.etag, keyId, fingerprint, files: candidate.files };
      this.#lastError = await this.#persist(this.#accepted);
    }
  }

  /** The check did not confirm the policy in force. */
  #unconfirmed(error: string): void {
    this.#lastError = truncate(this.#state === 'deny-all' ? `no valid policy: ${error}` : error);
    if (this.#state !== 'fresh') return;
    this.#state = 'stale';
    this.#staleSince = this.#nowIso();
    if (!this.#starting) this.#emitStale();
  }

  #emitStale(): void {
    this.#emit('stale', `policy in force is stale since ${this.#staleSince}: ${firstLine(this.#lastError ?? '')}`, {
      since: this.#staleSince,
      error: this.#lastError,
      origin: this.#accepted?.origin ?? null,
    });
  }

  #enterDenyAll(why: string): void {
    const previous = this.#current;
    this.#current = denyAllPolicy(why);
    this.#accepted = null;
    this.#state = 'deny-all';
    this.#loadedAt = this.#nowIso();
    this.#staleSince = null;
    this.#lastError = truncate(why);
    this.#emit('deny-all', `denying all traffic: ${firstLine(why)}`, { why }, policyRef(this.#current.policy));
    this.#notify(this.#current, previous);
  }

  /** The ETag to send: only for a policy in force that came from this source. */
  #sourceEtag(): string | null {
    return this.#accepted?.etag ?? null;
  }

  #emit(action: string, message: string, details: Record<string, unknown>, policy?: EventPolicyRef): void {
    try {
      this.#events.emit({
        kind: 'policy',
        action,
        source: this.#source.source,
        message,
        policy: policy ?? policyRef(this.#current.policy),
        details,
      });
    } catch {
      // emit() never throws by contract; a broken pipeline must not stop a swap.
    }
  }

  #nowIso(): string {
    return this.#now().toISOString();
  }
}

function cacheLocation(lastGood: LastGood): string {
  return lastGood.meta.kind === 'directory' ? lastGood.dir : `${lastGood.dir}/${lastGood.files[0].name}`;
}

function policyRef(policy: Policy): EventPolicyRef {
  return { name: policy.name, revision: policy.revision, digest: policy.digest };
}

/** The loader's digest of a directory (load.ts digestOf): per file in name order, `name NUL length NUL bytes`. */
function directoryDigest(files: PolicyFileBytes[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file.name}\0${file.bytes.length}\0`);
    hash.update(file.bytes);
  }
  return `sha256:${hash.digest('hex')}`;
}

function candidateFingerprint(candidate: PolicyCandidate, error: string): string {
  const hash = createHash('sha256');
  for (const file of candidate.files) {
    hash.update(`${file.name}\0${file.bytes.length}\0`).update(file.bytes).update(`\0${file.signature ?? ''}\0`);
  }
  return `${hash.digest('hex')}:${error}`;
}

function firstLine(text: string): string {
  const lines = text.split('\n');
  return lines.length > 1 ? `${lines[0]} (+${lines.length - 1} more)` : lines[0];
}

function truncate(text: string): string {
  return text.length > MAX_STATUS_ERROR_CHARS ? `${text.slice(0, MAX_STATUS_ERROR_CHARS)}…` : text;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
