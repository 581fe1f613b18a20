/**
 * launchd/: the LaunchDaemon plist parses (python3 plistlib, the same format
 * launchd reads) and holds what launchd needs to run cordon; the macOS
 * install/uninstall scripts parse. (Running them with fake macOS tools:
 * launchd-install.test.ts, launchd-uninstall.test.ts.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, run } from '../helpers/deploy-fixtures.js';

const PLIST = join(REPO_ROOT, 'launchd', 'com.cordon.daemon.plist');
const INSTALL = join(REPO_ROOT, 'launchd', 'install-macos.sh');
const UNINSTALL = join(REPO_ROOT, 'launchd', 'uninstall-macos.sh');
const LABEL = 'com.cordon.daemon';

function loadPlist(path: string): { ok: true; plist: Record<string, unknown> } | { ok: false; error: string } {
  const r = run('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', path]);
  if (r.code !== 0) return { ok: false, error: r.stderr.trim() };
  return { ok: true, plist: JSON.parse(r.stdout) as Record<string, unknown> };
}

t.test('the plist parses and holds the keys launchd needs', async (t) => {
  const loaded = loadPlist(PLIST);
  t.ok(loaded.ok, `plistlib parses it${loaded.ok ? '' : `: ${loaded.error}`}`);
  if (!loaded.ok) return;
  const p = loaded.plist;
  t.equal(p.Label, LABEL, 'Label matches the file name');
  t.equal(p.RunAtLoad, true, 'RunAtLoad');
  t.equal(p.KeepAlive, true, 'KeepAlive');
  t.equal(p.UserName, 'root', 'runs as root (documented: mount validation reads 0750 homes)');
  t.equal(p.Umask, 0o27, 'Umask 0027 (decimal 23 in the plist)');
  t.equal(p.StandardOutPath, '/var/log/cordon/cordon.log', 'stdout under /var/log/cordon/');
  t.equal(p.StandardErrorPath, '/var/log/cordon/cordon.err.log', 'stderr under /var/log/cordon/');
  t.type(p.ExitTimeOut, 'number', 'ExitTimeOut gives SIGTERM time to drain');
  t.notOk('Program' in p, 'no Program key: ProgramArguments[0] is the executable');
  const args = p.ProgramArguments;
  t.ok(Array.isArray(args) && args.every((a) => typeof a === 'string'), 'ProgramArguments is an array of strings');
  if (!Array.isArray(args)) return;
  t.same(args.slice(0, 2), ['/bin/sh', '-c'], 'a shell prepares the socket directory, then execs node');
  const script = String(args[2]);
  t.match(script, /exec \/opt\/cordon\/bin\/node \/opt\/cordon\/dist\/cli\/main\.js run /, 'execs the installed CLI with the root-owned node copy');
  for (const flag of ['--config /etc/cordon/config.yaml', '--socket /var/run/cordon/cordon.sock', '--state-dir /var/db/cordon']) {
    t.match(script, flag, `passes ${flag}`);
  }
  t.match(script, /mkdir -p \/var\/run\/cordon && \S*chown root:_cordon \/var\/run\/cordon && \S*chmod 0750 \/var\/run\/cordon && exec /, 'socket directory root:_cordon 0750 before start (/var/run is emptied at boot)');
  t.ok(p.EnvironmentVariables !== null && typeof p.EnvironmentVariables === 'object', 'EnvironmentVariables is a dictionary');
  t.equal(p.WorkingDirectory, '/var/db/cordon', 'works in the state directory');
});

t.test('plistlib would reject a broken plist (negative control)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-plist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken.plist');
  writeFileSync(broken, readFileSync(PLIST, 'utf8').replace('<true/>', '<true>'));
  t.notOk(loadPlist(broken).ok, 'an unclosed element fails to parse');
});

t.test('the macOS scripts parse (bash -n) and agree with the plist', async (t) => {
  for (const script of [INSTALL, UNINSTALL]) {
    const r = run('bash', ['-n', script]);
    t.equal(r.code, 0, `bash -n ${script.slice(REPO_ROOT.length + 1)}${r.stderr === '' ? '' : `: ${r.stderr}`}`);
    t.match(readFileSync(script, 'utf8'), `LABEL=${LABEL}`, `${script.slice(REPO_ROOT.length + 1)} uses label ${LABEL}`);
  }
  const help = run('bash', [INSTALL, '--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.match(help.stdout, /--policy-url URL/, '--help documents the flags');
});

