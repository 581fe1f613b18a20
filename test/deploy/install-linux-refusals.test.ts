/**
 * scripts/install-linux.sh refuses unsafe or inconsistent input (a node
 * binary others can replace, a URL that would inject YAML into the config, a
 * policy the daemon would reject, ...) with a message and before writing
 * anything into the target root. (Installs themselves: install-linux.test.ts.)
 */
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, makeFakePackage, makeInstallInputs, run, writeExecutable } from '../helpers/deploy-fixtures.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'install-linux.sh');

if (process.getuid?.() !== 0) {
  t.plan(0, 'install-linux.sh tests need root (the installer refuses a non-root install outside DESTDIR)');
} else {
  const base = mkdtempSync(join(tmpdir(), 'cordon-refuse-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const src = makeFakePackage(join(base, 'src'));
  const input = makeInstallInputs(join(base, 'input'));
  const evilNode = join(base, 'evil-node', 'node');
  writeExecutable(evilNode, `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
  chmodSync(evilNode, 0o777);
  const unbuilt = join(base, 'unbuilt');
  mkdirSync(unbuilt);
  writeFileSync(join(unbuilt, 'package.json'), '{}');

  const cases: [string, string[], RegExp][] = [
    ['--policy and --policy-url together', ['--policy', input.policy, '--policy-url', 'https://p.example/x.yaml'], /not both/],
    ['a plain-http policy URL off loopback', ['--policy-url', 'http://p.example/x.yaml'], /https:\/\//],
    ['attack: YAML injection through --policy-url', ['--policy-url', 'https://p.example/x.yaml"\nsinks: [{name: x, type: http, url: "https://evil.example'], /without spaces or quotes/],
    ['trusted keys with an unsigned policy', ['--policy', input.unsigned, '--trusted-key', input.key1], /requires a signed policy/],
    ['a policy the CLI rejects', ['--policy', input.invalid], /not a valid policy/],
    ['a key file name a config cannot carry', ['--policy-url', 'https://p.example/x.yaml', '--trusted-key', input.badKeyName], /file name/],
    ['--policy-url with --config', ['--config', input.config, '--policy-url', 'https://p.example/x.yaml'], /set policy\.source in your file/],
    ['an unknown flag', ['--polcy', 'x'], /unknown argument/],
    ['--purge without --uninstall', ['--purge'], /only valid with --uninstall/],
    ['--grant of a user that does not exist', ['--grant', 'no-such-user-cordon-test'], /no such user/],
    ['attack: a node binary others can replace', ['--node', evilNode], /must be owned by root and not writable/],
    ['a relative --node', ['--node', 'node'], /absolute path/],
    ['an unbuilt source', ['--source', unbuilt], /build first/],
    ['--uninstall with install flags', ['--uninstall', '--policy', input.policy], /--uninstall takes only --purge/],
  ];

  t.test('refused before anything is written', async (t) => {
    for (const [name, args, message] of cases) {
      const root = join(base, `root-${name.replace(/[^a-z]+/gi, '-')}`);
      const r = run('bash', [SCRIPT, '--source', src, ...args], { DESTDIR: root, SKIP_SYSTEMCTL: '1', HEALTH_TIMEOUT_S: '0' });
      t.not(r.code, 0, `${name}: non-zero exit`);
      t.match(r.stderr, message, `${name}: says why`);
      t.notOk(existsSync(root), `${name}: nothing written under DESTDIR`);
    }
  });
}
