/**
 * HTTP JSON batch sinks for generic collectors (Vector, Fluent Bit, Logstash,
 * a SIEM's HTTP input) and Splunk HEC:
 *
 *   type http → POST url, `Content-Type: application/x-ndjson`, one record
 *               (native event or OCSF) per line.
 *   type hec  → POST url (default path /services/collector/event), the HEC
 *               envelope per event, concatenated one per line:
 *               {"time": <epoch seconds, ms precision>, "host": device,
 *                "source": "cordon", "sourcetype": "cordon:event" | "cordon:ocsf",
 *                "event": {...}}
 *               authorised by `headers.Authorization: Splunk <token>` from the
 *               sink config. HEC indexer acknowledgement is not used: a 200
 *               from HEC is the acknowledgement.
 *
 * A native-format `http` sink's body is exactly the spooled lines, so it
 * posts the spool's bytes as they are (sendNdjson) instead of parsing and
 * re-serializing every event; HEC and OCSF build their records from events.
 */
import type { SendOutcome, SinkTransport } from '../sender.js';
import type { SinkConfig } from '../sink-config.js';
import type { CordonEvent } from '../types.js';
import { HttpPoster, postAndClassify } from './http-post.js';
import { formatRecord } from './record-format.js';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
export const HEC_CONTENT_TYPE = 'application/json';
export const HEC_DEFAULT_PATH = '/services/collector/event';
export const HEC_SOURCE = 'cordon';

export function ndjsonBody(events: CordonEvent[], format: SinkConfig['format'], version: string): Buffer {
  let out = '';
  for (const event of events) out += JSON.stringify(formatRecord(event, format, version)) + '\n';
  return Buffer.from(out, 'utf8');
}

export interface HecEnvelope {
  time: number;
  host: string;
  source: string;
  sourcetype: string;
  event: object;
}

export function hecEnvelope(event: CordonEvent, format: SinkConfig['format'], version: string): HecEnvelope {
  const ms = Date.parse(event.time);
  return {
    time: Number.isFinite(ms) ? ms / 1000 : Date.now() / 1000,
    host: event.device,
    source: HEC_SOURCE,
    sourcetype: format === 'ocsf' ? 'cordon:ocsf' : 'cordon:event',
    event: formatRecord(event, format, version),
  };
}

export function hecBody(events: CordonEvent[], format: SinkConfig['format'], version: string): Buffer {
  let out = '';
  for (const event of events) out += JSON.stringify(hecEnvelope(event, format, version)) + '\n';
  return Buffer.from(out, 'utf8');
}

/** The URL a HEC sink posts to: the configured one, or its origin + /services/collector/event when it has no path. */
export function hecUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '' || parsed.pathname === '/') parsed.pathname = HEC_DEFAULT_PATH;
  return parsed.toString();
}

export interface HttpTransportOptions {
  version: string;
  timeoutMs?: number;
  ca?: string | Buffer;
}

export class HttpBatchTransport implements SinkTransport {
  readonly type: 'http' | 'hec';
  /** Present only for `type: http, format: native`, whose wire body is the spooled NDJSON itself. */
  readonly sendNdjson?: (body: Buffer, signal: AbortSignal) => Promise<SendOutcome>;
  private readonly poster: HttpPoster;

  constructor(
    private readonly config: SinkConfig,
    private readonly options: HttpTransportOptions,
  ) {
    if (config.type !== 'http' && config.type !== 'hec') throw new Error(`not an http/hec sink: ${config.type}`);
    this.type = config.type;
    this.poster = new HttpPoster({
      url: config.type === 'hec' ? hecUrl(config.url) : config.url,
      headers: config.headers,
      userAgent: `cordon/${options.version}`,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    if (config.type === 'http' && config.format === 'native') {
      this.sendNdjson = (body, signal) => postAndClassify(this.poster, body, NDJSON_CONTENT_TYPE, signal);
    }
  }

  send(events: CordonEvent[], signal: AbortSignal): Promise<SendOutcome> {
    if (this.type === 'hec') {
      return postAndClassify(this.poster, hecBody(events, this.config.format, this.options.version), HEC_CONTENT_TYPE, signal);
    }
    return postAndClassify(this.poster, ndjsonBody(events, this.config.format, this.options.version), NDJSON_CONTENT_TYPE, signal);
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}
