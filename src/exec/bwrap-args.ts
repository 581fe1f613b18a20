/**
 * Builds the bubblewrap command line for `cordon exec` from a validated plan.
 * Pure (no I/O beyond what the caller passes in), so the exact namespace,
 * mount and mask layout can be tested without running anything.
 *
 * Layout inside the sandbox: new user, pid, network, ipc, uts and cgroup
 * namespaces, no capabilities and (where bubblewrap supports it) no further
 * user namespaces, so nothing inside can unmount a mask; a read-only view of
 * the system directories a normal program needs; a private /tmp; a private,
 * empty home unless a mount provides the real one; exactly the requested
 * mounts, with their masks applied in depth order (read-only binds for `ro`,
 * an empty read-only tmpfs or /dev/null for `deny`); and cordon's proxy
 * socket bound at SANDBOX_PROXY_SOCKET, which the wrapper's forwarder bridges
 * to 127.0.0.1:SANDBOX_PROXY_PORT.
 *
 * The environment is NOT on this command line: it carries the session secret,
 * and a process's argv is readable by every local user (/proc/PID/cmdline),
 * while its environment is readable only by its owner. The caller passes it
 * to spawn() instead, and bubblewrap hands it on to the sandbox unchanged.
 */
import type { MountAccess } from '../policy/types.js';

export const SANDBOX_PROXY_SOCKET = '/run/cordon/proxy.sock';
export const SANDBOX_PROXY_PORT = 3128;
/** Where the wrapper writes `id:secret` (mode 0600) for socat's proxyauthfile (git over SSH). */
export const SANDBOX_PROXY_AUTH_FILE = '/run/cordon/proxy-auth';
/** Environment variable that carries `id:secret` to the wrapper, which removes it before running the command. */
export const PROXY_AUTH_ENV = 'CORDON_PROXY_AUTH';
/** File descriptor (in bwrap and the wrapper) of the pipe the wrapper reports readiness on. */
export const READY_FD = 4;
/** File descriptor bubblewrap writes its JSON info (the sandbox's pid) to. */
export const INFO_FD = 3;
/** The wrapper's line on READY_FD once the forwarder listens and signals can be relayed. */
export const READY_LINE = 'ready';
/** Exit status of the wrapper when the sandbox cannot be set up (like env(1) and timeout(1)). */
export const EXIT_SANDBOX_SETUP_FAILED = 125;
/** How often and how many times the wrapper checks that the forwarder listens (bounded: 500 × 10 ms). */
export const FORWARDER_POLL_INTERVAL_S = 0.01;
export const FORWARDER_POLL_TRIES = 500;
/** Signals the wrapper catches (and so survives) while the command, which receives them too, handles them. */
export const RELAYED_SIGNALS = ['INT', 'TERM', 'HUP', 'QUIT', 'USR1', 'USR2', 'WINCH'];

/** System directories bound read-only (those that exist on the host). */
export const SYSTEM_RO_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt', '/etc/alternatives', '/etc/ssl', '/etc/ca-certificates', '/etc/pki'];
/** Single files from /etc that programs commonly read. */
export const SYSTEM_RO_FILES = ['/etc/passwd', '/etc/group', '/etc/hosts', '/etc/nsswitch.conf', '/etc/ld.so.cache', '/etc/localtime', '/etc/os-release', '/etc/gitconfig', '/etc/mime.types', '/etc/protocols', '/etc/services'];

export interface PlannedMask {
  path: string;
  access: MountAccess;
  /** 'dir' is hidden behind an empty read-only tmpfs, anything else behind /dev/null. */
  kind: 'dir' | 'file';
}

export interface PlannedMount {
  /** Real host path (as returned by the daemon); mounted at the same path inside. */
  path: string;
  access: 'ro' | 'rw';
  masks: PlannedMask[];
}

export interface SystemEntry {
  path: string;
  /** A symlink on the host (merged /usr: /bin -> usr/bin) is recreated as a symlink. */
  symlinkTo: string | null;
}

export interface BwrapFeatures {
  /** bubblewrap ≥ 0.8 has --disable-userns. */
  disableUserns: boolean;
}

export interface SandboxPlan {
  system: SystemEntry[];
  /** The home directory to give an empty private tmpfs (null: a mount provides the real one, or none is wanted). */
  privateHome: string | null;
  mounts: PlannedMount[];
  proxySocket: string;
  cwd: string;
  /** The in-sandbox entry: argv of the wrapper + the user's command. */
  argv: string[];
  features: BwrapFeatures;
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

/** One bind or mask, applied in depth order: a shallower entry never hides a deeper one. */
interface Layered {
  path: string;
  /** At the same path a mount comes first and its mask after it. */
  order: 0 | 1;
  args: string[];
}

function maskArgs(mask: PlannedMask): string[] {
  if (mask.access === 'ro') return ['--ro-bind', mask.path, mask.path];
  if (mask.access === 'deny' && mask.kind === 'dir') return ['--tmpfs', mask.path, '--remount-ro', mask.path];
  if (mask.access === 'deny') return ['--ro-bind', '/dev/null', mask.path];
  return [];
}

/** Mounts and masks in the order bubblewrap must apply them (parents first; a mask after the mount it covers). */
export function layeredBinds(mounts: PlannedMount[]): string[] {
  const entries: Layered[] = [];
  for (const m of mounts) {
    entries.push({ path: m.path, order: 0, args: [m.access === 'rw' ? '--bind' : '--ro-bind', m.path, m.path] });
    for (const mask of m.masks) {
      const args = maskArgs(mask);
      if (args.length > 0) entries.push({ path: mask.path, order: 1, args });
    }
  }
  entries.sort((a, b) => depth(a.path) - depth(b.path) || a.order - b.order || a.path.localeCompare(b.path));
  return entries.flatMap((e) => e.args);
}

export function buildBwrapArgs(plan: SandboxPlan): string[] {
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    // Even when cordon exec runs as root, nothing inside keeps a capability
    // (CAP_SYS_ADMIN in the sandbox's user namespace could unmount a mask).
    '--cap-drop',
    'ALL',
    ...(plan.features.disableUserns ? ['--disable-userns'] : []),
    // The wrapper is PID 1: it catches the relayed signals, and when it exits
    // the kernel kills everything left in the sandbox (the forwarder included).
    '--as-pid-1',
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
  if (plan.privateHome !== null) args.push('--tmpfs', plan.privateHome);
  args.push(...layeredBinds(plan.mounts));
  args.push('--bind', plan.proxySocket, SANDBOX_PROXY_SOCKET);
  args.push('--chdir', plan.cwd);
  args.push('--', ...plan.argv);
  return args;
}

/** Loopback inside the sandbox is the sandbox's own: never send it to the proxy (which would dial the host's). */
export const SANDBOX_NO_PROXY = 'localhost,127.0.0.1,::1';

/**
 * The proxy environment for a session: upper and lower case, plus git over
 * SSH through the proxy (socat reads the credentials from a file, so they
 * never appear in a process's argv).
 */
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
  env.NO_PROXY = SANDBOX_NO_PROXY;
  env.no_proxy = SANDBOX_NO_PROXY;
  env.GIT_SSH_COMMAND = `ssh -o ProxyCommand='socat - PROXY:127.0.0.1:%h:%p,proxyport=${SANDBOX_PROXY_PORT},proxyauthfile=${SANDBOX_PROXY_AUTH_FILE}'`;
  env[PROXY_AUTH_ENV] = `${id}:${secret}`;
  return env;
}

/** Single-quotes a string for sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `/proc/net/tcp` text of a listening socket on 127.0.0.1:port (address and port in hex, state 0A = LISTEN). */
export function procNetTcpListenPattern(port: number): string {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ` 0100007F:${hexPort} 00000000:0000 0A `;
}

/**
 * The in-sandbox wrapper (PID 1 of the sandbox): writes the proxy credentials
 * file, starts the TCP→Unix forwarder immune to the relayed signals, waits
 * (bounded) until it listens — by reading /proc/net/tcp, so the proxy never
 * sees a probe connection — reports readiness on READY_FD, and runs the
 * command in the foreground with the caller's stdin. cordon exec relays
 * signals to the sandbox's process group: the command gets them directly,
 * the wrapper catches them and returns the command's exit status.
 */
export function wrapperArgv(command: string[], socatPath: string): string[] {
  const signals = RELAYED_SIGNALS.join(' ');
  const script = [
    `trap : ${signals}`,
    `(umask 077 && printf '%s' "$${PROXY_AUTH_ENV}" > ${SANDBOX_PROXY_AUTH_FILE})`,
    `unset ${PROXY_AUTH_ENV}`,
    `(trap '' ${signals}; exec ${shellQuote(socatPath)} TCP-LISTEN:${SANDBOX_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${SANDBOX_PROXY_SOCKET}) </dev/null >/dev/null 2>&1 ${READY_FD}>&- &`,
    'fwd=$!',
    'i=0',
    `until grep -q ${shellQuote(procNetTcpListenPattern(SANDBOX_PROXY_PORT))} /proc/net/tcp 2>/dev/null; do`,
    `  kill -0 "$fwd" 2>/dev/null || { echo 'cordon exec: the proxy forwarder (socat) exited before it listened' >&2; exit ${EXIT_SANDBOX_SETUP_FAILED}; }`,
    `  i=$((i+1)); [ "$i" -le ${FORWARDER_POLL_TRIES} ] || { echo 'cordon exec: the proxy forwarder (socat) did not listen in time' >&2; exit ${EXIT_SANDBOX_SETUP_FAILED}; }`,
    `  sleep ${FORWARDER_POLL_INTERVAL_S}`,
    'done',
    `echo ${READY_LINE} >&${READY_FD}`,
    `exec ${READY_FD}>&-`,
    '"$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'cordon-exec', ...command];
}
