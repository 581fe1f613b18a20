/**
 * Mount decisions (DESIGN §2 "Mounts", "Modes", "The decision object").
 *
 * A sandbox runtime asks whether it may bind a host path into a sandbox,
 * read-only or read-write. The answer is made on the real path (after `~`
 * expansion, normalisation and symlink resolution), which is returned and is
 * what the runtime must mount; when allowed it carries the masks the runtime
 * must apply beneath it. Synchronous; the file system is injectable. Any
 * exception becomes a deny ('internal-error'): a mount is never allowed
 * because something went wrong.
 */
import { posix } from 'node:path';
import type { Mode, Policy } from '../policy/types.js';
import type { MountDecision, Reason } from './types.js';
import {
  DEFAULT_PROFILE,
  accessAtLeast,
  accessRank,
  bestRule,
  effectiveAccess,
  emptyProfileLayer,
  selectProfileName,
  splitAbsolute,
  type CompiledMountLayer,
  type CompiledMounts,
  type EffectiveAccess,
} from '../match/path-rules.js';
import { NODE_MOUNT_FS, resolveRealPath, type MountFs } from './mount-path.js';
import { computeMasks } from './mount-masks.js';

export { MOUNT_MASK_MAX_COUNT, MOUNT_MASK_MAX_DEPTH, MOUNT_MASK_MAX_ENTRIES } from './mount-masks.js';
export { NODE_MOUNT_FS, type MountFs, type MountDirent, type MountStat } from './mount-path.js';

export interface MountRequest {
  /** Absolute, `~` or `~/…`. */
  path: string;
  access: 'ro' | 'rw';
  /** Session labels; select the profile. */
  labels: Record<string, string>;
  /** Absolute home of the session's user: what `~` means, in the request and in rules. */
  home: string;
  /** The daemon's --mode: replaces every layer's mode. */
  modeOverride?: Mode | null;
}

/** What a mount decision reads of a CompiledPolicy (policy/compile.ts). */
export interface MountPolicyView {
  policy: Policy;
  mounts: CompiledMounts;
  /** Set on the fail-closed deny-all policy: every mount is denied 'no-policy' with this text. */
  failClosed?: string | null;
}

type FixedReason = Extract<Reason, 'invalid-target' | 'unresolvable-path' | 'too-many-masks' | 'internal-error' | 'no-policy'>;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Denies that no mode softens: the request could not be decided as asked. */
function fixedDeny(
  cp: MountPolicyView,
  req: MountRequest,
  profile: string,
  reason: FixedReason,
  path: string,
  error: string,
  effective: MountDecision['effective'] = 'deny',
): MountDecision {
  const guardrailsMode = cp?.mounts?.guardrails?.mode ?? cp?.policy?.mode ?? 'enforce';
  return {
    decision: 'deny',
    enforced: true,
    mode: req?.modeOverride ?? guardrailsMode,
    reason,
    profile,
    rule: null,
    path: typeof path === 'string' ? path : '',
    access: req?.access === 'ro' ? 'ro' : 'rw',
    effective,
    masks: [],
    error,
  };
}

/**
 * Checks and expands the requested path. `.`/`..` are left for the resolver,
 * which applies them after symlinks the way the kernel does, so the decision
 * is also right for a runtime that mounts the text it asked about.
 */
function expandRequestPath(path: unknown, home: string): { ok: true; path: string } | { ok: false; error: string } {
  if (typeof path !== 'string' || path.length === 0) return { ok: false, error: 'the path is empty' };
  if (path.includes('\0')) return { ok: false, error: 'the path contains a NUL byte' };
  if (path === '~' || path.startsWith('~/')) return { ok: true, path: home + path.slice(1) };
  if (path.startsWith('~')) return { ok: false, error: 'only ~ and ~/ are expanded (~user is not supported)' };
  if (path.startsWith('/')) return { ok: true, path };
  return { ok: false, error: 'the path is relative (give an absolute path or one starting with ~/)' };
}

function layerMode(layer: CompiledMountLayer, req: MountRequest): Mode {
  return req.modeOverride ?? layer.mode;
}

function ruleDecision(req: MountRequest, profile: string, path: string, eff: EffectiveAccess, allowed: boolean): MountDecision {
  const mode = layerMode(eff.layer, req);
  return {
    decision: allowed ? 'allow' : 'deny',
    enforced: allowed || mode === 'enforce',
    mode,
    reason: eff.rule === null ? 'default' : 'rule',
    profile,
    rule: eff.rule === null ? null : { layer: eff.rule.layer, name: eff.rule.name, resource: eff.rule.text },
    path,
    access: req.access,
    effective: eff.access,
    masks: [],
  };
}

/**
 * Which layer's verdict a denied request reports (and so its mode): every
 * layer whose own answer is below the request denies it; an enforcing one is
 * reported before an audit one (so an audit layer never softens another
 * layer's enforced deny), then the lower access, then the guardrails.
 */
function denier(
  guardrails: CompiledMountLayer,
  profile: CompiledMountLayer,
  home: readonly string[],
  path: readonly string[],
  req: MountRequest,
): EffectiveAccess {
  const g = bestRule(guardrails, home, path);
  const p = bestRule(profile, home, path);
  const denies: EffectiveAccess[] = [];
  if (g !== null && !accessAtLeast(g.access, req.access)) denies.push({ access: g.access, rule: g, layer: guardrails });
  if (p !== null && !accessAtLeast(p.access, req.access)) denies.push({ access: p.access, rule: p, layer: profile });
  if (g === null && p === null) denies.push({ access: profile.default ?? 'deny', rule: null, layer: profile });
  const score = (d: EffectiveAccess): number => (layerMode(d.layer, req) === 'enforce' ? 0 : 10) + accessRank(d.access);
  return denies.reduce((best, d) => (score(d) < score(best) ? d : best));
}

function decide(cp: MountPolicyView, req: MountRequest, fs: MountFs, profile: string): MountDecision {
  if (typeof cp.failClosed === 'string') return fixedDeny(cp, req, profile, 'no-policy', req.path, cp.failClosed);
  if (req.access !== 'ro' && req.access !== 'rw') {
    return fixedDeny(cp, req, profile, 'invalid-target', req.path, 'access must be "ro" or "rw"');
  }
  if (typeof req.home !== 'string' || !req.home.startsWith('/') || req.home.includes('\0')) {
    return fixedDeny(cp, req, profile, 'invalid-target', req.path, 'the home directory is not an absolute path');
  }
  const expanded = expandRequestPath(req.path, req.home);
  if (!expanded.ok) return fixedDeny(cp, req, profile, 'invalid-target', req.path, expanded.error);
  const real = resolveRealPath(fs, expanded.path);
  if (!real.ok) return fixedDeny(cp, req, profile, 'unresolvable-path', posix.normalize(expanded.path), real.error);

  // `~` in rules means the real home, so a symlinked home still matches real paths.
  const lexicalHome = posix.resolve(req.home);
  const realHome = resolveRealPath(fs, lexicalHome);
  const home = splitAbsolute(realHome.ok ? realHome.path : lexicalHome);
  const path = splitAbsolute(real.path);

  const guardrails = cp.mounts.guardrails;
  const profileLayer = cp.mounts.profiles.get(profile) ?? emptyProfileLayer(profile, cp.policy.mode);
  const eff = effectiveAccess(guardrails, profileLayer, home, path);
  if (!accessAtLeast(eff.access, req.access)) {
    return { ...ruleDecision(req, profile, real.path, denier(guardrails, profileLayer, home, path, req), false), effective: eff.access };
  }

  const masks = computeMasks(
    {
      path,
      home,
      requested: req.access,
      rules: [...guardrails.rules, ...profileLayer.rules],
      accessAt: (sub) => effectiveAccess(guardrails, profileLayer, home, sub).access,
    },
    fs,
  );
  if (!masks.ok) return fixedDeny(cp, req, profile, masks.reason, real.path, masks.error, eff.access);
  return { ...ruleDecision(req, profile, real.path, eff, true), masks: masks.masks };
}

/**
 * Decides one mount request. Rejected outright (enforced in every mode):
 * everything under the fail-closed policy ('no-policy'); an empty or relative path, NUL, `~user`, an access other than ro/rw
 * ('invalid-target'); a path that cannot be resolved safely
 * ('unresolvable-path'); a mount whose masks cannot be listed completely
 * ('too-many-masks'). Otherwise allowed when the effective access of the
 * real path is at least the requested one; a deny takes the mode of the
 * layer that produced it.
 */
export function decideMount(cp: MountPolicyView, req: MountRequest, fs: MountFs = NODE_MOUNT_FS): MountDecision {
  let profile = DEFAULT_PROFILE;
  try {
    profile = selectProfileName(cp.policy, req.labels);
    return decide(cp, req, fs, profile);
  } catch (err) {
    try {
      return fixedDeny(cp, req, profile, 'internal-error', req?.path, describe(err));
    } catch {
      return fixedDeny({} as MountPolicyView, {} as MountRequest, profile, 'internal-error', '', describe(err));
    }
  }
}
