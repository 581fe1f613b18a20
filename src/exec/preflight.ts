/**
 * Checks that a sandbox can be built here before `cordon exec` registers
 * anything, and turns each known failure into one line that says how to fix it.
 */
import { spawnSync } from 'node:child_process';

export const PREFLIGHT_TIMEOUT_MS = 10_000;

export class PreflightError extends Error {}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function preflight(): { bwrap: string } {
  if (process.platform !== 'linux') throw new PreflightError('cordon exec needs Linux (bubblewrap and namespaces); on macOS point tools at the proxy instead');
  const bwrap = which('bwrap');
  if (bwrap === null) throw new PreflightError('bubblewrap is not installed: install it with `sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap`');
  if (which('socat') === null) throw new PreflightError('socat is not installed (it bridges the proxy into the sandbox): `sudo apt-get install socat`');
  const probe = spawnSync(bwrap, ['--unshare-user', '--unshare-pid', '--unshare-net', '--ro-bind', '/', '/', 'true'], {
    encoding: 'utf8',
    timeout: PREFLIGHT_TIMEOUT_MS,
  });
  if (probe.status !== 0) {
    const err = (probe.stderr ?? '').trim();
    if (/uid map|namespace|Operation not permitted|Permission denied/i.test(err)) {
      throw new PreflightError(
        `unprivileged user namespaces are disabled (${err}); enable them with \`sudo sysctl -w kernel.unprivileged_userns_clone=1\` (Debian) or \`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0\` (Ubuntu 24.04+), or allow bwrap in your AppArmor profile`,
      );
    }
    throw new PreflightError(`bubblewrap cannot create a sandbox here: ${err || `exit ${probe.status}`}`);
  }
  return { bwrap };
}
