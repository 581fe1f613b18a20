/**
 * Builds the bubblewrap command line for `cordon exec` from a validated plan.
 * Pure (no I/O beyond what the caller passes in), so the exact namespace,
 * mount and mask layout can be tested without running anything.
 *
 * Layout inside the sandbox: new user, pid, network, ipc, uts and cgroup
 * namespaces; a read-only view of the system directories a normal program
 * needs; a private /tmp; exactly the requested mounts, with their masks
 * applied after them (read-only binds for `ro`, an empty tmpfs or /dev/null
 * for `deny`); and cordon's proxy socket bound at SANDBOX_PROXY_SOCKET, which
 * the in-sandbox forwarder bridges to 127.0.0.1:SANDBOX_PROXY_PORT.
 */
import type { MountAccess } from '../policy/types.js';

export const SANDBOX_PROXY_SOCKET = '/run/cordon/proxy.sock';
export const SANDBOX_PROXY_PORT = 3128;

/** System directories bound read-only (those that exist on the host). */
export const SYSTEM_RO_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt', '/etc/alternatives', '/etc/ssl', '/etc/ca-certificates', '/etc/pki'];
/** Single files from /etc that programs commonly read. */
export const SYSTEM_RO_FILES = ['/etc/passwd', '/etc/group', '/etc/hosts', '/etc/nsswitch.conf', '/etc/ld.so.cache', '/etc/localtime', '/etc/os-release', '/etc/gitconfig', '/etc/mime.types', '/etc/protocols', '/etc/services'];

export interface PlannedMount {
  /** Real host path (as returned by the daemon); mounted at the same path inside. */
  path: string;
  access: 'ro' | 'rw';
  masks: { path: string; access: MountAccess; kind: 'dir' | 'file' }[];
}

export interface SystemEntry {
  path: string;
  /** A symlink on the host (merged /usr: /bin -> usr/bin) is recreated as a symlink. */
  symlinkTo: string | null;
}

export interface SandboxPlan {
  system: SystemEntry[];
  mounts: PlannedMount[];
  proxySocket: string;
  cwd: string;
  env: Record<string, string>;
  /** The in-sandbox entry: argv of the forwarder wrapper + the user's command. */
  argv: string[];
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

export function buildBwrapArgs(plan: SandboxPlan): string[] {
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'cordon-sandbox',
  ];
  for (const entry of plan.system) {
    if (entry.symlinkTo !== null) args.push('--symlink', entry.symlinkTo, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/run/cordon');
  // Parents before children, so a nested mount is not hidden by its parent.
  const mounts = [...plan.mounts].sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path));
  for (const m of mounts) args.push(m.access === 'rw' ? '--bind' : '--ro-bind', m.path, m.path);
  const masks = mounts.flatMap((m) => m.masks).sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path));
  for (const mask of masks) {
    if (mask.access === 'ro') args.push('--ro-bind', mask.path, mask.path);
    else if (mask.access === 'deny' && mask.kind === 'dir') args.push('--tmpfs', mask.path, '--remount-ro', mask.path);
    else if (mask.access === 'deny') args.push('--ro-bind', '/dev/null', mask.path);
  }
  args.push('--bind', plan.proxySocket, SANDBOX_PROXY_SOCKET);
  args.push('--clearenv');
  for (const [k, v] of Object.entries(plan.env)) args.push('--setenv', k, v);
  args.push('--chdir', plan.cwd);
  args.push('--', ...plan.argv);
  return args;
}

/** The proxy environment for a session: upper and lower case, plus git over SSH through the proxy. */
export function proxyEnv(id: string, secret: string): Record<string, string> {
  const auth = `${encodeURIComponent(id)}:${encodeURIComponent(secret)}`;
  const http = `http://${auth}@127.0.0.1:${SANDBOX_PROXY_PORT}`;
  const socks = `socks5h://${auth}@127.0.0.1:${SANDBOX_PROXY_PORT}`;
  const env: Record<string, string> = {};
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY']) {
    env[name] = http;
    env[name.toLowerCase()] = http;
  }
  env.ALL_PROXY = socks;
  env.all_proxy = socks;
  env.NO_PROXY = '';
  env.no_proxy = '';
  env.GIT_SSH_COMMAND = `ssh -o ProxyCommand='socat - PROXY:127.0.0.1:%h:%p,proxyport=${SANDBOX_PROXY_PORT},proxyauth=${id}:${secret}'`;
  return env;
}

/**
 * The in-sandbox wrapper: starts the TCP→Unix forwarder, waits for it, runs
 * the command, forwards TERM/INT/HUP to it, and exits with its status.
 */
export function wrapperArgv(command: string[]): string[] {
  const script = [
    `socat TCP-LISTEN:${SANDBOX_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${SANDBOX_PROXY_SOCKET} 2>/dev/null &`,
    'fwd=$!',
    `i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/${SANDBOX_PROXY_PORT}) 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && { echo "cordon exec: proxy forwarder did not start" >&2; exit 125; }; sleep 0.01; done`,
    '"$@" & child=$!',
    "trap 'kill -TERM $child 2>/dev/null' TERM",
    "trap 'kill -INT $child 2>/dev/null' INT",
    "trap 'kill -HUP $child 2>/dev/null' HUP",
    'while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done',
    'kill $fwd 2>/dev/null',
    'exit $rc',
  ].join('\n');
  return ['/bin/bash', '-c', script, 'cordon-exec', ...command];
}
