/**
 * Checks that a sandbox can be built here before `cordon exec` registers
 * anything, and turns each known failure into one line that says how to fix
 * it. Also reports which optional bubblewrap features this version has.
 */
import { spawnSync } from 'node:child_process';
import type { BwrapFeatures } from './bwrap-args.js';

export const PREFLIGHT_TIMEOUT_MS = 10_000;

export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface Preflight {
  bwrap: string;
  socat: string;
  features: BwrapFeatures;
}

export const INSTALL_BWRAP_HINT =
  'install it with `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora/RHEL) or `sudo pacman -S bubblewrap` (Arch)';
export const INSTALL_SOCAT_HINT = 'install it with `sudo apt-get install socat` (Debian/Ubuntu) or `sudo dnf install socat` (Fedora/RHEL)';

/** Absolute paths of the commands (null when not on PATH), from one `command -v` run. */
function which(cmds: string[], env: NodeJS.ProcessEnv): Map<string, string | null> {
  const script = cmds.map((c) => `printf '%s=%s\\n' ${c} "$(command -v ${c})"`).join('; ');
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });
  const found = new Map<string, string | null>(cmds.map((c) => [c, null]));
  for (const line of (r.stdout ?? '').split('\n')) {
    const eq = line.indexOf('=');
    const path = line.slice(eq + 1);
    if (eq > 0 && found.has(line.slice(0, eq)) && path.startsWith('/')) found.set(line.slice(0, eq), path);
  }
  return found;
}

const PROBE_ARGS = ['--unshare-user', '--unshare-pid', '--unshare-net', '--ro-bind', '/', '/', 'true'];

function probe(bwrap: string, extra: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(bwrap, [...extra, ...PROBE_ARGS], { encoding: 'utf8', timeout: PREFLIGHT_TIMEOUT_MS });
  return { status: r.status, stderr: (r.stderr ?? '').trim() || (r.error?.message ?? '') };
}

export function preflight(env: NodeJS.ProcessEnv = process.env): Preflight {
  if (process.platform !== 'linux') {
    throw new PreflightError('cordon exec needs Linux (bubblewrap and namespaces); on macOS point tools at the proxy (HTTPS_PROXY) instead');
  }
  const found = which(['bwrap', 'socat'], env);
  const bwrap = found.get('bwrap') ?? null;
  if (bwrap === null) throw new PreflightError(`bubblewrap (bwrap) is not installed or not on PATH: ${INSTALL_BWRAP_HINT}`);
  const socat = found.get('socat') ?? null;
  if (socat === null) throw new PreflightError(`socat is not installed or not on PATH (it bridges the proxy into the sandbox): ${INSTALL_SOCAT_HINT}`);
  // One probe normally: with --disable-userns (bubblewrap >= 0.8); an older
  // bubblewrap rejects the option, and is probed again without it.
  let disableUserns = true;
  let p = probe(bwrap, ['--disable-userns']);
  if (p.status !== 0 && /disable-userns/.test(p.stderr)) {
    disableUserns = false;
    p = probe(bwrap, []);
  }
  if (p.status !== 0) {
    if (/uid map|namespace|Operation not permitted|Permission denied|No space left/i.test(p.stderr)) {
      throw new PreflightError(
        `bubblewrap cannot create user namespaces here (${p.stderr}); they are disabled: enable them with \`sudo sysctl -w kernel.unprivileged_userns_clone=1\` (Debian), ` +
          '`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 24.04+) or `sudo sysctl -w user.max_user_namespaces=15000`, or allow bwrap in your AppArmor profile; ' +
          'inside a container, run it with user namespaces allowed (e.g. docker --security-opt seccomp=unconfined --security-opt apparmor=unconfined)',
      );
    }
    throw new PreflightError(`bubblewrap cannot create a sandbox here: ${p.stderr || `exit ${p.status ?? 'unknown'}`}`);
  }
  return { bwrap, socat, features: { disableUserns } };
}
