/**
 * The event schema `cordon.event/v1` (DESIGN §5): one object per decision and
 * per daemon/policy life event. Defined once; the proxy, the status API, the
 * audit log and every sink use these types.
 */
import type { Mode } from '../policy/types.js';
import type { MountMask, Reason, RuleRef, Verdict } from '../decide/types.js';

export const EVENT_SCHEMA = 'cordon.event/v1';

export type EventKind = 'network' | 'mount' | 'policy' | 'daemon';
export type Via = 'http' | 'connect' | 'socks5' | 'check' | 'api';

export interface EventSession {
  id: string;
  labels: Record<string, string>;
}

export interface EventPolicyRef {
  name: string;
  revision: number | null;
  digest: string;
}

interface EventBase {
  schema: typeof EVENT_SCHEMA;
  /** ULID: unique and sortable by time. */
  id: string;
  time: string;
  kind: EventKind;
  user: string;
  device: string;
  policy: EventPolicyRef | null;
}

export interface NetworkEvent extends EventBase {
  kind: 'network';
  decision: Verdict;
  enforced: boolean;
  mode: Mode;
  reason: Reason;
  rule: RuleRef | null;
  profile: string;
  target: { host: string; port: number; addresses: string[]; address: string | null };
  via: Via;
  session: EventSession;
  /** Present when the connection/request has closed. */
  bytes_up?: number;
  bytes_down?: number;
  duration_ms?: number;
  /** HTTP only: method and path (query string removed unless configured). */
  http?: { method: string; path: string; status?: number };
  /** e.g. upstream dial error text. */
  error?: string;
}

export interface MountEvent extends EventBase {
  kind: 'mount';
  decision: Verdict;
  enforced: boolean;
  mode: Mode;
  reason: Reason;
  rule: RuleRef | null;
  profile: string;
  mount: { requested: string; path: string; access: 'ro' | 'rw'; effective: string; masks: MountMask[] };
  session: EventSession;
}

export interface PolicyEvent extends EventBase {
  kind: 'policy';
  /** loaded | rejected | swapped | stale | deny-all */
  action: string;
  source: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface DaemonEvent extends EventBase {
  kind: 'daemon';
  /** start | stop | sink-error | sink-recovered | events-dropped | poisoned-batch */
  action: string;
  message: string;
  details?: Record<string, unknown>;
}

export type CordonEvent = NetworkEvent | MountEvent | PolicyEvent | DaemonEvent;

/** What a producer hands to the pipeline; the pipeline stamps the rest. */
export type EventInput =
  | Omit<NetworkEvent, 'schema' | 'id' | 'time' | 'user' | 'device'>
  | Omit<MountEvent, 'schema' | 'id' | 'time' | 'user' | 'device'>
  | Omit<PolicyEvent, 'schema' | 'id' | 'time' | 'user' | 'device'>
  | Omit<DaemonEvent, 'schema' | 'id' | 'time' | 'user' | 'device'>;

/**
 * The producer side of the pipeline. `emit` never blocks and never throws:
 * it stamps id/time/identity, hands the event to the bounded bus and returns
 * the stamped event (or drops and counts it when the bus is full).
 */
export interface EventEmitterPort {
  emit(input: EventInput): CordonEvent;
}
