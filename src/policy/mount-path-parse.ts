/**
 * Validates one mount path of a policy (DESIGN §2 "Mount resources") and
 * returns its normal form.
 *
 * Why a module of its own: mount decisions are made on normalised real paths,
 * so a rule path that could never equal one (`..`, `//`, `./`) would silently
 * never match — a deny rule that protects nothing. Such paths are refused here
 * with the spelling to use instead.
 *
 * Accepted: `/abs/path`, `~`, `~/rel/to/home`; segments `*` (exactly one
 * segment) and `**` (any number of segments) only as whole segments. A single
 * trailing slash is dropped (`/usr/` → `/usr`, `~/` → `~`).
 */

export type MountPathParse = { ok: true; path: string } | { ok: false; error: string };

/** Characters other tools read as glob syntax; cordon supports only whole-segment `*` and `**`. */
const UNSUPPORTED_GLOB_CHARS = ['?', '[', ']', '{', '}'];
const PATH_HINT = "write an absolute path (/srv/data) or one under the session user's home (~/src)";

export function parseMountPath(text: string): MountPathParse {
  if (text === '') return { ok: false, error: `empty path; ${PATH_HINT}` };
  if (text.includes('\0')) return { ok: false, error: 'path contains a NUL byte' };
  if (/[\u0001-\u001f\u007f]/.test(text)) return { ok: false, error: 'path contains a control character' };
  if (text.includes('\\')) {
    return { ok: false, error: `'${text}' contains a backslash; separate segments with '/' (escapes are not supported)` };
  }

  let root: '/' | '~';
  let rest: string;
  if (text.startsWith('/')) {
    root = '/';
    rest = text.slice(1);
  } else if (text === '~' || text.startsWith('~/')) {
    root = '~';
    rest = text.slice(2);
  } else if (text.startsWith('~')) {
    const user = text.slice(1).split('/')[0];
    return { ok: false, error: `'~${user}' is not supported: '~' always means the session user's home; write '~/...' or an absolute path` };
  } else {
    return { ok: false, error: `'${text}' is a relative path; ${PATH_HINT}` };
  }

  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const segments = rest === '' ? [] : rest.split('/');
  const prefix = root === '/' ? '/' : '~/';
  const normal = root === '/' ? `/${segments.join('/')}` : segments.length === 0 ? '~' : `~/${segments.join('/')}`;

  for (const segment of segments) {
    if (segment === '') {
      const fixed = prefix + segments.filter((s) => s !== '').join('/');
      return { ok: false, error: `'${text}' has an empty segment ('//'); write '${fixed === '~/' ? '~' : fixed}'` };
    }
    if (segment === '.' || segment === '..') {
      return {
        ok: false,
        error: `'${text}' contains a '${segment}' segment; rules match normalised real paths, so write the path it stands for without '.' or '..'`,
      };
    }
    if (segment.includes('*') && segment !== '*' && segment !== '**') {
      return {
        ok: false,
        error: `'${segment}' in '${text}' mixes '*' with other characters; only whole segments are globs: '*' matches one segment, '**' any number`,
      };
    }
    const glob = UNSUPPORTED_GLOB_CHARS.find((c) => segment.includes(c));
    if (glob !== undefined) {
      return {
        ok: false,
        error: `'${glob}' in '${text}' is glob syntax cordon does not support; only whole-segment '*' and '**' are globs — list each path separately`,
      };
    }
  }
  return { ok: true, path: normal };
}
