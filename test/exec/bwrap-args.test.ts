import t from 'tap';
import {
  buildBwrapArgs,
  layeredBinds,
  procNetTcpListenPattern,
  proxyEnv,
  shellQuote,
  wrapperArgv,
  PROXY_AUTH_ENV,
  SANDBOX_PROXY_SOCKET,
  type SandboxPlan,
} from '../../src/exec/bwrap-args.js';
import { parseMountSpec } from '../../src/exec/run-sandbox.js';

function pairsAfter(args: string[], flag: string): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push([args[i + 1] ?? '', args[i + 2] ?? '']);
  });
  return out;
}

const plan: SandboxPlan = {
  system: [
    { path: '/usr', symlinkTo: null },
    { path: '/bin', symlinkTo: 'usr/bin' },
  ],
  privateHome: null,
  mounts: [
    {
      path: '/home/a/src/app',
      access: 'rw',
      masks: [
        { path: '/home/a/src/app/.env', access: 'deny', kind: 'file' },
        { path: '/home/a/src/app/secrets', access: 'deny', kind: 'dir' },
        { path: '/home/a/src/app/vendor', access: 'ro', kind: 'dir' },
      ],
    },
    { path: '/home/a', access: 'ro', masks: [] },
  ],
  proxySocket: '/run/cordon/proxy.sock.host',
  cwd: '/home/a/src/app',
  argv: ['/bin/true'],
  features: { disableUserns: true },
};

t.test('namespaces: user, pid, net and more are always unshared; no capabilities, no nested user namespaces', async (t) => {
  const args = buildBwrapArgs(plan);
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent', '--new-session', '--as-pid-1', '--disable-userns']) {
    t.ok(args.includes(flag), flag);
  }
  t.same(pairsAfter(args, '--cap-drop')[0]?.[0], 'ALL', 'attack: root in the sandbox unmounts a mask — every capability is dropped');
  t.notOk(args.includes('--share-net'), 'never shares the host network');
  t.notOk(buildBwrapArgs({ ...plan, features: { disableUserns: false } }).includes('--disable-userns'), 'an older bubblewrap without --disable-userns still works');
});

t.test('system dirs read-only, merged-usr symlinks recreated, private /tmp and home', async (t) => {
  const args = buildBwrapArgs(plan);
  t.same(pairsAfter(args, '--ro-bind')[0], ['/usr', '/usr']);
  t.same(pairsAfter(args, '--symlink')[0], ['usr/bin', '/bin']);
  t.same(pairsAfter(args, '--tmpfs')[0]?.[0], '/tmp');
  const withHome = buildBwrapArgs({ ...plan, privateHome: '/home/a', mounts: [plan.mounts[0]!] });
  const home = withHome.indexOf('/home/a');
  t.equal(withHome[home - 1], '--tmpfs', 'the home is an empty tmpfs');
  t.ok(home < withHome.indexOf('/home/a/src/app'), 'before the mounts beneath it');
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
  t.equal(args[secrets + 1], '--remount-ro', '… made read-only');
  t.same(pairsAfter(args, '--ro-bind').find((p) => p[0] === '/home/a/src/app/vendor'), ['/home/a/src/app/vendor', '/home/a/src/app/vendor'], 'ro mask rebinds read-only');
});

t.test('depth order across mounts and masks', async (t) => {
  const cases: { name: string; mounts: SandboxPlan['mounts']; want: string[] }[] = [
    {
      name: "attack: a deeper mount's bind does not undo a mask of a shallower mount",
      mounts: [
        { path: '/w', access: 'rw', masks: [{ path: '/w/a/b/.env', access: 'deny', kind: 'file' }] },
        { path: '/w/a', access: 'rw', masks: [] },
      ],
      want: ['--bind', '/w', '/w', '--bind', '/w/a', '/w/a', '--ro-bind', '/dev/null', '/w/a/b/.env'],
    },
    {
      name: 'a mount at the path of another mount\'s mask: the mount first, the mask after it',
      mounts: [
        { path: '/w', access: 'rw', masks: [{ path: '/w/v', access: 'ro', kind: 'dir' }] },
        { path: '/w/v', access: 'rw', masks: [] },
      ],
      want: ['--bind', '/w', '/w', '--bind', '/w/v', '/w/v', '--ro-bind', '/w/v', '/w/v'],
    },
    {
      name: 'an rw "mask" (never sent by the daemon) adds nothing',
      mounts: [{ path: '/w', access: 'ro', masks: [{ path: '/w/x', access: 'rw', kind: 'dir' }] }],
      want: ['--ro-bind', '/w', '/w'],
    },
  ];
  for (const c of cases) t.same(layeredBinds(c.mounts), c.want, c.name);
});

t.test('the proxy socket is bound in; the environment is not on the command line', async (t) => {
  const args = buildBwrapArgs(plan);
  t.same(pairsAfter(args, '--bind').find((p) => p[1] === SANDBOX_PROXY_SOCKET), [plan.proxySocket, SANDBOX_PROXY_SOCKET]);
  t.notOk(args.includes('--setenv'), 'attack: another local user reads the session secret from /proc/PID/cmdline — no --setenv');
  t.same(args.slice(-2), ['--', '/bin/true']);
  t.same(pairsAfter(args, '--chdir')[0]?.[0], '/home/a/src/app');
});

t.test('proxy environment: upper and lower case, credentials, git over ssh through the proxy', async (t) => {
  const env = proxyEnv('s_abc', 'sek/ret');
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) t.equal(env[k], 'http://s_abc:sek%2Fret@127.0.0.1:3128', k);
  t.equal(env.ALL_PROXY, 'socks5h://s_abc:sek%2Fret@127.0.0.1:3128');
  t.equal(env.all_proxy, env.ALL_PROXY);
  t.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1', "loopback inside the sandbox is the sandbox's own");
  t.match(env.GIT_SSH_COMMAND, /ProxyCommand='socat - PROXY:127\.0\.0\.1:%h:%p,proxyport=3128,proxyauthfile=\/run\/cordon\/proxy-auth'/);
  t.notMatch(env.GIT_SSH_COMMAND, /sek/, 'the secret is not in the ssh command (it would be in socat argv)');
  t.equal(env[PROXY_AUTH_ENV], 's_abc:sek/ret', 'raw credentials for the wrapper to write to the auth file');
});

t.test('wrapper runs the command with its arguments untouched', async (t) => {
  const argv = wrapperArgv(['echo', 'a b', '$HOME', "it's"], '/usr/bin/socat');
  t.equal(argv[0], '/bin/sh');
  t.same(argv.slice(3), ['cordon-exec', 'echo', 'a b', '$HOME', "it's"], 'arguments are passed as argv, never interpolated into the script');
  const script = argv[2] as string;
  t.match(script, /unset CORDON_PROXY_AUTH/, 'the credentials variable is removed before the command runs');
  t.match(script, /"\$@"\s*$/, 'the command runs last, in the foreground (stdin kept, signals not ignored)');
  t.match(script, /echo ready >&4\nexec 4>&-/, 'readiness is reported, then the pipe is closed for the command');
  t.match(script, /trap '' INT TERM HUP QUIT USR1 USR2 WINCH; exec '\/usr\/bin\/socat'/, 'the forwarder ignores relayed signals');
});

t.test('shell quoting and the /proc/net/tcp listen pattern', async (t) => {
  const cases: [string, string, string][] = [
    ['plain', 'abc', "'abc'"],
    ['single quote', "a'b", "'a'\\''b'"],
    ['dollar and backtick stay literal', '$(x)`y`', "'$(x)`y`'"],
  ];
  for (const [name, input, want] of cases) t.equal(shellQuote(input), want, name);
  t.equal(procNetTcpListenPattern(3128), ' 0100007F:0C38 00000000:0000 0A ');
  t.equal(procNetTcpListenPattern(80), ' 0100007F:0050 00000000:0000 0A ');
});

const specs: [string, string, { path: string; access: string } | RegExp][] = [
  ['plain path defaults to ro', '/tmp/x', { path: '/tmp/x', access: 'ro' }],
  ['explicit rw', '~/src:rw', { path: '~/src', access: 'rw' }],
  ['explicit ro', '/a:b:ro', { path: '/a:b', access: 'ro' }],
  ['relative path is the caller’s', 'sub/dir:rw', { path: '/caller/cwd/sub/dir', access: 'rw' }],
  ['empty path', ':rw', /expected PATH/],
];
for (const [name, spec, want] of specs) {
  t.test(`--mount spec: ${name}`, async (t) => {
    if (want instanceof RegExp) t.throws(() => parseMountSpec(spec, '/caller/cwd'), want);
    else t.same(parseMountSpec(spec, '/caller/cwd'), want);
  });
}
