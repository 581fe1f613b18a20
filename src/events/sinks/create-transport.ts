/**
 * Maps a sink config to its transport, the one place that knows which class
 * serves which `type`.
 */
import type { SinkTransport } from '../sender.js';
import type { SinkConfig } from '../sink-config.js';
import { HttpBatchTransport } from './http.js';
import { OtlpTransport } from './otlp.js';
import { SyslogTransport } from './syslog.js';

export interface TransportOptions {
  /** cordon's version, for user-agent, OTLP resource and OCSF metadata. */
  version: string;
  /** Request / connect / write timeout. */
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for https:// and tls:// upstreams. */
  ca?: string | Buffer;
}

export function createTransport(config: SinkConfig, options: TransportOptions): SinkTransport {
  switch (config.type) {
    case 'otlp':
      return new OtlpTransport(config, options);
    case 'http':
    case 'hec':
      return new HttpBatchTransport(config, options);
    case 'syslog':
      return new SyslogTransport(config, options);
  }
}
