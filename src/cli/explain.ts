/**
 * One- or two-line human explanations of decision objects, for `cordon check`,
 * `cordon mount` and `cordon events` without --json.
 */
import type { MountDecision, NetworkDecision, RuleRef } from '../decide/types.js';

const FIXED_REASONS: Record<string, string> = {
  'special-range': 'the address is in a special range (loopback, private, link-local, ...) and no address rule allows it',
  'no-address-allowed': 'none of the resolved addresses is allowed',
  unresolvable: 'the name did not resolve',
  'invalid-target': 'the target is invalid',
  'sni-mismatch': 'the TLS SNI does not name the CONNECT host',
  'auth-required': 'session credentials are required or were wrong',
  'no-policy': 'no valid policy is loaded (fail closed)',
  'internal-error': 'an internal error occurred (fail closed)',
  'too-many-masks': 'the mount would need more masks than cordon allows',
  'unresolvable-path': 'the path cannot be resolved safely',
};

export function describeRule(rule: RuleRef): string {
  return `${rule.layer} rule '${rule.name}' (${rule.resource})`;
}

function because(d: { reason: string; rule: RuleRef | null; profile: string }): string {
  if (d.reason === 'rule' && d.rule !== null) return `by ${describeRule(d.rule)}`;
  if (d.reason === 'default') return `by the default of profile '${d.profile}' (no rule matched)`;
  return `because ${FIXED_REASONS[d.reason] ?? d.reason}`;
}

function verdictWord(d: { decision: string; enforced: boolean }): string {
  if (d.decision === 'allow') return 'allowed';
  return d.enforced ? 'denied' : 'denied (audit mode: not enforced)';
}

export function explainNetwork(d: NetworkDecision): string {
  const target = d.target.kind === 'ipv6' ? `[${d.target.host}]:${d.target.port}` : `${d.target.host}:${d.target.port}`;
  if (d.reason === 'invalid-target') return `invalid target ${JSON.stringify(d.target.host)}: ${d.error ?? 'rejected'}`;
  const lines = [`${verdictWord(d)}: ${target} ${because(d)}`];
  if (d.name !== null && d.reason !== 'rule' && d.name.decision === 'allow' && d.name.rule !== null) {
    lines[0] += `; the name was allowed by ${describeRule(d.name.rule)}`;
  }
  if (d.addresses.length > 0) {
    const parts = d.addresses.map((a) => `${a.address} ${a.decision}${a.reason === 'rule' || a.decision === 'allow' ? '' : ` (${a.reason})`}`);
    lines.push(`addresses: ${parts.join(', ')}${d.address === null ? '' : `; would dial ${d.address}`}`);
  }
  return lines.join('\n');
}

export function explainMount(d: MountDecision): string {
  if (d.reason === 'invalid-target') return `invalid mount request: ${d.error ?? 'rejected'}`;
  const lines = [`${verdictWord(d)}: ${d.access} mount of ${d.path} (effective access ${d.effective}) ${because(d)}`];
  if (d.masks.length > 0) lines.push(`masks: ${d.masks.map((m) => `${m.path} → ${m.access}`).join(', ')}`);
  return lines.join('\n');
}

/** Exit codes shared by `check` and `mount`: 0 allow, 3 deny, 2 invalid. */
export function decisionExitCode(d: { decision: string; reason: string }): number {
  if (d.reason === 'invalid-target') return 2;
  return d.decision === 'allow' ? 0 : 3;
}
