/**
 * SOCKS5 entry path (RFC 1928, CONNECT only; RFC 1929 username/password).
 * A small state machine over socks5-wire.ts: greeting → optional login →
 * request, with bounded buffering and one deadline for the whole handshake.
 * The requested address goes through the same canonicaliser as HTTP and
 * CONNECT (a domain "127.1" is the address 127.0.0.1 here too), then the same
 * decision path and the same tunnel (tunnel.ts, with the SNI gate on TLS
 * ports). On TLS ports the success reply is sent before dialing (the client
 * sends its ClientHello only after it), so it carries 0.0.0.0:0 as the bound
 * address.
 */
import type { Socket } from 'node:net';
import { canonicalizeAddress, canonicalizeHost, parsePort } from '../match/canonical.js';
import type { Canon, CanonicalHost } from '../match/types.js';
import { clean, socksReplyFor } from './answers.js';
import { anonymousSession, sessionFromUserPass } from './auth.js';
import { decideAuthRequired, decideForDial, decideInvalid, type Decided } from './decide-request.js';
import { countDecision, emitDecision } from './record.js';
import {
  CMD_CONNECT,
  encodeMethodChoice,
  encodeReply,
  encodeUserPassStatus,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USERPASS,
  parseGreeting,
  parseRequest,
  parseUserPass,
  REPLY_ADDRESS_TYPE_NOT_SUPPORTED,
  REPLY_COMMAND_NOT_SUPPORTED,
  SOCKS_MAX_MESSAGE_BYTES,
  USERPASS_FAILURE,
  USERPASS_SUCCESS,
  type SocksRequest,
} from './socks5-wire.js';
import { runTunnel } from './tunnel.js';
import type { ProxyContext, ProxySession } from './types.js';

/** Most handshake bytes buffered at once (a login and a request sent back to back). */
export const SOCKS_MAX_BUFFERED_BYTES = 2 * SOCKS_MAX_MESSAGE_BYTES + 262;

type State = 'greeting' | 'auth' | 'request' | 'done';

function endSocket(socket: Socket, bytes: Buffer): void {
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(bytes);
}

/** Handles a connection whose first chunk (`first`, starting with 0x05) has been read. Never throws. */
export function handleSocks5(ctx: ProxyContext, socket: Socket, first: Buffer): void {
  const startedAt = Date.now();
  let buf = first;
  let state: State = 'greeting';
  let session: ProxySession = anonymousSession();
  const timer = setTimeout(() => {
    ctx.logger.debug({}, 'SOCKS5 handshake timed out');
    socket.destroy();
  }, ctx.limits.headerTimeoutMs);
  socket.once('close', () => clearTimeout(timer));

  const stop = () => {
    state = 'done';
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.pause();
  };
  const authFailed = (error: string) => {
    const decided = decideAuthRequired(ctx, { host: '', port: 0, kind: 'name' }, error);
    countDecision(ctx.stats, decided);
    emitDecision(ctx, decided, 'socks5', anonymousSession(), { bytesUp: 0, bytesDown: 0, durationMs: Date.now() - startedAt });
  };

  const step = (): boolean => {
    switch (state) {
      case 'greeting': {
        const g = parseGreeting(buf);
        if (g.kind === 'need-more') return false;
        if (g.kind === 'error') {
          stop();
          socket.destroy();
          return false;
        }
        buf = buf.subarray(g.consumed);
        const userPass = g.methods.includes(METHOD_USERPASS) && ctx.authenticate !== null;
        const method = userPass ? METHOD_USERPASS : !ctx.requireSession && g.methods.includes(METHOD_NO_AUTH) ? METHOD_NO_AUTH : METHOD_NONE_ACCEPTABLE;
        if (method === METHOD_NONE_ACCEPTABLE) {
          stop();
          if (ctx.requireSession) authFailed('proxy credentials required (offer SOCKS5 username/password)');
          endSocket(socket, encodeMethodChoice(METHOD_NONE_ACCEPTABLE));
          return false;
        }
        socket.write(encodeMethodChoice(method));
        state = method === METHOD_USERPASS ? 'auth' : 'request';
        return true;
      }
      case 'auth': {
        const a = parseUserPass(buf);
        if (a.kind === 'need-more') return false;
        if (a.kind === 'error') {
          stop();
          socket.destroy();
          return false;
        }
        buf = buf.subarray(a.consumed);
        const outcome = sessionFromUserPass(ctx, a.user, a.pass);
        if (!outcome.ok) {
          stop();
          authFailed(outcome.error);
          endSocket(socket, encodeUserPassStatus(USERPASS_FAILURE));
          return false;
        }
        session = outcome.session;
        socket.write(encodeUserPassStatus(USERPASS_SUCCESS));
        state = 'request';
        return true;
      }
      case 'request': {
        const r = parseRequest(buf);
        if (r.kind === 'need-more') return false;
        stop();
        if (r.kind === 'error') {
          socket.destroy();
          return false;
        }
        const rest = buf.subarray(r.consumed);
        onRequest(ctx, socket, r, rest, session, startedAt).catch((e: unknown) => {
          ctx.logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'SOCKS5 handler failed');
          socket.destroy();
        });
        return false;
      }
      default:
        return false;
    }
  };

  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length > SOCKS_MAX_BUFFERED_BYTES) {
      stop();
      socket.destroy();
      return;
    }
    while (step()) {
      /* keep parsing what is buffered */
    }
  };
  socket.on('data', onData);
  onData(Buffer.alloc(0));
  if ((state as State) !== 'done') socket.resume();
}

function canonicalRequestHost(req: SocksRequest): { raw: string; host: Canon<CanonicalHost> } {
  const a = req.address!;
  if (a.type === 'domain') {
    if (a.text === null) return { raw: clean(a.raw), host: { ok: false, error: 'domain name is not valid UTF-8' } };
    return { raw: a.text, host: canonicalizeHost(a.text) };
  }
  return { raw: a.text, host: canonicalizeAddress(a.text) };
}

async function onRequest(ctx: ProxyContext, socket: Socket, req: SocksRequest, rest: Buffer, session: ProxySession, startedAt: number): Promise<void> {
  if (req.command !== CMD_CONNECT) {
    ctx.logger.debug({ command: req.command }, 'SOCKS5 command not supported');
    endSocket(socket, encodeReply(REPLY_COMMAND_NOT_SUPPORTED));
    return;
  }
  if (req.address === null) {
    endSocket(socket, encodeReply(REPLY_ADDRESS_TYPE_NOT_SUPPORTED));
    return;
  }
  const refuse = (decided: Decided) => {
    countDecision(ctx.stats, decided);
    emitDecision(ctx, decided, 'socks5', session, { bytesUp: 0, bytesDown: 0, durationMs: Date.now() - startedAt });
    endSocket(socket, encodeReply(socksReplyFor(decided.decision)));
  };
  const { raw, host } = canonicalRequestHost(req);
  const port = parsePort(String(req.port));
  if (!host.ok) return refuse(decideInvalid(ctx, raw, host.error, req.port || undefined));
  if (!port.ok) return refuse(decideInvalid(ctx, raw, port.error));
  const target = { host: host.value, port: port.value };
  const decided = await decideForDial(ctx, target, session);
  if (decided.dial === null) return refuse(decided);
  await runTunnel({
    ctx,
    client: socket,
    head: rest,
    decided,
    target,
    session,
    via: 'socks5',
    startedAt,
    accept: (bound) => {
      if (!socket.destroyed) socket.write(encodeReply(0x00, bound ?? undefined));
    },
    refuseDial: (err) => endSocket(socket, encodeReply(err.socksReply)),
  });
}
