/**
 * Mount rules compiled for matching (DESIGN §2 "Mount resources", "Mounts").
 *
 * The loader hands over mount rules as text; a mount decision needs them as
 * token lists with their specificity precomputed, grouped per layer, so that
 * a request costs one pass over the (few) rules of two layers. `~` is not
 * expanded here because the home is per request: a pattern is stored as
 * "home-relative or absolute" plus tokens, and expansion is a prefix check
 * against the home's segments.
 *
 * Pattern semantics: `*` is exactly one whole segment, `**` any number of
 * segments (zero included), anything else is compared literally and
 * case-sensitively. A rule covers its path and everything beneath it,
 * segment-wise (`~/src` covers `~/src/a`, not `~/src2`).
 */
import type { Mode, MountAccess, MountSection, Policy } from '../policy/types.js';

export { DEFAULT_PROFILE, GUARDRAILS_LAYER } from '../policy/types.js';
import { DEFAULT_PROFILE, GUARDRAILS_LAYER } from '../policy/types.js';
export const PROFILE_LAYER_PREFIX = 'profile:';

export type PathToken = { kind: 'literal'; name: string } | { kind: 'star' } | { kind: 'globstar' };

export interface CompiledMountRule {
  /** `guardrails` or `profile:<name>` (RuleRef.layer). */
  readonly layer: string;
  readonly name: string;
  readonly access: MountAccess;
  /** The path exactly as written in the policy (RuleRef.resource). */
  readonly text: string;
  /** true: the tokens are relative to the request's home (`~`, `~/…`). */
  readonly home: boolean;
  readonly tokens: readonly PathToken[];
  /** Literal tokens, not counting the home's segments (added per request). */
  readonly literals: number;
  /** `*` and `**` tokens. */
  readonly wildcards: number;
  /** Position of the path in its layer (rule order, then path order). */
  readonly order: number;
}

export interface CompiledMountLayer {
  readonly layer: string;
  /** layer.mode ?? policy.mode. */
  readonly mode: Mode;
  /** Only profiles carry a default; null = deny. */
  readonly default: MountAccess | null;
  readonly rules: readonly CompiledMountRule[];
}

export interface CompiledMounts {
  readonly guardrails: CompiledMountLayer;
  /** Keyed by profile name. */
  readonly profiles: ReadonlyMap<string, CompiledMountLayer>;
}

const ACCESS_RANK: Readonly<Record<MountAccess, number>> = { deny: 0, ro: 1, rw: 2 };

export function accessRank(a: MountAccess): number {
  return ACCESS_RANK[a];
}

/** true when `have` grants at least `want` (deny < ro < rw). */
export function accessAtLeast(have: MountAccess, want: MountAccess): boolean {
  return ACCESS_RANK[have] >= ACCESS_RANK[want];
}

/**
 * Profile selection (the same rule as selectProfile in decide/network.ts,
 * which works on a CompiledPolicy): among profiles other than `default`
 * whose `match` pairs are all in `labels`, the one with the most pairs; at a
 * tie the first in file order; otherwise `default`.
 */
export function selectProfileName(policy: Policy, labels: Readonly<Record<string, string>> | null | undefined): string {
  const have = labels !== null && typeof labels === 'object' ? labels : {};
  let best: string | null = null;
  let bestKeys = -1;
  for (const profile of policy.profiles) {
    if (profile.name === DEFAULT_PROFILE) continue;
    const keys = Object.keys(profile.match);
    if (keys.length <= bestKeys) continue;
    const fits = keys.every((k) => Object.prototype.hasOwnProperty.call(have, k) && have[k] === profile.match[k]);
    if (fits) {
      best = profile.name;
      bestKeys = keys.length;
    }
  }
  return best ?? DEFAULT_PROFILE;
}

/** Splits an absolute, normalised path into segments (`/` → []). */
export function splitAbsolute(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

export function joinAbsolute(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/**
 * Parses one rule path into tokens. The loader has validated the text; this
 * throws (so compiling fails closed) on anything it cannot interpret rather
 * than guessing: relative paths, `~user`, NUL, partial wildcards (`a*`), a
 * `..` that would climb above `~` or remove a wildcard.
 */
export function parseRulePath(text: string): { home: boolean; tokens: PathToken[] } {
  if (text.includes('\0')) throw new Error(`mount path ${JSON.stringify(text)} contains NUL`);
  let home: boolean;
  let rest: string;
  if (text === '~' || text.startsWith('~/')) {
    home = true;
    rest = text.slice(1);
  } else if (text.startsWith('/')) {
    home = false;
    rest = text;
  } else {
    throw new Error(`mount path ${JSON.stringify(text)} must be absolute or start with ~/`);
  }
  const tokens: PathToken[] = [];
  for (const seg of rest.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      const last = tokens.pop();
      if (last === undefined) {
        if (home) throw new Error(`mount path ${JSON.stringify(text)} climbs above ~`);
        continue; // `/..` is `/`
      }
      if (last.kind !== 'literal') throw new Error(`mount path ${JSON.stringify(text)} has '..' after a wildcard`);
      continue;
    }
    if (seg === '*') tokens.push({ kind: 'star' });
    else if (seg === '**') tokens.push({ kind: 'globstar' });
    else if (seg.includes('*')) throw new Error(`mount path ${JSON.stringify(text)}: '*' and '**' must be a whole segment`);
    else tokens.push({ kind: 'literal', name: seg });
  }
  return { home, tokens };
}

function compileLayer(layer: string, mode: Mode, section: MountSection | null): CompiledMountLayer {
  const rules: CompiledMountRule[] = [];
  for (const rule of section?.rules ?? []) {
    for (const p of rule.paths) {
      let parsed: { home: boolean; tokens: PathToken[] };
      try {
        parsed = parseRulePath(p.text);
      } catch (err) {
        const where = `${p.source.file}:${p.source.line}: ${p.source.path}`;
        throw new Error(`${where}: ${(err as Error).message}`);
      }
      const literals = parsed.tokens.filter((t) => t.kind === 'literal').length;
      rules.push({
        layer,
        name: rule.name,
        access: rule.access,
        text: p.text,
        home: parsed.home,
        tokens: parsed.tokens,
        literals,
        wildcards: parsed.tokens.length - literals,
        order: rules.length,
      });
    }
  }
  return { layer, mode, default: section?.default ?? null, rules };
}

/** Compiles the mount rules of the guardrails and of every profile, once per policy. */
export function compileMounts(policy: Policy): CompiledMounts {
  const g = policy.guardrails;
  // Guardrails carry no default: only the profile's default applies.
  const guardrails = compileLayer(GUARDRAILS_LAYER, g?.mode ?? policy.mode, g?.mounts ? { default: null, rules: g.mounts.rules } : null);
  const profiles = new Map<string, CompiledMountLayer>();
  for (const profile of policy.profiles) {
    profiles.set(profile.name, compileLayer(PROFILE_LAYER_PREFIX + profile.name, profile.mode ?? policy.mode, profile.mounts));
  }
  return { guardrails, profiles };
}

/** A profile layer with no mount rules and no default (deny), for a profile name the policy lacks. */
export function emptyProfileLayer(name: string, mode: Mode): CompiledMountLayer {
  return { layer: PROFILE_LAYER_PREFIX + name, mode, default: null, rules: [] };
}

// --- pattern automaton -------------------------------------------------------
// A pattern position set is the NFA state after consuming some segments; a
// `**` at position i lets the state move to i+1 without consuming (closure).

export function closure(tokens: readonly PathToken[], positions: readonly number[]): number[] {
  const out: number[] = [];
  for (let p of positions) {
    while (!out.includes(p)) {
      out.push(p);
      if (p < tokens.length && tokens[p].kind === 'globstar') p += 1;
      else break;
    }
  }
  return out;
}

/** The position set after consuming one segment `name`. */
export function step(tokens: readonly PathToken[], positions: readonly number[], name: string): number[] {
  const next: number[] = [];
  for (const p of positions) {
    if (p >= tokens.length) continue;
    const t = tokens[p];
    if (t.kind === 'globstar') next.push(p);
    else if (t.kind === 'star' || t.name === name) next.push(p + 1);
  }
  return closure(tokens, next);
}

/**
 * Does the pattern match `path[offset..k]` for some k (pattern fully consumed
 * at or before the end of the path)? That is "the rule covers the path".
 */
export function coversFrom(tokens: readonly PathToken[], path: readonly string[], offset: number): boolean {
  let positions = closure(tokens, [0]);
  for (let i = offset; i < path.length; i += 1) {
    if (positions.includes(tokens.length)) return true;
    positions = step(tokens, positions, path[i]);
    if (positions.length === 0) return false;
  }
  return positions.includes(tokens.length);
}

function startsWithSegments(path: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i += 1) if (path[i] !== prefix[i]) return false;
  return true;
}

/** Does `rule` cover the real path `path` (segments), with `~` = `home` (segments)? */
export function ruleCovers(rule: CompiledMountRule, home: readonly string[], path: readonly string[]): boolean {
  if (!rule.home) return coversFrom(rule.tokens, path, 0);
  return startsWithSegments(path, home) && coversFrom(rule.tokens, path, home.length);
}

/** The rule's tokens with `~` replaced by the home's segments (as literals). */
export function expandTokens(rule: CompiledMountRule, home: readonly string[]): PathToken[] {
  if (!rule.home) return [...rule.tokens];
  return [...home.map((name): PathToken => ({ kind: 'literal', name })), ...rule.tokens];
}

/**
 * Ordering of two matching rules of one layer: negative when `a` wins.
 * Specificity is the number of literal segments (home segments included,
 * so `/home/u/src/a` beats `~/src`); at equal specificity the lower access
 * wins (deny < ro < rw, DESIGN §2 "at equal specificity, deny wins"). Fewer
 * wildcards and then policy order only choose which of two rules granting
 * the same access is reported.
 *
 * Wildcards deliberately do not rank before access: at equal literals the
 * rule with more wildcards is the deeper one (`~/src/*` vs `~/src`,
 * `~/src/**` + `/.env` vs `~/src/app`), and letting the shallower rule win
 * would let a workspace rw silently override a `.env` deny.
 */
function compareSpecificity(a: CompiledMountRule, b: CompiledMountRule, homeLength: number): number {
  const la = a.literals + (a.home ? homeLength : 0);
  const lb = b.literals + (b.home ? homeLength : 0);
  return lb - la || ACCESS_RANK[a.access] - ACCESS_RANK[b.access] || a.wildcards - b.wildcards || a.order - b.order;
}

/** The most specific rule of `layer` covering `path`, or null. */
export function bestRule(layer: CompiledMountLayer, home: readonly string[], path: readonly string[]): CompiledMountRule | null {
  let best: CompiledMountRule | null = null;
  for (const rule of layer.rules) {
    if (best !== null && compareSpecificity(rule, best, home.length) >= 0) continue;
    if (ruleCovers(rule, home, path)) best = rule;
  }
  return best;
}

export interface EffectiveAccess {
  access: MountAccess;
  /** The rule that set the access, or null when the profile default applied. */
  rule: CompiledMountRule | null;
  /** The layer of that rule (the profile layer for the default). */
  layer: CompiledMountLayer;
}

/**
 * Effective access of a real path: each layer alone picks its most specific
 * rule; across layers the lower access wins (guardrails at a tie); with no
 * rule in either, the profile default (absent = deny).
 */
export function effectiveAccess(
  guardrails: CompiledMountLayer,
  profile: CompiledMountLayer,
  home: readonly string[],
  path: readonly string[],
): EffectiveAccess {
  const g = bestRule(guardrails, home, path);
  const p = bestRule(profile, home, path);
  if (g === null && p === null) return { access: profile.default ?? 'deny', rule: null, layer: profile };
  if (g !== null && (p === null || ACCESS_RANK[g.access] <= ACCESS_RANK[p.access])) return { access: g.access, rule: g, layer: guardrails };
  return { access: p!.access, rule: p, layer: profile };
}
