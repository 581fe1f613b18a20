/**
 * Event stamping: turns what a producer hands the pipeline (EventInput) into a
 * complete `cordon.event/v1` object with schema, ULID id, ISO time, user and
 * device. Identity comes from the daemon config (provisioned by MDM) and
 * falls back to the OS user and host name, so every event says who and where.
 * Key order follows DESIGN §5 (schema, id, time, kind, ..., user, device, policy).
 */
import { hostname, userInfo } from 'node:os';
import { EVENT_SCHEMA } from './types.js';
import type { CordonEvent, EventInput } from './types.js';
import { UlidFactory } from './ulid.js';

export interface Identity {
  user: string;
  device: string;
}

export interface IdentityConfig {
  user?: string | null;
  device?: string | null;
}

export const UNKNOWN_IDENTITY = 'unknown';

export interface IdentitySources {
  username: () => string;
  hostname: () => string;
}

const OS_IDENTITY: IdentitySources = {
  username: () => userInfo().username,
  hostname: () => hostname(),
};

function firstNonEmpty(configured: string | null | undefined, fallback: () => string): string {
  if (typeof configured === 'string' && configured.trim() !== '') return configured.trim();
  try {
    const value = fallback();
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
  }
  return UNKNOWN_IDENTITY;
}

/** Config identity where given; otherwise the OS user name and host name; never empty. */
export function resolveIdentity(config: IdentityConfig = {}, sources: IdentitySources = OS_IDENTITY): Identity {
  return {
    user: firstNonEmpty(config.user, sources.username),
    device: firstNonEmpty(config.device, sources.hostname),
  };
}

export class EventStamper {
  private lastMs = -1;
  private lastIso = '';

  constructor(
    private readonly identity: Identity,
    private readonly ulids: UlidFactory = new UlidFactory(),
    private readonly now: () => number = Date.now,
  ) {}

  stamp(input: EventInput): CordonEvent {
    const nowMs = this.now();
    if (nowMs !== this.lastMs) {
      this.lastMs = nowMs;
      this.lastIso = new Date(nowMs).toISOString();
    }
    const { policy, ...rest } = input;
    return {
      schema: EVENT_SCHEMA,
      id: this.ulids.next(nowMs),
      time: this.lastIso,
      ...rest,
      user: this.identity.user,
      device: this.identity.device,
      policy: policy ?? null,
    } as CordonEvent;
  }
}
