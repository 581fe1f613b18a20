import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  defaultDaemonConfig,
  formatConfigErrors,
  loadDaemonConfig,
  mergeFlags,
  parseDaemonConfigText,
  type ConfigError,
  type ConfigResult,
  type DaemonConfig,
} from '../../src/daemon/config.js';
import { DEFAULT_POLICY_PATH } from '../../src/policy/load.js';
import { tempDir } from '../helpers/policy-propagation.js';

const FILE = '/etc/cordon/config.yaml';
const ENV = { env: {}, cwd: '/work/here' };

function parse(text: string): ConfigResult {
  return parseDaemonConfigText(text, FILE, ENV);
}

function ok(t: Test, text: string): DaemonConfig {
  const r = parse(text);
  if (!r.ok) {
    t.fail(`unexpected errors:\n${formatConfigErrors(r.errors)}`);
    throw new Error('config invalid');
  }
  return r.config;
}

function errors(text: string): ConfigError[] {
  const r = parse(text);
  return r.ok ? [] : r.errors;
}

const FULL = `
listen: 127.0.0.1:3128
socks_listen: 127.0.0.1:1080
socket: /run/cordon/cordon.sock
proxy_socket: /run/cordon/proxy.sock
state_dir: /var/lib/cordon
mode: audit
require_session: true
resolver: 127.0.0.53:53
upstream_proxy: http://proxy.corp:8080
allow_non_loopback: false
identity: { user: alice@acme.com, device: alice-mbp }
policy:
  source: https://policy.acme.com/cordon/engineering.yaml
  poll_interval_s: 300
  trusted_keys: [/etc/cordon/keys/acme-2026.pub, keys/acme-2027.pub]
  bearer_token_file: /etc/cordon/token
sinks:
  - name: siem
    type: otlp
    url: https://otel.acme.com:4318/v1/logs
    format: native
    headers: { X-Team: sec }
    spool_max_bytes: 268435456
  - name: splunk
    type: hec
    url: https://splunk.acme.com:8088/services/collector
    format: ocsf
    headers: { Authorization: "Splunk 0000-1111" }
  - name: local-rsyslog
    type: syslog
    url: tcp://127.0.0.1:6514
limits: { max_connections: 4096, header_timeout_ms: 10000, idle_timeout_ms: 300000 }
audit_log: { max_bytes: 10485760, max_age_s: 3600, retain_files: 7 }
`;

t.test('no file: every default', async (t) => {
  const c = defaultDaemonConfig(ENV);
  t.same(
    { ...c, identity: null },
    {
      listen: '127.0.0.1:3128',
      socks_listen: null,
      socket: '/work/here/.cordon/cordon.sock',
      proxy_socket: null,
      state_dir: '/work/here/.cordon',
      mode: null,
      require_session: false,
      resolver: null,
      upstream_proxy: null,
      allow_non_loopback: false,
      identity: null,
      policy: { source: DEFAULT_POLICY_PATH, poll_interval_s: 300, trusted_keys: [], bearer_token_file: null },
      sinks: [],
      limits: { max_connections: 4096, header_timeout_ms: 10000, idle_timeout_ms: 300000 },
      audit_log: { max_bytes: 104857600, max_age_s: 86400, retain_files: 14 },
      file: null,
      defaulted: c.defaulted,
    },
  );
  t.type(c.identity.user, 'string');
  t.ok(c.identity.user.length > 0);
  t.ok(c.identity.device.length > 0);
  t.ok(c.defaulted.includes('socket') && c.defaulted.includes('policy.source'));
  t.equal(defaultDaemonConfig({ env: { CORDON_STATE_DIR: '/tmp/st' }, cwd: '/x' }).state_dir, '/tmp/st', '$CORDON_STATE_DIR');
  t.equal(defaultDaemonConfig({ env: { CORDON_STATE_DIR: '/tmp/st' }, cwd: '/x' }).socket, '/tmp/st/cordon.sock');
});

t.test('an empty file and a file of comments give the defaults', async (t) => {
  for (const text of ['', '# nothing\n', '---\n']) {
    const c = ok(t, text);
    t.equal(c.listen, '127.0.0.1:3128');
    t.equal(c.file, FILE);
  }
});

t.test('every key of DESIGN §6 (+ proxy_socket, allow_non_loopback, audit_log)', async (t) => {
  const c = ok(t, FULL);
  t.equal(c.listen, '127.0.0.1:3128');
  t.equal(c.socks_listen, '127.0.0.1:1080');
  t.equal(c.socket, '/run/cordon/cordon.sock');
  t.equal(c.proxy_socket, '/run/cordon/proxy.sock');
  t.equal(c.state_dir, '/var/lib/cordon');
  t.equal(c.mode, 'audit');
  t.equal(c.require_session, true);
  t.equal(c.resolver, '127.0.0.53:53');
  t.equal(c.upstream_proxy, 'http://proxy.corp:8080');
  t.equal(c.allow_non_loopback, false);
  t.same(c.identity, { user: 'alice@acme.com', device: 'alice-mbp' });
  t.same(c.policy, {
    source: 'https://policy.acme.com/cordon/engineering.yaml',
    poll_interval_s: 300,
    trusted_keys: ['/etc/cordon/keys/acme-2026.pub', '/etc/cordon/keys/acme-2027.pub'],
    bearer_token_file: '/etc/cordon/token',
  });
  t.same(c.sinks, [
    { name: 'siem', type: 'otlp', url: 'https://otel.acme.com:4318/v1/logs', format: 'native', headers: { 'X-Team': 'sec' }, spool_max_bytes: 268435456 },
    {
      name: 'splunk',
      type: 'hec',
      url: 'https://splunk.acme.com:8088/services/collector',
      format: 'ocsf',
      headers: { Authorization: 'Splunk 0000-1111' },
      spool_max_bytes: 268435456,
    },
    { name: 'local-rsyslog', type: 'syslog', url: 'tcp://127.0.0.1:6514', format: 'native', headers: {}, spool_max_bytes: 268435456 },
  ]);
  t.same(c.limits, { max_connections: 4096, header_timeout_ms: 10000, idle_timeout_ms: 300000 });
  t.same(c.audit_log, { max_bytes: 10485760, max_age_s: 3600, retain_files: 7 });
  t.same(c.defaulted, [], 'nothing defaulted');
});

t.test('single keys and their normalised values', async (t) => {
  const cases: { name: string; yaml: string; get: (c: DaemonConfig) => unknown; want: unknown }[] = [
    { name: 'IPv6 listen', yaml: 'listen: "[::1]:3128"', get: (c) => c.listen, want: '[::1]:3128' },
    { name: 'localhost listen', yaml: 'listen: localhost:0', get: (c) => c.listen, want: 'localhost:0' },
    { name: 'null socks_listen', yaml: 'socks_listen: null', get: (c) => c.socks_listen, want: null },
    { name: 'mode null', yaml: 'mode: ~', get: (c) => c.mode, want: null },
    { name: 'mode enforce', yaml: 'mode: enforce', get: (c) => c.mode, want: 'enforce' },
    { name: 'resolver without port', yaml: 'resolver: 1.1.1.1', get: (c) => c.resolver, want: '1.1.1.1:53' },
    { name: 'IPv6 resolver', yaml: 'resolver: "2606:4700::1111"', get: (c) => c.resolver, want: '[2606:4700::1111]:53' },
    { name: 'resolver with port', yaml: 'resolver: "[::1]:5353"', get: (c) => c.resolver, want: '[::1]:5353' },
    { name: 'socks5 upstream', yaml: 'upstream_proxy: socks5://u:p@proxy:1080', get: (c) => c.upstream_proxy, want: 'socks5://u:p@proxy:1080' },
    { name: 'relative state_dir', yaml: 'state_dir: state', get: (c) => c.state_dir, want: '/etc/cordon/state' },
    { name: 'socket follows state_dir', yaml: 'state_dir: /srv/c', get: (c) => c.socket, want: '/srv/c/cordon.sock' },
    { name: '~ path', yaml: 'proxy_socket: ~/cordon.sock', get: (c) => c.proxy_socket, want: join(homedir(), 'cordon.sock') },
    { name: 'relative policy path', yaml: 'policy: { source: policies/p.yaml }', get: (c) => c.policy.source, want: '/etc/cordon/policies/p.yaml' },
    { name: 'loopback http policy', yaml: 'policy: { source: "http://127.0.0.1:8080/p.yaml" }', get: (c) => c.policy.source, want: 'http://127.0.0.1:8080/p.yaml' },
    { name: 'empty sinks', yaml: 'sinks: []', get: (c) => c.sinks, want: [] },
    { name: 'null sinks', yaml: 'sinks:', get: (c) => c.sinks, want: [] },
    { name: 'non-loopback allowed', yaml: 'listen: 0.0.0.0:3128\nallow_non_loopback: true', get: (c) => c.listen, want: '0.0.0.0:3128' },
    { name: 'partial limits', yaml: 'limits: { max_connections: 10 }', get: (c) => c.limits, want: { max_connections: 10, header_timeout_ms: 10000, idle_timeout_ms: 300000 } },
    { name: 'partial identity', yaml: 'identity: { device: ci-runner-7 }', get: (c) => c.identity.device, want: 'ci-runner-7' },
  ];
  for (const c of cases) t.same(c.get(ok(t, c.yaml)), c.want, c.name);
});

t.test('unknown keys are errors with the YAML path and line', async (t) => {
  const cases: { name: string; yaml: string; path: string; line: number; message: RegExp }[] = [
    { name: 'top level', yaml: 'listen: 127.0.0.1:3128\nlisten_port: 3128\n', path: 'listen_port', line: 2, message: /unknown key 'listen_port'/ },
    { name: 'typo with suggestion', yaml: 'policy:\n  sourc: /x.yaml\n', path: 'policy.sourc', line: 2, message: /did you mean 'source'/ },
    { name: 'in identity', yaml: 'identity:\n  user: a\n  email: b\n', path: 'identity.email', line: 3, message: /unknown key 'email'/ },
    { name: 'in a sink', yaml: 'sinks:\n  - name: a\n    type: http\n    url: https://x/\n    token: t\n', path: 'sinks[0].token', line: 5, message: /unknown key 'token'/ },
    { name: 'in limits', yaml: 'limits:\n  max_header_bytes: 1\n', path: 'limits.max_header_bytes', line: 2, message: /unknown key/ },
    { name: 'in audit_log', yaml: 'audit_log:\n  path: /x\n', path: 'audit_log.path', line: 2, message: /unknown key/ },
  ];
  for (const c of cases) {
    const errs = errors(c.yaml);
    t.equal(errs.length, 1, `${c.name}: one error`);
    t.match(errs[0], { file: FILE, path: c.path, line: c.line, message: c.message }, c.name);
  }
});

t.test('wrong types are errors with the YAML path and line', async (t) => {
  const cases: { name: string; yaml: string; path: string; line: number; message: RegExp }[] = [
    { name: 'listen as a number', yaml: 'listen: 3128', path: 'listen', line: 1, message: /must be a string, got the number 3128/ },
    { name: 'bool as a string', yaml: 'require_session: "yes"', path: 'require_session', line: 1, message: /must be true or false, got the string 'yes'/ },
    { name: 'integer as a string', yaml: 'limits:\n  max_connections: many', path: 'limits.max_connections', line: 2, message: /must be an integer/ },
    { name: 'fractional interval', yaml: 'policy:\n  poll_interval_s: 1.5', path: 'policy.poll_interval_s', line: 2, message: /must be an integer/ },
    { name: 'sinks as a map', yaml: 'sinks: { name: x }', path: 'sinks', line: 1, message: /must be a list, got a map/ },
    { name: 'trusted_keys as a string', yaml: 'policy:\n  trusted_keys: /k.pub', path: 'policy.trusted_keys', line: 2, message: /must be a list/ },
    { name: 'identity as a list', yaml: 'identity: [a, b]', path: 'identity', line: 1, message: /must be a map, got a list/ },
    { name: 'policy source as a number', yaml: 'policy:\n  source: 5', path: 'policy.source', line: 2, message: /must be a string/ },
    { name: 'header value as a number', yaml: 'sinks:\n  - name: a\n    type: http\n    url: https://x/\n    headers: { X-A: 1 }', path: 'sinks[0].headers.X-A', line: 5, message: /must be a string/ },
    { name: 'document is a list', yaml: '- a\n- b', path: '', line: 1, message: /must be a map/ },
    { name: 'limits as a scalar', yaml: 'limits: 5', path: 'limits', line: 1, message: /must be a map/ },
  ];
  for (const c of cases) {
    const errs = errors(c.yaml);
    t.equal(errs.length, 1, `${c.name}: one error`);
    t.match(errs[0], { path: c.path, line: c.line, message: c.message }, c.name);
  }
});

t.test('bad values', async (t) => {
  const cases: { name: string; yaml: string; path: string; message: RegExp }[] = [
    { name: 'attack: non-loopback listen without allow_non_loopback', yaml: 'listen: 0.0.0.0:3128', path: 'listen', message: /not a loopback address; set allow_non_loopback/ },
    { name: 'non-loopback socks_listen', yaml: 'socks_listen: 192.168.1.2:1080', path: 'socks_listen', message: /not a loopback address/ },
    { name: 'listen host name', yaml: 'listen: proxy.local:3128', path: 'listen', message: /IP address or localhost/ },
    { name: 'listen without port', yaml: 'listen: 127.0.0.1', path: 'listen', message: /HOST:PORT/ },
    { name: 'listen port out of range', yaml: 'listen: 127.0.0.1:70000', path: 'listen', message: /HOST:PORT/ },
    { name: 'mode', yaml: 'mode: permissive', path: 'mode', message: /enforce, audit or null/ },
    { name: 'resolver name', yaml: 'resolver: dns.google', path: 'resolver', message: /IP or IP:PORT/ },
    { name: 'upstream scheme', yaml: 'upstream_proxy: ftp://p:21', path: 'upstream_proxy', message: /scheme must be one of http, socks5, socks5h/ },
    { name: 'upstream path', yaml: 'upstream_proxy: http://p:8080/x', path: 'upstream_proxy', message: /must not have a path/ },
    { name: 'attack: cleartext remote policy', yaml: 'policy: { source: "http://policy.acme.com/p.yaml" }', path: 'policy.source', message: /only to a loopback host/ },
    { name: 'bearer token with a file source', yaml: 'policy: { source: /etc/p.yaml, bearer_token_file: /t }', path: 'policy.bearer_token_file', message: /URL policy source only/ },
    { name: 'poll interval 0', yaml: 'policy: { poll_interval_s: 0 }', path: 'policy.poll_interval_s', message: /between 1 and/ },
    { name: 'duplicate trusted key', yaml: 'policy: { trusted_keys: [/k.pub, /k.pub] }', path: 'policy.trusted_keys[1]', message: /listed twice/ },
    { name: 'empty path', yaml: 'state_dir: ""', path: 'state_dir', message: /non-empty path/ },
    { name: 'control char in identity', yaml: 'identity: { user: "a\\nb" }', path: 'identity.user', message: /control characters/ },
    { name: 'max_connections 0', yaml: 'limits: { max_connections: 0 }', path: 'limits.max_connections', message: /between 1 and/ },
    { name: 'header timeout too small', yaml: 'limits: { header_timeout_ms: 5 }', path: 'limits.header_timeout_ms', message: /between 100 and/ },
    { name: 'audit_log max_age_s 0', yaml: 'audit_log: { max_age_s: 0 }', path: 'audit_log.max_age_s', message: /between 60 and/ },
    { name: 'audit_log retain 0', yaml: 'audit_log: { retain_files: 0 }', path: 'audit_log.retain_files', message: /between 1 and/ },
    { name: 'sink missing url', yaml: 'sinks:\n  - { name: a, type: http }', path: 'sinks[0].url', message: /'url' is required/ },
    { name: 'sink type', yaml: 'sinks:\n  - { name: a, type: kafka, url: "https://x/" }', path: 'sinks[0].type', message: /one of otlp, http, hec, syslog/ },
    { name: 'sink format', yaml: 'sinks:\n  - { name: a, type: http, url: "https://x/", format: cef }', path: 'sinks[0].format', message: /one of native, ocsf/ },
    { name: 'sink name with a slash', yaml: 'sinks:\n  - { name: a/b, type: http, url: "https://x/" }', path: 'sinks[0].name', message: /letters, digits/ },
    { name: 'syslog over https', yaml: 'sinks:\n  - { name: a, type: syslog, url: "https://x/" }', path: 'sinks[0].url', message: /tcp:\/\/host:port or tls:\/\/host:port/ },
    { name: 'hec without token', yaml: 'sinks:\n  - { name: a, type: hec, url: "https://x/" }', path: 'sinks[0].headers', message: /Authorization = "Splunk <token>"/ },
    { name: 'credentials in sink URL', yaml: 'sinks:\n  - { name: a, type: http, url: "https://u:p@x/" }', path: 'sinks[0].url', message: /credentials/ },
    { name: 'spool too small', yaml: 'sinks:\n  - { name: a, type: http, url: "https://x/", spool_max_bytes: 10 }', path: 'sinks[0].spool_max_bytes', message: /between 65536 and/ },
  ];
  for (const c of cases) {
    const errs = errors(c.yaml);
    t.equal(errs.length, 1, `${c.name}: one error (${errs.map((e) => e.message).join('; ')})`);
    t.match(errs[0], { path: c.path, message: c.message }, c.name);
    t.ok(errs[0].line > 0, `${c.name}: has a line`);
  }
});

t.test('YAML-level problems: duplicate keys, syntax errors, aliases, duplicate sinks', async (t) => {
  t.match(errors('listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n')[0], { line: 2, message: /duplicate key/ });
  t.match(errors('policy: {source: [\n')[0], { message: /invalid YAML/ });
  t.match(errors('identity: &id { user: a }\nlimits: *id\n')[0], { path: 'limits', line: 2, message: /aliases are not allowed/ });
  const dup = errors('sinks:\n  - { name: a, type: http, url: "https://x/" }\n  - { name: A, type: http, url: "https://y/" }\n');
  t.match(dup, [{ path: 'sinks[1].name', line: 3, message: /used twice/ }]);
});

t.test('every error is reported at once, formatted file:line: path: message', async (t) => {
  const errs = errors('listen: 3128\nmode: x\nbogus: 1\nlimits:\n  idle_timeout_ms: -1\n');
  t.same(
    errs.map((e) => [e.path, e.line]),
    [
      ['listen', 1],
      ['mode', 2],
      ['bogus', 3],
      ['limits.idle_timeout_ms', 5],
    ],
  );
  const text = formatConfigErrors(errs);
  t.match(text.split('\n')[0], /^\/etc\/cordon\/config\.yaml:1: listen: must be a string/);
  t.equal(text.split('\n').length, 4);
});

t.test('loadDaemonConfig reads a file; a missing file is an error', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cordon.yaml');
  await writeFile(file, 'state_dir: st\npolicy: { trusted_keys: [k.pub] }\n');
  const r = await loadDaemonConfig(file, ENV);
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.config.state_dir, join(dir, 'st'), 'relative to the config file');
    t.same(r.config.policy.trusted_keys, [join(dir, 'k.pub')]);
    t.equal(r.config.socket, join(dir, 'st', 'cordon.sock'));
  }
  const missing = await loadDaemonConfig(join(dir, 'nope.yaml'), ENV);
  t.match(missing, { ok: false, errors: [{ message: /cannot read config file: ENOENT/ }] });
});

t.test('mergeFlags: flags override the file', async (t) => {
  const base = ok(t, 'state_dir: /var/lib/cordon\nlisten: 127.0.0.1:3128\npolicy: { source: /etc/p.yaml }\n');
  const r = mergeFlags(
    base,
    {
      listen: '127.0.0.1:4000',
      socksListen: '127.0.0.1:1080',
      stateDir: 'st',
      proxySocket: 'proxy.sock',
      mode: 'audit',
      resolver: '9.9.9.9',
      upstreamProxy: 'socks5h://p:1080',
      requireSession: true,
      policy: 'https://policy.acme.com/p.yaml',
    },
    { cwd: '/cwd' },
  );
  t.ok(r.ok);
  if (!r.ok) return;
  const c = r.config;
  t.match(c, {
    listen: '127.0.0.1:4000',
    socks_listen: '127.0.0.1:1080',
    state_dir: '/cwd/st',
    socket: '/cwd/st/cordon.sock',
    proxy_socket: '/cwd/proxy.sock',
    mode: 'audit',
    resolver: '9.9.9.9:53',
    upstream_proxy: 'socks5h://p:1080',
    require_session: true,
    policy: { source: 'https://policy.acme.com/p.yaml' },
  });
  t.equal(base.listen, '127.0.0.1:3128', 'the input config is not mutated');
  t.notOk(c.defaulted.includes('listen'));
});

t.test('mergeFlags: an explicit socket stays when --state-dir moves', async (t) => {
  const base = ok(t, 'socket: /run/cordon/cordon.sock\n');
  const r = mergeFlags(base, { stateDir: '/srv/st' }, { cwd: '/' });
  t.ok(r.ok && r.config.socket === '/run/cordon/cordon.sock');
});

t.test('mergeFlags: bad flags are errors naming the flag', async (t) => {
  const base = ok(t, '');
  const cases: { name: string; flags: Parameters<typeof mergeFlags>[1]; path: string; message: RegExp }[] = [
    { name: 'attack: --listen on all interfaces', flags: { listen: '0.0.0.0:3128' }, path: '--listen', message: /not a loopback address/ },
    { name: '--listen garbage', flags: { listen: 'x' }, path: '--listen', message: /HOST:PORT/ },
    { name: '--mode', flags: { mode: 'off' }, path: '--mode', message: /enforce or audit/ },
    { name: 'attack: --policy over cleartext', flags: { policy: 'http://10.0.0.1/p.yaml' }, path: '--policy', message: /only to a loopback host/ },
    { name: '--resolver', flags: { resolver: 'dns' }, path: '--resolver', message: /IP or IP:PORT/ },
    { name: '--upstream-proxy', flags: { upstreamProxy: 'gopher://x' }, path: '--upstream-proxy', message: /scheme/ },
  ];
  for (const c of cases) {
    const r = mergeFlags(base, c.flags);
    t.match(r, { ok: false, errors: [{ file: '--flags', path: c.path, message: c.message }] }, c.name);
  }
  const allowed = mergeFlags(base, { listen: '0.0.0.0:3128', allowNonLoopback: true });
  t.ok(allowed.ok, '--allow-non-loopback permits it');
  const fileAllowed = mergeFlags(ok(t, 'allow_non_loopback: true'), { listen: '[::]:3128' });
  t.ok(fileAllowed.ok && fileAllowed.config.listen === '[::]:3128', 'allow_non_loopback from the file applies to a flag');
});
