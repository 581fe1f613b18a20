/**
 * Syslog (RFC 5424) over TCP, or TLS for `tls://` URLs (RFC 5425), with
 * octet-counting framing (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`), so any
 * rsyslog / syslog-ng / SIEM syslog listener can take cordon events.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
 *   PRI = facility 13 (log audit) * 8 + severity (severity.ts)
 *   TIMESTAMP = the event time (RFC 3339, UTC, milliseconds)
 *   HOSTNAME = the device; APP-NAME = cordon; PROCID = -; MSGID = the event kind
 *   STRUCTURED-DATA = - (no registered enterprise number; everything is in MSG)
 *   MSG = the record as JSON (native event or OCSF) with every non-ASCII
 *         character \u-escaped, so MSG is plain ASCII and still valid JSON.
 *
 * Delivery: a batch counts as sent when the socket accepted all its bytes
 * (plain syslog has no application-level acknowledgement; RELP would). A
 * connection the peer closed is noticed and replaced before the next batch.
 * Default ports: tcp 514, tls 6514. TLS verifies the server certificate
 * against the system CAs (plus NODE_EXTRA_CA_CERTS or the pipeline's `ca`).
 */
import { connect as netConnect, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SYSLOG_SEVERITY, eventSeverity } from '../severity.js';
import type { SendOutcome, SinkTransport } from '../sender.js';
import type { SinkConfig } from '../sink-config.js';
import type { CordonEvent } from '../types.js';
import { formatRecord } from './record-format.js';

export const SYSLOG_FACILITY_LOG_AUDIT = 13;
export const SYSLOG_APP_NAME = 'cordon';
export const DEFAULT_SYSLOG_TCP_PORT = 514;
export const DEFAULT_SYSLOG_TLS_PORT = 6514;
export const DEFAULT_SYSLOG_TIMEOUT_MS = 10_000;
const NILVALUE = '-';
const HOSTNAME_MAX = 255;
const MSGID_MAX = 32;

/** PRINTUSASCII only (RFC 5424 §6), at most `max` characters; NILVALUE when empty. */
function headerField(value: string, max: number): string {
  const cleaned = value.replace(/[^\x21-\x7e]/g, '-').slice(0, max);
  return cleaned === '' ? NILVALUE : cleaned;
}

/** JSON with every character outside printable ASCII escaped as \uXXXX. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function syslogMessage(event: CordonEvent, format: SinkConfig['format'], version: string): string {
  const pri = SYSLOG_FACILITY_LOG_AUDIT * 8 + SYSLOG_SEVERITY[eventSeverity(event)];
  const ms = Date.parse(event.time);
  const timestamp = Number.isFinite(ms) ? new Date(ms).toISOString() : NILVALUE;
  const header = `<${pri}>1 ${timestamp} ${headerField(event.device, HOSTNAME_MAX)} ${SYSLOG_APP_NAME} ${NILVALUE} ${headerField(event.kind, MSGID_MAX)} ${NILVALUE}`;
  return `${header} ${asciiJson(formatRecord(event, format, version))}`;
}

/** Octet-counted frame: the byte length of the message, a space, the message. */
export function syslogFrame(message: string): string {
  return `${Buffer.byteLength(message, 'utf8')} ${message}`;
}

export interface SyslogTransportOptions {
  version: string;
  timeoutMs?: number;
  ca?: string | Buffer;
}

export class SyslogTransport implements SinkTransport {
  readonly type = 'syslog' as const;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly timeoutMs: number;
  private socket: Socket | null = null;

  constructor(
    private readonly config: SinkConfig,
    private readonly options: SyslogTransportOptions,
  ) {
    const url = new URL(config.url);
    if (url.protocol !== 'tcp:' && url.protocol !== 'tls:') throw new Error(`syslog sink ${config.name}: url must be tcp:// or tls://`);
    this.tls = url.protocol === 'tls:';
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port !== '' ? Number(url.port) : this.tls ? DEFAULT_SYSLOG_TLS_PORT : DEFAULT_SYSLOG_TCP_PORT;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_SYSLOG_TIMEOUT_MS;
  }

  async send(events: CordonEvent[], signal: AbortSignal): Promise<SendOutcome> {
    let data = '';
    for (const event of events) data += syslogFrame(syslogMessage(event, this.config.format, this.options.version));
    try {
      const socket = await this.connection(signal);
      await this.write(socket, Buffer.from(data, 'utf8'), signal);
      return { kind: 'ok' };
    } catch (err) {
      this.drop();
      const code = (err as NodeJS.ErrnoException).code;
      const message = err instanceof Error ? err.message : String(err);
      return { kind: 'retry', error: code !== undefined && !message.includes(code) ? `${code}: ${message}` : message };
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, this.timeoutMs);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connection(signal: AbortSignal): Promise<Socket> {
    const current = this.socket;
    if (current !== null && !current.destroyed && current.writable && !current.readableEnded) return Promise.resolve(current);
    this.drop();
    return new Promise<Socket>((resolve, reject) => {
      const secureEvent = this.tls ? 'secureConnect' : 'connect';
      const socket = this.tls
        ? tlsConnect({
            host: this.host,
            port: this.port,
            ...(isIP(this.host) === 0 ? { servername: this.host } : {}),
            ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
          })
        : netConnect({ host: this.host, port: this.port });
      const fail = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(err);
      const onAbort = (): void => fail(new Error('aborted'));
      const timer = setTimeout(() => fail(new Error(`connect timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off(secureEvent, onConnect);
        signal.removeEventListener('abort', onAbort);
      };
      const onConnect = (): void => {
        cleanup();
        socket.setNoDelay(true);
        socket.on('error', () => {
          if (this.socket === socket) this.socket = null;
        });
        socket.on('close', () => {
          if (this.socket === socket) this.socket = null;
        });
        // The peer never sends anything; reading keeps us informed when it closes.
        socket.on('data', () => undefined);
        socket.on('end', () => {
          if (this.socket === socket) this.socket = null;
          socket.destroy();
        });
        this.socket = socket;
        resolve(socket);
      };
      socket.once('error', onError);
      socket.once(secureEvent, onConnect);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private write(socket: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
        if (err !== null) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new Error('aborted'));
      const onClose = (): void => finish(new Error('connection closed during write'));
      const timer = setTimeout(() => finish(new Error(`write timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', onClose);
      socket.write(data, (err) => finish(err ?? null));
    });
  }
}
