/**
 * The origin the proxy benchmarks talk to, run as its own process (never in
 * the daemon's or the load generator's process) so that the CPU is shared the
 * way it is in real use. Everything listens on 127.0.0.1, port 0:
 *
 * - stream: a raw TCP server that writes STREAM_BYTES (argv[2], default
 *   1 GiB) to every connection with backpressure, then ends it;
 * - echo:   a raw TCP server that echoes every byte back;
 * - http:   an HTTP/1.1 keep-alive server answering GET with a small body, and
 *   POST /ingest (an event collector for the sink benchmark) with 200 after
 *   counting the NDJSON lines; GET /ingest-stats returns the counts as JSON.
 *
 * Prints one JSON line `{"stream":P,"echo":P,"http":P}` when all three are
 * listening, and exits when its stdin closes (the parent went away).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';

const HOST = '127.0.0.1';
const DEFAULT_STREAM_BYTES = 2 ** 30;
/** Size of each write of the stream server. */
const STREAM_CHUNK_BYTES = 256 * 1024;
const SMALL_BODY = 'hello from the bench origin\n';
const NEWLINE = 0x0a;

export interface OriginPorts {
  stream: number;
  echo: number;
  http: number;
}

export interface IngestStats {
  requests: number;
  lines: number;
  bytes: number;
}

function streamTo(socket: Socket, total: number, chunk: Buffer): void {
  let left = total;
  socket.on('error', () => socket.destroy());
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      const more = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (!more) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port));
  });
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(NEWLINE); i !== -1; i = buf.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

async function main(): Promise<void> {
  const streamBytes = process.argv[2] !== undefined ? Number(process.argv[2]) : DEFAULT_STREAM_BYTES;
  if (!Number.isSafeInteger(streamBytes) || streamBytes < 0) throw new Error(`bad stream size ${process.argv[2]}`);
  const chunk = Buffer.alloc(STREAM_CHUNK_BYTES, 0x61);
  const stats: IngestStats = { requests: 0, lines: 0, bytes: 0 };

  const stream = createTcpServer((s) => streamTo(s, streamBytes, chunk));
  const echo = createTcpServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST' && req.url === '/ingest') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        stats.requests++;
        stats.bytes += body.length;
        stats.lines += countLines(body) + (body.length > 0 && body[body.length - 1] !== NEWLINE ? 1 : 0);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
      return;
    }
    if (req.url === '/ingest-stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(SMALL_BODY) }).end(SMALL_BODY);
  });
  const ports: OriginPorts = { stream: await listen(stream), echo: await listen(echo), http: await listen(http) };
  process.stdout.write(JSON.stringify(ports) + '\n');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

main().catch((e: unknown) => {
  process.stderr.write(`loopback-origin: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
