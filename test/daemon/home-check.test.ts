import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { homeError } from '../../src/daemon/home-check.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-home-'));
const passwd = join(dir, 'passwd');
writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nnologin:x:2:2::nonexistent:/bin/false\n');

const cases: [string, string, RegExp | null][] = [
  ['the daemon user own home', '/var/lib/cordon', null],
  ['a local account home', '/home/alice', null],
  ['a local account home with a trailing slash', '/home/alice/', null],
  ['attack: home moved to an empty temp dir to dodge ~/.ssh guardrails', '/tmp/fakehome', /not the home directory of a local account/],
  ['attack: home set to a subdirectory of a real home', '/home/alice/src', /not the home directory/],
  ['relative home', 'home/alice', /absolute/],
  ['NUL byte', '/home/alice\0x', /absolute/],
];
for (const [name, home, want] of cases) {
  t.test(name, async (t) => {
    const err = process.platform === 'linux' ? homeError(home, '/var/lib/cordon', passwd) : null;
    if (want === null) t.equal(err, null);
    else t.match(err, want);
  });
}
