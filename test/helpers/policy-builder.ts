/**
 * Test helpers for the decision engine: a policy from YAML through the real
 * loader (so tests read like the policies users write), compiled, and
 * canonical targets built the way front-ends build them.
 */
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { formatPolicyErrors, parsePolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { canonicalizeHost } from '../../src/match/canonical.js';
import type { CanonicalTarget } from '../../src/match/types.js';

/** Validated policy from YAML text; throws with every loader error when the text is invalid. */
export function policyFromYaml(yaml: string, file = 'test-policy.yaml'): Policy {
  const result = parsePolicyText(yaml, file);
  if (!result.ok) throw new Error(`test policy is invalid:\n${formatPolicyErrors(result.errors)}`);
  return result.policy;
}

export function compileYaml(yaml: string): CompiledPolicy {
  return compilePolicy(policyFromYaml(yaml));
}

/** A canonical target from host text (name, any IPv4 spelling, bracketed or bare IPv6) and a port. */
export function target(host: string, port = 443): CanonicalTarget {
  const canon = canonicalizeHost(host);
  if (!canon.ok) throw new Error(`test target ${host} is invalid: ${canon.error}`);
  return { host: canon.value, port };
}
