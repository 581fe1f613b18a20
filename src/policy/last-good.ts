/**
 * The last-known-good policy on disk (DESIGN §3 "Last known good").
 *
 * Every policy the store accepts is kept in `$STATE_DIR/policy/` with its
 * signature(s), source, ETag and revision, so a restart with the policy
 * server down, or with a broken local file, still enforces the last policy
 * that was valid — and never an older revision than that.
 *
 * Layout:
 *   $STATE_DIR/policy/last-good.json   metadata; replacing it is the commit point
 *   $STATE_DIR/policy/gen-<ms>-<hex>/  the exact policy bytes (+ `.sig` files)
 * A write puts the files in a fresh generation directory (fsync'd), then
 * writes `last-good.json.tmp`, fsyncs it, renames it over `last-good.json`
 * and fsyncs the directory; only then are older generations removed. A crash
 * at any point leaves either the old or the new copy, whole.
 *
 * This module only stores and returns bytes; the store re-verifies and
 * re-validates whatever it reads back (the state directory is not trusted
 * more than the source was).
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicyFileBytes, PolicySourceKind } from './sources/types.js';

export const POLICY_CACHE_DIR = 'policy';
export const LAST_GOOD_FILE = 'last-good.json';
export const LAST_GOOD_FORMAT = 1;
export const CACHE_DIR_MODE = 0o700;
export const CACHE_FILE_MODE = 0o600;
const GENERATION_PREFIX = 'gen-';
const TMP_SUFFIX = '.tmp';
const SIGNATURE_SUFFIX = '.sig';
/** The metadata file is a few hundred bytes; refuse anything absurd. */
const MAX_META_BYTES = 64 * 1024;
/** A plain file name: no separators, NUL or leading dot (so never `.` or `..`). */
const SAFE_NAME = /^(?!\.)[^/\\\0]{1,255}$/;

export interface LastGoodMeta {
  format: typeof LAST_GOOD_FORMAT;
  source: string;
  kind: PolicySourceKind;
  etag: string | null;
  name: string;
  revision: number | null;
  digest: string;
  key_id: string | null;
  key_fingerprint: string | null;
  accepted_at: string;
  generation: string;
  files: { name: string; signed: boolean }[];
}

export interface LastGood {
  meta: LastGoodMeta;
  files: PolicyFileBytes[];
  /** The generation directory (what a directory policy is re-loaded from). */
  dir: string;
}

export type LastGoodRead = { status: 'none' } | { status: 'ok'; lastGood: LastGood } | { status: 'invalid'; error: string };

export interface LastGoodWrite {
  source: string;
  kind: PolicySourceKind;
  etag: string | null;
  name: string;
  revision: number | null;
  digest: string;
  keyId: string | null;
  fingerprint: string | null;
  acceptedAt: string;
  files: PolicyFileBytes[];
}

export class LastGoodCache {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, POLICY_CACHE_DIR);
  }

  get metaPath(): string {
    return join(this.dir, LAST_GOOD_FILE);
  }

  async read(): Promise<LastGoodRead> {
    let text: string;
    try {
      const buf = await readFile(this.metaPath);
      if (buf.length > MAX_META_BYTES) return { status: 'invalid', error: `${this.metaPath}: too large` };
      text = buf.toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'none' };
      return { status: 'invalid', error: `${this.metaPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
    }
    let meta: LastGoodMeta;
    try {
      meta = checkMeta(JSON.parse(text));
    } catch (err) {
      return { status: 'invalid', error: `${this.metaPath}: ${(err as Error).message}` };
    }
    const dir = join(this.dir, meta.generation);
    const files: PolicyFileBytes[] = [];
    try {
      for (const f of meta.files) {
        const bytes = await readFile(join(dir, f.name));
        const signature = f.signed ? await readFile(join(dir, `${f.name}${SIGNATURE_SUFFIX}`), 'utf8') : null;
        files.push({ name: f.name, bytes, signature });
      }
    } catch (err) {
      return { status: 'invalid', error: `${dir}: cached policy files unreadable: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
    }
    return { status: 'ok', lastGood: { meta, files, dir } };
  }

  /** Writes a new generation and commits it by renaming the metadata into place. */
  async write(entry: LastGoodWrite): Promise<LastGoodMeta> {
    await mkdir(this.dir, { recursive: true, mode: CACHE_DIR_MODE });
    const generation = `${GENERATION_PREFIX}${Date.now()}-${randomBytes(4).toString('hex')}`;
    const genDir = join(this.dir, generation);
    await mkdir(genDir, { mode: CACHE_DIR_MODE });
    for (const file of entry.files) {
      if (!SAFE_NAME.test(file.name)) throw new Error(`unsafe policy file name '${file.name}'`);
      await writeDurable(join(genDir, file.name), file.bytes);
      if (file.signature !== null) await writeDurable(join(genDir, `${file.name}${SIGNATURE_SUFFIX}`), Buffer.from(file.signature));
    }
    await syncDir(genDir);
    const meta: LastGoodMeta = {
      format: LAST_GOOD_FORMAT,
      source: entry.source,
      kind: entry.kind,
      etag: entry.etag,
      name: entry.name,
      revision: entry.revision,
      digest: entry.digest,
      key_id: entry.keyId,
      key_fingerprint: entry.fingerprint,
      accepted_at: entry.acceptedAt,
      generation,
      files: entry.files.map((f) => ({ name: f.name, signed: f.signature !== null })),
    };
    const tmp = `${this.metaPath}${TMP_SUFFIX}`;
    await writeDurable(tmp, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
    await rename(tmp, this.metaPath);
    await syncDir(this.dir);
    await this.#removeOtherGenerations(generation);
    return meta;
  }

  async #removeOtherGenerations(keep: string): Promise<void> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of entries) {
      if (name.startsWith(GENERATION_PREFIX) && name !== keep) {
        await rm(join(this.dir, name), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}

async function writeDurable(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, CACHE_FILE_MODE);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}

function checkMeta(value: unknown): LastGoodMeta {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
  const m = value as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof m[k] !== 'string' || m[k] === '') throw new Error(`'${k}' must be a non-empty string`);
    return m[k] as string;
  };
  const strOrNull = (k: string): string | null => (m[k] === null ? null : str(k));
  if (m.format !== LAST_GOOD_FORMAT) throw new Error(`unsupported format ${String(m.format)}`);
  const kind = str('kind');
  if (kind !== 'file' && kind !== 'directory' && kind !== 'url') throw new Error(`unknown kind '${kind}'`);
  const revision = m.revision;
  if (revision !== null && (typeof revision !== 'number' || !Number.isInteger(revision) || revision < 0)) {
    throw new Error("'revision' must be a non-negative integer or null");
  }
  const generation = str('generation');
  if (!generation.startsWith(GENERATION_PREFIX) || !SAFE_NAME.test(generation)) throw new Error(`bad generation '${generation}'`);
  if (!Array.isArray(m.files) || m.files.length === 0) throw new Error("'files' must be a non-empty list");
  const files = m.files.map((f: unknown) => {
    const entry = f as Record<string, unknown> | null;
    if (entry === null || typeof entry.name !== 'string' || !SAFE_NAME.test(entry.name) || typeof entry.signed !== 'boolean') {
      throw new Error("'files' entries must be {name, signed}");
    }
    return { name: entry.name, signed: entry.signed };
  });
  return {
    format: LAST_GOOD_FORMAT,
    source: str('source'),
    kind,
    etag: strOrNull('etag'),
    name: str('name'),
    revision: revision as number | null,
    digest: str('digest'),
    key_id: strOrNull('key_id'),
    key_fingerprint: strOrNull('key_fingerprint'),
    accepted_at: str('accepted_at'),
    generation,
    files,
  };
}
