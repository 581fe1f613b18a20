/**
 * Local policy source (DESIGN §3 "Local"): a policy file, or a directory whose
 * `*.yaml` files form one policy, watched with chokidar so that a file dropped
 * by MDM is picked up within a second.
 *
 * Watching: a file is watched through its parent directory (depth 0), because
 * the usual way to replace a file safely — write a temporary file and rename
 * it into place — replaces the inode, which a watch on the file itself would
 * lose. Events for the policy file, its `.sig`, and Kubernetes-style
 * `..data` symlink swaps are debounced (DEBOUNCE_MS) into one check, so an
 * editor's save or an atomic rename produces one reload, not several. As a
 * safety net for file systems that do not deliver events (NFS, some container
 * mounts), the source is also re-read every poll interval; an unchanged
 * policy costs a read and a hash, nothing else.
 *
 * Directories: the same files the loader reads (`*.yaml` and `*.yml`, not
 * dot-files, regular files, in byte order of their names — see
 * loadPolicyPath in ../load.ts).
 * Signatures: each `X.yaml` carries its own `X.yaml.sig` (a directory is
 * accepted only when every one of its policy files verifies).
 */
import { constants as fsConstants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { CheckTrigger, FetchOptions, FetchOutcome, PolicyFileBytes, PolicySource } from './types.js';
import { jittered, MAX_POLICY_BYTES, MAX_SIGNATURE_BYTES } from './url-source.js';

export const DEBOUNCE_MS = 200;
export const DEFAULT_SAFETY_POLL_MS = 300_000;
/** Policy files of a directory, as the loader selects them. */
export const POLICY_FILE_PATTERN = /\.ya?ml$/;
export const SIGNATURE_SUFFIX = '.sig';
/** Kubernetes ConfigMap/Secret volumes swap a `..data` symlink atomically. */
const KUBERNETES_DATA_PREFIX = '..';
/** A directory of more policy files than this is refused (they are read on every check). */
export const MAX_POLICY_FILES = 256;

export interface FileSourceOptions {
  debounceMs?: number;
  /** Re-read this often even without file events; 0 disables. */
  safetyPollMs?: number;
  maxBytes?: number;
  random?: () => number;
}

export class FilePolicySource implements PolicySource {
  readonly kind = 'path' as const;
  readonly source: string;
  readonly #debounceMs: number;
  readonly #safetyPollMs: number;
  readonly #maxBytes: number;
  readonly #random: () => number;
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(path: string, options: FileSourceOptions = {}) {
    this.source = resolve(path);
    this.#debounceMs = options.debounceMs ?? DEBOUNCE_MS;
    this.#safetyPollMs = options.safetyPollMs ?? DEFAULT_SAFETY_POLL_MS;
    this.#maxBytes = options.maxBytes ?? MAX_POLICY_BYTES;
    this.#random = options.random ?? Math.random;
  }

  async fetch(options: FetchOptions): Promise<FetchOutcome> {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(this.source)).isDirectory();
    } catch (err) {
      return { status: 'error', error: `${this.source}: cannot read policy: ${errorCode(err)}` };
    }
    try {
      if (!isDirectory) {
        const file = await this.#readOne(this.source, options.withSignatures);
        return {
          status: 'candidate',
          candidate: { kind: 'file', source: this.source, location: this.source, files: [file], etag: null },
        };
      }
      const names = await listPolicyFiles(this.source);
      if (names.length === 0) return { status: 'error', error: `${this.source}: the policy directory has no *.yaml or *.yml files` };
      if (names.length > MAX_POLICY_FILES) {
        return { status: 'error', error: `${this.source}: more than ${MAX_POLICY_FILES} policy files` };
      }
      const files: PolicyFileBytes[] = [];
      for (const name of names) files.push(await this.#readOne(join(this.source, name), options.withSignatures));
      return {
        status: 'candidate',
        candidate: { kind: 'directory', source: this.source, location: this.source, files, etag: null },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const message = code === 'ENOENT' ? `${this.source}: a policy file disappeared while being read` : String((err as Error).message ?? err);
      return { status: 'error', error: message };
    }
  }

  async watch(trigger: CheckTrigger): Promise<void> {
    if (this.#closed) return;
    let isDirectory = false;
    try {
      isDirectory = (await stat(this.source)).isDirectory();
    } catch {
      // Not there yet: watch the parent so the file is seen when it appears.
    }
    const watched = isDirectory ? this.source : dirname(this.source);
    const fileName = basename(this.source);
    const relevant = (path: string): boolean => {
      const name = basename(path);
      if (name.startsWith(KUBERNETES_DATA_PREFIX)) return true;
      if (isDirectory) return POLICY_FILE_PATTERN.test(name.endsWith(SIGNATURE_SUFFIX) ? name.slice(0, -SIGNATURE_SUFFIX.length) : name);
      return name === fileName || name === `${fileName}${SIGNATURE_SUFFIX}`;
    };
    const watcher = watch(watched, { ignoreInitial: true, depth: 0, persistent: true });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => {
      if (this.#closed || !relevant(path)) return;
      if (this.#debounce !== null) clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        this.#debounce = null;
        if (!this.#closed) trigger().catch(() => undefined);
      }, this.#debounceMs);
    });
    // Watch errors (e.g. the directory vanished) are covered by the safety poll.
    watcher.on('error', () => undefined);
    await new Promise<void>((ready) => watcher.once('ready', ready));
    this.#schedulePoll(trigger);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    if (this.#poll !== null) clearTimeout(this.#poll);
    this.#debounce = null;
    this.#poll = null;
    const watcher = this.#watcher;
    this.#watcher = null;
    if (watcher !== null) await watcher.close();
  }

  #schedulePoll(trigger: CheckTrigger): void {
    if (this.#closed || this.#safetyPollMs <= 0) return;
    this.#poll = setTimeout(() => {
      this.#poll = null;
      trigger()
        .catch(() => undefined)
        .finally(() => this.#schedulePoll(trigger));
    }, jittered(this.#safetyPollMs, this.#random));
    this.#poll.unref();
  }

  async #readOne(path: string, withSignature: boolean): Promise<PolicyFileBytes> {
    const bytes = await readCapped(path, this.#maxBytes, 'policy file');
    let signature: string | null = null;
    if (withSignature) {
      try {
        signature = (await readCapped(`${path}${SIGNATURE_SUFFIX}`, MAX_SIGNATURE_BYTES, 'signature file')).toString('utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return { name: basename(path), bytes, signature };
  }
}

/** The policy files of a directory exactly as loadPolicyPath selects them: *.yaml / *.yml, no dot-files, regular files, byte order. */
export async function listPolicyFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => POLICY_FILE_PATTERN.test(n) && !n.startsWith('.'));
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const files: string[] = [];
  for (const name of names) {
    const info = await stat(join(dir, name)).catch(() => null);
    if (info?.isFile()) files.push(name);
  }
  return files;
}

/**
 * Reads a regular file of at most `maxBytes`. Opened non-blocking so that a
 * FIFO planted in place of the policy cannot hang the store; ENOENT is
 * rethrown as is (callers treat a missing `.sig` as "unsigned").
 */
async function readCapped(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw err;
    throw new Error(`${path}: cannot read ${what}: ${errorCode(err)}`);
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path}: ${what} is not a regular file`);
    if (info.size > maxBytes) throw new Error(`${path}: ${what} is larger than ${maxBytes} bytes`);
    const bytes = await handle.readFile();
    if (bytes.length > maxBytes) throw new Error(`${path}: ${what} is larger than ${maxBytes} bytes`);
    return bytes;
  } finally {
    await handle.close();
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}
