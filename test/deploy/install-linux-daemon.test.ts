/**
 * END-TO-END (runs only when dist/ is built): install-linux.sh installs THIS
 * checkout into a staging root, and the installed copy (production
 * dependencies only) runs as the `cordon` user with the installed config and
 * policy: the layout's owners and modes are enough for the daemon to read its
 * config (root:cordon 0640), write its state, and serve its status socket
 * (cordon:cordon 0660). Paths are re-rooted under the staging directory
 * because only the unit's ExecStart pins them on a real system.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, hostId, run } from '../helpers/deploy-fixtures.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'install-linux.sh');
const MAIN_JS = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** Switches to the cordon user and execs (no intermediate process: signals reach node, as under systemd). */
const SETPRIV = '/usr/bin/setpriv';
const READY_POLLS = 100;
const POLL_MS = 200;
const STOP_WAIT_MS = 15_000;

function unavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (runs the daemon as the cordon user)';
  if (!existsSync(MAIN_JS)) return 'dist/cli/main.js is not built (npm run build)';
  if (!existsSync(SETPRIV)) return 'setpriv (util-linux) is missing';
  return false;
}

t.test('the installed package runs as the cordon user with the installed files', { skip: unavailable() }, async (t) => {
  // 0755 all the way down: the cordon user must reach the staged files, as on a real system
  const base = mkdtempSync(join(tmpdir(), 'cordon-installed-'));
  chmodSync(base, 0o755);
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const installed = run('bash', [SCRIPT, '--policy', join(REPO_ROOT, 'policies', 'examples', 'ci-runner.yaml')], { DESTDIR: root, SKIP_SYSTEMCTL: '1' });
  t.equal(installed.code, 0, `install exits 0${installed.code === 0 ? '' : `: ${installed.stderr}`}`);
  if (installed.code !== 0) return;
  const uid = hostId('passwd', 'cordon');
  const gid = hostId('group', 'cordon');
  if (uid === null || gid === null) {
    t.fail('the cordon account exists after install');
    return;
  }
  t.notOk(existsSync(join(root, 'opt/cordon/node_modules/tap')), 'dev dependencies (tap) are not installed');
  t.notOk(existsSync(join(root, 'opt/cordon/node_modules/typescript')), 'dev dependencies (typescript) are not installed');

  // the installed config, re-rooted; same owner and mode as the original
  const config = join(root, 'etc/cordon/config.yaml');
  const rerooted = readFileSync(config, 'utf8').replace(/(\/etc\/cordon|\/run\/cordon|\/var\/lib\/cordon)/g, `${root}$1`);
  const stagedConfig = join(root, 'etc/cordon/config-staged.yaml');
  writeFileSync(stagedConfig, rerooted, { mode: 0o640 });
  chownSync(stagedConfig, 0, gid);
  const runDir = join(root, 'run/cordon'); // what RuntimeDirectory=cordon (0750) makes
  mkdirSync(runDir, { recursive: true });
  chownSync(runDir, uid, gid);
  chmodSync(runDir, 0o750);
  const socket = join(runDir, 'cordon.sock');
  const state = join(root, 'var/lib/cordon');

  const daemon = spawn(
    SETPRIV,
    ['--reuid=cordon', '--regid=cordon', '--init-groups', '--', process.execPath, join(root, 'opt/cordon/dist/cli/main.js'), 'run', '--config', stagedConfig, '--listen', '127.0.0.1:0', '--socket', socket, '--state-dir', state],
    { cwd: state, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  daemon.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  });

  let status: { code: number | null; stdout: string } = { code: null, stdout: '' };
  for (let i = 0; i < READY_POLLS && daemon.exitCode === null; i += 1) {
    status = run(process.execPath, [MAIN_JS, 'status', '--json', '--socket', socket]);
    if (status.code === 0) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  t.equal(status.code, 0, `the installed daemon answers on its socket${status.code === 0 ? '' : `: ${stderr}`}`);
  if (status.code === 0) {
    const s = JSON.parse(status.stdout) as { policy: { name: string; source: string } };
    t.equal(s.policy.name, 'ci-runners', 'it loaded the installed policy');
    t.equal(s.policy.source, join(root, 'etc/cordon/policy.yaml'), 'from /etc/cordon/policy.yaml');
    const st = statSync(socket);
    t.same({ mode: st.mode & 0o777, uid: st.uid, gid: st.gid }, { mode: 0o660, uid, gid }, 'socket cordon:cordon 0660');
  }
  daemon.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_WAIT_MS)))]);
  clearTimeout(timer);
  t.equal(code, 0, `SIGTERM: the daemon drains and exits 0 (got ${String(code)})`);
  const events = join(state, 'events.jsonl');
  t.ok(existsSync(events), 'the audit log is written in the state directory');
  if (existsSync(events)) t.equal(statSync(events).uid, uid, 'owned by the cordon user');
});
