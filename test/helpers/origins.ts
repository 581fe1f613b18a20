/**
 * Origin servers for proxy tests, all on loopback with port 0 (or a given
 * port): an HTTP origin that echoes what it received as JSON, a TLS origin
 * with a self-signed certificate made by the openssl CLI in a temp dir (it
 * records the SNI each client sent), and a raw TCP echo server. Each counts
 * the connections it accepted, so tests can prove the proxy never reached a
 * server it should not have.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';

export interface ConnCounter {
  /** Connections accepted so far. */
  total: number;
  /** Connections currently open. */
  open: number;
}

function track(server: NetServer | HttpServer | TlsServer, counter: ConnCounter, sockets: Set<Socket>): void {
  server.on('connection', (s: Socket) => {
    counter.total++;
    counter.open++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => {
      counter.open--;
      sockets.delete(s);
    });
  });
}

function listen(server: NetServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      const a = server.address();
      resolve(a && typeof a === 'object' ? a.port : 0);
    });
  });
}

function closer(server: NetServer, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Raw header pairs as received (name, value, name, value...). */
  rawHeaders: string[];
  body: string;
}

export interface HttpOrigin {
  label: string;
  host: string;
  port: number;
  requests: SeenRequest[];
  connections: ConnCounter;
  close(): Promise<void>;
}

/** Answers every request with 200 and JSON {origin, method, url, headers, body}. */
export async function startHttpOrigin(opts: { label: string; host?: string; port?: number }): Promise<HttpOrigin> {
  const host = opts.host ?? '127.0.0.1';
  const requests: SeenRequest[] = [];
  const connections: ConnCounter = { total: 0, open: 0 };
  const sockets = new Set<Socket>();
  const server = createHttpServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      const body = JSON.stringify({ origin: opts.label, ...seen });
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        // Hop-by-hop headers the proxy must not pass back to the client.
        'Keep-Alive': 'timeout=30',
        'Proxy-Authenticate': 'Basic realm="origin"',
        Connection: 'keep-alive, X-Origin-Hop',
        'X-Origin-Hop': 'secret',
        'X-Origin': opts.label,
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  track(server, connections, sockets);
  const port = await listen(server, host, opts.port ?? 0);
  return { label: opts.label, host, port, requests, connections, close: closer(server, sockets) };
}

export interface TestCert {
  key: string;
  cert: string;
}

/** A self-signed certificate for `names` (DNS names and IP addresses), made by the openssl CLI. */
export function makeSelfSignedCert(names: string[]): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-cert-'));
  try {
    const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
        '-subj', '/CN=cordon-test', '-addext', `subjectAltName=${san}`,
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TlsOrigin {
  label: string;
  host: string;
  port: number;
  cert: TestCert;
  /** SNI of every completed handshake (null when the client sent none). */
  servernames: (string | null)[];
  connections: ConnCounter;
  close(): Promise<void>;
}

/** After the handshake, writes "<label>\n" and then echoes. */
export async function startTlsOrigin(opts: { label: string; cert: TestCert; host?: string; port?: number }): Promise<TlsOrigin> {
  const host = opts.host ?? '127.0.0.1';
  const servernames: (string | null)[] = [];
  const connections: ConnCounter = { total: 0, open: 0 };
  const sockets = new Set<Socket>();
  const server = createTlsServer({ key: opts.cert.key, cert: opts.cert.cert }, (s: TLSSocket) => {
    const sni = (s as TLSSocket & { servername?: string | false }).servername;
    servernames.push(typeof sni === 'string' ? sni : null);
    s.on('error', () => {});
    s.write(`${opts.label}\n`);
    s.pipe(s);
  });
  server.on('tlsClientError', () => {});
  track(server, connections, sockets);
  const port = await listen(server, host, opts.port ?? 0);
  return { label: opts.label, host, port, cert: opts.cert, servernames, connections, close: closer(server, sockets) };
}

export interface EchoOrigin {
  host: string;
  port: number;
  connections: ConnCounter;
  /** Bytes received over all connections. */
  received: { bytes: number };
  close(): Promise<void>;
}

/** Echoes every byte back; half-closes when the client does. */
export async function startEchoOrigin(opts: { host?: string; port?: number } = {}): Promise<EchoOrigin> {
  const host = opts.host ?? '127.0.0.1';
  const connections: ConnCounter = { total: 0, open: 0 };
  const received = { bytes: 0 };
  const sockets = new Set<Socket>();
  const server = createNetServer({ allowHalfOpen: true }, (s: Socket) => {
    s.on('data', (c: Buffer) => {
      received.bytes += c.length;
    });
    s.pipe(s);
  });
  track(server, connections, sockets);
  const port = await listen(server, host, opts.port ?? 0);
  return { host, port, connections, received, close: closer(server, sockets) };
}
