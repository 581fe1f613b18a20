/**
 * Turns the daemon's mount decisions and the caller's request into the
 * concrete sandbox layout (what bwrap-args.ts renders): which system paths
 * exist here, what kind each mask is, placeholders for masks that do not
 * exist yet, cordon's own sockets hidden when a mount would expose them, the
 * home directory, the working directory and the environment.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { MountDecision, MountMask } from '../decide/types.js';
import { SYSTEM_RO_DIRS, SYSTEM_RO_FILES, proxyEnv, type PlannedMask, type PlannedMount, type SystemEntry } from './bwrap-args.js';
import { createPlaceholder, isWithin, type Placeholders } from './mask-placeholders.js';

/** Host variables passed into the sandbox (everything else — tokens, keys, agent sockets — stays out). */
export const PASSED_ENV = ['TERM', 'COLORTERM', 'LANG', 'LANGUAGE', 'TZ', 'NO_COLOR', 'FORCE_COLOR'];
export const PASSED_ENV_PREFIXES = ['LC_'];
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class PlanError extends Error {
  override name = 'PlanError';
}

/**
 * The sandbox user's home: what `~` means in mount rules (the daemon accepts
 * only an account's home from the passwd database, never an arbitrary $HOME)
 * and what HOME is inside.
 */
export function accountHome(): string {
  try {
    const home = userInfo().homedir;
    if (isAbsolute(home)) return home;
  } catch {
    // no passwd entry for this uid
  }
  return homedir();
}

/** The account name for USER/LOGNAME inside. */
export function accountUser(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? String(process.getuid?.() ?? 'user');
  }
}

export function systemEntries(): SystemEntry[] {
  const out: SystemEntry[] = [];
  for (const p of [...SYSTEM_RO_DIRS, ...SYSTEM_RO_FILES]) {
    if (!existsSync(p)) continue;
    const st = lstatSync(p);
    out.push({ path: p, symlinkTo: st.isSymbolicLink() && SYSTEM_RO_DIRS.includes(p) ? readlinkSync(p) : null });
  }
  return out;
}

/** True when `p` lies under one of the system directories the sandbox sees. */
export function underSystemDir(p: string): boolean {
  let real = p;
  try {
    real = realpathSync(p);
  } catch {
    return false;
  }
  return SYSTEM_RO_DIRS.some((d) => isWithin(real, d));
}

/** `PATH[:ro|:rw]` → mount request (default ro); relative paths are the caller's, `~` is left to the daemon. */
export function parseMountSpec(spec: string, cwd: string = process.cwd()): { path: string; access: 'ro' | 'rw' } {
  const m = /^(.*?)(?::(ro|rw))?$/.exec(spec);
  const path = m?.[1] ?? '';
  if (path === '') throw new PlanError(`--mount '${spec}': expected PATH[:ro|:rw]`);
  const abs = path.startsWith('~') || isAbsolute(path) ? path : resolve(cwd, path);
  return { path: abs, access: (m?.[2] as 'ro' | 'rw' | undefined) ?? 'ro' };
}

function kindOf(path: string): 'dir' | 'file' | null {
  try {
    return lstatSync(path).isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

const ACCESS_RANK = { deny: 0, ro: 1, rw: 2 } as const;

/**
 * One planned mount per distinct real path (the widest allowed access wins),
 * masks typed by what is on disk; a missing mask in a writable mount gets a
 * placeholder (recorded in `placeholders` for removal afterwards), in a
 * read-only mount it is skipped (nothing can be created there).
 */
export function planMounts(decisions: { decision: MountDecision; access: 'ro' | 'rw' }[], placeholders: Placeholders): PlannedMount[] {
  const byPath = new Map<string, { access: 'ro' | 'rw'; masks: Map<string, MountMask> }>();
  for (const { decision, access } of decisions) {
    const entry = byPath.get(decision.path) ?? { access, masks: new Map<string, MountMask>() };
    if (access === 'rw') entry.access = 'rw';
    for (const mask of decision.masks) {
      const seen = entry.masks.get(mask.path);
      if (seen === undefined || ACCESS_RANK[mask.access] < ACCESS_RANK[seen.access]) entry.masks.set(mask.path, mask);
    }
    byPath.set(decision.path, entry);
  }
  const out: PlannedMount[] = [];
  for (const [path, { access, masks }] of byPath) {
    const planned: PlannedMask[] = [];
    for (const mask of masks.values()) {
      if (ACCESS_RANK[mask.access] >= ACCESS_RANK[access]) continue;
      const kind = kindOf(mask.path);
      if (kind !== null) {
        planned.push({ path: mask.path, access: mask.access, kind });
      } else if (access === 'rw') {
        createPlaceholder(mask.path, path, placeholders);
        planned.push({ path: mask.path, access: mask.access, kind: 'file' });
      }
    }
    out.push({ path, access, masks: planned });
  }
  return out;
}

/** The deepest mount covering `p`, or null. */
function coveringMount(p: string, mounts: PlannedMount[]): PlannedMount | null {
  let best: PlannedMount | null = null;
  for (const m of mounts) if (isWithin(p, m.path) && (best === null || m.path.length > best.path.length)) best = m;
  return best;
}

/** Puts a deny mask over `real` (a real path) in the deepest mount that shows it, unless one is there already. */
function denyInCoveringMount(mounts: PlannedMount[], real: string, kind: 'file' | 'dir'): void {
  const m = coveringMount(real, mounts);
  if (m === null || m.masks.some((mask) => mask.path === real && mask.access === 'deny')) return;
  m.masks.push({ path: real, access: 'deny', kind });
}

/**
 * cordon's own sockets are never reachable through a mount: the status
 * socket would let the agent register a session with other labels (another
 * profile) or reload policy; the proxy socket is bound in at a fixed path anyway.
 */
export function hideOwnSockets(mounts: PlannedMount[], sockets: string[]): void {
  for (const s of sockets) {
    let real: string;
    try {
      real = realpathSync(s);
    } catch {
      continue;
    }
    denyInCoveringMount(mounts, real, 'file');
  }
}

/**
 * The daemon's state directory (audit log, spools, policy cache, keys of a
 * user-run daemon) is never visible in the sandbox: a mount covering it gets
 * a deny mask over it, so an agent cannot read other sessions' decisions or
 * tamper with the evidence; a mount inside it is refused.
 */
export function hideStateDir(mounts: PlannedMount[], stateDir: string): void {
  let real: string;
  try {
    real = realpathSync(stateDir);
  } catch {
    return; // not there (yet): nothing a mount could show
  }
  for (const m of mounts) {
    if (isWithin(m.path, real)) throw new PlanError(`--mount ${m.path} is inside cordon's state directory ${real}`);
  }
  denyInCoveringMount(mounts, real, 'dir');
}

/** The real home is given a private empty tmpfs unless a mount shows it (or a part of it above). */
export function privateHomeFor(home: string, mounts: PlannedMount[]): string | null {
  if (home === '/' || !isAbsolute(home)) return null;
  return mounts.some((m) => isWithin(home, m.path)) ? null : home;
}

/** True when `p` is visible with host content: inside a mount and not under a deny mask. */
function visibleInMount(p: string, mounts: PlannedMount[]): boolean {
  if (coveringMount(p, mounts) === null) return false;
  return !mounts.some((m) => m.masks.some((mask) => mask.access === 'deny' && isWithin(p, mask.path)));
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * The working directory inside: --cwd when given (it must be visible there);
 * otherwise the caller's directory when a mount shows it, else the first
 * mount, else the home directory.
 */
export function chooseCwd(requested: string | null, callerCwd: string, mountsInRequestOrder: string[], mounts: PlannedMount[], home: string): string {
  if (requested !== null) {
    const p = realOrResolved(resolve(callerCwd, requested));
    if (visibleInMount(p, mounts) || p === home || p === '/tmp') return p;
    throw new PlanError(`--cwd ${p} is not visible in the sandbox: it is not inside any --mount (or a mask hides it)`);
  }
  const here = realOrResolved(callerCwd);
  if (visibleInMount(here, mounts)) return here;
  for (const path of mountsInRequestOrder) {
    const m = mounts.find((x) => x.path === path);
    if (m !== undefined && kindOf(m.path) === 'dir' && visibleInMount(m.path, mounts)) return m.path;
  }
  return home;
}

export interface EnvInput {
  hostEnv: NodeJS.ProcessEnv;
  home: string;
  user: string;
  sessionId: string;
  secret: string;
}

/** The sandbox's whole environment: a fresh PATH, the home, locale and terminal, and the session's proxy settings. */
export function sandboxEnv(input: EnvInput): Record<string, string> {
  const env: Record<string, string> = { PATH: SANDBOX_PATH, HOME: input.home, USER: input.user, LOGNAME: input.user, CORDON_SESSION: input.sessionId };
  for (const [k, v] of Object.entries(input.hostEnv)) {
    if (v === undefined) continue;
    if (PASSED_ENV.includes(k) || PASSED_ENV_PREFIXES.some((p) => k.startsWith(p))) env[k] = v;
  }
  Object.assign(env, proxyEnv(input.sessionId, input.secret));
  return env;
}
