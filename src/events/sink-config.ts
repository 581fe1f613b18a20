/**
 * Upstream sink configuration (DESIGN §6 `sinks:`): the one type the daemon
 * config loader validates YAML into and the event pipeline consumes. The keys
 * are exactly name, type, url, format, headers, spool_max_bytes; anything a
 * sink needs beyond them (a HEC token, a bearer token) goes in `headers`.
 *
 * The config loader checks structure (unknown keys, types); `sinkConfigErrors`
 * adds the checks only the event side knows (URL scheme per type, HEC
 * authorisation header, spool floor), so both the loader and the pipeline
 * reject the same things with the same words.
 */

export type SinkType = 'otlp' | 'http' | 'hec' | 'syslog';
export type SinkFormat = 'native' | 'ocsf';

export const SINK_TYPES: readonly SinkType[] = ['otlp', 'http', 'hec', 'syslog'];
export const SINK_FORMATS: readonly SinkFormat[] = ['native', 'ocsf'];
export const SINK_KEYS: readonly string[] = ['name', 'type', 'url', 'format', 'headers', 'spool_max_bytes'];

/** 256 MiB, the DESIGN §6 example value. */
export const DEFAULT_SPOOL_MAX_BYTES = 268_435_456;
/** Below this a spool cannot hold even a few batches. */
export const MIN_SPOOL_MAX_BYTES = 65_536;
/** Sink names become directory names under $STATE_DIR/spool/. */
export const SINK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Control characters other than horizontal tab are not allowed in a header value.
const HEADER_VALUE_FORBIDDEN = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** Headers the HTTP client computes itself. */
const RESERVED_HEADERS = new Set(['content-length', 'content-type', 'host', 'transfer-encoding', 'connection']);

export interface SinkConfig {
  name: string;
  type: SinkType;
  /** otlp/http/hec: http:// or https:// URL; syslog: tcp://host:port or tls://host:port. */
  url: string;
  format: SinkFormat;
  /** Extra request headers (HTTP types), e.g. `Authorization: Splunk <token>` for hec. */
  headers: Record<string, string>;
  spool_max_bytes: number;
}

/** A sink as written in YAML: only name, type and url are required. */
export type SinkConfigInput = Pick<SinkConfig, 'name' | 'type' | 'url'> & Partial<Pick<SinkConfig, 'format' | 'headers' | 'spool_max_bytes'>>;

export function withSinkDefaults(input: SinkConfigInput): SinkConfig {
  return {
    name: input.name,
    type: input.type,
    url: input.url,
    format: input.format ?? 'native',
    headers: { ...(input.headers ?? {}) },
    spool_max_bytes: input.spool_max_bytes ?? DEFAULT_SPOOL_MAX_BYTES,
  };
}

function urlErrors(sink: SinkConfig): string[] {
  let url: URL;
  try {
    url = new URL(sink.url);
  } catch {
    return [`url: not a URL: ${JSON.stringify(sink.url)}`];
  }
  const errors: string[] = [];
  if (url.username !== '' || url.password !== '') {
    errors.push('url: credentials in the URL are not allowed (they would show in status and logs); put them in headers');
  }
  if (sink.type === 'syslog') {
    if (url.protocol !== 'tcp:' && url.protocol !== 'tls:') errors.push('url: a syslog sink needs tcp://host:port or tls://host:port');
    if (url.hostname === '') errors.push('url: missing host');
    if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '') errors.push('url: a syslog URL has no path or query');
  } else {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') errors.push(`url: a ${sink.type} sink needs an http:// or https:// URL`);
  }
  return errors;
}

function headerErrors(sink: SinkConfig): string[] {
  const errors: string[] = [];
  for (const [name, value] of Object.entries(sink.headers)) {
    if (!HEADER_NAME_PATTERN.test(name)) errors.push(`headers: invalid header name ${JSON.stringify(name)}`);
    else if (RESERVED_HEADERS.has(name.toLowerCase())) errors.push(`headers: ${name} is set by cordon and cannot be configured`);
    if (typeof value !== 'string' || HEADER_VALUE_FORBIDDEN.test(value)) errors.push(`headers: invalid value for ${name} (control characters are not allowed)`);
  }
  if (sink.type === 'syslog' && Object.keys(sink.headers).length > 0) errors.push('headers: a syslog sink takes no headers');
  if (sink.type === 'hec') {
    const auth = Object.entries(sink.headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
    if (auth === undefined || !/^Splunk \S+$/.test(auth)) errors.push('headers: a hec sink needs headers.Authorization = "Splunk <token>"');
  }
  return errors;
}

/** Every problem with one sink, each as "sinks[i].key: message"-ready text ("key: message"). */
export function sinkConfigErrors(sink: SinkConfig): string[] {
  const errors: string[] = [];
  if (typeof sink.name !== 'string' || !SINK_NAME_PATTERN.test(sink.name)) {
    errors.push('name: must be 1-63 characters of letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (!SINK_TYPES.includes(sink.type)) errors.push(`type: must be one of ${SINK_TYPES.join(', ')}`);
  if (!SINK_FORMATS.includes(sink.format)) errors.push(`format: must be one of ${SINK_FORMATS.join(', ')}`);
  if (!Number.isSafeInteger(sink.spool_max_bytes) || sink.spool_max_bytes < MIN_SPOOL_MAX_BYTES) {
    errors.push(`spool_max_bytes: must be an integer of at least ${MIN_SPOOL_MAX_BYTES}`);
  }
  if (typeof sink.url !== 'string') errors.push('url: must be a string');
  else if (SINK_TYPES.includes(sink.type)) errors.push(...urlErrors(sink));
  if (sink.headers === null || typeof sink.headers !== 'object') errors.push('headers: must be a map of strings');
  else errors.push(...headerErrors(sink));
  return errors;
}

/** Errors for a whole `sinks:` list, prefixed with `sinks[i].`; includes duplicate names. */
export function sinksConfigErrors(sinks: SinkConfig[]): string[] {
  const errors: string[] = [];
  const seen = new Map<string, number>();
  sinks.forEach((sink, i) => {
    for (const e of sinkConfigErrors(sink)) errors.push(`sinks[${i}].${e}`);
    const lower = typeof sink.name === 'string' ? sink.name.toLowerCase() : '';
    const first = seen.get(lower);
    if (first !== undefined) errors.push(`sinks[${i}].name: duplicate of sinks[${first}] (${sink.name})`);
    else seen.set(lower, i);
  });
  return errors;
}
