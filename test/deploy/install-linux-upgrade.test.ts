/**
 * scripts/install-linux.sh run again over an existing install (DESTDIR):
 * switching to a policy URL, rotating the trusted keys, upgrading the build;
 * and a first install with no policy flag. (First install and idempotency:
 * install-linux.test.ts.) Needs root, as a real install does.
 */
import t from 'tap';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attrs,
  linuxInstaller,
  exitedOk,
} from '../helpers/deploy-fixtures.js';

const isRoot = process.getuid?.() === 0;

if (!isRoot) {
  t.plan(0, 'install-linux.sh tests need root (they chown files and create the cordon system user)');
} else {
  const base = mkdtempSync(join(tmpdir(), 'cordon-install-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { src, input, tools, install } = linuxInstaller(base);
  t.test('reinstall over an existing install: policy URL, key rotation, new build', async (t) => {
    const root = join(base, 'root-u');
    const keys = ['--trusted-key', input.key1, '--trusted-key', input.key2];
    exitedOk(t, install(root, ['--policy', input.policy, ...keys]), 'initial install with two keys');

    tools.clear();
    const toUrl = install(root, ['--policy-url', 'https://policy.acme.example/cordon/eng.yaml']);
    exitedOk(t, toUrl, 'switch to a policy URL without keys');
    const urlConfig = readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8');
    t.match(urlConfig, /^ {2}source: "https:\/\/policy\.acme\.example\/cordon\/eng\.yaml"$/m, 'config: URL source');
    t.notMatch(urlConfig, /trusted_keys/, 'config: no trusted keys');
    t.same(readdirSync(join(root, 'etc/cordon/keys')), ['acme-2026.pub', 'acme-2027.pub'], 'keys not named again are kept on disk when no key is given');
    t.ok(tools.calls().includes('systemctl restart cordon.service'), 'a config change restarts');

    tools.clear();
    const oneKey = install(root, ['--policy-url', 'https://policy.acme.example/cordon/eng.yaml', '--trusted-key', input.key2]);
    exitedOk(t, oneKey, 'rotate to one trusted key');
    t.same(readdirSync(join(root, 'etc/cordon/keys')), ['acme-2027.pub'], 'the given keys replace the trusted set (acme-2026 revoked)');

    writeFileSync(join(src, 'dist/cli/main.js'), `${readFileSync(join(src, 'dist/cli/main.js'), 'utf8')}// 0.0.2\n`);
    tools.clear();
    const upgrade = install(root, []);
    exitedOk(t, upgrade, 'upgrade with a new build and no flags');
    t.match(readFileSync(join(root, 'opt/cordon/dist/cli/main.js'), 'utf8'), /\/\/ 0\.0\.2/, 'the new build is installed');
    t.match(readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8'), /eng\.yaml/, 'no flags: the existing config is kept');
    t.ok(tools.calls().includes('systemctl restart cordon.service'), 'a new build restarts');
    t.same(attrs(join(root, 'opt/cordon/dist/cli/main.js')), { mode: 0o755, uid: 0, gid: 0 }, 'the upgraded CLI is root-owned and executable');
  });

  t.test('first install with no policy flag starts from the shipped default policy', async (t) => {
    const root = join(base, 'root-default');
    const r = install(root, []);
    exitedOk(t, r, 'install');
    t.equal(readFileSync(join(root, 'etc/cordon/policy.yaml'), 'utf8'), 'version: 1\nname: shipped-default\n', 'policies/default.yaml copied');
    t.match(readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8'), /source: "\/etc\/cordon\/policy\.yaml"/, 'config points at it');
  });

}

