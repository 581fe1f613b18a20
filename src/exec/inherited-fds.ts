/**
 * File descriptors inherited from whoever started `cordon exec`. Node opens
 * everything of its own close-on-exec, but a descriptor this process
 * inherited without that flag (a parent's open directory, a socket, a log
 * file) would pass through bubblewrap into the sandbox — and an open
 * directory there is a way out of every mount rule (`/proc/self/fd/N/..`).
 * So before spawning the sandbox, every descriptor above stderr that is not
 * close-on-exec is closed: this process never opened it, so nothing here
 * uses it.
 */
import { closeSync, readdirSync, readFileSync } from 'node:fs';

/** O_CLOEXEC as shown in the octal `flags:` line of /proc/self/fdinfo/N. */
export const FDINFO_CLOEXEC = 0o2000000;
const FIRST_NON_STDIO_FD = 3;

/** Parses the `flags:` line of an fdinfo file (octal); null when absent. */
export function fdinfoFlags(text: string): number | null {
  const m = /^flags:\s*([0-7]+)$/m.exec(text);
  return m === null ? null : parseInt(m[1] as string, 8);
}

/** Closes inherited descriptors that would leak into a child; returns the numbers closed. */
export function closeInheritedFds(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const closed: number[] = [];
  for (const name of entries) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < FIRST_NON_STDIO_FD) continue;
    let flags: number | null;
    try {
      flags = fdinfoFlags(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    } catch {
      continue; // gone (e.g. the directory handle used to list /proc/self/fd)
    }
    if (flags === null || (flags & FDINFO_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // already closed
    }
  }
  return closed;
}
