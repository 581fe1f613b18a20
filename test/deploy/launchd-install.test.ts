/**
 * launchd/install-macos.sh, run on this Linux machine into a staging root with
 * recording fakes of launchctl, dscl, dseditgroup and plutil: the files,
 * owners, modes, group and launchctl calls of a first install, and that a
 * second run changes nothing. (Updates: launchd-update.test.ts.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, attrs, macosInstaller, exitedOk } from '../helpers/deploy-fixtures.js';

const PLIST = join(REPO_ROOT, 'launchd', 'com.cordon.daemon.plist');
const LABEL = 'com.cordon.daemon';
/** The first gid the fake dscl reports free (300 and 301 are taken). */
const FAKE_GID = 302;
const isRoot = process.getuid?.() === 0;
t.test('first install, and an idempotent second run', { skip: isRoot ? false : 'needs root (chown to root and the fake _cordon gid)' }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'cordon-macos-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { src, input, tools, root, node, install } = macosInstaller(base);

  const first = install(['--policy', input.policy, '--trusted-key', input.key1, '--grant', 'root']);
  exitedOk(t, first, 'first install');
  t.same(
    tools.calls().filter((c) => c.startsWith('dscl . -create')),
    [
      'dscl . -create /Groups/_cordon',
      `dscl . -create /Groups/_cordon PrimaryGroupID ${FAKE_GID}`,
      'dscl . -create /Groups/_cordon RealName cordon status socket access',
      'dscl . -create /Groups/_cordon Password *',
    ],
    'creates group _cordon with the first free gid from 300',
  );
  t.ok(tools.calls().includes('dseditgroup -o edit -a root -t user _cordon'), '--grant adds the user to _cordon');
  t.ok(tools.calls().includes(`plutil -lint ${join(src, 'launchd/com.cordon.daemon.plist')}`), 'lints the plist with plutil');
  t.same(
    tools.calls().filter((c) => c.startsWith('launchctl')),
    [`launchctl print system/${LABEL}`, `launchctl print system/${LABEL}`, `launchctl enable system/${LABEL}`, `launchctl bootstrap system /Library/LaunchDaemons/${LABEL}.plist`],
    'not loaded: enable and bootstrap into the system domain',
  );
  const expected: [string, number, number, number][] = [
    [`/Library/LaunchDaemons/${LABEL}.plist`, 0o644, 0, 0],
    ['/etc/cordon', 0o750, 0, FAKE_GID],
    ['/etc/cordon/keys', 0o750, 0, FAKE_GID],
    ['/etc/cordon/config.yaml', 0o640, 0, FAKE_GID],
    ['/etc/cordon/policy.yaml', 0o640, 0, FAKE_GID],
    ['/etc/cordon/policy.yaml.sig', 0o640, 0, FAKE_GID],
    ['/etc/cordon/keys/acme-2026.pub', 0o640, 0, FAKE_GID],
    ['/var/db/cordon', 0o750, 0, FAKE_GID],
    ['/var/log/cordon', 0o750, 0, FAKE_GID],
    ['/var/run/cordon', 0o750, 0, FAKE_GID],
    ['/opt/cordon', 0o755, 0, 0],
    ['/opt/cordon/bin/node', 0o755, 0, 0],
    ['/opt/cordon/dist/cli/main.js', 0o755, 0, 0],
    ['/usr/local/bin/cordon', 0o755, 0, 0],
  ];
  for (const [path, mode, uid, gid] of expected) {
    t.same(attrs(join(root, path)), { mode, uid, gid }, `${path} is ${mode.toString(8)} ${uid}:${gid}`);
  }
  t.equal(readFileSync(join(root, 'opt/cordon/bin/node'), 'utf8'), readFileSync(node, 'utf8'), 'node copied into /opt/cordon/bin');
  t.equal(readFileSync(join(root, `Library/LaunchDaemons/${LABEL}.plist`), 'utf8'), readFileSync(PLIST, 'utf8'), 'the plist is the repository plist');
  const wrapper = readFileSync(join(root, 'usr/local/bin/cordon'), 'utf8');
  t.match(wrapper, /^exec \/opt\/cordon\/bin\/node \/opt\/cordon\/dist\/cli\/main\.js "\$@"$/m, 'the CLI wrapper runs the node copy');
  t.match(wrapper, /CORDON_SOCKET=\/var\/run\/cordon\/cordon\.sock/, 'the CLI wrapper defaults to the system socket');
  const config = readFileSync(join(root, 'etc/cordon/config.yaml'), 'utf8');
  t.match(config, /^socket: \/var\/run\/cordon\/cordon\.sock$/m, 'config: socket');
  t.match(config, /^state_dir: \/var\/db\/cordon$/m, 'config: state_dir');
  t.match(config, /trusted_keys:\n {4}- \/etc\/cordon\/keys\/acme-2026\.pub\n/, 'config: trusted key');

  const nodeIno = statSync(join(root, 'opt/cordon/bin/node')).ino;
  tools.clear();
  const second = install(['--policy', input.policy, '--trusted-key', input.key1]);
  exitedOk(t, second, 'second install');
  t.match(second.stderr, /nothing changed/, 'second install: nothing changed');
  t.same(tools.calls().filter((c) => c.startsWith('launchctl') && !c.startsWith('launchctl print')), [`launchctl kickstart system/${LABEL}`], 'loaded and unchanged: only kickstart (a no-op when running)');
  t.notOk(tools.calls().some((c) => c.startsWith('dscl . -create')), 'the existing group is reused');
  t.equal(statSync(join(root, 'opt/cordon/bin/node')).ino, nodeIno, 'the node copy is not rewritten');
});
