/**
 * Checks the `home` a status-socket client asks `~` to mean in a mount
 * request. A client may speak for the sandbox user it launches, but it may
 * not move `~` somewhere harmless to dodge `~/.ssh`-style guardrails: the
 * home must be the home directory of an account in the passwd database.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';

export const PASSWD_PATH = '/etc/passwd';
const PASSWD_HOME_FIELD = 5;

/** Home directories of local accounts (Linux /etc/passwd; empty when unreadable). */
export function accountHomes(passwdPath: string = PASSWD_PATH): Set<string> {
  const homes = new Set<string>();
  let text: string;
  try {
    text = readFileSync(passwdPath, 'utf8');
  } catch {
    return homes;
  }
  for (const line of text.split('\n')) {
    const home = line.split(':')[PASSWD_HOME_FIELD];
    if (home !== undefined && home.startsWith('/')) homes.add(normalize(home));
  }
  return homes;
}

/** null when `home` is acceptable, else why not. `ownHome` (the daemon user's) is always accepted. */
export function homeError(home: string, ownHome: string, passwdPath: string = PASSWD_PATH): string | null {
  if (!isAbsolute(home) || home.includes('\0')) return `'home' must be an absolute path`;
  const wanted = normalize(home).replace(/\/+$/, '') || '/';
  if (wanted === normalize(ownHome)) return null;
  if (process.platform !== 'linux') return null;
  if (accountHomes(passwdPath).has(wanted)) return null;
  return `'home' ${JSON.stringify(home)} is not the home directory of a local account`;
}
