/**
 * Sessions: how a sandbox runtime tells cordon "this traffic is agent X with
 * labels Y" (DESIGN §2 "Sessions"). The registry issues an id and a secret,
 * checks credentials presented to the proxy in constant time, and expires
 * sessions that asked for a TTL. Secrets are held only as SHA-256 digests and
 * never logged or returned after creation.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_ID_PREFIX = 's_';
export const SESSION_ID_BYTES = 12;
export const SESSION_SECRET_BYTES = 24;
export const MAX_SESSION_TTL_S = 30 * 24 * 3600;
export const ANONYMOUS_SESSION_ID = 'anonymous';

export interface Session {
  id: string;
  labels: Record<string, string>;
  created_at: string;
  /** ISO time, or null when the session lives until deleted. */
  expires_at: string | null;
}

interface StoredSession extends Session {
  secretDigest: Buffer;
  expiresAtMs: number | null;
}

export interface CreatedSession extends Session {
  secret: string;
}

export type AuthResult = { ok: true; session: Session } | { ok: false; reason: 'unknown-session' | 'bad-secret' | 'expired' };

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export { labelsError, MAX_LABELS, MAX_LABEL_KEY_CHARS, MAX_LABEL_VALUE_CHARS } from './labels.js';

export class SessionRegistry {
  readonly #sessions = new Map<string, StoredSession>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  create(labels: Record<string, string>, ttlS: number | null = null): CreatedSession {
    const id = SESSION_ID_PREFIX + randomBytes(SESSION_ID_BYTES).toString('hex');
    const secret = randomBytes(SESSION_SECRET_BYTES).toString('base64url');
    const now = this.#now();
    const expiresAtMs = ttlS === null ? null : now + ttlS * 1000;
    const stored: StoredSession = {
      id,
      labels: { ...labels },
      created_at: new Date(now).toISOString(),
      expires_at: expiresAtMs === null ? null : new Date(expiresAtMs).toISOString(),
      secretDigest: digest(secret),
      expiresAtMs,
    };
    this.#sessions.set(id, stored);
    return { ...publicView(stored), secret };
  }

  /**
   * Checks presented credentials. The secret comparison is constant-time
   * (equal-length digests through timingSafeEqual), and an unknown id costs
   * the same digest work as a known one.
   */
  authenticate(id: string, secret: string): AuthResult {
    const presented = digest(secret);
    const stored = this.#sessions.get(id);
    if (stored === undefined) {
      timingSafeEqual(presented, presented);
      return { ok: false, reason: 'unknown-session' };
    }
    const match = timingSafeEqual(presented, stored.secretDigest);
    if (stored.expiresAtMs !== null && stored.expiresAtMs <= this.#now()) {
      this.#sessions.delete(id);
      return { ok: false, reason: 'expired' };
    }
    return match ? { ok: true, session: publicView(stored) } : { ok: false, reason: 'bad-secret' };
  }

  get(id: string): Session | null {
    const stored = this.#sessions.get(id);
    if (stored === undefined) return null;
    if (stored.expiresAtMs !== null && stored.expiresAtMs <= this.#now()) {
      this.#sessions.delete(id);
      return null;
    }
    return publicView(stored);
  }

  delete(id: string): boolean {
    return this.#sessions.delete(id);
  }

  /** Live sessions; expired ones are removed as a side effect. */
  list(): Session[] {
    this.sweep();
    return [...this.#sessions.values()].map(publicView);
  }

  get size(): number {
    this.sweep();
    return this.#sessions.size;
  }

  sweep(): number {
    const now = this.#now();
    let removed = 0;
    for (const [id, s] of this.#sessions) {
      if (s.expiresAtMs !== null && s.expiresAtMs <= now) {
        this.#sessions.delete(id);
        removed += 1;
      }
    }
    return removed;
  }
}

function publicView(s: StoredSession): Session {
  return { id: s.id, labels: { ...s.labels }, created_at: s.created_at, expires_at: s.expires_at };
}
