/**
 * Builds validated Policy ASTs with mount rules by hand, for the mount tests
 * (they must not depend on the YAML loader to test the decision logic).
 */
import type { Layer, Mode, MountAccess, MountRule, Policy, Profile } from '../../src/policy/types.js';

/** [rule name, access, paths] */
export type RuleSpec = [string, MountAccess, string[]];

export interface LayerSpec {
  mode?: Mode;
  default?: MountAccess;
  rules?: RuleSpec[];
}

export interface ProfileSpec extends LayerSpec {
  name: string;
  match?: Record<string, string>;
}

export interface PolicySpec {
  mode?: Mode;
  guardrails?: LayerSpec;
  /** `default` is added (no mount section) when absent. */
  profiles?: ProfileSpec[];
}

const FILE = 'test-policy.yaml';

function mountRules(where: string, rules: RuleSpec[]): MountRule[] {
  return rules.map(([name, access, paths], i) => ({
    name,
    access,
    paths: paths.map((text, j) => ({ text, source: { file: FILE, path: `${where}.rules[${i}].${access}[${j}]`, line: i + 1 } })),
    source: { file: FILE, path: `${where}.rules[${i}]`, line: i + 1 },
  }));
}

function layer(where: string, spec: LayerSpec, isProfile: boolean): Layer {
  const hasMounts = spec.rules !== undefined || spec.default !== undefined;
  return {
    mode: spec.mode ?? null,
    network: null,
    mounts: hasMounts ? { default: isProfile ? (spec.default ?? null) : null, rules: mountRules(`${where}.mounts`, spec.rules ?? []) } : null,
  };
}

export function mountPolicy(spec: PolicySpec): Policy {
  const profiles: Profile[] = (spec.profiles ?? []).map((p) => ({
    name: p.name,
    match: p.match ?? {},
    ...layer(`profiles.${p.name}`, p, true),
  }));
  if (!profiles.some((p) => p.name === 'default')) {
    profiles.unshift({ name: 'default', match: {}, mode: null, network: null, mounts: null });
  }
  return {
    version: 1,
    name: 'mount-test',
    revision: null,
    mode: spec.mode ?? 'enforce',
    guardrails: spec.guardrails === undefined ? null : layer('guardrails', spec.guardrails, false),
    profiles,
    files: [FILE],
    digest: 'sha256:' + '0'.repeat(64),
  };
}
