/**
 * Fixtures for the deployment tests (test/deploy/): a fake built cordon
 * package to install, fake system tools (systemctl, launchctl, dscl, ...)
 * that record their calls, and a way to run a script and keep its output.
 *
 * The installers are tested against a fake package rather than this checkout
 * because the checkout's dist/ may not be built and its node_modules holds
 * dev dependencies: the fake one has a known production/dev split to check.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Bound on any script a deployment test runs. */
export const SCRIPT_TIMEOUT_MS = 60_000;
const PERMISSION_BITS = 0o7777;

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell), with extra environment. */
export function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}, cwd?: string): ScriptResult {
  const r = spawnSync(cmd, args, {
    env: { ...process.env, ...env },
    cwd,
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Asserts that a script exited 0, with its stderr in the message when it did not. */
export function exitedOk(t: Test, r: ScriptResult, what: string): void {
  t.equal(r.code, 0, `${what} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
}

export interface Attrs {
  mode: number;
  uid: number;
  gid: number;
}

export function attrs(path: string): Attrs {
  const st = statSync(path);
  return { mode: st.mode & PERMISSION_BITS, uid: st.uid, gid: st.gid };
}

export function writeExecutable(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

export const FAKE_PROD_FILES = [
  'node_modules/alpha/index.js',
  'node_modules/alpha/node_modules/beta/index.js',
  'node_modules/@scope/gamma/index.js',
];
export const FAKE_DEV_FILES = ['node_modules/devdep/index.js'];

/**
 * A built-looking cordon package in `dir`: package.json + lockfile with two
 * production dependencies (one nested, one scoped), one dev dependency and
 * one optional dependency that is not installed; dist/cli/main.js is a tiny
 * CLI whose `policy validate FILE` fails when FILE contains "INVALID"; the
 * real systemd unit and plist.
 */
export function makeFakePackage(dir: string, version = '0.0.1'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'cordon', version, type: 'module', bin: { cordon: 'dist/cli/main.js' } }, null, 2),
  );
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify(
      {
        name: 'cordon',
        version,
        lockfileVersion: 3,
        packages: {
          '': { name: 'cordon', version },
          'node_modules/alpha': { version: '1.0.0' },
          'node_modules/alpha/node_modules/beta': { version: '1.0.0' },
          'node_modules/@scope/gamma': { version: '1.0.0' },
          'node_modules/devdep': { version: '1.0.0', dev: true },
          'node_modules/not-on-this-platform': { version: '1.0.0', optional: true },
        },
      },
      null,
      2,
    ),
  );
  for (const f of [...FAKE_PROD_FILES, ...FAKE_DEV_FILES]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), `// ${f}\n`);
  }
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
  if (!existsSync(join(dir, 'node_modules/.bin/alpha'))) symlinkSync('../alpha/index.js', join(dir, 'node_modules/.bin/alpha'));
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  writeFileSync(
    join(dir, 'dist/cli/main.js'),
    [
      '#!/usr/bin/env node',
      "import { readFileSync } from 'node:fs';",
      'const [cmd, sub, file] = process.argv.slice(2);',
      "if (cmd === 'policy' && sub === 'validate') {",
      "  if (readFileSync(file, 'utf8').includes('INVALID')) { console.error(`${file}:1: policy: INVALID marker`); process.exit(1); }",
      "  console.log('ok'); process.exit(0);",
      '}',
      `console.log('fake cordon ${version}');`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies/default.yaml'), 'version: 1\nname: shipped-default\n');
  for (const [from, to] of [
    ['systemd/cordon.service', 'systemd/cordon.service'],
    ['launchd/com.cordon.daemon.plist', 'launchd/com.cordon.daemon.plist'],
  ] as const) {
    mkdirSync(dirname(join(dir, to)), { recursive: true });
    copyFileSync(join(REPO_ROOT, from), join(dir, to));
  }
  return dir;
}

/**
 * Fake system tools in `binDir` that append "NAME ARGS" to `${stateDir}/calls`
 * and keep state in `stateDir` (launchd job loaded, _cordon group gid).
 */
export function makeFakeTools(binDir: string, stateDir: string): { calls: () => string[]; clear: () => void } {
  mkdirSync(stateDir, { recursive: true });
  const calls = join(stateDir, 'calls');
  const record = `printf '%s\\n' "$(basename "$0") $*" >> "${calls}"`;
  writeExecutable(join(binDir, 'systemctl'), `#!/bin/sh\n${record}\nexit 0\n`);
  writeExecutable(join(binDir, 'journalctl'), `#!/bin/sh\n${record}\nexit 0\n`);
  writeExecutable(
    join(binDir, 'launchctl'),
    `#!/bin/sh
${record}
case "$1" in
  print) [ -f "${stateDir}/loaded" ] || { echo "Could not find service" >&2; exit 113; } ;;
  bootstrap) touch "${stateDir}/loaded" ;;
  bootout) rm -f "${stateDir}/loaded" ;;
esac
exit 0
`,
  );
  writeExecutable(
    join(binDir, 'dscl'),
    `#!/bin/sh
${record}
gidfile="${stateDir}/group-gid"
case "$2 $3 $4" in
  "-read /Groups/_cordon PrimaryGroupID") [ -f "$gidfile" ] || exit 56; echo "PrimaryGroupID: $(cat "$gidfile")" ;;
  "-read /Groups/_cordon ") [ -f "$gidfile" ] || exit 56; echo "RecordName: _cordon" ;;
  "-list /Groups PrimaryGroupID") printf '%s\\n' "staff                    20" "_taken                   300" "_alsotaken               301" ;;
  "-create /Groups/_cordon PrimaryGroupID") echo "$5" > "$gidfile" ;;
  "-delete /Groups/_cordon ") rm -f "$gidfile" ;;
esac
exit 0
`,
  );
  writeExecutable(join(binDir, 'dseditgroup'), `#!/bin/sh\n${record}\nexit 0\n`);
  writeExecutable(
    join(binDir, 'plutil'),
    `#!/bin/sh
${record}
[ "$1" = -lint ] || exit 2
exec python3 -c 'import plistlib, sys; plistlib.load(open(sys.argv[1], "rb"))' "$2"
`,
  );
  return {
    calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '') : []),
    clear: () => writeFileSync(calls, ''),
  };
}

/** `getent passwd|group NAME` field 3 (the id), or null. */
export function hostId(db: 'passwd' | 'group', name: string): number | null {
  const r = run('getent', [db, name]);
  if (r.code !== 0) return null;
  const id = Number(r.stdout.split(':')[2]);
  return Number.isInteger(id) ? id : null;
}

export interface InstallInputs {
  dir: string;
  /** version: 1 policy with a .sig beside it */
  policy: string;
  /** a second signed policy (a policy update) */
  policy2: string;
  unsigned: string;
  /** a policy the fake CLI's `policy validate` rejects */
  invalid: string;
  key1: string;
  key2: string;
  /** a key whose file name has a space */
  badKeyName: string;
  config: string;
}

/** Policy, signature, key and config files for the installer tests. */
export function makeInstallInputs(dir: string): InstallInputs {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'policy.yaml': 'version: 1\nname: acme\n',
    'policy.yaml.sig': 'c2lnbmF0dXJlIG9uZQ==\n',
    'policy2.yaml': 'version: 1\nname: acme\nrevision: 2\n',
    'policy2.yaml.sig': 'c2lnbmF0dXJlIHR3bw==\n',
    'unsigned.yaml': 'version: 1\nname: unsigned\n',
    'invalid.yaml': 'version: 1\nINVALID: true\n',
    'acme-2026.pub': 'MCowBQYDK2VwAyEAkey1\n',
    'acme-2027.pub': 'MCowBQYDK2VwAyEAkey2\n',
    'evil key.pub': 'x\n',
    'my-config.yaml': 'listen: 127.0.0.1:3129\npolicy:\n  source: /etc/cordon/policy.yaml\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return {
    dir,
    policy: join(dir, 'policy.yaml'),
    policy2: join(dir, 'policy2.yaml'),
    unsigned: join(dir, 'unsigned.yaml'),
    invalid: join(dir, 'invalid.yaml'),
    key1: join(dir, 'acme-2026.pub'),
    key2: join(dir, 'acme-2027.pub'),
    badKeyName: join(dir, 'evil key.pub'),
    config: join(dir, 'my-config.yaml'),
  };
}

export interface LinuxInstaller {
  src: string;
  input: InstallInputs;
  tools: ReturnType<typeof makeFakeTools>;
  /** install-linux.sh --source <fake package> ARGS into DESTDIR, systemctl faked and forced on */
  install(destdir: string, args: string[], env?: Record<string, string>): ScriptResult;
  uninstall(destdir: string, args?: string[]): ScriptResult;
}

/** A fake package, inputs and recording tools under `base`, and ways to run install-linux.sh on them. */
export function linuxInstaller(base: string): LinuxInstaller {
  const script = join(REPO_ROOT, 'scripts', 'install-linux.sh');
  const src = makeFakePackage(join(base, 'src'));
  const bin = join(base, 'bin');
  const tools = makeFakeTools(bin, join(base, 'tools-state'));
  const input = makeInstallInputs(join(base, 'input'));
  const path = `${bin}:${process.env.PATH ?? ''}`;
  return {
    src,
    input,
    tools,
    install: (destdir, args, env = {}) =>
      run('bash', [script, '--source', src, ...args], { DESTDIR: destdir, PATH: path, SKIP_SYSTEMCTL: '0', HEALTH_TIMEOUT_S: '0', ...env }),
    uninstall: (destdir, args = []) => run('bash', [script, '--uninstall', ...args], { DESTDIR: destdir, PATH: path, SKIP_SYSTEMCTL: '0' }),
  };
}

export interface MacosInstaller {
  src: string;
  input: InstallInputs;
  tools: ReturnType<typeof makeFakeTools>;
  /** the staging root */
  root: string;
  /** the node "binary" the installer copies (a tiny launcher stands in for the 100 MB one) */
  node: string;
  install(args: string[]): ScriptResult;
  uninstall(args?: string[]): ScriptResult;
}

/** A fake package, inputs and recording macOS tools under `base`; install-macos.sh / uninstall-macos.sh into `base/root`. */
export function macosInstaller(base: string): MacosInstaller {
  const src = makeFakePackage(join(base, 'src'));
  const input = makeInstallInputs(join(base, 'input'));
  const bin = join(base, 'bin');
  const tools = makeFakeTools(bin, join(base, 'tools-state'));
  const node = join(base, 'node-dist', 'node');
  writeExecutable(node, `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
  const root = join(base, 'root');
  const env = { DESTDIR: root, PATH: `${bin}:${process.env.PATH ?? ''}`, SKIP_LAUNCHCTL: '0', HEALTH_TIMEOUT_S: '0' };
  return {
    src,
    input,
    tools,
    root,
    node,
    install: (args) => run('bash', [join(REPO_ROOT, 'launchd', 'install-macos.sh'), '--source', src, '--node', node, ...args], env),
    uninstall: (args = []) => run('bash', [join(REPO_ROOT, 'launchd', 'uninstall-macos.sh'), ...args], env),
  };
}

/** Runs scripts/ci-sidecar.sh COMMAND with a clean CI-ish environment (no inherited GitHub or cordon variables). */
export function sidecar(command: string, env: Record<string, string>, cwd?: string): ScriptResult {
  const clean: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('GITHUB_') || key.startsWith('CORDON_') || key === 'RUNNER_TEMP') clean[key] = undefined;
  }
  return run('bash', [join(REPO_ROOT, 'scripts', 'ci-sidecar.sh'), command], { ...clean, ...env }, cwd);
}

/** Numbered fresh directories under `base`. */
export function dirFactory(base: string): (name: string) => string {
  let count = 0;
  return (name) => {
    count += 1;
    const dir = join(base, `${count}-${name}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
}
