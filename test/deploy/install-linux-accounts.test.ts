/**
 * scripts/install-linux.sh: where the `cordon` account lives (the staging
 * root's /etc/passwd when it has one), --grant, and --node with a drop-in.
 * Needs root, as a real install does.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attrs, linuxInstaller, exitedOk } from '../helpers/deploy-fixtures.js';

if (process.getuid?.() !== 0) {
  t.plan(0, 'install-linux.sh tests need root (they chown files and create system accounts)');
} else {
  const base = mkdtempSync(join(tmpdir(), 'cordon-accounts-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { install, uninstall } = linuxInstaller(base);
  t.test('accounts in the staging root when it has /etc/passwd', async (t) => {
    const root = join(base, 'root-c');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nalice:x:1000:\n');
    writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n');
    writeFileSync(join(root, 'etc/gshadow'), 'root:*::\nalice:!::\n');
    const r = install(root, ['--grant', 'alice']);
    exitedOk(t, r, 'install with --grant alice');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const line = passwd.split('\n').find((l) => l.startsWith('cordon:'));
    t.ok(line, 'cordon added to the staging /etc/passwd');
    const [, , uidText, gidText, , home, shell] = (line ?? '').split(':');
    const uid = Number(uidText);
    const gid = Number(gidText);
    t.ok(uid > 0 && uid < 1000, `a system uid (${uid})`);
    t.equal(home, '/var/lib/cordon', 'home is the state directory');
    t.match(shell, /nologin|false/, 'no login shell');
    t.match(readFileSync(join(root, 'etc/group'), 'utf8'), new RegExp(`^cordon:x:${gid}:alice$`, 'm'), 'group cordon, with alice granted');
    t.same(attrs(join(root, 'var/lib/cordon')), { mode: 0o750, uid, gid }, '/var/lib/cordon owned by the staging uid/gid');
    t.same(attrs(join(root, 'etc/cordon')), { mode: 0o750, uid: 0, gid }, '/etc/cordon root:cordon (staging gid)');

    exitedOk(t, install(root, ['--grant', 'alice']), 'second install');
    t.equal(readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').filter((l) => l.startsWith('cordon:')).length, 1, 'the user is not added twice');

    exitedOk(t, uninstall(root, ['--purge']), 'purge');
    t.notMatch(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^cordon:/m, 'user removed from the staging /etc/passwd');
    t.notMatch(readFileSync(join(root, 'etc/group'), 'utf8'), /^cordon:/m, 'group removed from the staging /etc/group');
  });

  t.test('--node elsewhere: a drop-in runs the daemon with it', async (t) => {
    const root = join(base, 'root-d');
    const nodeDir = join(base, 'node-bin');
    mkdirSync(nodeDir, { mode: 0o755 });
    symlinkSync(process.execPath, join(nodeDir, 'node'));
    const r = install(root, ['--node', join(nodeDir, 'node')]);
    exitedOk(t, r, 'install with --node');
    const dropin = readFileSync(join(root, 'etc/systemd/system/cordon.service.d/10-node.conf'), 'utf8');
    t.match(dropin, /^\[Service\]\nExecStart=\nExecStart=\S+\/node-bin\/node \/opt\/cordon\/dist\/cli\/main\.js run --config \/etc\/cordon\/config\.yaml /m, 'ExecStart reset and replaced');
    exitedOk(t, install(root, []), 'install again with the default node');
    t.notOk(existsSync(join(root, 'etc/systemd/system/cordon.service.d')), 'the drop-in is removed');
  });
}
