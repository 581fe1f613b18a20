/**
 * Masks for paths that do not exist yet. The daemon returns a literal rule
 * path beneath a mount as a mask whether or not it exists (`deny:
 * [~/src/app/.envrc]`). bubblewrap can only mount over something, and
 * skipping the mask would let a sandboxed agent create the denied file in a
 * writable mount — for example an `.envrc` or a git hook that the host then
 * runs. So, for each missing mask inside a writable mount, cordon exec
 * creates an empty placeholder file (and any missing parent directories),
 * hides it behind /dev/null for the sandbox's lifetime, and removes what it
 * created afterwards if it is still empty.
 *
 * In a read-only mount nothing can be created, so a missing mask needs no
 * placeholder.
 */
import { closeSync, lstatSync, mkdirSync, openSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

export const PLACEHOLDER_FILE_MODE = 0o400;
export const PLACEHOLDER_DIR_MODE = 0o700;

export class PlaceholderError extends Error {
  override name = 'PlaceholderError';
}

export interface Placeholders {
  /** What was created, in creation order (directories, then the file). */
  created: { path: string; kind: 'dir' | 'file' }[];
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** True when `p` is `root` or beneath it. */
export function isWithin(p: string, root: string): boolean {
  if (root === '/') return p.startsWith('/');
  return p === root || p.startsWith(`${root}/`);
}

/**
 * Creates an empty file at `path` and its missing parents, all inside
 * `mountRoot`; refuses when an existing ancestor is not a plain directory
 * (a symlink could point the creation outside the mount).
 */
export function createPlaceholder(path: string, mountRoot: string, into: Placeholders): void {
  const missing: string[] = [];
  let cur = path;
  for (;;) {
    let st: Stats | null;
    try {
      st = lstatOrNull(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new PlaceholderError(`cannot mask ${path}: a part of ${cur} is not a directory`);
      throw err;
    }
    if (st !== null) {
      if (!st.isDirectory() || st.isSymbolicLink()) throw new PlaceholderError(`cannot mask ${path}: ${cur} is not a directory`);
      break;
    }
    missing.unshift(cur);
    const parent = dirname(cur);
    if (parent === cur || !isWithin(parent, mountRoot)) throw new PlaceholderError(`cannot mask ${path}: it is not inside the mount ${mountRoot}`);
    cur = parent;
  }
  const dirs = missing.slice(0, -1);
  for (const d of dirs) {
    mkdirSync(d, { mode: PLACEHOLDER_DIR_MODE });
    into.created.push({ path: d, kind: 'dir' });
  }
  closeSync(openSync(path, 'wx', PLACEHOLDER_FILE_MODE));
  into.created.push({ path, kind: 'file' });
}

/** Removes what was created, newest first, leaving anything that is no longer an empty placeholder. */
export function removePlaceholders(ph: Placeholders): void {
  for (const item of [...ph.created].reverse()) {
    try {
      const st = lstatSync(item.path);
      if (item.kind === 'file' && st.isFile() && st.size === 0) unlinkSync(item.path);
      else if (item.kind === 'dir' && st.isDirectory()) rmdirSync(item.path);
    } catch {
      // gone already, or no longer empty: leave it
    }
  }
  ph.created = [];
}
