/**
 * Network decisions: names first, then addresses (DESIGN §2 "Decisions").
 *
 * Pure and synchronous over a CompiledPolicy: no I/O, no clock, no logging,
 * nothing parsed from the policy at decision time. Front-ends canonicalise
 * the target, call decideTarget, resolve the name once when needsResolution
 * says so, and pass the answers to decideAddresses, which returns the final
 * decision with the address to dial. Every entry point fails closed: an
 * exception becomes a deny with reason 'internal-error'.
 *
 * Semantics (see also the contracts):
 * - layers are the guardrails and the selected profile; each is evaluated
 *   alone (most specific rule wins, deny at a tie); across layers a deny wins,
 *   then an allow from either, then the profile's network default;
 * - when both layers deny, the reported deny is the guardrails' unless the
 *   guardrails are in audit mode and the profile's is enforced (an enforced
 *   deny is never hidden behind an unenforced one);
 * - an address with no matching address rule is denied 'special-range' when
 *   specialRange() names it, else allowed (resolved) or given the profile
 *   default (IP-literal target); an IPv6 address embedding IPv4 is checked as
 *   itself and as each embedded IPv4, and a deny from any form wins;
 * - an allowed resolved address with no rule reports reason 'default';
 * - a final allow (or an audit-only name deny that still goes through) carries
 *   the name stage's reason, rule and mode; `address` is the first allowed
 *   address;
 * - when every resolved address is denied, the reason is theirs if they all
 *   share it, else 'no-address-allowed'; the request goes through (audit)
 *   only if some address's deny is unenforced, and that address is dialed —
 *   an enforced deny of one address never becomes dialable because another
 *   layer is in audit mode;
 * - 'invalid-target', 'unresolvable', 'no-policy' and 'internal-error' are
 *   enforced in every mode and report mode 'enforce'.
 */
import type { Mode } from '../policy/types.js';
import { DEFAULT_PROFILE, type CompiledPolicy, type CompiledProfile, type RuleHit } from '../policy/compile.js';
import { canonicalizeAddress } from '../match/canonical.js';
import { specialRange } from '../match/special-ranges.js';
import type { CanonicalHost, CanonicalTarget } from '../match/types.js';
import type { AddressDecision, NetworkDecision, Reason, RuleRef, StageDecision, TargetRef, Verdict } from './types.js';

export interface DecideOptions {
  /** The session's labels; they select the profile. */
  labels: Readonly<Record<string, string>>;
  /** The daemon's --mode: replaces every layer's mode when set. */
  modeOverride?: Mode | null;
}

/** A verdict with the mode it is subject to (already overridden). */
interface Outcome {
  readonly decision: Verdict;
  readonly reason: Reason;
  readonly rule: RuleRef | null;
  readonly mode: Mode;
}

/** The modes in force for one decision. */
interface Modes {
  readonly guardrails: Mode;
  readonly profile: Mode;
}

const ENFORCE: Mode = 'enforce';
/** Resolved address, no address rule, not special: allowed. */
const ALLOW_UNLISTED: Outcome = Object.freeze({ decision: 'allow', reason: 'default', rule: null, mode: ENFORCE });
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});
/** Target port when a raw target could not be parsed far enough to know it. */
const UNKNOWN_PORT = 0;

function enforcedOf(o: Outcome): boolean {
  return o.decision === 'allow' || o.mode === 'enforce';
}

function makeDecision(
  o: Outcome,
  profile: string,
  target: TargetRef,
  name: StageDecision | null,
  addresses: AddressDecision[],
  address: string | null,
  error?: string,
): NetworkDecision {
  const d: NetworkDecision = {
    decision: o.decision,
    enforced: enforcedOf(o),
    mode: o.mode,
    reason: o.reason,
    profile,
    rule: o.rule,
    target,
    name,
    addresses,
    address,
  };
  if (error !== undefined) d.error = error;
  return d;
}

function stageOf(o: Outcome): StageDecision {
  return { decision: o.decision, reason: o.reason, rule: o.rule };
}

function fixedDeny(reason: Reason): Outcome {
  return { decision: 'deny', reason, rule: null, mode: ENFORCE };
}

function targetRef(target: CanonicalTarget): TargetRef {
  return { host: target.host.host, port: target.port, kind: target.host.kind };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function labelsMatch(match: readonly (readonly [string, string])[], labels: Readonly<Record<string, string>>): boolean {
  for (let i = 0; i < match.length; i++) {
    const [key, value] = match[i];
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== value) return false;
  }
  return true;
}

function selectCompiledProfile(cp: CompiledPolicy, given: Readonly<Record<string, string>> | null | undefined): CompiledProfile {
  // Missing labels are no labels (the anonymous session), as in path-rules.ts selectProfileName.
  const labels = given !== null && typeof given === 'object' ? given : NO_LABELS;
  let best: CompiledProfile | null = null;
  for (const p of cp.profiles) {
    if (p.name === DEFAULT_PROFILE) continue;
    if (best !== null && p.match.length <= best.match.length) continue; // most keys wins; tie → file order
    if (labelsMatch(p.match, labels)) best = p;
  }
  return best ?? cp.defaultProfile;
}

/**
 * The profile a session's labels select: among profiles other than `default`
 * whose every `match` pair is in `labels`, the one with the most pairs (first
 * in file order at a tie); otherwise `default`. null/undefined labels are no
 * labels.
 */
export function selectProfile(cp: CompiledPolicy, labels: Readonly<Record<string, string>> | null | undefined): string {
  return selectCompiledProfile(cp, labels).name;
}

function modesFor(cp: CompiledPolicy, profile: CompiledProfile, opts: DecideOptions): Modes {
  const override = opts.modeOverride ?? null;
  return {
    guardrails: override ?? cp.guardrails.mode,
    profile: override ?? profile.layer.mode,
  };
}

function ruleOutcome(hit: RuleHit, mode: Mode): Outcome {
  return { decision: hit.action, reason: 'rule', rule: hit.ref, mode };
}

/** Across layers: a deny wins (an enforced one over an unenforced one), then an allow from either; null when neither matched. */
function acrossLayers(g: RuleHit | undefined, p: RuleHit | undefined, modes: Modes): Outcome | null {
  const gDeny = g !== undefined && g.action === 'deny';
  const pDeny = p !== undefined && p.action === 'deny';
  if (gDeny || pDeny) {
    const useProfile = pDeny && (!gDeny || (modes.guardrails === 'audit' && modes.profile === 'enforce'));
    return useProfile ? ruleOutcome(p as RuleHit, modes.profile) : ruleOutcome(g as RuleHit, modes.guardrails);
  }
  if (g !== undefined) return ruleOutcome(g, modes.guardrails);
  if (p !== undefined) return ruleOutcome(p, modes.profile);
  return null;
}

function profileDefault(profile: CompiledProfile, modes: Modes): Outcome {
  return { decision: profile.networkDefault, reason: 'default', rule: null, mode: modes.profile };
}

function decideName(cp: CompiledPolicy, profile: CompiledProfile, modes: Modes, name: string, port: number): Outcome {
  const hits = cp.names.lookupPair(name, port, cp.guardrails.index, profile.layer.index);
  return acrossLayers(hits.first, hits.second, modes) ?? profileDefault(profile, modes);
}

/** One form of an address (itself, or an IPv4 it embeds): its address rules, then special ranges; null when neither says anything. */
function decideAddressForm(cp: CompiledPolicy, profile: CompiledProfile, modes: Modes, host: CanonicalHost, port: number): Outcome | null {
  const hits = cp.addresses.lookupPair(host.kind === 'ipv4' ? 4 : 6, host.host, port, cp.guardrails.index, profile.layer.index);
  const ruled = acrossLayers(hits.first, hits.second, modes);
  if (ruled !== null) return ruled;
  if (specialRange(host) !== null) return { decision: 'deny', reason: 'special-range', rule: null, mode: modes.guardrails };
  return null;
}

/** Which of two denies to report: an enforced one, then one from a rule (more telling than a built-in), then the first. */
function strongerDeny(a: Outcome, b: Outcome): Outcome {
  const ea = enforcedOf(a);
  const eb = enforcedOf(b);
  if (ea !== eb) return ea ? a : b;
  if ((a.reason === 'rule') !== (b.reason === 'rule')) return a.reason === 'rule' ? a : b;
  return a;
}

/**
 * An address: checked as itself and as every IPv4 it embeds. A deny from any
 * form wins; else an allow by rule; else `unlisted` (allow for a resolved
 * address, the profile default for an IP-literal target).
 */
function decideAddress(
  cp: CompiledPolicy,
  profile: CompiledProfile,
  modes: Modes,
  host: CanonicalHost,
  port: number,
  unlisted: Outcome,
): Outcome {
  const own = decideAddressForm(cp, profile, modes, host, port);
  if (host.kind !== 'ipv6' || host.embeddedIPv4.length === 0) return own ?? unlisted;
  let deny: Outcome | null = own !== null && own.decision === 'deny' ? own : null;
  let allow: Outcome | null = own !== null && own.decision === 'allow' ? own : null;
  for (const v4 of host.embeddedIPv4) {
    const o = decideAddressForm(cp, profile, modes, { kind: 'ipv4', host: v4 }, port);
    if (o === null) continue;
    if (o.decision === 'deny') deny = deny === null ? o : strongerDeny(deny, o);
    else if (allow === null) allow = o;
  }
  return deny ?? allow ?? unlisted;
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.reason !== b.reason || a.mode !== b.mode) return false;
  if (a.rule === b.rule) return true;
  return a.rule !== null && b.rule !== null && a.rule.layer === b.rule.layer && a.rule.name === b.rule.name && a.rule.resource === b.rule.resource;
}

function noPolicyDecision(cp: CompiledPolicy, target: TargetRef): NetworkDecision {
  const o = fixedDeny('no-policy');
  const name = target.kind === 'name' ? stageOf(o) : null;
  return makeDecision(o, cp.defaultProfile.name, target, name, [], null, cp.failClosed ?? undefined);
}

function internalErrorDecision(cp: CompiledPolicy, opts: DecideOptions, target: TargetRef, err: unknown): NetworkDecision {
  let profile = DEFAULT_PROFILE;
  try {
    profile = selectProfile(cp, opts.labels);
  } catch {
    // keep 'default': the decision is a deny either way
  }
  return makeDecision(fixedDeny('internal-error'), profile, target, null, [], null, errorText(err));
}

function safeTargetRef(host: unknown, port: unknown, kind: unknown): TargetRef {
  return {
    host: typeof host === 'string' ? host : String(host),
    port: typeof port === 'number' ? port : UNKNOWN_PORT,
    kind: kind === 'ipv4' || kind === 'ipv6' ? kind : 'name',
  };
}

/** An IP-literal target: its address rules decide, then special ranges, then the profile default. */
function decideLiteral(cp: CompiledPolicy, profile: CompiledProfile, modes: Modes, target: CanonicalTarget): NetworkDecision {
  const host = target.host;
  const o = decideAddress(cp, profile, modes, host, target.port, profileDefault(profile, modes));
  const verdict: AddressDecision = { address: host.host, decision: o.decision, reason: o.reason, rule: o.rule };
  const dialed = enforcedOf(o) ? (o.decision === 'allow' ? host.host : null) : host.host;
  return makeDecision(o, profile.name, targetRef(target), null, [verdict], dialed);
}

/**
 * First stage. For a name: the name-stage decision (`name` filled,
 * `addresses` empty, `address` null) — call needsResolution, then
 * decideAddresses. For an IP literal: the complete decision.
 */
export function decideTarget(cp: CompiledPolicy, target: CanonicalTarget, opts: DecideOptions): NetworkDecision {
  try {
    const ref = targetRef(target);
    if (cp.failClosed !== null) return noPolicyDecision(cp, ref);
    const profile = selectCompiledProfile(cp, opts.labels);
    const modes = modesFor(cp, profile, opts);
    if (target.host.kind !== 'name') return decideLiteral(cp, profile, modes, target);
    const o = decideName(cp, profile, modes, target.host.host, target.port);
    return makeDecision(o, profile.name, ref, stageOf(o), [], null);
  } catch (err) {
    return internalErrorDecision(cp, opts, safeTargetRef(target?.host?.host, target?.port, target?.host?.kind), err);
  }
}

/** True for a name-stage decision whose name must now be resolved: allowed, or denied only in audit. */
export function needsResolution(d: NetworkDecision): boolean {
  return (
    d.target.kind === 'name' &&
    d.name !== null &&
    d.addresses.length === 0 &&
    d.address === null &&
    (d.decision === 'allow' || !d.enforced)
  );
}

/**
 * Second stage: the final decision for a name target given the canonical IP
 * texts it resolved to (in resolver order). The name stage is re-derived
 * from `nameStage.target` under `cp`, so both stages always use one policy.
 * `addresses` carries each address's verdict; `address` is the first allowed
 * one or, when the request goes through only because of audit mode, the
 * first one that would be dialed. [] → 'unresolvable'.
 */
export function decideAddresses(cp: CompiledPolicy, nameStage: NetworkDecision, resolved: readonly string[], opts: DecideOptions): NetworkDecision {
  const t = nameStage?.target;
  try {
    const ref: TargetRef = { host: t.host, port: t.port, kind: t.kind };
    if (cp.failClosed !== null) return noPolicyDecision(cp, ref);
    if (ref.kind !== 'name') {
      const canon = canonicalizeAddress(ref.host);
      if (!canon.ok) return invalidTargetDecision(ref.host, canon.error, ref.port, selectProfile(cp, opts.labels));
      return decideTarget(cp, { host: canon.value, port: ref.port }, opts);
    }
    const profile = selectCompiledProfile(cp, opts.labels);
    const modes = modesFor(cp, profile, opts);
    const nameO = decideName(cp, profile, modes, ref.host, ref.port);
    const name = stageOf(nameO);
    // An enforced name deny is final; an audit-only one is still resolved and checked.
    if (nameO.decision === 'deny' && enforcedOf(nameO)) return makeDecision(nameO, profile.name, ref, name, [], null);
    if (resolved.length === 0) return makeDecision(fixedDeny('unresolvable'), profile.name, ref, name, [], null);

    const outcomes: Outcome[] = [];
    const verdicts: AddressDecision[] = [];
    for (const raw of resolved) {
      const canon = canonicalizeAddress(raw);
      let o: Outcome;
      let text: string;
      if (!canon.ok) {
        o = fixedDeny('invalid-target');
        text = raw;
      } else {
        o = decideAddress(cp, profile, modes, canon.value, ref.port, ALLOW_UNLISTED);
        text = canon.value.host;
      }
      outcomes.push(o);
      verdicts.push({ address: text, decision: o.decision, reason: o.reason, rule: o.rule });
    }

    const allowed = outcomes.findIndex((o) => o.decision === 'allow');
    if (allowed >= 0) return makeDecision(nameO, profile.name, ref, name, verdicts, verdicts[allowed].address);

    // Every address is denied: one shared reason, else no-address-allowed.
    const first = outcomes[0];
    const shared = outcomes.every((o) => sameOutcome(o, first));
    const dialable = outcomes.findIndex((o) => !enforcedOf(o));
    if (dialable >= 0) {
      const addrO: Outcome = shared ? first : { decision: 'deny', reason: 'no-address-allowed', rule: null, mode: 'audit' };
      const top = nameO.decision === 'deny' ? nameO : addrO;
      return makeDecision(top, profile.name, ref, name, verdicts, verdicts[dialable].address);
    }
    const addrO: Outcome = shared ? first : { decision: 'deny', reason: 'no-address-allowed', rule: null, mode: ENFORCE };
    return makeDecision(addrO, profile.name, ref, name, verdicts, null);
  } catch (err) {
    return internalErrorDecision(cp, opts, safeTargetRef(t?.host, t?.port, t?.kind), err);
  }
}

/**
 * A target that could not be canonicalised: denied with reason
 * 'invalid-target' in every mode. `raw` is echoed as the target host,
 * `error` says what is wrong; `profile` is the session's profile when the
 * caller knows it.
 */
export function invalidTargetDecision(raw: string, error: string, port?: number, profile: string = DEFAULT_PROFILE): NetworkDecision {
  return makeDecision(
    fixedDeny('invalid-target'),
    profile,
    { host: raw, port: port ?? UNKNOWN_PORT, kind: 'name' },
    null,
    [],
    null,
    error,
  );
}
