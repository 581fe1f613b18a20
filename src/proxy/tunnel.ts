/**
 * A byte tunnel from an accepted CONNECT or SOCKS5 request to the checked
 * address, shared by both entry paths so they behave identically:
 *
 * - TLS ports: accept first (the client sends its ClientHello only after
 *   "200" / SOCKS success), read and check the ClientHello (sni-gate.ts),
 *   then dial and replay the buffered bytes. Nothing is dialed for a tunnel
 *   whose SNI is denied.
 * - other ports: dial first, so a failure is still answered with 502/504 or a
 *   SOCKS error code; then accept.
 *
 * Then both directions are piped with backpressure, bytes are counted,
 * half-closes are passed on, an idle timeout closes both sides, and the
 * decision's single event is emitted when both sockets are closed.
 */
import type { Socket } from 'node:net';
import type { Via } from '../events/types.js';
import type { CanonicalTarget } from '../match/types.js';
import { sniMismatch, type Decided } from './decide-request.js';
import { dialChecked, type DialError } from './dial.js';
import { PooledReader } from './pooled-read.js';
import { countDecision, emitDecision } from './record.js';
import { readClientHello, sniProblem, TLS_ALERT_ACCESS_DENIED, TLS_ALERT_INTERNAL_ERROR } from './sni-gate.js';
import type { ProxyContext, ProxySession } from './types.js';

export interface TunnelRequest {
  ctx: ProxyContext;
  client: Socket;
  /** Bytes the client already sent after its request (the socket is not flowing). */
  head: Buffer;
  decided: Decided;
  target: CanonicalTarget;
  session: ProxySession;
  via: Via;
  startedAt: number;
  /** Tells the client the tunnel is open; `bound` is the outgoing socket's local address when known. */
  accept(bound: { address: string; port: number } | null): void;
  /** Tells the client the dial failed (only called before accept) and closes it. */
  refuseDial(err: DialError): void;
}

/** Ends a socket's writable side, then destroys it once flushed (or at once if already gone). */
function endThenDestroy(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableFinished) {
    s.destroy();
    return;
  }
  s.once('finish', () => s.destroy());
  s.end();
}

export async function runTunnel(t: TunnelRequest): Promise<void> {
  const { ctx, client } = t;
  let decided = t.decided;
  const dialAddress = decided.dial;
  if (dialAddress === null) throw new Error('runTunnel called without an address to dial');
  const isTls = ctx.limits.tlsPorts.includes(t.target.port);
  const record = (extra: { bytesUp?: number; bytesDown?: number; error?: string }) =>
    emitDecision(ctx, decided, t.via, t.session, { bytesUp: 0, bytesDown: 0, durationMs: Date.now() - t.startedAt, ...extra });

  let firstBytes = t.head;
  let upstream: Socket;
  // Direct dials read the download direction into reused buffers (pooled-read.ts).
  const reader = ctx.upstreamProxy ? null : new PooledReader(ctx.readBuffers);
  if (isTls) {
    t.accept(null);
    const hello = await readClientHello(client, t.head, ctx.limits.clientHelloTimeoutMs);
    firstBytes = hello.bytes;
    const problem = sniProblem(t.target, hello, ctx.limits.clientHelloTimeoutMs);
    if (problem !== null) {
      decided = sniMismatch(ctx, decided, problem);
      if (decided.decision.enforced) {
        countDecision(ctx.stats, decided);
        if (!client.destroyed && hello.kind === 'hello' && hello.result.kind !== 'not-tls') client.write(TLS_ALERT_ACCESS_DENIED);
        endThenDestroy(client);
        record({ bytesUp: hello.bytes.length });
        return;
      }
    }
    countDecision(ctx.stats, decided);
    if (client.destroyed) {
      record({ bytesUp: hello.bytes.length, error: 'client closed before the tunnel was dialed' });
      return;
    }
    try {
      upstream = await dialChecked({ address: dialAddress, port: t.target.port, timeoutMs: ctx.limits.dialTimeoutMs, upstreamProxy: ctx.upstreamProxy, onread: reader?.onread ?? null });
    } catch (e) {
      const err = e as DialError;
      if (!client.destroyed) client.write(TLS_ALERT_INTERNAL_ERROR);
      endThenDestroy(client);
      record({ bytesUp: hello.bytes.length, error: err.message });
      return;
    }
  } else {
    countDecision(ctx.stats, decided);
    try {
      upstream = await dialChecked({ address: dialAddress, port: t.target.port, timeoutMs: ctx.limits.dialTimeoutMs, upstreamProxy: ctx.upstreamProxy, onread: reader?.onread ?? null });
    } catch (e) {
      const err = e as DialError;
      t.refuseDial(err);
      record({ error: err.message });
      return;
    }
    if (!client.destroyed) t.accept({ address: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 });
  }
  if (reader !== null) upstream.once('close', () => reader.socketClosed());
  splice(t, decided, upstream, firstBytes, reader);
}

/** Pipes client ⇄ upstream until both are closed, then records the decision once. */
function splice(t: TunnelRequest, decided: Decided, upstream: Socket, firstBytes: Buffer, reader: PooledReader | null): void {
  const { ctx, client } = t;
  ctx.trackUpstream(upstream);
  if (client.destroyed) {
    upstream.destroy();
    emitDecision(ctx, decided, t.via, t.session, {
      bytesUp: 0,
      bytesDown: 0,
      durationMs: Date.now() - t.startedAt,
      error: 'client closed before the tunnel opened',
    });
    return;
  }
  ctx.stats.tunnelsOpen++;
  let up = firstBytes.length;
  let down = 0;
  let error: string | undefined;
  let closed = 0;
  const onClosed = () => {
    if (++closed < 2) return;
    ctx.stats.tunnelsOpen--;
    emitDecision(ctx, decided, t.via, t.session, { bytesUp: up, bytesDown: down, durationMs: Date.now() - t.startedAt, error });
  };
  const destroyBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', (e: Error) => {
    error ??= `upstream: ${e.message}`;
    destroyBoth();
  });
  client.on('error', () => destroyBoth());
  client.once('close', () => {
    endThenDestroy(upstream);
    onClosed();
  });
  upstream.once('close', () => {
    endThenDestroy(client);
    onClosed();
  });
  const idle = ctx.limits.idleTimeoutMs;
  const onIdle = () => {
    error ??= `idle for ${idle} ms`;
    destroyBoth();
  };
  client.setTimeout(idle, onIdle);
  upstream.setTimeout(idle, onIdle);
  if (firstBytes.length > 0) {
    upstream.write(firstBytes);
    ctx.stats.bytesUp += firstBytes.length;
  }
  client.pipe(upstream);
  client.on('data', (c: Buffer) => {
    up += c.length;
    ctx.stats.bytesUp += c.length;
  });
  if (reader === null) {
    upstream.pipe(client);
    upstream.on('data', (c: Buffer) => {
      down += c.length;
      ctx.stats.bytesDown += c.length;
    });
    return;
  }
  // Download direction without 'data' events: the read callback counts and
  // writes; a buffer is reused only after its write called back; client
  // backpressure pauses the upstream read until 'drain'. Like pipe(): the
  // upstream's end is passed on as the client's end.
  const release = reader.release;
  let waitingForDrain = false;
  const onDrain = () => {
    waitingForDrain = false;
    if (!upstream.destroyed) upstream.resume();
  };
  const forward = (chunk: Buffer, done: ((err?: Error | null) => void) | undefined): boolean => {
    down += chunk.length;
    ctx.stats.bytesDown += chunk.length;
    if (client.destroyed || client.writableEnded) {
      done?.();
      return true;
    }
    if (client.write(chunk, done)) return true;
    if (!waitingForDrain) {
      waitingForDrain = true;
      client.once('drain', onDrain);
    }
    return false;
  };
  let flowing = true;
  for (const early of reader.attach((n, buf) => forward(buf.subarray(0, n), () => release(buf)))) {
    if (!forward(early, undefined)) flowing = false;
  }
  const passEnd = () => {
    if (!client.destroyed && !client.writableEnded) client.end();
  };
  if (upstream.readableEnded) passEnd();
  else upstream.once('end', passEnd);
  if (flowing) upstream.resume();
}
