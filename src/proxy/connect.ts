/**
 * HTTP CONNECT tunnels (DESIGN §4): `CONNECT host:port` → canonicalise,
 * authenticate, decide (name, resolve once, addresses), then hand the socket
 * to the shared tunnel (tunnel.ts), which checks the TLS ClientHello on TLS
 * ports and dials only the checked address. Refusals are complete HTTP
 * responses written on the raw socket (the http.Server has let go of it).
 *
 * The Host header of a CONNECT request is not compared with the authority:
 * the request-target is what is decided and dialed, and clients disagree on
 * what they put in Host for CONNECT.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { clean, denialText, httpStatusFor, rawResponse, refusalHeaders } from './answers.js';
import { anonymousSession, sessionFromProxyAuthorization } from './auth.js';
import { decideAuthRequired, decideForDial, decideInvalid, targetRef, type Decided } from './decide-request.js';
import type { DialError } from './dial-error.js';
import { countDecision, emitDecision } from './record.js';
import { versionProblem } from './http-validate.js';
import { parseAuthority } from './target-parse.js';
import { runTunnel } from './tunnel.js';
import type { ProxyContext, ProxySession } from './types.js';

export const CONNECT_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

function endSocket(socket: Socket, text: string): void {
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(text);
}

function refuse(ctx: ProxyContext, socket: Socket, decided: Decided, session: ProxySession, startedAt: number): void {
  const d = decided.decision;
  countDecision(ctx.stats, decided);
  emitDecision(ctx, decided, 'connect', session, { bytesUp: 0, bytesDown: 0, durationMs: Date.now() - startedAt });
  endSocket(socket, rawResponse(httpStatusFor(d), denialText(d), refusalHeaders(d)));
}

/** The http.Server 'connect' handler. Never throws. */
export function handleConnect(ctx: ProxyContext, req: IncomingMessage, socket: Socket, head: Buffer): void {
  connectFlow(ctx, req, socket, head).catch((e: unknown) => {
    ctx.logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'CONNECT handler failed');
    socket.destroy();
  });
}

async function connectFlow(ctx: ProxyContext, req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const startedAt = Date.now();
  const raw = req.url ?? '';
  const parsed = parseAuthority(raw, null);
  const authHeader = req.headers['proxy-authorization'];
  const auth = sessionFromProxyAuthorization(ctx, Array.isArray(authHeader) ? authHeader[0] : authHeader);
  if (!auth.ok) {
    const ref = parsed.ok ? targetRef(parsed.value) : { host: clean(raw), port: 0, kind: 'name' as const };
    return refuse(ctx, socket, decideAuthRequired(ctx, ref, auth.error), anonymousSession(), startedAt);
  }
  const session = auth.session;
  if (!parsed.ok) return refuse(ctx, socket, decideInvalid(ctx, raw, parsed.error), session, startedAt);
  const version = versionProblem(req);
  if (version) return refuse(ctx, socket, decideInvalid(ctx, raw, version, parsed.value.port), session, startedAt);
  const target = parsed.value;
  const decided = await decideForDial(ctx, target, session);
  if (decided.dial === null) return refuse(ctx, socket, decided, session, startedAt);
  await runTunnel({
    ctx,
    client: socket,
    head,
    decided,
    target,
    session,
    via: 'connect',
    startedAt,
    accept: () => {
      if (!socket.destroyed) socket.write(CONNECT_ESTABLISHED);
    },
    refuseDial: (err: DialError) => endSocket(socket, rawResponse(err.status, `cordon: ${clean(err.message)}\n`)),
  });
}
