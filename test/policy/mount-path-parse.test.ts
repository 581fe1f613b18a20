// Mount paths of DESIGN §2 "Mount resources": what is accepted, its normal form, and what is refused.
import t from 'tap';
import { parseMountPath } from '../../src/policy/mount-path-parse.js';

const accepted: [name: string, text: string, normal: string][] = [
  ['absolute path', '/usr', '/usr'],
  ['root', '/', '/'],
  ['home', '~', '~'],
  ['home with trailing slash', '~/', '~'],
  ['under home', '~/src', '~/src'],
  ['trailing slash is dropped', '/usr/local/', '/usr/local'],
  ['trailing slash under home is dropped', '~/src/', '~/src'],
  ['one-segment glob', '/home/*/.ssh', '/home/*/.ssh'],
  ['any-depth glob', '~/src/**/.env', '~/src/**/.env'],
  ['trailing any-depth glob', '/srv/**', '/srv/**'],
  ['file, not directory', '~/.docker/config.json', '~/.docker/config.json'],
  ['dots inside a segment', '/a/..b/c.', '/a/..b/c.'],
  ['tilde later in the path is literal', '/srv/~backup', '/srv/~backup'],
  ['spaces are literal', '/Volumes/My Drive', '/Volumes/My Drive'],
];

t.test('accepted mount paths', async (t) => {
  for (const [name, text, normal] of accepted) {
    t.same(parseMountPath(text), { ok: true, path: normal }, `${name}: ${text}`);
  }
});

const rejected: [name: string, text: string, fragment: string][] = [
  ['empty', '', 'empty path'],
  ['relative path', 'src', 'relative path'],
  ['dot-relative path', './src', 'relative path'],
  ['other user home (~user)', '~bob/src', "'~bob' is not supported"],
  ['empty segment', '/a//b', "write '/a/b'"],
  ['double slash at the start', '//a', "write '/a'"],
  ['two trailing slashes', '/a//', "write '/a'"],
  ['dot segment', '/a/./b', "'.' segment"],
  ['dot-dot traversal', '~/src/../.ssh', "'..' segment"],
  ['trailing dot-dot', '/a/..', "'..' segment"],
  ['partial-segment glob (suffix)', '~/src/*.env', 'mixes'],
  ['partial-segment glob (prefix)', '/a/foo*', 'mixes'],
  ['triple star', '/a/***', 'mixes'],
  ['question-mark glob', '/a/b?', "'?'"],
  ['character class', '/a/[ab]', "'['"],
  ['brace expansion', '~/.config/{gcloud,azure}', "'{'"],
  ['NUL byte', '/a\u0000b', 'NUL'],
  ['newline', '/a\nb', 'control character'],
  ['backslash', '/a\\b', 'backslash'],
];

t.test('rejected mount paths', async (t) => {
  for (const [name, text, fragment] of rejected) {
    const r = parseMountPath(text);
    if (r.ok) {
      t.fail(`${name}: ${JSON.stringify(text)} was accepted as ${r.path}`);
      continue;
    }
    t.match(r.error, fragment, `${name}: ${JSON.stringify(text)}`);
  }
});
