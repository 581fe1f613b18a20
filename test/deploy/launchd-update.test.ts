/**
 * launchd/install-macos.sh over an existing install (staging root, fake macOS
 * tools): a policy change only sends SIGHUP; a foreign /usr/local/bin/cordon
 * is left alone.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macosInstaller, exitedOk } from '../helpers/deploy-fixtures.js';

const LABEL = 'com.cordon.daemon';
const isRoot = process.getuid?.() === 0;
t.test('a new policy: SIGHUP, no reload of the LaunchDaemon', { skip: isRoot ? false : 'needs root (chown to root and the fake _cordon gid)' }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'cordon-macos-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { input, tools, install } = macosInstaller(base);
  exitedOk(t, install(['--policy', input.policy, '--trusted-key', input.key1]), 'initial install');
  tools.clear();
  exitedOk(t, install(['--policy', input.policy2, '--trusted-key', input.key1]), 'install a new policy');
  t.same(
    tools.calls().filter((c) => c.startsWith('launchctl') && !c.startsWith('launchctl print')),
    [`launchctl kill HUP system/${LABEL}`, `launchctl kickstart system/${LABEL}`],
    'only the policy changed: SIGHUP',
  );
});

t.test('a foreign /usr/local/bin/cordon is left alone', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'cordon-macos-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const { root, install } = macosInstaller(base);
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/local/bin/cordon'), '#!/bin/sh\necho some other cordon\n', { mode: 0o755 });
  const r = install([]);
  exitedOk(t, r, 'install');
  t.match(r.stderr, /not cordon's wrapper; left alone/, 'warns');
  t.equal(readFileSync(join(root, 'usr/local/bin/cordon'), 'utf8'), '#!/bin/sh\necho some other cordon\n', 'the foreign file is untouched');
});
