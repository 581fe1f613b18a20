/**
 * scripts/ci-sidecar.sh start/stop against a fake `cordon` executable: the
 * flags cordon is started with, the variables exported to GITHUB_ENV, and
 * failing the job when cordon is unhealthy, exits, or never answers.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, dirFactory, sidecar, writeExecutable } from '../helpers/deploy-fixtures.js';

const DEFAULT_POLICY = join(REPO_ROOT, 'policies', 'examples', 'ci-runner.yaml');
const FAKE_PORT = 3999;
const base = mkdtempSync(join(tmpdir(), 'cordon-ci-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const freshDir = dirFactory(base);

// ---------------------------------------------------------------------------- start / stop with a fake cordon

const FAKE_CORDON = `#!/usr/bin/env bash
# fake cordon for ci-sidecar tests: "run" stays up until SIGTERM (60 s at most);
# "status" prints $FAKE_DIR/status.json while it is up
cmd=$1; shift
case "$cmd" in
  run)
    printf '%s\\n' "run $*" >> "$FAKE_DIR/run-calls"
    if [ -n "\${FAKE_RUN_EXIT:-}" ]; then echo "fake cordon: cannot load policy" >&2; exit "$FAKE_RUN_EXIT"; fi
    trap 'rm -f "$FAKE_DIR/up"; kill "$child" 2>/dev/null; exit 0' TERM
    touch "$FAKE_DIR/up"
    sleep 60 & child=$!
    wait "$child"
    ;;
  status)
    if [ -f "$FAKE_DIR/up" ] && [ -f "$FAKE_DIR/status.json" ]; then cat "$FAKE_DIR/status.json"; exit 0; fi
    echo "cordon: daemon not running" >&2; exit 1
    ;;
  *) exit 2 ;;
esac
`;

function healthyStatus(proxy = `127.0.0.1:${FAKE_PORT}`): string {
  return JSON.stringify({ version: '0.3.0', pid: 1, mode: 'audit', listeners: { proxy, socks: null, socket: 's' }, policy: { name: 'ci-runners', last_error: null } });
}

/** A process that is gone or a zombie (its parent, the start step's shell, has exited). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

interface FakeRun {
  state: string;
  fake: string;
  githubEnv: string;
  githubOutput: string;
  env: Record<string, string>;
}

function fakeSetup(name: string, status: string | null): FakeRun {
  const dir = freshDir(name);
  const fake = join(dir, 'fake');
  mkdirSync(fake);
  writeExecutable(join(fake, 'cordon'), FAKE_CORDON);
  if (status !== null) writeFileSync(join(fake, 'status.json'), status);
  const state = join(dir, 'state');
  const githubEnv = join(dir, 'github-env');
  const githubOutput = join(dir, 'github-output');
  return {
    state,
    fake,
    githubEnv,
    githubOutput,
    env: {
      CORDON_BIN: join(fake, 'cordon'),
      FAKE_DIR: fake,
      CORDON_STATE_DIR: state,
      CORDON_PORT: String(FAKE_PORT),
      CORDON_START_TIMEOUT_S: '20',
      CORDON_STOP_TIMEOUT_S: '10',
      GITHUB_ENV: githubEnv,
      GITHUB_OUTPUT: githubOutput,
    },
  };
}

function killLeftover(f: FakeRun): void {
  const pidFile = join(f.state, 'cordon.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (Number.isInteger(pid) && pid > 1 && !gone(pid)) process.kill(pid, 'SIGKILL');
}

t.test('start exports the proxy to later steps; start again is a no-op; stop ends it', async (t) => {
  const f = fakeSetup('start', healthyStatus());
  t.teardown(() => killLeftover(f));
  const r = sidecar('start', f.env);
  t.equal(r.code, 0, `start exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const http = `http://127.0.0.1:${FAKE_PORT}`;
  const socks = `socks5h://127.0.0.1:${FAKE_PORT}`;
  const exported: [string, string][] = [
    ['HTTP_PROXY', http],
    ['HTTPS_PROXY', http],
    ['ALL_PROXY', socks],
    ['http_proxy', http],
    ['https_proxy', http],
    ['all_proxy', socks],
    ['NO_PROXY', 'localhost,127.0.0.1,::1'],
    ['no_proxy', 'localhost,127.0.0.1,::1'],
    ['CORDON_SOCKET', join(f.state, 'cordon.sock')],
    ['CORDON_STATE_DIR', f.state],
  ];
  t.same(readFileSync(f.githubEnv, 'utf8').split('\n').filter((l) => l !== ''), exported.map(([k, v]) => `${k}=${v}`), 'GITHUB_ENV gets the proxy variables, upper and lower case');
  t.same(r.stdout.split('\n').filter((l) => l !== ''), exported.map(([k, v]) => `export ${k}='${v}'`), 'stdout has the same as export lines, for eval');
  t.same(
    readFileSync(f.githubOutput, 'utf8').split('\n').filter((l) => l !== ''),
    [`proxy-url=${http}`, `socket=${join(f.state, 'cordon.sock')}`, `state-dir=${f.state}`],
    'step outputs',
  );
  t.same(
    readFileSync(join(f.fake, 'run-calls'), 'utf8').split('\n').filter((l) => l !== ''),
    [`run --policy ${DEFAULT_POLICY} --listen 127.0.0.1:${FAKE_PORT} --socket ${join(f.state, 'cordon.sock')} --mode audit --state-dir ${f.state}`],
    'cordon run: the example CI policy, loopback listener, audit mode by default',
  );
  t.match(readFileSync(join(f.state, 'sidecar.env'), 'utf8'), /^mode=audit$/m, 'sidecar.env records the mode for the report');
  const pid = Number(readFileSync(join(f.state, 'cordon.pid'), 'utf8'));
  t.notOk(gone(pid), 'cordon keeps running after the start step ends');

  const again = sidecar('start', f.env);
  t.equal(again.code, 0, 'a second start exits 0');
  t.match(again.stderr, /already running/, 'and says it is already running');
  t.equal(readFileSync(join(f.fake, 'run-calls'), 'utf8').split('\n').filter((l) => l !== '').length, 1, 'no second daemon');

  const stop = sidecar('stop', f.env);
  t.equal(stop.code, 0, 'stop exits 0');
  t.ok(gone(pid), 'the daemon is gone');
  t.notOk(existsSync(join(f.state, 'cordon.pid')), 'pid file removed');
  const stopAgain = sidecar('stop', f.env);
  t.equal(stopAgain.code, 0, 'stop when not running exits 0');
  t.match(stopAgain.stderr, /not running/, 'and says so');
});

t.test('start: enforce input and a policy relative to the workspace', async (t) => {
  const f = fakeSetup('enforce', healthyStatus());
  t.teardown(() => killLeftover(f));
  const workspace = freshDir('workspace');
  writeFileSync(join(workspace, 'egress.yaml'), 'version: 1\n');
  const r = sidecar('start', { ...f.env, CORDON_ENFORCE: 'true', CORDON_POLICY: 'egress.yaml' }, workspace);
  t.equal(r.code, 0, `start exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`);
  const call = readFileSync(join(f.fake, 'run-calls'), 'utf8');
  t.match(call, '--mode enforce', 'CORDON_ENFORCE=true: enforce mode');
  t.match(call, `--policy ${join(workspace, 'egress.yaml')} `, 'a relative policy is found in the working directory, passed absolute');
  t.equal(sidecar('stop', f.env).code, 0, 'stop');
});

t.test('start fails the job when cordon is not healthy, and leaves nothing behind', async (t) => {
  const cases: [string, string | null, Record<string, string>, RegExp][] = [
    [
      'no valid policy (fail-closed deny-all) fails at once',
      JSON.stringify({ listeners: { proxy: '127.0.0.1:3999' }, policy: { name: 'deny-all', last_error: 'ci.yaml:3: profiles.default.network.rules[0]: unknown key' } }),
      {},
      /no valid policy \(cordon denies everything\): ci\.yaml:3/,
    ],
    ['cordon never answers within the timeout', null, { CORDON_START_TIMEOUT_S: '1' }, /cordon is not healthy: .*daemon not running/],
    ['cordon exits during start-up', healthyStatus(), { FAKE_RUN_EXIT: '3' }, /cordon exited during start-up \(status 3\)/],
    ['an enforce value that is not true or false', healthyStatus(), { CORDON_ENFORCE: 'maybe' }, /CORDON_ENFORCE must be true or false/],
    ['a policy that does not exist', healthyStatus(), { CORDON_POLICY: 'no/such/policy.yaml' }, /policy no\/such\/policy\.yaml not found/],
    ['a socket path too long for sun_path', healthyStatus(), { CORDON_SOCKET: `/tmp/${'s'.repeat(120)}.sock` }, /longer than 103 bytes/],
  ];
  for (const [name, status, extra, message] of cases) {
    const f = fakeSetup(name.replace(/[^a-z]+/gi, '-'), status);
    t.teardown(() => killLeftover(f));
    const r = sidecar('start', { ...f.env, GITHUB_ACTIONS: 'true', ...extra });
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.stderr, message, `${name}: says why`);
    t.match(r.stderr, /^::error title=cordon::/m, `${name}: a GitHub error annotation`);
    t.notOk(existsSync(f.githubEnv), `${name}: no proxy variables exported`);
    t.notOk(existsSync(join(f.state, 'cordon.pid')), `${name}: no pid file left`);
    if (existsSync(join(f.fake, 'run-calls')) && name.includes('exits')) {
      t.match(r.stderr, /fake cordon: cannot load policy/, `${name}: the daemon's log is shown`);
    }
    if (existsSync(join(f.fake, 'up'))) {
      // the fake removes "up" on SIGTERM; give it its bounded moment (it was signalled before start returned)
      const deadline = Date.now() + 5000;
      while (existsSync(join(f.fake, 'up')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    }
    t.notOk(existsSync(join(f.fake, 'up')), `${name}: the daemon was stopped`);
  }
});

