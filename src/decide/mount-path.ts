/**
 * Real-path resolution for mount requests (DESIGN §2 "Mounts").
 *
 * A mount is decided on the path the kernel would reach, never on the text
 * that was asked for: `~/src/link` that points at `~/.ssh` is decided as
 * `~/.ssh`. Paths that do not exist yet (a directory the sandbox will
 * create) are resolved as far as they exist and the rest is appended, with a
 * dangling symlink followed to where it points rather than taken as a name.
 * The file system is injectable (MountFs) so the bounds can be tested.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';

/** Symlinks followed while resolving a path that does not exist, like the kernel's ELOOP limit. */
export const MAX_SYMLINK_FOLLOWS = 40;

export interface MountStat {
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface MountDirent extends MountStat {
  name: string;
}

/**
 * The file-system calls a mount decision makes; all synchronous, all throw
 * errors with a `code` (ENOENT, EACCES, ...) like node:fs.
 */
export interface MountFs {
  realpath(path: string): string;
  /** Does not follow a final symlink. */
  lstat(path: string): MountStat;
  readlink(path: string): string;
  /** Entries with their own type (a symlink is a symlink, not its target). */
  readdir(path: string): MountDirent[];
}

export const NODE_MOUNT_FS: MountFs = {
  realpath: (p) => realpathSync.native(p),
  lstat: (p) => lstatSync(p),
  readlink: (p) => readlinkSync(p),
  readdir: (p) => readdirSync(p, { withFileTypes: true }),
};

/** `code` is the errno name (EACCES, ELOOP, ENOTDIR, ...) or a short word for the walk's own refusals. */
export type RealPathResult = { ok: true; path: string } | { ok: false; code: string; error: string };

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

function fail(path: string, code: string, why = code): RealPathResult {
  return { ok: false, code, error: `cannot resolve ${path}: ${why}` };
}

/**
 * Resolves an absolute, normalised path through symlinks. An existing path
 * goes through realpath(3). On ENOENT the path is walked one segment at a
 * time from `/`: symlinks (dangling ones included) are followed, and from the
 * first segment that does not exist the rest is appended as written. Any
 * other failure (EACCES, ELOOP, ENOTDIR, ENAMETOOLONG, or `..` beneath a
 * missing directory) makes the path unresolvable.
 */
export function resolveRealPath(fs: MountFs, abs: string): RealPathResult {
  try {
    return { ok: true, path: fs.realpath(abs) };
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') return fail(abs, errorCode(err));
  }
  let pending = abs.split('/').filter((s) => s.length > 0);
  let current = '/';
  let follows = 0;
  while (pending.length > 0) {
    const seg = pending.shift()!;
    if (seg === '.') continue;
    if (seg === '..') {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, seg);
    let stat: MountStat;
    try {
      stat = fs.lstat(next);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') return fail(abs, errorCode(err));
      // Nothing exists beneath a missing entry, so nothing below can be a link;
      // but `missing/..` has no meaning the kernel would give it.
      if (pending.includes('..')) return fail(abs, 'ENOENT', "'..' beneath a directory that does not exist");
      return { ok: true, path: posix.join(next, ...pending.filter((s) => s !== '.')) };
    }
    if (stat.isSymbolicLink()) {
      follows += 1;
      if (follows > MAX_SYMLINK_FOLLOWS) return fail(abs, 'ELOOP');
      let target: string;
      try {
        target = fs.readlink(next);
      } catch (err) {
        return fail(abs, errorCode(err));
      }
      if (target.includes('\0')) return fail(abs, 'EINVAL', 'symlink target contains NUL');
      if (target.startsWith('/')) current = '/';
      pending = [...target.split('/').filter((s) => s.length > 0), ...pending];
      continue;
    }
    if (!stat.isDirectory() && pending.length > 0) return fail(abs, 'ENOTDIR');
    current = next;
  }
  return { ok: true, path: current };
}
