/**
 * scripts/install-linux.sh --uninstall keeps the audit log (events* in the
 * state directory, /var/log/cordon) and the account that owns it; --purge
 * removes them. Run into a staging root (DESTDIR) with a recording systemctl.
 * Needs root, as a real install does.
 */
import t from 'tap';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
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
  const { input, tools, install, uninstall } = linuxInstaller(base);
  t.test('uninstall keeps the audit log; --purge removes it', async (t) => {
    const root = join(base, 'root-b');
    exitedOk(t, install(root, ['--policy', input.policy]), 'install');
    const state = join(root, 'var/lib/cordon');
    writeFileSync(join(state, 'events.jsonl'), '{"kind":"network","n":2}\n');
    writeFileSync(join(state, 'events-01JD7Y0000000000000000000A.jsonl'), '{"kind":"network","n":1}\n');
    mkdirSync(join(state, 'spool'));
    writeFileSync(join(state, 'spool', 'batch-1'), 'x');
    writeFileSync(join(state, 'policy-last-good.yaml'), 'version: 1\n');
    writeFileSync(join(root, 'var/log/cordon/cordon.log'), 'log line\n');

    tools.clear();
    const r = uninstall(root);
    exitedOk(t, r, 'uninstall');
    t.match(r.stderr, /kept the audit log/, 'says what it kept');
    t.same(tools.calls(), ['systemctl disable --now cordon.service', 'systemctl daemon-reload', 'systemctl reset-failed cordon.service'], 'stops and disables the service');
    for (const gone of ['opt/cordon', 'etc/cordon', 'etc/systemd/system/cordon.service', 'usr/local/bin/cordon', 'var/lib/cordon/spool', 'var/lib/cordon/policy-last-good.yaml']) {
      t.notOk(existsSync(join(root, gone)) || isLink(join(root, gone)), `${gone} removed`);
    }
    t.equal(readFileSync(join(state, 'events.jsonl'), 'utf8'), '{"kind":"network","n":2}\n', 'events.jsonl kept intact');
    t.equal(readFileSync(join(state, 'events-01JD7Y0000000000000000000A.jsonl'), 'utf8'), '{"kind":"network","n":1}\n', 'rotated events-01JD7Y0000000000000000000A.jsonl kept intact');
    t.equal(readFileSync(join(root, 'var/log/cordon/cordon.log'), 'utf8'), 'log line\n', '/var/log/cordon kept');
    t.ok(hostId('passwd', 'cordon') !== null, 'the cordon user is kept (it owns the kept files)');

    exitedOk(t, uninstall(root), 'a second uninstall is a no-op');
    t.ok(existsSync(join(state, 'events.jsonl')), 'and still keeps the log');

    const purge = uninstall(root, ['--purge']);
    exitedOk(t, purge, 'uninstall --purge');
    t.notOk(existsSync(join(root, 'var/lib/cordon')), '/var/lib/cordon removed');
    t.notOk(existsSync(join(root, 'var/log/cordon')), '/var/log/cordon removed');
    t.match(purge.stderr, /account lives on this host/, 'a staging purge leaves the host account alone, and says so');
  });

}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
