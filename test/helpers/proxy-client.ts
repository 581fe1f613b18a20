/**
 * Raw clients for proxy tests: they write exactly the bytes a test wants
 * (hostile spellings, smuggling shapes, pipelined requests) and parse the
 * answers — HTTP responses, CONNECT replies, SOCKS5 replies — without any
 * client library normalising the attack away first. Every wait is bounded.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export const CLIENT_WAIT_MS = 8_000;

export interface ProxyAddress {
  host: string;
  port: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A byte buffer fed by a socket, with bounded waits for "enough bytes". */
export class Wire {
  buf = Buffer.alloc(0);
  ended = false;
  readonly #waiters = new Set<() => void>();

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Waits until `check()` returns non-null (re-checked on every chunk), the socket ends, or the deadline. */
  until<T>(check: () => T | null, ms = CLIENT_WAIT_MS): Promise<T | null> {
    const first = check();
    if (first !== null || this.ended) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const done = (v: T | null) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(v);
      };
      const waiter = () => {
        const v = check();
        if (v !== null) done(v);
        else if (this.ended) done(null);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${ms} ms waiting on the wire; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`));
      }, ms);
      this.#waiters.add(waiter);
    });
  }

  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves when the socket has closed (or rejects after the deadline). */
  closed(ms = CLIENT_WAIT_MS): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), ms);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export function openWire(proxy: ProxyAddress | { path: string }): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const s = 'path' in proxy ? connect({ path: proxy.path }) : connect({ host: proxy.host, port: proxy.port });
    s.once('error', reject);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(new Wire(s));
    });
  });
}

/** Parses one HTTP response (Content-Length, chunked, or close-delimited) off the front of the wire. */
export async function readResponse(wire: Wire, ms = CLIENT_WAIT_MS): Promise<HttpAnswer | null> {
  const head = await wire.until(() => {
    const i = wire.buf.indexOf('\r\n\r\n');
    return i < 0 ? null : i;
  }, ms);
  if (head === null) return null;
  const lines = wire.take(head + 4).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) {
      const k = line.slice(0, c).trim().toLowerCase();
      headers[k] = headers[k] !== undefined ? `${headers[k]}, ${line.slice(c + 1).trim()}` : line.slice(c + 1).trim();
    }
  }
  let body = '';
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    await wire.until(() => (wire.buf.length >= n ? true : null), ms);
    body = wire.take(n).toString('utf8');
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    for (;;) {
      const lineEnd = await wire.until(() => {
        const i = wire.buf.indexOf('\r\n');
        return i < 0 ? null : i;
      }, ms);
      if (lineEnd === null) break;
      const size = parseInt(wire.take(lineEnd + 2).toString('latin1'), 16);
      await wire.until(() => (wire.buf.length >= size + 2 ? true : null), ms);
      body += wire.take(size).toString('utf8');
      wire.take(2);
      if (size === 0) break;
    }
  } else if (status !== 200 || headers['connection'] === 'close') {
    await wire.until(() => null, ms).catch(() => null);
    body = wire.take(wire.buf.length).toString('utf8');
  }
  return { status, headers, body };
}

/** Sends `raw` on a new connection and reads one response. */
export async function httpExchange(proxy: ProxyAddress, raw: string | Buffer): Promise<{ answer: HttpAnswer | null; wire: Wire }> {
  const wire = await openWire(proxy);
  wire.socket.write(raw);
  const answer = await readResponse(wire);
  return { answer, wire };
}

/** `GET http://<authority><path>` with a matching Host header (unless `host` is given). */
export function getRequest(authority: string, opts: { path?: string; host?: string | null; headers?: string[] } = {}): string {
  const host = opts.host === undefined ? authority : opts.host;
  const lines = [`GET http://${authority}${opts.path ?? '/'} HTTP/1.1`];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push(...(opts.headers ?? []));
  return lines.join('\r\n') + '\r\n\r\n';
}

export interface TunnelAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  wire: Wire;
}

/** Sends `CONNECT <authority>` and reads the reply head (and body of a refusal). */
export async function connectTunnel(proxy: ProxyAddress | { path: string }, authority: string, extraHeaders: string[] = []): Promise<TunnelAnswer> {
  const wire = await openWire(proxy);
  wire.socket.write([`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, ...extraHeaders].join('\r\n') + '\r\n\r\n');
  const answer = await readResponse(wire);
  if (!answer) return { status: 0, headers: {}, body: '', wire };
  return { ...answer, wire };
}

export interface SocksTarget {
  /** Domain name bytes (ATYP 3), or an IPv4/IPv6 literal with `atyp`. */
  host: string | Buffer;
  port: number;
  atyp?: 'domain' | 'ipv4' | 'ipv6';
  command?: number;
}

export interface SocksAnswer {
  /** The method the server chose (0xFF = none acceptable). */
  method: number;
  /** RFC 1929 status (0 ok), when a login happened. */
  authStatus: number | null;
  /** The CONNECT reply code, null when the server closed before replying. */
  reply: number | null;
  bound: { address: string; port: number } | null;
  wire: Wire;
}

function socksAddress(t: SocksTarget): Buffer {
  const atyp = t.atyp ?? 'domain';
  if (atyp === 'ipv4') return Buffer.from([0x01, ...String(t.host).split('.').map(Number)]);
  if (atyp === 'ipv6') {
    const text = String(t.host);
    const [h, tl] = text.includes('::') ? text.split('::') : [text, ''];
    const hs = h ? h.split(':') : [];
    const ts = tl ? tl.split(':') : [];
    const groups = text.includes('::') ? [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
    const out = Buffer.alloc(17);
    out[0] = 0x04;
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 1 + i * 2));
    return out;
  }
  const name = typeof t.host === 'string' ? Buffer.from(t.host, 'utf8') : t.host;
  return Buffer.concat([Buffer.from([0x03, name.length]), name]);
}

/** A full SOCKS5 handshake: greeting (no-auth, or user/pass when `auth`), login, CONNECT request. */
export async function socks5Connect(
  proxy: ProxyAddress,
  target: SocksTarget,
  opts: { auth?: { user: string; pass: string }; methods?: number[] } = {},
): Promise<SocksAnswer> {
  const wire = await openWire(proxy);
  const methods = opts.methods ?? (opts.auth ? [0x00, 0x02] : [0x00]);
  wire.socket.write(Buffer.from([0x05, methods.length, ...methods]));
  const choice = await wire.until(() => (wire.buf.length >= 2 ? wire.take(2) : null));
  if (!choice) return { method: -1, authStatus: null, reply: null, bound: null, wire };
  const method = choice[1];
  if (method === 0xff) return { method, authStatus: null, reply: null, bound: null, wire };
  let authStatus: number | null = null;
  if (method === 0x02) {
    const u = Buffer.from(opts.auth?.user ?? '', 'utf8');
    const p = Buffer.from(opts.auth?.pass ?? '', 'utf8');
    wire.socket.write(Buffer.concat([Buffer.from([0x01, u.length]), u, Buffer.from([p.length]), p]));
    const st = await wire.until(() => (wire.buf.length >= 2 ? wire.take(2) : null));
    if (!st) return { method, authStatus: null, reply: null, bound: null, wire };
    authStatus = st[1];
    if (authStatus !== 0) return { method, authStatus, reply: null, bound: null, wire };
  }
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  wire.socket.write(Buffer.concat([Buffer.from([0x05, target.command ?? 0x01, 0x00]), socksAddress(target), port]));
  const head = await wire.until(() => (wire.buf.length >= 5 ? true : null));
  if (!head) return { method, authStatus, reply: null, bound: null, wire };
  const atyp = wire.buf[3];
  const len = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : 7 + wire.buf[4];
  const full = await wire.until(() => (wire.buf.length >= len ? wire.take(len) : null));
  if (!full) return { method, authStatus, reply: null, bound: null, wire };
  const address = atyp === 0x01 ? [...full.subarray(4, 8)].join('.') : atyp === 0x04 ? full.subarray(4, 20).toString('hex') : full.subarray(5, len - 2).toString();
  return { method, authStatus, reply: full[1], bound: { address, port: full.readUInt16BE(len - 2) }, wire };
}

/** Writes `data` into an open tunnel and waits for `expect` bytes back. */
export async function echoThrough(wire: Wire, data: string): Promise<string | null> {
  wire.socket.write(data);
  const got = await wire.until(() => (wire.buf.length >= data.length ? wire.take(data.length).toString() : null));
  return got;
}

export interface TlsResult {
  ok: boolean;
  /** First line the TLS origin wrote (its label), when the handshake succeeded. */
  line: string | null;
  error: string | null;
  socket: TLSSocket;
}

/** Runs a TLS handshake over an open tunnel with `servername` (omit for no SNI) and reads the origin's first line. */
export function tlsOverTunnel(wire: Wire, opts: { servername?: string; ca: string }): Promise<TlsResult> {
  return new Promise((resolve) => {
    wire.socket.removeAllListeners('data');
    const rest = wire.take(wire.buf.length);
    if (rest.length > 0) wire.socket.unshift(rest);
    const socket = tlsConnect({
      socket: wire.socket,
      ca: opts.ca,
      rejectUnauthorized: false,
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    });
    let line = '';
    const timer = setTimeout(() => finish(false, 'timeout'), CLIENT_WAIT_MS);
    let done = false;
    function finish(ok: boolean, error: string | null) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ok, line: ok ? line : null, error, socket });
    }
    socket.on('data', (c: Buffer) => {
      line += c.toString();
      if (line.includes('\n')) {
        line = line.slice(0, line.indexOf('\n'));
        finish(true, null);
      }
    });
    socket.on('error', (e: Error) => finish(false, e.message));
    socket.on('close', () => finish(false, 'closed'));
  });
}
