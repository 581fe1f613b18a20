/**
 * launchd/install-macos.sh reloads the LaunchDaemon when its config changes
 * and refuses YAML injection; launchd/uninstall-macos.sh keeps the audit log
 * and the _cordon group, and --purge removes them. Run on this Linux machine
 * into a staging root with recording fakes of the macOS tools.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macosInstaller, exitedOk } from '../helpers/deploy-fixtures.js';

const LABEL = 'com.cordon.daemon';
const isRoot = process.getuid?.() === 0;
t.test('config change, refused input, uninstall and purge', { skip: isRoot ? false : 'needs root (chown to root and the fake _cordon gid)' }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'cordon-macos-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { input, tools, root, install, uninstall } = macosInstaller(base);
  exitedOk(t, install(['--policy', input.policy, '--trusted-key', input.key1]), 'initial install');

  tools.clear();
  exitedOk(t, install(['--policy-url', 'https://policy.acme.example/eng.yaml']), 'switch to a policy URL');
  t.same(
    tools.calls().filter((c) => c.startsWith('launchctl') && !c.startsWith('launchctl print')),
    [`launchctl bootout system/${LABEL}`, `launchctl enable system/${LABEL}`, `launchctl bootstrap system /Library/LaunchDaemons/${LABEL}.plist`],
    'a config change reloads the LaunchDaemon (bootout, bootstrap)',
  );
  t.match(readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8'), /source: "https:\/\/policy\.acme\.example\/eng\.yaml"/, 'config: URL source');

  const refused = install(['--policy-url', 'https://x.example/p.yaml" \nsinks: []']);
  t.not(refused.code, 0, 'attack: YAML injection through --policy-url is refused');
  t.match(refused.stderr, /without spaces or quotes/, 'and says why');

  // the audit log and logs the uninstaller must keep
  writeFileSync(join(root, 'var/db/cordon/events.jsonl'), '{"n":1}\n');
  writeFileSync(join(root, 'var/db/cordon/events-01JD7Y0000000000000000000A.jsonl'), '{"n":0}\n');
  mkdirSync(join(root, 'var/db/cordon/spool'));
  writeFileSync(join(root, 'var/log/cordon/cordon.log'), 'started\n');
  tools.clear();
  const removed = uninstall();
  exitedOk(t, removed, 'uninstall');
  t.same(tools.calls().filter((c) => c.startsWith('launchctl') && !c.startsWith('launchctl print')), [`launchctl bootout system/${LABEL}`], 'boots the daemon out');
  for (const gone of [`Library/LaunchDaemons/${LABEL}.plist`, 'opt/cordon', 'etc/cordon', 'usr/local/bin/cordon', 'var/run/cordon', 'var/db/cordon/spool']) {
    t.notOk(existsSync(join(root, gone)), `${gone} removed`);
  }
  t.equal(readFileSync(join(root, 'var/db/cordon/events.jsonl'), 'utf8'), '{"n":1}\n', 'events.jsonl kept');
  t.equal(readFileSync(join(root, 'var/db/cordon/events-01JD7Y0000000000000000000A.jsonl'), 'utf8'), '{"n":0}\n', 'rotated events kept');
  t.ok(existsSync(join(root, 'var/log/cordon/cordon.log')), '/var/log/cordon kept');
  t.notOk(tools.calls().some((c) => c.startsWith('dscl . -delete')), 'the _cordon group is kept');

  tools.clear();
  exitedOk(t, uninstall(['--purge']), 'uninstall --purge');
  t.notOk(existsSync(join(root, 'var/db/cordon')), '/var/db/cordon removed');
  t.notOk(existsSync(join(root, 'var/log/cordon')), '/var/log/cordon removed');
  t.ok(tools.calls().includes('dscl . -delete /Groups/_cordon'), 'the _cordon group is deleted');
});
