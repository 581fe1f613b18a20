import t from 'tap';
import { buildBwrapArgs, proxyEnv, wrapperArgv, SANDBOX_PROXY_SOCKET } from '../../src/exec/bwrap-args.js';
import { parseMountSpec } from '../../src/exec/run-sandbox.js';

function pairsAfter(args: string[], flag: string): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push([args[i + 1] ?? '', args[i + 2] ?? '']);
  });
  return out;
}

const plan = {
  system: [
    { path: '/usr', symlinkTo: null },
    { path: '/bin', symlinkTo: 'usr/bin' },
  ],
  mounts: [
    { path: '/home/a/src/app', access: 'rw' as const, masks: [
      { path: '/home/a/src/app/.env', access: 'deny' as const, kind: 'file' as const },
      { path: '/home/a/src/app/secrets', access: 'deny' as const, kind: 'dir' as const },
      { path: '/home/a/src/app/vendor', access: 'ro' as const, kind: 'dir' as const },
    ] },
    { path: '/home/a', access: 'ro' as const, masks: [] },
  ],
  proxySocket: '/run/cordon/proxy.sock.host',
  cwd: '/home/a/src/app',
  env: { HTTP_PROXY: 'http://x' },
  argv: ['/bin/true'],
};

t.test('namespaces: user, pid, net and more are always unshared', async (t) => {
  const args = buildBwrapArgs(plan);
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent', '--new-session']) {
    t.ok(args.includes(flag), flag);
  }
  t.notOk(args.includes('--share-net'), 'never shares the host network');
});

t.test('system dirs read-only, merged-usr symlinks recreated, private /tmp', async (t) => {
  const args = buildBwrapArgs(plan);
  t.same(pairsAfter(args, '--ro-bind')[0], ['/usr', '/usr']);
  t.same(pairsAfter(args, '--symlink')[0], ['usr/bin', '/bin']);
  t.same(pairsAfter(args, '--tmpfs')[0]?.[0], '/tmp');
});

t.test('mounts are bound parent-first with the requested access; masks come after them', async (t) => {
  const args = buildBwrapArgs(plan);
  const parent = args.indexOf('/home/a');
  const child = args.indexOf('/home/a/src/app');
  t.ok(parent > 0 && child > parent, 'the parent mount (/home/a) precedes the nested one');
  t.equal(args[parent - 1], '--ro-bind');
  t.equal(args[child - 1], '--bind', 'rw mount is a writable bind');
  const envMask = args.lastIndexOf('/home/a/src/app/.env');
  t.ok(envMask > child, 'masks are applied after the mount they cover');
  t.equal(args[envMask - 2], '--ro-bind');
  t.equal(args[envMask - 1], '/dev/null', 'a denied file is hidden behind /dev/null');
  const secrets = args.indexOf('/home/a/src/app/secrets');
  t.equal(args[secrets - 1], '--tmpfs', 'a denied directory is hidden behind an empty tmpfs');
  t.same(pairsAfter(args, '--ro-bind').find((p) => p[0] === '/home/a/src/app/vendor'), ['/home/a/src/app/vendor', '/home/a/src/app/vendor'], 'ro mask rebinds read-only');
});

t.test('the proxy socket is bound in and the environment is cleared then set', async (t) => {
  const args = buildBwrapArgs(plan);
  t.same(pairsAfter(args, '--bind').find((p) => p[1] === SANDBOX_PROXY_SOCKET), [plan.proxySocket, SANDBOX_PROXY_SOCKET]);
  t.ok(args.indexOf('--clearenv') < args.indexOf('--setenv'), 'host environment (tokens, keys) does not leak in');
  t.same(args.slice(-2), ['--', '/bin/true']);
});

t.test('proxy environment: upper and lower case, credentials, git over ssh through the proxy', async (t) => {
  const env = proxyEnv('s_abc', 'sek/ret');
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) t.equal(env[k], 'http://s_abc:sek%2Fret@127.0.0.1:3128', k);
  t.equal(env.ALL_PROXY, 'socks5h://s_abc:sek%2Fret@127.0.0.1:3128');
  t.equal(env.all_proxy, env.ALL_PROXY);
  t.match(env.GIT_SSH_COMMAND, /ProxyCommand='socat - PROXY:127\.0\.0\.1:%h:%p,proxyport=3128,proxyauth=s_abc:sek\/ret'/);
});

t.test('wrapper runs the command with its arguments untouched', async (t) => {
  const argv = wrapperArgv(['echo', 'a b', '$HOME']);
  t.equal(argv[0], '/bin/bash');
  t.same(argv.slice(3), ['cordon-exec', 'echo', 'a b', '$HOME'], 'arguments are passed as argv, never interpolated into the script');
});

const specs: [string, string, { path: string; access: string } | RegExp][] = [
  ['plain path defaults to ro', '/tmp/x', { path: '/tmp/x', access: 'ro' }],
  ['explicit rw', '~/src:rw', { path: '~/src', access: 'rw' }],
  ['explicit ro', '/a:b:ro', { path: '/a:b', access: 'ro' }],
  ['empty path', ':rw', /expected PATH/],
];
for (const [name, spec, want] of specs) {
  t.test(`--mount spec: ${name}`, async (t) => {
    if (want instanceof RegExp) t.throws(() => parseMountSpec(spec), want);
    else t.same(parseMountSpec(spec), want);
  });
}
