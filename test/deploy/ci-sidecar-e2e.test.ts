/**
 * END-TO-END (runs only when dist/cli/main.js is built and has `run`): the CI
 * sidecar recipe with the real daemon: start → an allowed and a denied
 * request through the exported proxy → stop → the job summary.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { REPO_ROOT, dirFactory, run, sidecar } from '../helpers/deploy-fixtures.js';

const base = mkdtempSync(join(tmpdir(), 'cordon-ci-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const freshDir = dirFactory(base);

// ---------------------------------------------------------------------------- END-TO-END with the real daemon

const MAIN_JS = join(REPO_ROOT, 'dist', 'cli', 'main.js');
function daemonAvailable(): string | false {
  if (!existsSync(MAIN_JS)) return 'dist/cli/main.js is not built (npm run build) — the lead enables this by building';
  const help = run(process.execPath, [MAIN_JS, 'run', '--help']);
  if (help.code !== 0 || !help.stdout.includes('--state-dir') || !help.stdout.includes('--mode')) {
    return 'dist/cli/main.js has no `run --state-dir --mode` yet';
  }
  return false;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function viaProxy(proxyPort: number, url: string): Promise<{ status: number; reason: string | undefined }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers: { host: u.host, connection: 'close' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-cordon-reason'] as string | undefined }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('proxy request timed out')));
    req.on('error', reject);
    req.end();
  });
}

t.test('END-TO-END: start → allowed and denied requests through the proxy → stop → report', { skip: daemonAvailable() }, async (t) => {
  const allowedOrigin = createServer((_req, res) => res.end('allowed origin'));
  const deniedOrigin = createServer((_req, res) => res.end('denied origin must not be reached'));
  const allowedPort = await listen(allowedOrigin);
  const deniedPort = await listen(deniedOrigin);
  t.teardown(() => {
    allowedOrigin.close();
    deniedOrigin.close();
  });
  const dir = freshDir('e2e');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    [
      'version: 1',
      'name: sidecar-e2e',
      'mode: enforce',
      'profiles:',
      '  default:',
      '    network:',
      '      default: deny',
      '      rules:',
      '        - name: test origin',
      `          allow: ["127.0.0.1:${allowedPort}"]`,
      '',
    ].join('\n'),
  );
  const state = join(dir, 'state');
  const githubEnv = join(dir, 'github-env');
  const summaryFile = join(dir, 'summary.md');
  const env = {
    CORDON_BIN: MAIN_JS,
    CORDON_NODE: process.execPath,
    CORDON_POLICY: policy,
    CORDON_ENFORCE: 'true',
    CORDON_PORT: '0',
    CORDON_STATE_DIR: state,
    CORDON_START_TIMEOUT_S: '30',
    GITHUB_ENV: githubEnv,
    GITHUB_STEP_SUMMARY: summaryFile,
  };
  t.teardown(() => {
    sidecar('stop', env);
  });

  const started = sidecar('start', env);
  t.equal(started.code, 0, `start exits 0${started.code === 0 ? '' : `: ${started.stderr}`}`);
  if (started.code !== 0) return;
  const proxyUrl = /^HTTP_PROXY=(.*)$/m.exec(readFileSync(githubEnv, 'utf8'))?.[1] ?? '';
  const proxyPort = Number(new URL(proxyUrl).port);
  t.ok(proxyPort > 0, `HTTP_PROXY exported with the real port (${proxyUrl})`);
  const status = run(process.execPath, [MAIN_JS, 'status', '--json', '--socket', join(state, 'cordon.sock')]);
  t.equal(status.code, 0, 'cordon status answers on the exported socket');

  const allowed = await viaProxy(proxyPort, `http://127.0.0.1:${allowedPort}/`);
  t.equal(allowed.status, 200, 'an allowed loopback origin is reached through the proxy');
  const denied = await viaProxy(proxyPort, `http://127.0.0.1:${deniedPort}/`);
  t.equal(denied.status, 403, 'a destination the policy does not allow gets 403 in enforce mode');

  t.equal(sidecar('stop', env).code, 0, 'stop exits 0');
  t.not(run(process.execPath, [MAIN_JS, 'status', '--socket', join(state, 'cordon.sock')]).code, 0, 'the daemon no longer answers');
  const reported = sidecar('report', env);
  t.equal(reported.code, 0, 'report exits 0');
  const md = readFileSync(summaryFile, 'utf8');
  t.match(md, '**1 destination(s) blocked.**', 'one destination blocked');
  t.match(md, `| \`127.0.0.1:${allowedPort}\` | 1 | rule | profile:default › test origin › \`127.0.0.1:${allowedPort}\` |`, 'the allowed origin with its rule');
  t.match(md, new RegExp(`\\| \`127\\.0\\.0\\.1:${deniedPort}\` \\| 1 \\| [a-z-]+ \\|`), 'the denied origin');
  t.match(md, 'Mode: **enforce**', 'enforce mode reported');
});

