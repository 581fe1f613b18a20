/**
 * The proxy's one decision path, shared by HTTP forward, CONNECT and SOCKS5:
 * name stage → resolve once → address stage → the address to dial. The
 * engine decides; this module only sequences it, does the single DNS lookup,
 * and fails closed: any exception becomes an enforced deny ('internal-error')
 * instead of escaping into the connection handler.
 *
 * Also builds the decisions the engine cannot make because they depend on
 * the wire: a failed proxy login ('auth-required') and a TLS SNI that does
 * not name the CONNECT host ('sni-mismatch').
 */
import type { CompiledPolicy } from '../policy/compile.js';
import { decideAddresses, decideTarget, invalidTargetDecision, needsResolution } from '../decide/network.js';
import type { NetworkDecision, TargetRef } from '../decide/types.js';
import type { CanonicalTarget } from '../match/types.js';
import type { Mode } from '../policy/types.js';
import type { ProxyContext, ProxySession } from './types.js';

export interface Decided {
  decision: NetworkDecision;
  /** The policy this decision was made with (for the event's policy reference). */
  policy: CompiledPolicy | null;
  /** The checked IP literal to dial, or null when nothing may be dialed. */
  dial: string | null;
}

export function targetRef(target: CanonicalTarget): TargetRef {
  return { host: target.host.host, port: target.port, kind: target.host.kind };
}

function policyOrNull(ctx: ProxyContext): CompiledPolicy | null {
  try {
    return ctx.getPolicy();
  } catch {
    return null;
  }
}

/** An enforced deny for an unexpected failure inside the decision path. */
export function internalErrorDecision(target: TargetRef, error: string, mode: Mode = 'enforce'): NetworkDecision {
  return {
    decision: 'deny',
    enforced: true,
    mode,
    reason: 'internal-error',
    profile: 'default',
    rule: null,
    target,
    name: null,
    addresses: [],
    address: null,
    error,
  };
}

/** Decides a canonical target for a session; never throws. */
export async function decideForDial(ctx: ProxyContext, target: CanonicalTarget, session: ProxySession): Promise<Decided> {
  let cp: CompiledPolicy | null = null;
  try {
    cp = ctx.getPolicy();
    const opts = { labels: session.labels, modeOverride: ctx.modeOverride };
    let d = decideTarget(cp, target, opts);
    if (needsResolution(d)) {
      let resolved: string[];
      try {
        resolved = await ctx.resolver.resolve(target.host.host);
      } catch (e) {
        ctx.logger.debug({ host: target.host.host, err: String(e) }, 'resolve failed');
        resolved = [];
      }
      d = decideAddresses(cp, d, resolved, opts);
    }
    const letThrough = d.decision === 'allow' || !d.enforced;
    let dial: string | null = null;
    if (letThrough) dial = d.address ?? (target.host.kind === 'name' ? null : target.host.host);
    return { decision: d, policy: cp, dial };
  } catch (e) {
    ctx.logger.error({ err: e instanceof Error ? e.stack : String(e), target: target.host.host }, 'decision failed; denying');
    // The policy object itself may be what failed: do not hand it on.
    return { decision: internalErrorDecision(targetRef(target), 'internal error while deciding'), policy: null, dial: null };
  }
}

/** The decision for a target that could not be canonicalised (always enforced). */
export function decideInvalid(ctx: ProxyContext, raw: string, error: string, port?: number): Decided {
  const policy = policyOrNull(ctx);
  try {
    return { decision: invalidTargetDecision(raw, error, port), policy, dial: null };
  } catch {
    return { decision: internalErrorDecision({ host: raw, port: port ?? 0, kind: 'name' }, error), policy, dial: null };
  }
}

/** Missing or bad proxy credentials: always enforced, whatever the mode. */
export function decideAuthRequired(ctx: ProxyContext, target: TargetRef, error: string): Decided {
  const policy = policyOrNull(ctx);
  let mode: Mode = 'enforce';
  try {
    mode = ctx.modeOverride ?? policy?.policy.mode ?? 'enforce';
  } catch {
    // an unusable policy object: keep 'enforce'
  }
  return {
    decision: {
      decision: 'deny',
      enforced: true,
      mode,
      reason: 'auth-required',
      profile: 'default',
      rule: null,
      target,
      name: null,
      addresses: [],
      address: null,
      error,
    },
    policy,
    dial: null,
  };
}

/**
 * Turns an allowed (or audit-passed) decision into an 'sni-mismatch' deny.
 * Built-in denies take the guardrails' mode (DESIGN contracts), so in audit
 * mode the tunnel still goes through and the event says it would have been denied.
 */
export function sniMismatch(ctx: ProxyContext, base: Decided, error: string): Decided {
  let mode: Mode = 'enforce';
  try {
    mode = ctx.modeOverride ?? base.policy?.guardrails.mode ?? 'enforce';
  } catch {
    // an unusable policy object: enforce
  }
  const enforced = mode === 'enforce';
  return {
    decision: { ...base.decision, decision: 'deny', enforced, mode, reason: 'sni-mismatch', rule: null, error },
    policy: base.policy,
    dial: enforced ? null : base.dial,
  };
}
