/**
 * The validated policy AST (DESIGN §2, version 1).
 *
 * This is what the loader produces after parsing and validating YAML, and what
 * the compiler consumes. Every resource is already parsed ("parse at the edge"):
 * nothing downstream looks at resource strings again except to echo them back
 * in decisions (`text`).
 */

export type Mode = 'enforce' | 'audit';
export type NetworkAction = 'allow' | 'deny';
export type MountAccess = 'deny' | 'ro' | 'rw';

/** Inclusive port range; `:443` is {lo:443,hi:443}; `:*` or no suffix is null. */
export interface PortRange {
  lo: number;
  hi: number;
}

/** Where a node sits in the YAML source, for error messages. */
export interface SourceRef {
  file: string;
  /** YAML path, e.g. `guardrails.network.rules[1].deny[0]`. */
  path: string;
  /** 1-based line, or 0 when unknown. */
  line: number;
}

export type HostPattern =
  /** `example.com` — canonical lower-case ASCII (punycode) name, no trailing dot. */
  | { type: 'exact'; name: string }
  /** `*.example.com` — exactly one more label; `suffix` is `example.com`. */
  | { type: 'one-label'; suffix: string }
  /** `**.example.com` — one or more labels below; `suffix` is `example.com`. */
  | { type: 'any-depth'; suffix: string }
  /**
   * An address or CIDR. `address` is the canonical network address text
   * (host bits must be zero in the source, else a load error); a single
   * address is a /32 or /128.
   */
  | { type: 'cidr'; family: 4 | 6; address: string; prefix: number };

export interface NetworkResource {
  /** The resource exactly as written in the policy (echoed in decisions). */
  text: string;
  host: HostPattern;
  /** null = any port. */
  ports: PortRange | null;
  source: SourceRef;
}

export interface NetworkRule {
  name: string;
  action: NetworkAction;
  resources: NetworkResource[];
  source: SourceRef;
}

export interface MountRule {
  name: string;
  access: MountAccess;
  /** Paths as written: absolute or starting with `~`; may contain `*` / `**` segments. */
  paths: { text: string; source: SourceRef }[];
  source: SourceRef;
}

export interface NetworkSection {
  /** Only meaningful on profiles; guardrails carry no default. */
  default: NetworkAction | null;
  rules: NetworkRule[];
}

export interface MountSection {
  default: MountAccess | null;
  rules: MountRule[];
}

export interface Layer {
  /** Layer mode override; null = inherit the policy mode. */
  mode: Mode | null;
  network: NetworkSection | null;
  mounts: MountSection | null;
}

export interface Profile extends Layer {
  name: string;
  /** Chosen when the session's labels contain all of these pairs. `default` has {}. */
  match: Record<string, string>;
}

export interface Policy {
  version: 1;
  name: string;
  revision: number | null;
  mode: Mode;
  guardrails: Layer | null;
  /** In file order; always contains `default` (synthesised deny-all when the file has no profiles). */
  profiles: Profile[];
  /** The file(s) the policy came from. */
  files: string[];
  /** `sha256:<hex>` over the exact source bytes (concatenated in file order for a directory). */
  digest: string;
}

/** A single validation problem; the loader collects all of them. */
export interface PolicyError {
  file: string;
  path: string;
  line: number;
  message: string;
}

export type LoadResult = { ok: true; policy: Policy } | { ok: false; errors: PolicyError[] };

/** The layer name of the org-wide rules (RuleRef.layer). */
export const GUARDRAILS_LAYER = 'guardrails';
/** The profile used when no other profile matches a session. */
export const DEFAULT_PROFILE = 'default';

/** A `default` profile that denies every network request and mount (a policy without profiles gets it). */
export function denyAllDefaultProfile(): Profile {
  return {
    name: DEFAULT_PROFILE,
    match: {},
    mode: null,
    network: { default: 'deny', rules: [] },
    mounts: { default: 'deny', rules: [] },
  };
}
