/**
 * Safe creation of the status socket file. A Unix socket path is a security
 * boundary: cordon refuses a path that is a symlink (someone redirecting the
 * socket) or owned by another user, removes a stale socket left by a dead
 * daemon, and never steals the socket of a live one.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';

export const SOCKET_FILE_MODE = 0o660;
export const SOCKET_DIR_MODE = 0o750;
export const LIVE_PROBE_TIMEOUT_MS = 500;

export class SocketPathError extends Error {}

function probeLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(true); // something holds it and is slow: treat as live, never steal
    }, LIVE_PROBE_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(!(err.code === 'ECONNREFUSED' || err.code === 'ENOENT'));
    });
  });
}

/** Prepares `path` for listen(): creates the directory, removes a stale socket, or throws SocketPathError. */
export async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: SOCKET_DIR_MODE });
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (st.isSymbolicLink()) throw new SocketPathError(`refusing to use ${path}: it is a symlink`);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid) throw new SocketPathError(`refusing to use ${path}: it is owned by uid ${st.uid}, not ${uid}`);
  if (!st.isSocket()) throw new SocketPathError(`refusing to use ${path}: it exists and is not a socket`);
  if (await probeLive(path)) {
    throw new SocketPathError(`another cordon is already listening on ${path}; stop it first or choose --socket`);
  }
  unlinkSync(path);
}

/** After listen(): restrict the socket to its owner and group (optionally a given gid). */
export function restrictSocket(path: string, gid: number | null): void {
  chmodSync(path, SOCKET_FILE_MODE);
  if (gid !== null) chownSync(path, process.getuid?.() ?? 0, gid);
}
