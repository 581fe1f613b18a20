/**
 * Decision objects: the data every front-end returns and every event carries
 * (DESIGN §2 "The decision object"). Decisions are data, never a bare boolean.
 */
import type { Mode, MountAccess } from '../policy/types.js';

export type Verdict = 'allow' | 'deny';

export type Reason =
  | 'rule'
  | 'default'
  | 'special-range'
  | 'no-address-allowed'
  | 'unresolvable'
  | 'invalid-target'
  | 'sni-mismatch'
  | 'auth-required'
  | 'no-policy'
  | 'internal-error'
  | 'too-many-masks'
  | 'unresolvable-path';

/** `layer` is `guardrails` or `profile:<name>`. */
export interface RuleRef {
  layer: string;
  name: string;
  resource: string;
}

export interface StageDecision {
  decision: Verdict;
  reason: Reason;
  rule: RuleRef | null;
}

export interface AddressDecision extends StageDecision {
  address: string;
}

export type TargetKind = 'name' | 'ipv4' | 'ipv6';

export interface TargetRef {
  host: string;
  port: number;
  kind: TargetKind;
}

export interface NetworkDecision {
  decision: Verdict;
  /** false when the deny was only recorded (audit mode). Always true for allow. */
  enforced: boolean;
  mode: Mode;
  reason: Reason;
  profile: string;
  rule: RuleRef | null;
  target: TargetRef;
  /** The name stage; null for IP-literal targets or invalid targets. */
  name: StageDecision | null;
  addresses: AddressDecision[];
  /** The address that is (or would be) dialed. */
  address: string | null;
  /** Human detail for invalid targets / errors (e.g. "label over 63 octets"). */
  error?: string;
}

export interface MountMask {
  path: string;
  access: MountAccess;
}

export interface MountDecision {
  decision: Verdict;
  enforced: boolean;
  mode: Mode;
  reason: Reason;
  profile: string;
  rule: RuleRef | null;
  /** The real path (after ~ expansion, normalisation and symlink resolution). */
  path: string;
  /** Requested access. */
  access: 'ro' | 'rw';
  /** Effective access of the real path. */
  effective: MountAccess;
  masks: MountMask[];
  error?: string;
}
