/**
 * `cordon exec` for real (Linux, bubblewrap): the built CLI against the real
 * daemon (--proxy-socket, --resolver pointing at this test's DNS responder),
 * a loopback HTTP origin, and a temp tree with a writable workspace, a
 * read-only mask, deny masks (a file, a directory, a path that does not
 * exist yet) and host paths that are never mounted.
 *
 * Skipped, with the reason printed, only where bubblewrap cannot create
 * namespaces here (preflight() says so); a missing bwrap or socat fails.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { preflight, PreflightError } from '../../src/exec/preflight.js';
import type { CordonEvent, MountEvent, NetworkEvent } from '../../src/events/types.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { startHttpOrigin, type HttpOrigin } from '../helpers/origins.js';
import {
  batchScript,
  cmdline,
  descendants,
  isAlive,
  pgrepArgv,
  runExec,
  splitBatch,
  startExec,
  waitUntil,
  type ExecOptions,
  type ExecResult,
} from '../helpers/exec-run.js';

const EXIT_EXEC_FAILED = 125;
const LABELS = 'agent=test,team=web';
const SECRET_FILE_TEXT = 'AWS_SECRET_ACCESS_KEY=host-only-secret';
const SECRET_DIR_TEXT = 'ssh-private-key-host-only';
const HOST_ONLY_TEXT = 'host-only-file';

function namespaceSkipReason(): string | false {
  try {
    preflight();
    return false;
  } catch (err) {
    if (err instanceof PreflightError && /namespace/i.test(err.message)) return `bubblewrap cannot create namespaces here: ${err.message}`;
    throw err;
  }
}

const skip = namespaceSkipReason();
if (skip !== false) t.comment(`SKIPPED cordon exec integration tests: ${skip}`);
const opts = { skip };
// Many sandboxes start one after another on a loaded CI machine: allow more than tap's default per-file limit.
const FILE_TIMEOUT_MS = 300_000;
t.setTimeout(FILE_TIMEOUT_MS);

const ROOT = mkdtempSync(join(tmpdir(), 'cordon-exec-'));
const WORK = join(ROOT, 'work');
/** What `~` means and HOME is inside: the account's home from passwd (the caller's $HOME does not count). */
const ACCOUNT_HOME = userInfo().homedir;
const HOME_PROBE = '.cordon-exec-test-probe';
const OTHER = join(ROOT, 'other');
const PRIVATE = join(ROOT, 'private');

function policyText(root: string, daemonDir: string | null): string {
  return `version: 1
name: exec-it
mode: enforce
guardrails:
  network:
    rules:
      - name: blocked site
        deny: [blocked.test]
  mounts:
    rules:
      - name: workspace secrets
        deny: ["${root}/work/secrets", "${root}/work/.env", "${root}/work/.envrc", "${root}/work/hooks/pre-commit"]
      - name: private area
        deny: ["${root}/private"]
profiles:
  default:
    network:
      default: deny
    mounts:
      default: deny
  web:
    match: { team: web }
    network:
      default: deny
      rules:
        - name: test origin
          allow: [allowed.test]
        - name: loopback origin address
          allow: [127.0.0.1]
    mounts:
      default: deny
      rules:
        - name: workspace
          rw: ["${root}/work"]
        - name: vendored code
          ro: ["${root}/work/vendor"]
${daemonDir === null ? '' : `        - name: test daemon dir
          ro: ["${daemonDir}"]
`}`;
}

/** Entries of the host's /root and /home (minus the path down to the account home, which exists inside as an empty dir). */
function hostHomeEntries(): string[] {
  const onTheWay = new Set(ACCOUNT_HOME.split('/').filter(Boolean));
  const out: string[] = [];
  for (const dir of ['/root', '/home']) {
    try {
      for (const e of readdirSync(dir)) if (!onTheWay.has(e) && e.length > 2) out.push(e);
    } catch {
      // not readable / not there
    }
  }
  return out;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let daemon: TestDaemon;
let dns: DnsResponder;
let origin: HttpOrigin;

t.before(async () => {
  mkdirSync(join(WORK, 'vendor'), { recursive: true });
  mkdirSync(join(WORK, 'secrets'));
  mkdirSync(join(WORK, 'hooks'));
  mkdirSync(OTHER);
  mkdirSync(PRIVATE);
  writeFileSync(join(WORK, 'vendor', 'lib.txt'), 'vendored\n');
  writeFileSync(join(WORK, 'secrets', 'id_ed25519'), SECRET_DIR_TEXT);
  writeFileSync(join(WORK, '.env'), SECRET_FILE_TEXT);
  writeFileSync(join(WORK, 'readme.txt'), 'workspace\n');
  writeFileSync(join(OTHER, 'host-only'), HOST_ONLY_TEXT);
  if (skip !== false) return;
  origin = await startHttpOrigin({ label: 'allowed' });
  dns = await startDnsResponder({ 'allowed.test': { addresses: ['127.0.0.1'] }, 'blocked.test': { addresses: ['127.0.0.1'] } });
  daemon = await startDaemon({ policyText: policyText(ROOT, null), proxySocket: true, args: ['--resolver', dns.server] });
  // The daemon's temp dir is known only now: allow mounting it (ro) for the status-socket attack.
  const text = policyText(ROOT, daemon.dir);
  writeFileSync(daemon.policyPath as string, text);
  // The file source may pick the change up by itself before this reload: wait for the digest, not for `changed`.
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  const reload = await daemon.client.reload();
  if (reload.error !== null) throw new Error(`test policy did not load: ${reload.error}`);
  if (!(await waitUntil(async () => (await daemon.client.status()).policy.digest === digest, 200))) throw new Error('test policy was not swapped in');
});

t.teardown(async () => {
  await daemon?.stop();
  if (daemon !== undefined) rmSync(daemon.dir, { recursive: true, force: true });
  await origin?.close();
  await dns?.close();
  rmSync(ROOT, { recursive: true, force: true });
});

/** `cordon exec` with the test's socket, labels and the workspace mounted rw. */
function execIn(script: string, extra: { args?: string[]; mounts?: string[]; opts?: ExecOptions } = {}): Promise<ExecResult> {
  const mounts = extra.mounts ?? [`${WORK}:rw`];
  return runExec(
    ['--socket', daemon.socket, '--labels', LABELS, ...mounts.flatMap((m) => ['--mount', m]), ...(extra.args ?? []), '--', 'sh', '-c', script],
    { cwd: ROOT, ...extra.opts },
  );
}

async function sessionsNow(): Promise<number> {
  return (await daemon.client.status()).sessions;
}

t.test('network: the proxy is the only way out', opts, async (t) => {
  const port = () => origin.port;
  const cases: { name: string; script: () => string; want: RegExp }[] = [
    {
      name: 'allowed name through HTTP_PROXY (absolute-URI over the bridged Unix socket) → 200',
      script: () => `curl -s -o /dev/null -w '%{http_code}' http://allowed.test:${port()}/`,
      want: /^200$/,
    },
    {
      name: 'denied name (guardrails rule) → 403',
      script: () => `curl -s -o /dev/null -w '%{http_code}' http://blocked.test:${port()}/`,
      want: /^403$/,
    },
    {
      name: 'allowed name through ALL_PROXY (SOCKS5 with the session credentials) → 200',
      script: () => `curl -s -o /dev/null -w '%{http_code}' -x "$ALL_PROXY" http://allowed.test:${port()}/`,
      want: /^200$/,
    },
    {
      name: 'git-over-SSH path: socat ProxyCommand with the credentials file opens a CONNECT tunnel',
      script: () =>
        `case "$GIT_SSH_COMMAND" in *proxyauthfile=/run/cordon/proxy-auth*) ;; *) echo "unexpected GIT_SSH_COMMAND"; exit 1;; esac; ` +
        `printf 'GET / HTTP/1.0\\r\\nHost: allowed.test\\r\\n\\r\\n' | socat - PROXY:127.0.0.1:allowed.test:${port()},proxyport=3128,proxyauthfile=/run/cordon/proxy-auth | head -n 1`,
      want: /^HTTP\/1\.1 200/,
    },
    {
      name: 'attack: ignore the proxy variables and dial the origin address directly → cannot connect',
      script: () => `curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 10 http://127.0.0.1:${port()}/; echo " exit=$?"`,
      want: /^000 exit=7$/,
    },
    {
      name: "attack: dial the daemon's own TCP proxy port on the host loopback → cannot connect",
      script: () => `curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x http://${daemon.proxy} http://allowed.test:${port()}/; echo " exit=$?"`,
      want: /^000 exit=7$/,
    },
  ];
  // One sandbox runs every case (each in its own subshell); the outputs are checked one by one.
  const r = await execIn(batchScript(cases.map((c) => c.script())));
  t.equal(r.code, 0, `the sandbox ran (stderr: ${r.stderr.trim()})`);
  const outputs = splitBatch(r.stdout, cases.length);
  cases.forEach((c, i) => t.match(outputs[i], c.want, c.name));
  t.ok(origin.requests.length >= 3, 'the origin was reached through the proxy');
  t.equal(await sessionsNow(), 0, 'every session was removed after its command ended');
});

t.test('events carry the session labels and the profile they selected', opts, async (t) => {
  const { events } = await daemon.client.events(500);
  const net = events.filter((e: CordonEvent): e is NetworkEvent => e.kind === 'network');
  const cases: { name: string; pick: (e: NetworkEvent) => boolean; decision: string }[] = [
    { name: 'allowed HTTP request', pick: (e) => e.via === 'http' && e.target.host === 'allowed.test', decision: 'allow' },
    { name: 'denied HTTP request', pick: (e) => e.via === 'http' && e.target.host === 'blocked.test', decision: 'deny' },
    { name: 'SOCKS5 connection', pick: (e) => e.via === 'socks5' && e.target.host === 'allowed.test', decision: 'allow' },
    { name: 'CONNECT tunnel from the ssh ProxyCommand', pick: (e) => e.via === 'connect' && e.target.host === 'allowed.test', decision: 'allow' },
  ];
  for (const c of cases) {
    const e = net.find(c.pick);
    t.ok(e, `${c.name}: an event was recorded`);
    t.equal(e?.decision, c.decision, `${c.name}: decision`);
    t.same(e?.session.labels, { agent: 'test', team: 'web' }, `${c.name}: labels of the exec session`);
    t.equal(e?.profile, 'web', `${c.name}: the labels selected profile 'web'`);
    t.match(e?.session.id, /^s_/, `${c.name}: attributed to a session, not anonymous`);
  }
  const mount = events.find((e: CordonEvent): e is MountEvent => e.kind === 'mount' && e.mount.path === WORK);
  t.same(mount?.session.labels, { agent: 'test', team: 'web' }, 'the mount check was recorded with the session labels');
});

t.test('mounts: exactly what the policy allows, masks applied', opts, async (t) => {
  t.ok(hostHomeEntries().length > 0, 'control: the host /root or /home has entries the sandbox must not show');
  const cases: { name: string; script: string; want: RegExp; host?: () => void }[] = [
    {
      name: 'write to the rw mount: the file appears on the host',
      script: `echo written-inside > ${WORK}/out.txt && echo ok`,
      want: /^ok$/,
      host: () => t.equal(readFileSync(join(WORK, 'out.txt'), 'utf8'), 'written-inside\n', 'host sees the file'),
    },
    {
      name: 'ro mask: readable',
      script: `cat ${WORK}/vendor/lib.txt`,
      want: /^vendored$/,
    },
    {
      name: 'ro mask: touch fails with EROFS',
      script: `touch ${WORK}/vendor/new.txt 2>&1; echo "exit=$?"`,
      want: /Read-only file system\s+exit=1$/,
      host: () => t.notOk(existsSync(join(WORK, 'vendor', 'new.txt')), 'nothing created on the host'),
    },
    {
      name: 'deny mask (file): its content cannot be read',
      script: `cat ${WORK}/.env 2>&1; echo "exit=$?"`,
      want: /^(?![\s\S]*host-only-secret)[\s\S]*exit=[1-9]/,
    },
    {
      name: 'deny mask (directory): shown empty',
      script: `ls -A ${WORK}/secrets | wc -l; cat ${WORK}/secrets/id_ed25519 2>&1; echo "exit=$?"`,
      want: /^0\n[\s\S]*No such file or directory\s+exit=1$/,
    },
    {
      name: 'attack: write into a denied directory',
      script: `{ echo planted > ${WORK}/secrets/planted; } 2>&1; echo "exit=$?"`,
      want: /Read-only file system\s+exit=[1-9]/,
      host: () => t.notOk(existsSync(join(WORK, 'secrets', 'planted')), 'nothing planted on the host'),
    },
    {
      name: 'attack: create a denied file that did not exist yet (.envrc run by direnv on the host)',
      script: `{ echo 'curl evil' > ${WORK}/.envrc; } 2>&1; echo "exit=$?"`,
      want: /exit=[1-9]/,
      host: () => t.notOk(existsSync(join(WORK, '.envrc')), 'no .envrc on the host (and the placeholder was removed)'),
    },
    {
      name: 'attack: plant a denied git hook whose directory exists but the file does not',
      script: `{ echo 'curl evil' > ${WORK}/hooks/pre-commit; } 2>&1; echo "exit=$?"`,
      want: /exit=[1-9]/,
      host: () => t.same(readdirSync(join(WORK, 'hooks')), [], 'hooks/ is still empty on the host'),
    },
    {
      name: 'attack: unmount the masks (root in the sandbox has no capabilities)',
      script: `umount ${WORK}/secrets 2>/dev/null; umount ${WORK}/.env 2>/dev/null; ls -A ${WORK}/secrets | wc -l; cat ${WORK}/.env 2>/dev/null; echo end`,
      want: /^0\nend$/,
    },
    {
      name: 'attack: new user namespace, then unmount the masks',
      script: `unshare -Urm sh -c 'umount ${WORK}/secrets; umount ${WORK}/.env; cat ${WORK}/.env ${WORK}/secrets/id_ed25519' 2>&1; echo "exit=$?"`,
      want: /^(?![\s\S]*(host-only-secret|ssh-private-key|not found))[\s\S]*exit=[1-9]/,
    },
    {
      name: 'a host path that was not mounted is not there',
      script: `ls ${OTHER} 2>&1; cat ${OTHER}/host-only 2>&1; ls -A ${ROOT}`,
      want: /^(?![\s\S]*host-only-file)[\s\S]*No such file or directory[\s\S]*No such file or directory\s+work$/,
    },
    {
      name: 'the real home is replaced by an empty private one (writable, gone afterwards)',
      script: `echo "HOME=$HOME"; ls -A "$HOME" | wc -l; touch "$HOME/${HOME_PROBE}" && echo writable`,
      want: new RegExp(`^HOME=${ACCOUNT_HOME}\\n0\\nwritable$`),
      host: () => t.notOk(existsSync(join(ACCOUNT_HOME, HOME_PROBE)), 'nothing written to the host home'),
    },
    {
      name: "/root and /home: none of the host's entries are there",
      script: `ls -A /root /home 2>&1; echo end`,
      want: new RegExp(`^(?![\\s\\S]*(${hostHomeEntries().map(escapeRe).join('|') || 'no-entries'}))[\\s\\S]*end$`),
    },
    {
      name: 'a private /tmp (only the parents of the mounts)',
      script: `ls -A /tmp`,
      want: ROOT.startsWith('/tmp/') ? new RegExp(`^${basename(ROOT)}$`) : /^$/,
    },
  ];
  const r = await execIn(batchScript(cases.map((c) => c.script)));
  t.equal(r.code, 0, `the sandbox ran (stderr: ${r.stderr.trim()})`);
  const outputs = splitBatch(r.stdout, cases.length);
  cases.forEach((c, i) => {
    t.match(outputs[i], c.want, c.name);
    c.host?.();
  });
  t.equal(await sessionsNow(), 0, 'sessions removed');
});

t.test("attack: reach the daemon's status socket through a mount to register a session with other labels", opts, async (t) => {
  t.ok(existsSync(daemon.socket) && daemon.proxySocket !== null && existsSync(daemon.proxySocket), 'both sockets exist in the mounted dir on the host');
  const r = await execIn(
    `curl -s --max-time 10 --unix-socket ${daemon.socket} -X POST -d '{"labels":{"team":"admin"}}' http://cordon/v1/sessions; echo " exit=$?"; ` +
      `curl -s --max-time 10 --unix-socket ${daemon.proxySocket} http://allowed.test:${origin.port}/; echo " exit=$?"`,
    { mounts: [`${WORK}:rw`, `${daemon.dir}:ro`] },
  );
  t.equal(r.code, 0, `sandbox ran (stderr: ${r.stderr.trim()})`);
  t.match(r.stdout.trim(), /^exit=7\s+exit=7$/, 'neither socket can be connected to (both hidden behind /dev/null)');
  t.equal(await sessionsNow(), 0, 'no session was registered from inside');
});

t.test("attack: read or rewrite the daemon's audit log and spools through a mount that covers its state dir", opts, async (t) => {
  t.ok(existsSync(join(daemon.stateDir, 'events.jsonl')), 'the audit log exists on the host, inside the mounted dir');
  const r = await execIn(`ls -A ${daemon.stateDir} | wc -l; cat ${daemon.stateDir}/events.jsonl; echo "cat=$?"; touch ${daemon.stateDir}/x; echo "touch=$?"`, {
    mounts: [`${WORK}:rw`, `${daemon.dir}:ro`],
  });
  t.equal(r.code, 0, `sandbox ran (stderr: ${r.stderr.trim()})`);
  const [count, ...rest] = r.stdout.trim().split('\n');
  t.equal(count?.trim(), '0', 'the state dir is an empty directory inside');
  t.match(rest.join('\n'), /cat=1/, 'the audit log cannot be read');
  t.match(rest.join('\n'), /touch=1/, 'nothing can be written there');
  t.ok(existsSync(join(daemon.stateDir, 'events.jsonl')) && !existsSync(join(daemon.stateDir, 'x')), 'the host state dir is untouched');
});

t.test('attack: a directory descriptor inherited from the parent opens the host filesystem', opts, async (t) => {
  const dirFd = openSync(OTHER, 'r');
  t.teardown(() => closeSync(dirFd));
  const script = `cat /proc/self/fd/3/host-only 2>&1; echo " exit=$?"`;
  const control = spawnSync('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe', dirFd], encoding: 'utf8' });
  t.match(control.stdout.trim(), /^host-only-file exit=0$/, 'control: without the sandbox, the inherited fd reaches the unmounted directory');
  const r = await runExec(['--socket', daemon.socket, '--labels', LABELS, '--mount', `${WORK}:rw`, '--', 'sh', '-c', script], {
    cwd: ROOT,
    extraFds: [dirFd],
  });
  t.equal(r.code, 0, `sandbox ran (stderr: ${r.stderr.trim()})`);
  t.notMatch(r.stdout, /host-only-file/, 'inside the sandbox it does not: cordon exec closed the inherited descriptor');
  t.match(r.stdout.trim(), /exit=[1-9]$/);
});

t.test('refuses to start when a requested mount is denied', opts, async (t) => {
  const cases: { name: string; mounts: string[]; named: RegExp[] }[] = [
    { name: 'guardrails deny rule', mounts: [`${PRIVATE}:ro`], named: [/guardrails/, /private area/] },
    { name: 'no rule: the profile default denies', mounts: [`${OTHER}:ro`], named: [/default of profile 'web'/] },
    { name: 'rw asked where the policy grants ro', mounts: [`${WORK}/vendor:rw`], named: [/profile:web/, /vendored code/] },
    { name: 'one allowed and one denied mount', mounts: [`${WORK}:rw`, `${PRIVATE}:rw`], named: [/private area/] },
  ];
  for (const [i, c] of cases.entries()) {
    const marker = join(WORK, `ran-${i}`);
    const r = await execIn(`touch ${marker}`, { mounts: c.mounts });
    t.equal(r.code, EXIT_EXEC_FAILED, `${c.name}: exit ${EXIT_EXEC_FAILED}`);
    t.match(r.stderr, /mount refused, nothing was run/, `${c.name}: says it refused`);
    for (const re of c.named) t.match(r.stderr, re, `${c.name}: names ${re.source}`);
    t.notOk(existsSync(marker), `${c.name}: the command never ran`);
  }
  t.equal(await sessionsNow(), 0, 'the sessions of refused runs were removed');
});

t.test("the command's exit status is returned", opts, async (t) => {
  const cases: [string, string, number][] = [
    ['success', 'exit 0', 0],
    ['exit 7', 'exit 7', 7],
    ['command not found', 'exec /nonexistent/tool', 127],
    ['command killed by SIGTERM', 'kill -TERM $$', 143],
  ];
  for (const [name, script, want] of cases) {
    const r = await execIn(script);
    t.equal(r.code, want, `${name}: exit ${want}`);
  }
});

t.test('a background process the command leaves behind dies with the sandbox', opts, async (t) => {
  const alive = join(WORK, 'bg-alive');
  const marker = `${ROOT}/background-marker`;
  const r = await execIn(
    `sh -c 'touch ${alive}; while :; do sleep 1; done; : ${marker}' </dev/null >/dev/null 2>&1 & ` +
      `i=0; while [ ! -e ${alive} ] && [ $i -lt 400 ]; do i=$((i+1)); sleep 0.05; done; exit 0`,
  );
  t.equal(r.code, 0, 'the command exited 0 without waiting for its background job');
  t.ok(existsSync(alive), 'the background job was running');
  t.ok(await waitUntil(() => pgrepArgv(marker).length === 0), 'it did not outlive the sandbox');
});

t.test('working directory and environment', opts, async (t) => {
  const cases: { name: string; cwd: string; args?: string[]; code: number; want: RegExp; stderr?: RegExp }[] = [
    { name: 'caller inside a mount: same directory', cwd: join(WORK, 'vendor'), code: 0, want: new RegExp(`^${WORK}/vendor$`) },
    { name: 'caller outside every mount: the first mount', cwd: ROOT, code: 0, want: new RegExp(`^${WORK}$`) },
    { name: '--cwd inside a mount', cwd: ROOT, args: ['--cwd', join(WORK, 'hooks')], code: 0, want: new RegExp(`^${WORK}/hooks$`) },
    { name: '--cwd outside every mount is refused', cwd: ROOT, args: ['--cwd', OTHER], code: EXIT_EXEC_FAILED, want: /^$/, stderr: /not visible in the sandbox/ },
    { name: '--cwd under a deny mask is refused', cwd: ROOT, args: ['--cwd', join(WORK, 'secrets')], code: EXIT_EXEC_FAILED, want: /^$/, stderr: /not visible in the sandbox/ },
  ];
  for (const c of cases) {
    const r = await execIn('pwd', { args: c.args, opts: { cwd: c.cwd } });
    t.equal(r.code, c.code, `${c.name}: exit ${c.code}`);
    t.match(r.stdout.trim(), c.want, c.name);
    if (c.stderr) t.match(r.stderr, c.stderr, `${c.name}: says why`);
  }
  const r = await execIn('env', { opts: { env: { GITHUB_TOKEN: 'ghp_hostonly', SSH_AUTH_SOCK: '/tmp/agent.sock', LANG: 'C.UTF-8' } } });
  t.equal(r.code, 0);
  const env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  t.notOk('GITHUB_TOKEN' in env, 'attack: host credentials in the environment do not leak in');
  t.notOk('SSH_AUTH_SOCK' in env, 'the host ssh-agent socket is not passed');
  t.notOk('CORDON_PROXY_AUTH' in env, 'the wrapper removed its credentials variable before running the command');
  t.equal(env.LANG, 'C.UTF-8', 'locale is passed');
  t.match(env.CORDON_SESSION, /^s_/);
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) t.match(env[k], /^http:\/\/s_[^:]+:[^@]+@127\.0\.0\.1:3128$/, `${k} carries the session credentials`);
  for (const k of ['ALL_PROXY', 'all_proxy']) t.match(env[k], /^socks5h:\/\/s_[^:]+:[^@]+@127\.0\.0\.1:3128$/, k);
  t.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1', "loopback inside is the sandbox's own");
});

t.test('signals reach the command; no helper process outlives the sandbox', opts, async (t) => {
  const cases: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const sig of cases) {
    const name = sig.slice(3);
    const started = join(WORK, `started-${name}`);
    const trapped = join(WORK, `trapped-${name}`);
    const script =
      `trap 'echo ${name} > ${trapped}; exit 5' ${name}; ` +
      `echo "$HTTP_PROXY" > ${started}; while :; do sleep 0.1; done`;
    const run = startExec(['--socket', daemon.socket, '--labels', LABELS, '--mount', `${WORK}:rw`, '--', 'sh', '-c', script], { cwd: ROOT });
    const pid = run.child.pid as number;
    t.ok(await waitUntil(() => existsSync(started) && readFileSync(started, 'utf8').includes('@')), `${sig}: the command started`);
    const status = await daemon.client.status();
    t.equal(status.sessions, 1, `${sig}: one session while it runs`);
    t.same(status.session_list[0]?.labels, { agent: 'test', team: 'web' }, `${sig}: with the exec labels`);
    const helpers = descendants(pid);
    const argvs = helpers.map((p) => cmdline(p) ?? '');
    t.ok(argvs.some((a) => a.startsWith('/usr/bin/bwrap') || a.includes('bwrap\0')), `${sig}: bubblewrap is among the descendants`);
    t.ok(argvs.some((a) => a.includes('socat') && a.includes('TCP-LISTEN')), `${sig}: the socat forwarder is among the descendants`);
    const secret = /:([^:@]+)@/.exec(readFileSync(started, 'utf8'))?.[1] ?? '';
    t.ok(secret.length > 8, `${sig}: read the session secret from inside`);
    t.notOk(
      argvs.some((a) => a.includes(secret)),
      `${sig}: attack: another local user reads the session secret from /proc/PID/cmdline — it is in no process's argv`,
    );
    run.child.kill(sig);
    const r = await run.done;
    t.equal(r.code, 5, `${sig}: the command's trap ran and its exit status came back`);
    t.equal(readFileSync(trapped, 'utf8'), `${name}\n`, `${sig}: the command received ${sig}`);
    t.ok(await waitUntil(() => helpers.every((p) => !isAlive(p))), `${sig}: every helper process (bwrap, socat, the command) is gone`);
    t.ok(await waitUntil(() => pgrepArgv(ROOT).length === 0), `${sig}: no process with the test's marker in its argv is left`);
    t.equal(await sessionsNow(), 0, `${sig}: the session was removed`);
  }
});

t.test('cordon exec killed outright (SIGKILL): the sandbox and its session die with it', opts, async (t) => {
  const started = join(WORK, 'started-KILL');
  const run = startExec(['--socket', daemon.socket, '--labels', LABELS, '--mount', `${WORK}:rw`, '--', 'sh', '-c', `touch ${started}; while :; do sleep 0.1; done`], {
    cwd: ROOT,
  });
  t.ok(await waitUntil(() => existsSync(started)), 'the command started');
  const helpers = descendants(run.child.pid as number);
  t.ok(helpers.length >= 3, 'bwrap, the wrapper, socat and the command are running');
  run.child.kill('SIGKILL');
  await run.done;
  t.ok(await waitUntil(() => helpers.every((p) => !isAlive(p))), 'every sandbox process died with it (--die-with-parent)');
  // The attack this closes: credentials of a killed run that keep working (and keep its labels' profile) until the daemon restarts.
  t.ok(await waitUntil(async () => (await sessionsNow()) === 0), "the session was deleted when the killed run's hold on it closed");
});

t.test('missing bubblewrap: a clear message that says how to install it', opts, async (t) => {
  const bin = join(ROOT, 'bin-without-bwrap');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const marker = join(WORK, 'ran-without-bwrap');
  const r = await runExec(['--socket', daemon.socket, '--labels', LABELS, '--mount', `${WORK}:rw`, '--', 'sh', '-c', `touch ${marker}`], {
    replaceEnv: true,
    env: { PATH: bin, HOME: ACCOUNT_HOME },
    cwd: ROOT,
  });
  t.equal(r.code, EXIT_EXEC_FAILED, `exit ${EXIT_EXEC_FAILED}`);
  t.match(r.stderr, /bubblewrap \(bwrap\) is not installed/, 'names what is missing');
  t.match(r.stderr, /apt-get install bubblewrap/, 'says how to install it');
  t.notOk(existsSync(marker), 'the command never ran');
  t.equal(await sessionsNow(), 0, 'no session was registered');
});
