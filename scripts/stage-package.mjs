#!/usr/bin/env node
// @ts-check
/**
 * Copies a built cordon package (a checkout after `npm ci && npm run build`,
 * or an unpacked release) into a fresh directory with only what the daemon
 * runs: package.json, the lockfile, dist/, policies/, the deployment files
 * and the production dependencies named by the lockfile (dev dependencies are
 * left behind). Used by scripts/install-linux.sh and launchd/install-macos.sh.
 *
 * Why a script of its own: installers must not need npm or the network (MDM
 * runs them offline), and must produce the same tree from the same input so
 * that re-running an install changes nothing. Every file is written with a
 * fixed mode (0644, or 0755 when executable in the source) and the tree's
 * digest is recorded in DEST/.cordon-package-digest and printed, so the
 * installer can tell whether an upgrade changed anything.
 *
 * Usage: node stage-package.mjs SRC DEST     (DEST must not exist)
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIGEST_FILE = '.cordon-package-digest';
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;
const EXEC_MODE = 0o755;
const ANY_EXEC_BITS = 0o111;
/** Top-level files copied when present. */
const TOP_FILES = ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'LICENSE.md', 'NOTICE'];
/** Top-level directories copied when present (dist is required). */
const TOP_DIRS = ['dist', 'policies', 'systemd', 'launchd', 'scripts'];
/** Entry points that must be executable whatever tsc wrote. */
const EXECUTABLES = ['dist/cli/main.js'];
const REQUIRED = ['package.json', 'dist/cli/main.js'];

class StageError extends Error {}

/**
 * Copies a directory tree with fixed modes. `skip(rel)` (rel to `from`) drops
 * a subtree; symlinks are copied as the file or directory they point to.
 * @param {string} from
 * @param {string} to
 * @param {(rel: string) => boolean} skip
 */
function copyTree(from, to, skip) {
  mkdirSync(to, { recursive: true, mode: DIR_MODE });
  chmodSync(to, DIR_MODE);
  for (const name of readdirSync(from).sort()) {
    const src = join(from, name);
    const dst = join(to, name);
    if (skip(relative(from, src))) continue;
    const st = statSync(src); // follows symlinks on purpose
    if (st.isDirectory()) {
      copyTree(src, dst, (rel) => skip(join(name, rel)));
    } else if (st.isFile()) {
      copyFileSync(src, dst);
      chmodSync(dst, st.mode & ANY_EXEC_BITS ? EXEC_MODE : FILE_MODE);
    }
    // sockets, fifos and devices are never part of a package: left out
  }
}

/** @param {string} dir */
function fixDirModes(dir) {
  chmodSync(dir, DIR_MODE);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) fixDirModes(join(dir, entry.name));
  }
}

/**
 * Relative paths (`node_modules/a`, `node_modules/a/node_modules/b`) of the
 * installed production dependencies, from lockfile v2/v3 `packages`.
 * @param {string} src
 * @returns {string[]}
 */
function productionPackages(src) {
  const lockPath = [join(src, 'package-lock.json'), join(src, 'node_modules', '.package-lock.json')].find((p) => existsSync(p));
  if (lockPath === undefined) throw new StageError(`${src} has no package-lock.json: cannot tell production dependencies from dev ones`);
  /** @type {{ lockfileVersion?: number, packages?: Record<string, { dev?: boolean, optional?: boolean, link?: boolean }> }} */
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  if (lock.packages === undefined) throw new StageError(`${lockPath}: lockfileVersion ${lock.lockfileVersion ?? '?'} has no "packages" map; regenerate it with npm 7 or later`);
  const out = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || entry.dev === true) continue;
    if (entry.link === true) throw new StageError(`${key} is a linked package (npm link / workspace); install from a release build`);
    if (!existsSync(join(src, key))) {
      if (entry.optional === true) continue; // optional and not installed on this platform
      throw new StageError(`production dependency ${key} is missing from ${src}: run npm ci`);
    }
    out.push(key);
  }
  return out.sort();
}

/**
 * sha256 over every file's relative path, mode and content, in path order.
 * @param {string} root
 * @returns {string}
 */
export function treeDigest(root) {
  const hash = createHash('sha256');
  /** @param {string} dir */
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (rel === DIGEST_FILE) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        hash.update(`d ${rel}\n`);
        walk(p);
      } else {
        const content = createHash('sha256').update(readFileSync(p)).digest('hex');
        hash.update(`f ${rel} ${(st.mode & 0o7777).toString(8)} ${content}\n`);
      }
    }
  };
  walk(root);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * @param {string} srcArg
 * @param {string} destArg
 * @returns {string} the digest of the staged tree
 */
export function stagePackage(srcArg, destArg) {
  const src = realpathSync(srcArg);
  const dest = resolve(destArg);
  for (const rel of REQUIRED) {
    if (!existsSync(join(src, rel))) {
      throw new StageError(`${join(src, rel)} is missing${rel.startsWith('dist') ? ': build first (npm ci && npm run build)' : ''}`);
    }
  }
  if (existsSync(dest)) throw new StageError(`${dest} already exists`);
  if ((dest + sep).startsWith(src + sep)) throw new StageError(`${dest} is inside the source ${src}`);
  const deps = productionPackages(src);

  mkdirSync(dest, { recursive: true, mode: DIR_MODE });
  chmodSync(dest, DIR_MODE);
  for (const name of TOP_FILES) {
    const p = join(src, name);
    if (existsSync(p) && statSync(p).isFile()) {
      copyFileSync(p, join(dest, name));
      chmodSync(join(dest, name), FILE_MODE);
    }
  }
  for (const name of TOP_DIRS) {
    const p = join(src, name);
    if (existsSync(p) && statSync(p).isDirectory()) copyTree(p, join(dest, name), () => false);
  }
  for (const key of deps) {
    // a package's own node_modules holds its nested deps, which are listed
    // (and filtered) separately; .bin holds links to CLIs the daemon never runs
    copyTree(join(src, key), join(dest, key), (rel) => rel === 'node_modules' || rel === '.bin');
  }
  fixDirModes(dest); // directories made on the way (node_modules, @scope) got the umask's mode
  for (const rel of EXECUTABLES) chmodSync(join(dest, rel), EXEC_MODE);

  const digest = treeDigest(dest);
  writeFileSync(join(dest, DIGEST_FILE), `${digest}\n`, { mode: FILE_MODE });
  return digest;
}

const invokedAs = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invokedAs === realpathSync(fileURLToPath(import.meta.url))) {
  const [srcArg, destArg] = process.argv.slice(2);
  if (srcArg === undefined || destArg === undefined || process.argv.length !== 4) {
    process.stderr.write('usage: node stage-package.mjs SRC DEST\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${stagePackage(srcArg, destArg)}\n`);
  } catch (err) {
    process.stderr.write(`stage-package: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
