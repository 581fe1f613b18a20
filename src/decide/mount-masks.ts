/**
 * Masks for a mount (DESIGN §2 "Mounts"): the paths beneath the requested
 * real path that the sandbox must bind read-only or hide, so that mounting
 * `~/src` rw never exposes `~/src/secrets` that a rule denies.
 *
 * Only rules granting less than the requested access can produce a mask
 * (rules covering the requested path also cover everything beneath it, so a
 * sub-path's effective access can only drop through a rule anchored beneath
 * it). A literal rule path beneath the request is a mask whether or not it
 * exists yet; a glob rule is expanded against the file system as it is now
 * (readdir), within MOUNT_MASK_MAX_DEPTH / MOUNT_MASK_MAX_ENTRIES /
 * MOUNT_MASK_MAX_COUNT. Past a bound, or when a directory cannot be listed,
 * there is no mask list at all: the caller denies the mount rather than
 * half-masking it.
 *
 * Every mask is a real path (no symlink in it). Rules are about real paths,
 * so a symlink is never a mask and never descended into: a runtime that
 * bind-mounts a mask read-only (`--ro-bind P P`) would follow a symlink and
 * bring its target (say `~/.ssh`) into the sandbox.
 */
import type { MountAccess } from '../policy/types.js';
import type { MountMask } from './types.js';
import {
  accessRank,
  closure,
  expandTokens,
  joinAbsolute,
  step,
  type CompiledMountRule,
  type PathToken,
} from '../match/path-rules.js';
import { errorCode, resolveRealPath, type MountDirent, type MountFs } from './mount-path.js';

/** Directory levels beneath the requested path that glob expansion may descend. */
export const MOUNT_MASK_MAX_DEPTH = 32;
/** Masks one mount may carry (after dropping masks made redundant by a parent mask). */
export const MOUNT_MASK_MAX_COUNT = 1024;
/** Directory entries glob expansion may examine for one mount (keeps a decision from walking a whole disk). */
export const MOUNT_MASK_MAX_ENTRIES = 50_000;

export type MaskResult =
  | { ok: true; masks: MountMask[] }
  | { ok: false; reason: 'too-many-masks' | 'unresolvable-path'; error: string };

export interface MaskQuery {
  /** Real path of the request, as segments. */
  path: readonly string[];
  /** Real home, as segments (what `~` means in rules). */
  home: readonly string[];
  requested: 'ro' | 'rw';
  /** Candidate rules of both layers (any access; filtered here). */
  rules: readonly CompiledMountRule[];
  /** Effective access of a real path beneath the request (both layers). */
  accessAt(path: readonly string[]): MountAccess;
}

class MaskBoundError extends Error {
  readonly reason: 'too-many-masks' | 'unresolvable-path';
  constructor(reason: 'too-many-masks' | 'unresolvable-path', message: string) {
    super(message);
    this.reason = reason;
  }
}

interface Live {
  tokens: readonly PathToken[];
  access: MountAccess;
  /** Pattern positions still short of the end. */
  positions: number[];
}

interface Child {
  name: string;
  /** A directory (never a symlink): the walk may descend. */
  descend: boolean;
}

function isBeneath(path: readonly string[], base: readonly string[]): boolean {
  if (path.length <= base.length) return false;
  for (let i = 0; i < base.length; i += 1) if (path[i] !== base[i]) return false;
  return true;
}

function compareSegments(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * Sorts masks parent-first and drops a mask beneath another mask that grants
 * equal or less (the parent already hides or protects it), and duplicates
 * (the lower access stays).
 */
export function normaliseMasks(masks: readonly { segments: readonly string[]; access: MountAccess }[]): MountMask[] {
  const sorted = [...masks].sort((a, b) => compareSegments(a.segments, b.segments) || accessRank(a.access) - accessRank(b.access));
  const kept: { segments: readonly string[]; access: MountAccess }[] = [];
  // Kept ancestors of the current mask; their accesses strictly decrease toward the top.
  const stack: { segments: readonly string[]; access: MountAccess }[] = [];
  for (const m of sorted) {
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (compareSegments(top.segments, m.segments) === 0 || isBeneath(m.segments, top.segments)) break;
      stack.pop();
    }
    const parent = stack[stack.length - 1];
    if (parent !== undefined && accessRank(parent.access) <= accessRank(m.access)) continue;
    kept.push(m);
    stack.push(m);
  }
  return kept.map((m) => ({ path: joinAbsolute(m.segments), access: m.access }));
}

export function computeMasks(q: MaskQuery, fs: MountFs): MaskResult {
  try {
    return { ok: true, masks: collect(q, fs) };
  } catch (err) {
    if (err instanceof MaskBoundError) return { ok: false, reason: err.reason, error: err.message };
    throw err;
  }
}

function collect(q: MaskQuery, fs: MountFs): MountMask[] {
  const requestedRank = accessRank(q.requested);
  const found: { segments: readonly string[]; access: MountAccess }[] = [];
  const literalAt = new Map<string, MountAccess>();
  const lives: Live[] = [];
  const addMask = (segments: readonly string[], access: MountAccess): void => {
    found.push({ segments, access });
    if (found.length > MOUNT_MASK_MAX_COUNT) {
      throw new MaskBoundError('too-many-masks', `more than ${MOUNT_MASK_MAX_COUNT} masks beneath ${joinAbsolute(q.path)}`);
    }
  };

  for (const rule of q.rules) {
    if (accessRank(rule.access) >= requestedRank) continue;
    const tokens = expandTokens(rule, q.home);
    if (rule.wildcards === 0) {
      const segments = tokens.map((t) => (t.kind === 'literal' ? t.name : ''));
      if (!isBeneath(segments, q.path)) continue;
      const key = joinAbsolute(segments);
      // A path through a symlink is not a real path: no rule can be about it
      // (ELOOP says there is one); beneath a regular file nothing can exist.
      const real = resolveRealPath(fs, key);
      if (!real.ok && (real.code === 'ENOTDIR' || real.code === 'ELOOP')) continue;
      if (!real.ok) throw new MaskBoundError('unresolvable-path', real.error);
      if (real.path !== key) continue;
      const access = q.accessAt(segments);
      if (accessRank(access) >= requestedRank) continue;
      const prev = literalAt.get(key);
      if (prev === undefined || accessRank(access) < accessRank(prev)) literalAt.set(key, access);
      addMask(segments, access);
      continue;
    }
    let positions = closure(tokens, [0]);
    for (const seg of q.path) {
      positions = step(tokens, positions, seg);
      if (positions.length === 0) break;
    }
    // A position at the end means the rule covers the requested path itself:
    // that is part of its effective access, not a mask.
    positions = positions.filter((p) => p < tokens.length);
    if (positions.length > 0) lives.push({ tokens, access: rule.access, positions });
  }

  if (lives.length > 0) {
    const walk = new GlobWalk(q, fs, literalAt, addMask);
    let rootIsDir = false;
    try {
      rootIsDir = fs.lstat(joinAbsolute(q.path)).isDirectory();
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new MaskBoundError('unresolvable-path', `cannot examine ${joinAbsolute(q.path)}: ${code}`);
      }
    }
    if (rootIsDir) walk.children(q.path, 0, lives, q.requested);
  }
  const masks = normaliseMasks(found);
  if (masks.length > MOUNT_MASK_MAX_COUNT) {
    throw new MaskBoundError('too-many-masks', `more than ${MOUNT_MASK_MAX_COUNT} masks beneath ${joinAbsolute(q.path)}`);
  }
  return masks;
}

/** Depth-first expansion of the glob rules beneath the requested path. */
class GlobWalk {
  #entries = 0;
  readonly q: MaskQuery;
  readonly fs: MountFs;
  readonly literalAt: ReadonlyMap<string, MountAccess>;
  readonly addMask: (segments: readonly string[], access: MountAccess) => void;

  constructor(
    q: MaskQuery,
    fs: MountFs,
    literalAt: ReadonlyMap<string, MountAccess>,
    addMask: (segments: readonly string[], access: MountAccess) => void,
  ) {
    this.q = q;
    this.fs = fs;
    this.literalAt = literalAt;
    this.addMask = addMask;
  }

  /** Visits a node strictly beneath the request; `ceiling` is the access of the nearest mask above it (or the request). */
  node(segments: readonly string[], depth: number, lives: Live[], ceiling: MountAccess, isDir: boolean): void {
    let limit = ceiling;
    const literal = this.literalAt.get(joinAbsolute(segments));
    if (literal !== undefined && accessRank(literal) < accessRank(limit)) limit = literal;
    if (lives.some((l) => l.positions.includes(l.tokens.length))) {
      const access = this.q.accessAt(segments);
      if (accessRank(access) < accessRank(limit)) {
        this.addMask(segments, access);
        limit = access;
      }
    }
    if (!isDir) return;
    // Beneath a mask only rules granting still less can matter.
    const going: Live[] = [];
    for (const l of lives) {
      if (accessRank(l.access) >= accessRank(limit)) continue;
      const positions = l.positions.filter((p) => p < l.tokens.length);
      if (positions.length > 0) going.push({ ...l, positions });
    }
    if (going.length > 0) this.children(segments, depth, going, limit);
  }

  children(segments: readonly string[], depth: number, lives: Live[], ceiling: MountAccess): void {
    for (const child of this.list(segments, lives)) {
      const next: Live[] = [];
      for (const l of lives) {
        const positions = step(l.tokens, l.positions, child.name);
        if (positions.length > 0) next.push({ ...l, positions });
      }
      if (next.length === 0) continue;
      if (depth + 1 > MOUNT_MASK_MAX_DEPTH) {
        throw new MaskBoundError(
          'too-many-masks',
          `glob rules reach deeper than ${MOUNT_MASK_MAX_DEPTH} levels beneath ${joinAbsolute(this.q.path)}`,
        );
      }
      this.node([...segments, child.name], depth + 1, next, ceiling, child.descend);
    }
  }

  /** The children the live patterns could step into: a directory listing, or lstat of literal names only. */
  list(segments: readonly string[], lives: readonly Live[]): Child[] {
    const dir = joinAbsolute(segments);
    const names = new Set<string>();
    let needListing = false;
    for (const l of lives) {
      for (const p of l.positions) {
        const t = l.tokens[p];
        if (t.kind === 'literal') names.add(t.name);
        else needListing = true;
      }
    }
    if (needListing) {
      let entries: MountDirent[];
      try {
        entries = this.fs.readdir(dir);
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw new MaskBoundError('unresolvable-path', `cannot list ${dir} to expand glob rules: ${code}`);
      }
      this.count(entries.length);
      return entries
        .filter((e) => !e.isSymbolicLink())
        .map((e) => ({ name: e.name, descend: e.isDirectory() }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    const out: Child[] = [];
    for (const name of [...names].sort()) {
      this.count(1);
      try {
        const st = this.fs.lstat(`${dir === '/' ? '' : dir}/${name}`);
        if (!st.isSymbolicLink()) out.push({ name, descend: st.isDirectory() });
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw new MaskBoundError('unresolvable-path', `cannot examine ${dir}/${name} to expand glob rules: ${code}`);
      }
    }
    return out;
  }

  count(n: number): void {
    this.#entries += n;
    if (this.#entries > MOUNT_MASK_MAX_ENTRIES) {
      throw new MaskBoundError(
        'too-many-masks',
        `expanding glob rules beneath ${joinAbsolute(this.q.path)} would examine more than ${MOUNT_MASK_MAX_ENTRIES} entries`,
      );
    }
  }
}
