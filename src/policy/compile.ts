/**
 * The compiled policy: what the decision engine reads on every request.
 *
 * Compiling happens once per loaded policy (never per decision): the name
 * rules of every layer go into one reversed-label trie and the address rules
 * into one prefix table, each entry tagged with its layer's number (so a
 * decision walks each structure once for guardrails and profile together),
 * modes and defaults are resolved, and the mount rules are compiled by
 * path-rules.ts. The result is immutable; swapping policies means
 * swapping the whole object.
 */
import { DEFAULT_PROFILE, GUARDRAILS_LAYER, denyAllDefaultProfile, type Mode, type NetworkAction, type Policy, type Profile, type Layer } from './types.js';
import type { RuleRef } from '../decide/types.js';
import { NameTrie } from '../match/name-trie.js';
import { PrefixTable } from '../match/prefix-table.js';
import { compileMounts, type CompiledMounts } from '../match/path-rules.js';

/** The layer and default-profile names are defined once in types.ts and re-exported here. */
export { DEFAULT_PROFILE, GUARDRAILS_LAYER };
/** Name of the fail-closed policy. */
export const DENY_ALL_POLICY_NAME = 'deny-all';
/** sha256 of zero bytes: the deny-all policy has no source. */
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** At equal host and port specificity, deny ranks first (DESIGN §2: deny wins a tie). */
const TIE_RANK: Readonly<Record<NetworkAction, number>> = { deny: 0, allow: 1 };

/** What a trie or prefix table returns: the rule that matched, ready to be echoed in a decision. */
export interface RuleHit {
  readonly action: NetworkAction;
  readonly ref: Readonly<RuleRef>;
}

export interface CompiledLayer {
  /** `guardrails` or `profile:<name>`. */
  readonly id: string;
  /** The layer's number in the shared trie and prefix table (guardrails 0, profiles 1.. in file order). */
  readonly index: number;
  /** layer.mode ?? policy.mode. */
  readonly mode: Mode;
  /** Network resources of this layer, by kind. */
  readonly nameResources: number;
  readonly addressResources: number;
}

export interface CompiledProfile {
  readonly name: string;
  /** The `match` pairs, for selection. */
  readonly match: readonly (readonly [string, string])[];
  readonly layer: CompiledLayer;
  /** The profile's network default; a profile without one denies. */
  readonly networkDefault: NetworkAction;
}

export interface CompiledPolicy {
  readonly policy: Policy;
  readonly mounts: CompiledMounts;
  /** Name rules of every layer. */
  readonly names: NameTrie<RuleHit>;
  /** Address rules of every layer. */
  readonly addresses: PrefixTable<RuleHit>;
  /** Always present; empty when the policy has no guardrails. */
  readonly guardrails: CompiledLayer;
  /** In file order. */
  readonly profiles: readonly CompiledProfile[];
  readonly defaultProfile: CompiledProfile;
  /**
   * Non-null only for denyAllPolicy(why): every decision is a deny with
   * reason 'no-policy', and this text explains why no policy is loaded.
   */
  readonly failClosed: string | null;
  /** Number of compiled network resources (all layers), for status output. */
  readonly counts: { readonly nameResources: number; readonly addressResources: number };
}

/** Adds a layer's network rules to the shared structures. */
function compileLayer(
  id: string,
  index: number,
  layer: Layer | null,
  policyMode: Mode,
  names: NameTrie<RuleHit>,
  addresses: PrefixTable<RuleHit>,
): CompiledLayer {
  let nameResources = 0;
  let addressResources = 0;
  for (const rule of layer?.network?.rules ?? []) {
    const rank = TIE_RANK[rule.action];
    for (const res of rule.resources) {
      const hit: RuleHit = Object.freeze({
        action: rule.action,
        ref: Object.freeze({ layer: id, name: rule.name, resource: res.text }),
      });
      const host = res.host;
      if (host.type === 'cidr') {
        addresses.add(index, host.family, host.address, host.prefix, res.ports, rank, hit);
        addressResources++;
      } else {
        names.add(index, host, res.ports, rank, hit);
        nameResources++;
      }
    }
  }
  return Object.freeze({ id, index, mode: layer?.mode ?? policyMode, nameResources, addressResources });
}

function build(policy: Policy, failClosed: string | null): CompiledPolicy {
  const names = new NameTrie<RuleHit>();
  const addresses = new PrefixTable<RuleHit>();
  const guardrails = compileLayer(GUARDRAILS_LAYER, 0, policy.guardrails, policy.mode, names, addresses);
  const sources: Profile[] = policy.profiles.some((p) => p.name === DEFAULT_PROFILE)
    ? policy.profiles
    : [...policy.profiles, denyAllDefaultProfile()];
  const profiles = sources.map(
    (p, i): CompiledProfile =>
      Object.freeze({
        name: p.name,
        match: Object.freeze(Object.entries(p.match).map(([k, v]) => Object.freeze([k, v] as const))),
        layer: compileLayer(`profile:${p.name}`, i + 1, p, policy.mode, names, addresses),
        networkDefault: p.network?.default ?? 'deny',
      }),
  );
  names.seal();
  addresses.seal();
  const defaultProfile = profiles.find((p) => p.name === DEFAULT_PROFILE) as CompiledProfile;
  return Object.freeze({
    policy,
    mounts: compileMounts(policy),
    names,
    addresses,
    guardrails,
    profiles: Object.freeze(profiles),
    defaultProfile,
    failClosed,
    counts: Object.freeze({ nameResources: names.size, addressResources: addresses.size }),
  });
}

/** Compiles a validated policy. Pure; throws only on an AST the loader would never produce. */
export function compilePolicy(policy: Policy): CompiledPolicy {
  return build(policy, null);
}

/**
 * The fail-closed policy named "deny-all": every network and mount request is
 * denied with reason 'no-policy', enforced whatever the mode. `why` says why
 * no real policy is loaded; network decisions carry it as `error`.
 */
export function denyAllPolicy(why: string): CompiledPolicy {
  const policy: Policy = {
    version: 1,
    name: DENY_ALL_POLICY_NAME,
    revision: null,
    mode: 'enforce',
    guardrails: null,
    profiles: [denyAllDefaultProfile()],
    files: [],
    digest: EMPTY_SHA256,
  };
  return build(policy, why);
}
