/**
 * Who is asking (DESIGN §2 "Sessions"): maps proxy credentials — HTTP
 * `Proxy-Authorization: Basic base64(id:secret)` or SOCKS5 username/password —
 * to a session through the injected `authenticate`, and traffic without
 * credentials to the anonymous session unless sessions are required. The
 * checking itself (constant-time compare, expiry) belongs to the session
 * registry; this module only parses and applies the rules above.
 */
import { ANONYMOUS_SESSION_ID, type ProxyContext, type ProxySession } from './types.js';

export type AuthOutcome = { ok: true; session: ProxySession } | { ok: false; error: string };

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

export function anonymousSession(): ProxySession {
  return { id: ANONYMOUS_SESSION_ID, labels: {} };
}

function noCredentials(ctx: ProxyContext): AuthOutcome {
  return ctx.requireSession ? { ok: false, error: 'proxy credentials required' } : { ok: true, session: anonymousSession() };
}

export function sessionFromUserPass(ctx: ProxyContext, user: string, pass: string): AuthOutcome {
  if (!ctx.authenticate) return noCredentials(ctx);
  try {
    const r = ctx.authenticate(user, pass);
    if (r) return { ok: true, session: r.session };
  } catch (e) {
    ctx.logger.error({ err: String(e) }, 'authenticate threw; treating as bad credentials');
  }
  return { ok: false, error: 'bad proxy credentials' };
}

/** `header` is the Proxy-Authorization value (undefined when absent). */
export function sessionFromProxyAuthorization(ctx: ProxyContext, header: string | undefined): AuthOutcome {
  if (header === undefined) return noCredentials(ctx);
  const m = BASIC.exec(header);
  if (!m) return { ok: false, error: 'unsupported Proxy-Authorization scheme (use Basic)' };
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false, error: 'malformed Basic credentials' };
  return sessionFromUserPass(ctx, decoded.slice(0, colon), decoded.slice(colon + 1));
}
