/**
 * OpenTelemetry logs over OTLP/HTTP with the JSON encoding (POST /v1/logs,
 * Content-Type: application/json), so any OpenTelemetry Collector or vendor
 * OTLP endpoint can take cordon events.
 *
 * ExportLogsServiceRequest:
 *   resourceLogs[] — one per device: resource.attributes service.name=cordon,
 *     service.version, host.name=<device>;
 *   scopeLogs[] — scope {name: "cordon.events", version};
 *   logRecords[] — timeUnixNano / observedTimeUnixNano (event time, as
 *     decimal STRINGS: proto3 JSON encodes 64-bit integers as strings),
 *     severityNumber / severityText (severity.ts), body.stringValue = the
 *     record JSON (native event or OCSF), attributes mapped from the event
 *     (log.record.uid = event id for de-duplication, cordon.*, server.address,
 *     server.port, user.name, ...; integers as {intValue: "<decimal>"}).
 * A 200 with partialSuccess.rejectedLogRecords > 0 is a success whose
 * rejected records are reported as dropped (OTLP says not to retry them).
 */
import { OTEL_SEVERITY, eventSeverity } from '../severity.js';
import type { SendOutcome, SinkTransport } from '../sender.js';
import type { SinkConfig } from '../sink-config.js';
import type { CordonEvent } from '../types.js';
import { HttpPoster, classifyHttpResponse, networkErrorOutcome } from './http-post.js';
import type { HttpResponse } from './http-post.js';
import { formatRecord } from './record-format.js';

export const OTLP_LOGS_PATH = '/v1/logs';
export const OTLP_CONTENT_TYPE = 'application/json';
export const OTLP_SCOPE_NAME = 'cordon.events';
const NANOS_PER_MS = 1_000_000n;

export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } };

export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: KeyValue[];
}

export interface OtlpLogsRequest {
  resourceLogs: {
    resource: { attributes: KeyValue[] };
    scopeLogs: { scope: { name: string; version: string }; logRecords: OtlpLogRecord[] }[];
  }[];
}

function str(key: string, value: string): KeyValue {
  return { key, value: { stringValue: value } };
}

function int(key: string, value: number): KeyValue {
  return { key, value: { intValue: String(Math.trunc(value)) } };
}

function bool(key: string, value: boolean): KeyValue {
  return { key, value: { boolValue: value } };
}

function unixNanos(event: CordonEvent): string {
  const ms = Date.parse(event.time);
  return String(BigInt(Number.isFinite(ms) ? ms : 0) * NANOS_PER_MS);
}

/** Log-record attributes mapped from the event (semantic-convention names where one exists). */
export function eventAttributes(event: CordonEvent): KeyValue[] {
  const attrs: KeyValue[] = [str('log.record.uid', event.id), str('cordon.schema', event.schema), str('cordon.kind', event.kind), str('user.name', event.user)];
  if (event.policy !== null) {
    attrs.push(str('cordon.policy.name', event.policy.name), str('cordon.policy.digest', event.policy.digest));
    if (event.policy.revision !== null) attrs.push(int('cordon.policy.revision', event.policy.revision));
  }
  if (event.kind === 'network' || event.kind === 'mount') {
    attrs.push(
      str('cordon.decision', event.decision),
      bool('cordon.enforced', event.enforced),
      str('cordon.mode', event.mode),
      str('cordon.reason', event.reason),
      str('cordon.profile', event.profile),
      str('cordon.session.id', event.session.id),
    );
    if (event.rule !== null) {
      attrs.push(str('cordon.rule.layer', event.rule.layer), str('cordon.rule.name', event.rule.name), str('cordon.rule.resource', event.rule.resource));
    }
    for (const [k, v] of Object.entries(event.session.labels)) attrs.push(str(`cordon.session.label.${k}`, v));
  }
  if (event.kind === 'network') {
    attrs.push(str('server.address', event.target.host), int('server.port', event.target.port), str('cordon.via', event.via));
    if (event.target.address !== null) attrs.push(str('network.peer.address', event.target.address));
    if (event.target.addresses.length > 0) attrs.push({ key: 'cordon.target.addresses', value: { arrayValue: { values: event.target.addresses.map((a) => ({ stringValue: a })) } } });
    if (event.bytes_up !== undefined) attrs.push(int('cordon.bytes_up', event.bytes_up));
    if (event.bytes_down !== undefined) attrs.push(int('cordon.bytes_down', event.bytes_down));
    if (event.duration_ms !== undefined) attrs.push(int('cordon.duration_ms', event.duration_ms));
    if (event.http !== undefined) {
      attrs.push(str('http.request.method', event.http.method), str('url.path', event.http.path));
      if (event.http.status !== undefined) attrs.push(int('http.response.status_code', event.http.status));
    }
    if (event.error !== undefined) attrs.push(str('error.message', event.error));
  } else if (event.kind === 'mount') {
    attrs.push(
      str('cordon.mount.path', event.mount.path),
      str('cordon.mount.requested', event.mount.requested),
      str('cordon.mount.access', event.mount.access),
      str('cordon.mount.effective', event.mount.effective),
      int('cordon.mount.masks', event.mount.masks.length),
    );
  } else {
    attrs.push(str('cordon.action', event.action));
    if (event.kind === 'policy') attrs.push(str('cordon.policy.source', event.source));
  }
  return attrs;
}

export function otlpLogRecord(event: CordonEvent, format: SinkConfig['format'], version: string): OtlpLogRecord {
  const severity = OTEL_SEVERITY[eventSeverity(event)];
  const nanos = unixNanos(event);
  return {
    timeUnixNano: nanos,
    observedTimeUnixNano: nanos,
    severityNumber: severity.number,
    severityText: severity.text,
    body: { stringValue: JSON.stringify(formatRecord(event, format, version)) },
    attributes: eventAttributes(event),
  };
}

/** The ExportLogsServiceRequest (JSON) for a batch; one resourceLogs entry per device. */
export function otlpLogsRequest(events: CordonEvent[], format: SinkConfig['format'], version: string): OtlpLogsRequest {
  const byDevice = new Map<string, OtlpLogRecord[]>();
  for (const event of events) {
    let records = byDevice.get(event.device);
    if (records === undefined) {
      records = [];
      byDevice.set(event.device, records);
    }
    records.push(otlpLogRecord(event, format, version));
  }
  return {
    resourceLogs: [...byDevice].map(([device, logRecords]) => ({
      resource: { attributes: [str('service.name', 'cordon'), str('service.version', version), str('host.name', device)] },
      scopeLogs: [{ scope: { name: OTLP_SCOPE_NAME, version }, logRecords }],
    })),
  };
}

/** The configured URL, or its origin + /v1/logs when it has no path. */
export function otlpUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '' || parsed.pathname === '/') parsed.pathname = OTLP_LOGS_PATH;
  return parsed.toString();
}

function partialSuccess(body: string): { rejected: number; message: string } | null {
  if (body === '') return null;
  try {
    const parsed = JSON.parse(body) as { partialSuccess?: { rejectedLogRecords?: string | number; errorMessage?: string } };
    const rejected = Number(parsed.partialSuccess?.rejectedLogRecords ?? 0);
    if (!Number.isFinite(rejected) || rejected <= 0) return null;
    return { rejected, message: parsed.partialSuccess?.errorMessage ?? '' };
  } catch {
    return null;
  }
}

export interface OtlpTransportOptions {
  version: string;
  timeoutMs?: number;
  ca?: string | Buffer;
}

export class OtlpTransport implements SinkTransport {
  readonly type = 'otlp' as const;
  private readonly poster: HttpPoster;

  constructor(
    private readonly config: SinkConfig,
    private readonly options: OtlpTransportOptions,
  ) {
    this.poster = new HttpPoster({
      url: otlpUrl(config.url),
      headers: config.headers,
      userAgent: `cordon/${options.version}`,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
  }

  async send(events: CordonEvent[], signal: AbortSignal): Promise<SendOutcome> {
    const body = Buffer.from(JSON.stringify(otlpLogsRequest(events, this.config.format, this.options.version)), 'utf8');
    let response: HttpResponse;
    try {
      response = await this.poster.post(body, OTLP_CONTENT_TYPE, signal);
    } catch (err) {
      return networkErrorOutcome(err);
    }
    const outcome = classifyHttpResponse(response);
    if (outcome.kind !== 'ok') return outcome;
    const partial = partialSuccess(response.body);
    if (partial === null) return outcome;
    return { kind: 'ok', rejected: partial.rejected, warning: `partial success: ${partial.rejected} log record(s) rejected${partial.message !== '' ? `: ${partial.message}` : ''}` };
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}
