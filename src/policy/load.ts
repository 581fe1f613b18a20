/**
 * Loads a policy (DESIGN §2, version 1) from text, a file or a directory and
 * returns either the validated Policy or every error found.
 *
 * Why a module of its own: this is the one door through which policy text
 * becomes a Policy. It reads bytes (the digest is over exactly those), decides
 * which file of a directory is the main one, merges profiles across files and
 * refuses conflicts, so that a file that exists but is invalid can never
 * replace a valid policy.
 */

import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, MAIN_FILE_KEYS, parsePolicyFile, POLICY_VERSION, type PolicyFile } from './parse-file.js';
import { denyAllDefaultProfile, type LoadResult, type Policy, type PolicyError, type Profile } from './types.js';

/** <package root>/policies/default.yaml, from src/policy/ under tests and from dist/policy/ when built. */
export const DEFAULT_POLICY_PATH: string = fileURLToPath(new URL('../../policies/default.yaml', import.meta.url));

const POLICY_FILE_RE = /\.ya?ml$/;
const DEFAULT_MODE = 'enforce';
const DIGEST_PREFIX = 'sha256:';

/** Parses one YAML document held in memory; `file` is used in errors and `Policy.files`. */
export function parsePolicyText(text: string, file: string): LoadResult {
  const bytes = Buffer.from(text, 'utf8');
  return assemble([{ file, bytes, parsed: parsePolicyFile(text, file) }], null);
}

/** Loads a policy file, or a directory of `*.yaml` / `*.yml` files (see assemble). */
export async function loadPolicyPath(path: string): Promise<LoadResult> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    return failure(path, `cannot read policy path: ${ioMessage(e)}`);
  }
  if (info.isDirectory()) return loadDirectory(path);
  if (!info.isFile()) return failure(path, 'policy path is neither a file nor a directory');
  const read = await readSource(path);
  if ('error' in read) return failure(path, read.error);
  return assemble([{ file: path, bytes: read.bytes, parsed: parsePolicyFile(read.text, path) }], null);
}

/** "file:line: path: message", one error per line. */
export function formatPolicyErrors(errors: PolicyError[]): string {
  return errors
    .map((e) => {
      const where = e.line > 0 ? `${e.file}:${e.line}` : e.file;
      return e.path === '' ? `${where}: ${e.message}` : `${where}: ${e.path}: ${e.message}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------

interface Source {
  file: string;
  bytes: Uint8Array;
  parsed: PolicyFile;
}

async function loadDirectory(dir: string): Promise<LoadResult> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    return failure(dir, `cannot list policy directory: ${ioMessage(e)}`);
  }
  // Byte order, not locale order: the same on every machine. Dot-files are editor droppings (.#x.yaml).
  const candidates = names.filter((n) => POLICY_FILE_RE.test(n) && !n.startsWith('.')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sources: Source[] = [];
  const errors: PolicyError[] = [];
  for (const name of candidates) {
    const file = join(dir, name);
    let info;
    try {
      info = await stat(file);
    } catch (e) {
      errors.push({ file, path: '', line: 0, message: `cannot read policy file: ${ioMessage(e)}` });
      continue;
    }
    if (!info.isFile()) continue;
    const read = await readSource(file);
    if ('error' in read) {
      errors.push({ file, path: '', line: 0, message: read.error });
      continue;
    }
    sources.push({ file, bytes: read.bytes, parsed: parsePolicyFile(read.text, file) });
  }
  if (sources.length === 0 && errors.length === 0) {
    return failure(dir, 'the policy directory has no *.yaml or *.yml files');
  }
  const result = assemble(sources, dir);
  if (errors.length === 0) return result;
  return { ok: false, errors: [...errors, ...(result.ok ? [] : result.errors)] };
}

async function readSource(file: string): Promise<{ bytes: Uint8Array; text: string } | { error: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return { error: `cannot read policy file: ${ioMessage(e)}` };
  }
  try {
    // Keep a BOM in the text (yaml skips it); the digest is over the bytes either way.
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    return { bytes, text };
  } catch {
    return { error: 'the policy file is not valid UTF-8' };
  }
}

/**
 * Builds the Policy from validated files. `dir` is null for a single file
 * (which must carry version and name); for a directory exactly one file (the
 * main file) carries name/revision/mode/guardrails, the others only
 * `profiles` (and optionally `version: 1`), and a profile is defined once.
 */
function assemble(sources: Source[], dir: string | null): LoadResult {
  const extra: PolicyError[] = [];
  const checked = sources.every((s) => s.parsed.schemaChecked);
  let main: PolicyFile | null = null;

  if (checked) {
    if (dir === null) {
      main = sources[0].parsed;
    } else {
      const mains = sources.map((s) => s.parsed).filter((p) => p.mainKeys.length > 0);
      if (mains.length === 0) {
        extra.push({
          file: dir,
          path: '',
          line: 0,
          message: `no file in the directory defines the policy; exactly one file (the main file) must carry version: ${POLICY_VERSION} and name (and optionally revision, mode, guardrails); the others only add profiles`,
        });
      } else {
        main = mains[0];
        for (const other of mains.slice(1)) {
          const key = other.mainKeys[0];
          extra.push({
            file: other.file,
            path: key.path,
            line: key.line,
            message: `only one file of a policy directory may carry ${MAIN_FILE_KEYS.join(', ')}; ${basename(mains[0].file)} already does (line ${mains[0].mainKeys[0].line}); move '${key.value}' there, or keep only profiles in this file`,
          });
        }
      }
    }
    if (main !== null && main.isMap) {
      if (main.version === null && !main.errors.some((e) => e.path === 'version')) {
        extra.push({ file: main.file, path: 'version', line: main.rootLine, message: `missing version; add version: ${POLICY_VERSION} at the top of the file` });
      }
      if (main.name === null && !main.errors.some((e) => e.path === 'name')) {
        extra.push({ file: main.file, path: 'name', line: main.rootLine, message: 'missing name; add name: <policy name> (it is shown in status and in every event)' });
      }
    }
  }

  const profiles: Profile[] = [];
  if (checked) {
    const definedAt = new Map<string, { file: string; line: number }>();
    let firstProfilesFile: PolicyFile | null = null;
    for (const { parsed } of sources) {
      // A `profiles` key that is not a map was already reported; it adds no profiles.
      if (parsed.profiles === null) continue;
      firstProfilesFile ??= parsed;
      for (const key of parsed.profileKeys) {
        const first = definedAt.get(key.value);
        if (first !== undefined) {
          extra.push({
            file: parsed.file,
            path: key.path,
            line: key.line,
            message: `profile '${key.value}' is already defined in ${first.file}:${first.line}; define each profile in one file only`,
          });
        } else {
          definedAt.set(key.value, { file: parsed.file, line: key.line });
        }
      }
      profiles.push(...parsed.profiles.map((p) => p.value));
    }
    if (firstProfilesFile !== null && !definedAt.has(DEFAULT_PROFILE)) {
      extra.push({
        file: firstProfilesFile.file,
        path: 'profiles',
        line: firstProfilesFile.profilesLine,
        message: `profiles has no '${DEFAULT_PROFILE}' profile; add profiles.${DEFAULT_PROFILE} (used for every session that no other profile matches)`,
      });
    }
  }

  const errors = collectErrors(sources, extra);
  if (errors.length > 0 || main === null || main.name === null || main.version === null) {
    return { ok: false, errors };
  }
  if (profiles.length === 0) profiles.push(denyAllDefaultProfile());
  const policy: Policy = {
    version: POLICY_VERSION,
    name: main.name.value,
    revision: main.revision,
    mode: main.mode ?? DEFAULT_MODE,
    guardrails: main.guardrails,
    profiles,
    files: sources.map((s) => s.file),
    digest: digestOf(sources, dir !== null),
  };
  return { ok: true, policy };
}

/**
 * A single file: sha256 of its bytes (so `sha256sum file` matches). A
 * directory: sha256 over, for each file in name order, its base name, NUL,
 * its length in decimal, NUL, then its bytes — unambiguous framing, so moving
 * text between files or renaming a file changes the digest.
 */
function digestOf(sources: Source[], framed: boolean): string {
  const hash = createHash('sha256');
  for (const source of sources) {
    if (framed) hash.update(`${basename(source.file)}\0${source.bytes.length}\0`);
    hash.update(source.bytes);
  }
  return `${DIGEST_PREFIX}${hash.digest('hex')}`;
}

/** Errors grouped by file in load order, by line within a file (stable). */
function collectErrors(sources: Source[], extra: PolicyError[]): PolicyError[] {
  const order = new Map(sources.map((s, i) => [s.file, i]));
  const all = [...sources.flatMap((s) => s.parsed.errors), ...extra];
  return all
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const fa = order.get(a.e.file) ?? -1;
      const fb = order.get(b.e.file) ?? -1;
      return fa - fb || a.e.line - b.e.line || a.i - b.i;
    })
    .map(({ e }) => e);
}

function failure(file: string, message: string): LoadResult {
  return { ok: false, errors: [{ file, path: '', line: 0, message }] };
}

function ioMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file or directory';
  if (err?.code === 'EACCES') return 'permission denied';
  return err?.message ?? String(e);
}
