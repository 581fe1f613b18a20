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
