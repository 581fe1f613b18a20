/**
 * Wire types of the status socket API v1 (DESIGN §7), defined once and used
 * by both the server routes and the CLI client, plus the strict request
 * validators (unknown fields and wrong types are 400s with what was wrong).
 */
import type { MountDecision, NetworkDecision } from '../decide/types.js';
import type { CordonEvent } from '../events/types.js';
import type { Mode } from '../policy/types.js';
import type { PolicyStatus } from '../policy/store.js';
import type { SinkStatus } from '../events/pipeline.js';
import type { Session } from '../sessions/registry.js';
import { labelsError, MAX_SESSION_TTL_S } from '../sessions/registry.js';

/** The status object's `policy` and `sinks` entries are defined by their owners and re-exported here. */
export type { PolicyStatus, SinkStatus };

export const API_PREFIX = '/v1';
export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_EVENTS_LIMIT = 100;
export const MAX_EVENTS_LIMIT = 10_000;

export interface ErrorBody {
  error: string;
  code: string;
}



export interface Counters {
  allowed: number;
  denied: number;
  audited: number;
  invalid: number;
}

export interface StatusResponse {
  version: string;
  pid: number;
  uptime_s: number;
  mode: Mode;
  listeners: { proxy: string | null; socks: string | null; socket: string; proxy_socket: string | null };
  policy: PolicyStatus;
  counters: Counters;
  connections: { open: number; bytes_up: number; bytes_down: number };
  sessions: number;
  session_list: Session[];
  sinks: SinkStatus[];
  events_dropped: number;
  /** The daemon's state directory (audit log, spools, policy cache): `cordon exec` hides it from the sandbox. */
  state_dir: string;
}

export interface CheckRequest {
  target: string;
  labels?: Record<string, string>;
}
export type CheckResponse = NetworkDecision;

export interface MountRequestBody {
  path: string;
  access: 'ro' | 'rw';
  /** Session id: its labels select the profile. */
  session?: string;
  labels?: Record<string, string>;
  /** Home directory `~` expands to (the sandbox user's); default: the daemon user's. */
  home?: string;
}
export type MountResponse = MountDecision;

export interface SessionCreateRequest {
  labels: Record<string, string>;
  ttl_s?: number;
}

export interface SessionCreateResponse extends Session {
  secret: string;
  proxy: { http: string | null; socks: string | null };
}

/**
 * The first line of `POST /v1/sessions/{id}/hold`. The response then stays
 * open; when its connection closes (the holder exited, crashed or was
 * killed) the daemon deletes the session.
 */
export interface SessionHoldResponse {
  held: string;
}

export interface EventsResponse {
  events: CordonEvent[];
}

export interface ReloadResponse {
  changed: boolean;
  error: string | null;
  policy: PolicyStatus;
}

/** Raised by validators; the server turns it into a 400 `{error, code}`. */
export class WireError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

function badRequest(message: string): WireError {
  return new WireError(message, 400, 'bad-request');
}

function asObject(body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`${what} must be a JSON object`);
  return body as Record<string, unknown>;
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw badRequest(`unknown field '${key}' in ${what}; expected ${allowed.join(', ')}`);
  }
}

function optionalLabels(obj: Record<string, unknown>): Record<string, string> | undefined {
  if (obj.labels === undefined) return undefined;
  const err = labelsError(obj.labels);
  if (err !== null) throw badRequest(err);
  return obj.labels as Record<string, string>;
}

function requiredString(obj: Record<string, unknown>, key: string, what: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value.length === 0) throw badRequest(`'${key}' in ${what} must be a non-empty string`);
  return value;
}

export function parseCheckRequest(body: unknown): CheckRequest {
  const obj = asObject(body, 'check request');
  onlyKeys(obj, ['target', 'labels'], 'check request');
  const target = requiredString(obj, 'target', 'check request');
  const labels = optionalLabels(obj);
  return labels === undefined ? { target } : { target, labels };
}

export function parseMountRequest(body: unknown): MountRequestBody {
  const obj = asObject(body, 'mount request');
  onlyKeys(obj, ['path', 'access', 'session', 'labels', 'home'], 'mount request');
  const path = requiredString(obj, 'path', 'mount request');
  const access = obj.access;
  if (access !== 'ro' && access !== 'rw') throw badRequest(`'access' in mount request must be "ro" or "rw"`);
  const out: MountRequestBody = { path, access };
  if (obj.session !== undefined) out.session = requiredString(obj, 'session', 'mount request');
  const labels = optionalLabels(obj);
  if (labels !== undefined) out.labels = labels;
  if (obj.home !== undefined) out.home = requiredString(obj, 'home', 'mount request');
  if (out.session !== undefined && out.labels !== undefined) throw badRequest(`give either 'session' or 'labels', not both`);
  return out;
}

export function parseSessionCreateRequest(body: unknown): SessionCreateRequest {
  const obj = asObject(body, 'session request');
  onlyKeys(obj, ['labels', 'ttl_s'], 'session request');
  const labels = optionalLabels(obj) ?? {};
  if (obj.ttl_s === undefined) return { labels };
  const ttl = obj.ttl_s;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_SESSION_TTL_S) {
    throw badRequest(`'ttl_s' must be an integer from 1 to ${MAX_SESSION_TTL_S}`);
  }
  return { labels, ttl_s: ttl };
}

/** Session ids are `s_` + hex; anything else in the path (traversal, encoding tricks) is a 400. */
export const SESSION_ID_PATTERN = /^s_[0-9a-f]{24}$/;
