/**
 * scripts/install-linux.sh, run for real into staging roots (DESTDIR): the
 * owners and modes it leaves, that a second run changes nothing (and does not
 * restart the daemon), what it asks of systemctl (a recording fake), that
 * --uninstall keeps the audit log and --purge does not. (Refused input:
 * install-linux-refusals.test.ts.)
 *
 * Needs root (it chowns and may create the `cordon` system user on this
 * machine, as a real install does).
 */
import t from 'tap';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FAKE_DEV_FILES,
  FAKE_PROD_FILES,
  REPO_ROOT,
  attrs,
  hostId,
  linuxInstaller,
  exitedOk,
} from '../helpers/deploy-fixtures.js';

const isRoot = process.getuid?.() === 0;

if (!isRoot) {
  t.plan(0, 'install-linux.sh tests need root (they chown files and create the cordon system user)');
} else {
  const base = mkdtempSync(join(tmpdir(), 'cordon-install-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { input, tools, install } = linuxInstaller(base);
  t.test('install into a staging root: owners, modes, content, and a second run changes nothing', async (t) => {
    const root = join(base, 'root-a');
    const keys = ['--trusted-key', input.key1, '--trusted-key', input.key2];
    tools.clear();
    const first = install(root, ['--policy', input.policy, ...keys]);
    exitedOk(t, first, 'first install');
    const uid = hostId('passwd', 'cordon');
    const gid = hostId('group', 'cordon');
    t.ok(uid !== null && gid !== null, 'the cordon user and group exist');
    if (uid === null || gid === null) return;

    const expected: [string, number, number, number][] = [
      ['/etc/cordon', 0o750, 0, gid],
      ['/etc/cordon/keys', 0o750, 0, gid],
      ['/etc/cordon/config.yaml', 0o640, 0, gid],
      ['/etc/cordon/policy.yaml', 0o640, 0, gid],
      ['/etc/cordon/policy.yaml.sig', 0o640, 0, gid],
      ['/etc/cordon/keys/acme-2026.pub', 0o640, 0, gid],
      ['/etc/cordon/keys/acme-2027.pub', 0o640, 0, gid],
      ['/var/lib/cordon', 0o750, uid, gid],
      ['/var/log/cordon', 0o750, uid, gid],
      ['/opt/cordon', 0o755, 0, 0],
      ['/opt/cordon/dist/cli/main.js', 0o755, 0, 0],
      ['/opt/cordon/package.json', 0o644, 0, 0],
      ['/opt/cordon/node_modules', 0o755, 0, 0],
      ['/opt/cordon/node_modules/alpha/index.js', 0o644, 0, 0],
      ['/etc/systemd/system/cordon.service', 0o644, 0, 0],
    ];
    for (const [path, mode, owner, group] of expected) {
      t.same(attrs(join(root, path)), { mode, uid: owner, gid: group }, `${path} is ${mode.toString(8)} ${owner}:${group}`);
    }
    t.equal(
      readFileSync(join(root, 'etc/systemd/system/cordon.service'), 'utf8'),
      readFileSync(join(REPO_ROOT, 'systemd/cordon.service'), 'utf8'),
      'the unit is the repository unit',
    );
    t.notOk(existsSync(join(root, 'etc/systemd/system/cordon.service.d')), 'no drop-in when node is /usr/bin/node');
    t.equal(readlinkSync(join(root, 'usr/local/bin/cordon')), '/opt/cordon/dist/cli/main.js', 'cordon on PATH is a symlink to the CLI');
    for (const f of FAKE_PROD_FILES) t.ok(existsSync(join(root, 'opt/cordon', f)), `production dependency ${f} installed`);
    for (const f of FAKE_DEV_FILES) t.notOk(existsSync(join(root, 'opt/cordon', f)), `dev dependency ${f} left out`);
    t.notOk(existsSync(join(root, 'opt/cordon/node_modules/.bin')), 'node_modules/.bin left out');
    const config = readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8');
    t.match(config, /^socket: \/run\/cordon\/cordon\.sock$/m, 'config: socket');
    t.match(config, /^state_dir: \/var\/lib\/cordon$/m, 'config: state_dir');
    t.match(config, /^ {2}source: "\/etc\/cordon\/policy\.yaml"$/m, 'config: local policy source');
    t.match(config, /trusted_keys:\n {4}- \/etc\/cordon\/keys\/acme-2026\.pub\n {4}- \/etc\/cordon\/keys\/acme-2027\.pub\n/, 'config: both trusted keys');
    t.same(tools.calls(), ['systemctl daemon-reload', 'systemctl enable --quiet cordon.service', 'systemctl restart cordon.service'], 'first install: reload units, enable, (re)start');

    const pkgIno = statSync(join(root, 'opt/cordon')).ino;
    const configMtime = statSync(join(root, 'etc/cordon/config.yaml')).mtimeMs;
    tools.clear();
    const second = install(root, ['--policy', input.policy, ...keys]);
    exitedOk(t, second, 'second install');
    t.match(second.stderr, /nothing changed/, 'second install reports nothing changed');
    t.same(tools.calls(), ['systemctl daemon-reload', 'systemctl enable --quiet cordon.service', 'systemctl start cordon.service'], 'second install: start (a no-op when running), no restart');
    t.equal(statSync(join(root, 'opt/cordon')).ino, pkgIno, 'the package directory was not replaced');
    t.equal(statSync(join(root, 'etc/cordon/config.yaml')).mtimeMs, configMtime, 'the config was not rewritten');
    for (const [path, mode, owner, group] of expected) {
      t.same(attrs(join(root, path)), { mode, uid: owner, gid: group }, `after the second run ${path} is still ${mode.toString(8)} ${owner}:${group}`);
    }

    tools.clear();
    const newPolicy = install(root, ['--policy', input.policy2, ...keys]);
    exitedOk(t, newPolicy, 'install with a new policy');
    t.same(
      tools.calls(),
      ['systemctl daemon-reload', 'systemctl enable --quiet cordon.service', 'systemctl start cordon.service', 'systemctl reload cordon.service'],
      'only the policy changed: reload (SIGHUP), no restart',
    );
    t.equal(readFileSync(join(root, 'etc/cordon/policy.yaml.sig'), 'utf8'), 'c2lnbmF0dXJlIHR3bw==\n', 'the new signature replaced the old one');

    tools.clear();
    const skipped = install(root, [], { SKIP_SYSTEMCTL: '1' });
    exitedOk(t, skipped, 'install with SKIP_SYSTEMCTL=1');
    t.same(tools.calls(), [], 'SKIP_SYSTEMCTL=1: systemctl is never called');
    t.match(skipped.stderr, /systemctl enable --now cordon\.service/, 'and it says how to start cordon');
  });

}

