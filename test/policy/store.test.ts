import t, { type Test } from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyStore, type PolicyStoreOptions } from '../../src/policy/store.js';
import { UrlPolicySource } from '../../src/policy/sources/url-source.js';
import { LAST_GOOD_FILE, POLICY_CACHE_DIR, type LastGoodMeta } from '../../src/policy/last-good.js';
import type { CompiledPolicy } from '../../src/policy/compile.js';
import { EventRecorder, PolicyServer, policyYaml, signText, tempDir, testKey, type TestKey } from '../helpers/policy-propagation.js';

interface Rig {
  store: PolicyStore;
  events: EventRecorder;
  server: PolicyServer;
  stateDir: string;
  url: string;
}

async function rig(
  t: Test,
  opts: { server?: PolicyServer; stateDir?: string; keys?: TestKey[]; force?: boolean; path?: string; timeoutMs?: number } = {},
): Promise<Rig> {
  let server = opts.server;
  if (server === undefined) {
    const s = await new PolicyServer().start();
    t.teardown(() => s.close());
    server = s;
  }
  const stateDir = opts.stateDir ?? (await tempDir(t));
  const events = new EventRecorder();
  const url = server.url(opts.path ?? '/policy.yaml');
  const source = new UrlPolicySource(url, { requestTimeoutMs: opts.timeoutMs ?? 2_000, pollIntervalMs: 3_600_000 });
  const options: PolicyStoreOptions = { source, stateDir, events, trustedKeys: (opts.keys ?? []).map((k) => k.trusted) };
  if (opts.force !== undefined) options.force = opts.force;
  const store = new PolicyStore(options);
  t.teardown(() => store.close());
  return { store, events, server, stateDir, url };
}

async function cacheMeta(stateDir: string): Promise<LastGoodMeta> {
  return JSON.parse(await readFile(join(stateDir, POLICY_CACHE_DIR, LAST_GOOD_FILE), 'utf8')) as LastGoodMeta;
}

t.test('start from the source: fresh status, events, last-known-good written', async (t) => {
  const { store, events, server, stateDir, url } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 42), 'v42');
  t.equal(store.current().policy.name, 'deny-all', 'deny-all before start');
  const status = await store.start();
  t.match(status, {
    name: 'acme',
    revision: 42,
    digest: /^sha256:[0-9a-f]{64}$/,
    source: url,
    key_id: null,
    loaded_at: String,
    checked_at: String,
    stale_since: null,
    last_error: null,
    state: 'fresh',
    mode: 'enforce',
  });
  t.same(Object.keys(status).sort(), ['checked_at', 'digest', 'key_id', 'last_error', 'loaded_at', 'mode', 'name', 'revision', 'source', 'stale_since', 'state'].sort(), 'exactly the DESIGN §7 fields + state + mode');
  t.equal(store.current().policy.name, 'acme');
  t.same(events.policy().map((e) => e.action), ['loaded', 'swapped']);
  t.match(events.policy('loaded')[0], { source: url, policy: { name: 'acme', revision: 42 }, details: { origin: 'source', etag: '"v42"' } });
  t.match(events.policy('swapped')[0], { policy: { name: 'acme' }, details: { previous: { name: 'deny-all' } } });
  const meta = await cacheMeta(stateDir);
  t.match(meta, { source: url, kind: 'url', etag: '"v42"', revision: 42, name: 'acme', digest: status.digest, key_id: null });
  t.equal(await readFile(join(stateDir, POLICY_CACHE_DIR, meta.generation, 'policy.yaml'), 'utf8'), policyYaml('acme', 42), 'exact bytes cached');
});

t.test('ETag round trip through the store: 304 changes nothing, a new ETag swaps once', async (t) => {
  const { store, events, server, stateDir } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  await store.start();
  const first = store.current();
  const swaps: [CompiledPolicy, CompiledPolicy][] = [];
  store.onSwap((next, prev) => swaps.push([next, prev]));
  const checkedBefore = store.status().checked_at;
  await new Promise((r) => setTimeout(r, 5));
  t.same(await store.reload(), { changed: false, error: null }, '304');
  const reqs = server.requestsFor('/policy.yaml');
  t.equal(reqs[reqs.length - 1].headers['if-none-match'], '"v1"', 'If-None-Match carries the accepted ETag');
  t.equal(store.current(), first, 'same compiled object after 304');
  t.not(store.status().checked_at, checkedBefore, 'checked_at recorded on 304');
  t.equal(events.policy().length, 2, 'no event for a 304');

  server.serveYaml('/policy.yaml', policyYaml('acme', 2), 'v2');
  t.same(await store.reload(), { changed: true, error: null });
  t.equal(store.status().revision, 2);
  t.equal(swaps.length, 1, 'listener called once');
  t.equal(swaps[0][0], store.current());
  t.equal(swaps[0][1], first, 'listener gets the previous policy');
  t.equal(first.policy.revision, 1, 'the old compiled policy is untouched (in-flight decisions keep it)');
  t.same(await store.reload(), { changed: false, error: null });
  t.equal(swaps.length, 1, 'picked up exactly once');
  t.equal((await cacheMeta(stateDir)).etag, '"v2"');
  const gens = (await readdir(join(stateDir, POLICY_CACHE_DIR))).filter((n) => n.startsWith('gen-'));
  t.equal(gens.length, 1, 'older cache generations removed');
});

t.test('same bytes under a new ETag: no swap, new ETag recorded', async (t) => {
  const { store, events, server, stateDir } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'a');
  await store.start();
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'b');
  t.same(await store.reload(), { changed: false, error: null });
  t.equal(events.policy('swapped').length, 1);
  t.equal((await cacheMeta(stateDir)).etag, '"b"');
  await store.reload();
  t.equal(server.requestsFor('/policy.yaml').at(-1)?.headers['if-none-match'], '"b"');
});

const outages: { name: string; route: Parameters<PolicyServer['route']>[1]; error: RegExp }[] = [
  { name: '500', route: { status: 500, body: 'oops' }, error: /HTTP 500/ },
  { name: '502', route: { status: 502 }, error: /HTTP 502/ },
  { name: 'timeout', route: { status: 200, hang: true }, error: /timed out after 300 ms/ },
];

for (const outage of outages) {
  t.test(`${outage.name}: the current policy is kept, last_error set, stale once, fresh again after a 304`, async (t) => {
    const { store, events, server } = await rig(t, { timeoutMs: 300 });
    server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
    await store.start();
    const before = store.current();
    server.route('/policy.yaml', outage.route);
    const r = await store.reload();
    t.equal(r.changed, false);
    t.match(r.error, outage.error);
    t.equal(store.current(), before, 'policy kept');
    const s = store.status();
    t.match(s.last_error, outage.error);
    t.equal(s.state, 'stale');
    t.type(s.stale_since, 'string');
    await store.reload();
    t.equal(events.policy('stale').length, 1, 'one stale event per outage');
    t.equal(store.status().stale_since, s.stale_since, 'stale_since is the start of the outage');
    server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
    t.same(await store.reload(), { changed: false, error: null });
    t.match(store.status(), { state: 'fresh', stale_since: null, last_error: null });
    t.equal(events.policy('swapped').length, 1, 'never swapped during the outage');
  });
}

t.test('signed policies', async (t) => {
  const acme = testKey('acme-2026');
  const attacker = testKey('attacker');

  t.test('a valid signature by a trusted key is accepted and reported', async (t) => {
    const { store, server, stateDir } = await rig(t, { keys: [acme] });
    const text = policyYaml('signed', 5);
    server.serveYaml('/policy.yaml', text, 's5', signText(text, acme));
    await store.start();
    t.match(store.status(), { name: 'signed', key_id: 'acme-2026', state: 'fresh' });
    const meta = await cacheMeta(stateDir);
    t.match(meta, { key_id: 'acme-2026', key_fingerprint: acme.trusted.fingerprint, files: [{ name: 'policy.yaml', signed: true }] });
  });

  const rejected: { name: string; serve: (server: PolicyServer) => void; error: RegExp }[] = [
    {
      name: 'attack: tampered body (signature of the original)',
      serve: (server) => {
        const good = policyYaml('signed', 6);
        server.serveYaml('/policy.yaml', good.replace('example.com', 'evil.example'), 't6', signText(good, acme));
      },
      error: /signature does not verify with any trusted key \(acme-2026\)/,
    },
    {
      name: 'attack: a valid signature by an untrusted key',
      serve: (server) => {
        const evil = policyYaml('evil', 7, 'evil.example');
        server.serveYaml('/policy.yaml', evil, 'e7', signText(evil, attacker));
      },
      error: /does not verify with any trusted key/,
    },
    {
      name: 'attack: signature removed',
      serve: (server) => server.serveYaml('/policy.yaml', policyYaml('unsigned', 8), 'u8'),
      error: /no signature .*policy\.yaml\.sig/,
    },
    {
      name: 'attack: garbage signature',
      serve: (server) => server.serveYaml('/policy.yaml', policyYaml('junk', 9), 'j9', 'AAAA'),
      error: /base64 of 64 bytes/,
    },
  ];
  for (const c of rejected) {
    t.test(c.name, async (t) => {
      const { store, server, events } = await rig(t, { keys: [acme] });
      const text = policyYaml('signed', 5);
      server.serveYaml('/policy.yaml', text, 's5', signText(text, acme));
      await store.start();
      const before = store.current();
      c.serve(server);
      const r = await store.reload();
      t.equal(r.changed, false);
      t.match(r.error, c.error);
      t.equal(store.current(), before, 'signed policy kept');
      t.match(store.status(), { name: 'signed', key_id: 'acme-2026', state: 'stale', last_error: c.error });
      const rej = events.policy('rejected');
      t.equal(rej.length, 1);
      t.match(rej[0], { details: { reason: 'signature' }, policy: { name: 'signed' } });
      await store.reload();
      t.equal(events.policy('rejected').length, 1, 'the same bad bytes are reported once, not on every poll');
    });
  }

  t.test('attack: untrusted signature at start: deny-all, says why', async (t) => {
    const { store, server, events } = await rig(t, { keys: [acme] });
    const evil = policyYaml('evil', 1);
    server.serveYaml('/policy.yaml', evil, 'e', signText(evil, attacker));
    await store.start();
    t.match(store.status(), { state: 'deny-all', name: 'deny-all', last_error: /no valid policy: .*does not verify.*no last-known-good copy/ });
    t.match(store.current().failClosed, /does not verify/);
    t.equal(events.policy('deny-all').length, 1);
  });
});

t.test('rollback protection', async (t) => {
  t.test('attack: an older revision is rejected; a policy without revision too; force accepts', async (t) => {
    const { store, server, events } = await rig(t);
    server.serveYaml('/policy.yaml', policyYaml('acme', 5), 'r5');
    await store.start();
    server.serveYaml('/policy.yaml', policyYaml('acme', 4), 'r4');
    const r = await store.reload();
    t.equal(r.changed, false);
    t.match(r.error, /revision 4 is older than revision 5 in force \(rollback refused/);
    t.equal(store.status().revision, 5);
    t.match(events.policy('rejected')[0], { details: { reason: 'rollback', revision: 4, floor: 5 } });
    server.serveYaml('/policy.yaml', policyYaml('acme', null), 'none');
    t.match((await store.reload()).error, /no revision is older than revision 5/);
    server.serveYaml('/policy.yaml', policyYaml('acme', 5, 'other.example'), 'r5b');
    t.equal((await store.reload()).changed, true, 'same revision, new content: accepted');
    server.serveYaml('/policy.yaml', policyYaml('acme', 4), 'r4');
    t.same(await store.reload({ force: true }), { changed: true, error: null }, 'forced');
    t.equal(store.status().revision, 4);
    t.match(events.policy('loaded').at(-1), { details: { forced_rollback_from: 5 } });
    server.serveYaml('/policy.yaml', policyYaml('acme', 3), 'r3');
    t.match((await store.reload()).error, /revision 3 is older than revision 4/, 'the floor is now the forced revision');
  });

  t.test('the store-wide force option accepts lower revisions', async (t) => {
    const { store, server } = await rig(t, { force: true });
    server.serveYaml('/policy.yaml', policyYaml('acme', 5), 'r5');
    await store.start();
    server.serveYaml('/policy.yaml', policyYaml('acme', 2), 'r2');
    t.equal((await store.reload()).changed, true);
  });

  t.test('attack: rollback across a restart: the cached revision is the floor', async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir });
    first.server.serveYaml('/policy.yaml', policyYaml('acme', 7), 'r7');
    await first.store.start();
    await first.store.close();
    first.server.serveYaml('/policy.yaml', policyYaml('acme', 6), 'r6');
    const second = await rig(t, { stateDir, server: first.server });
    await second.store.start();
    t.match(second.store.status(), { revision: 7, state: 'stale', last_error: /revision 6 is older than revision 7/ });
    t.same(second.events.policy().map((e) => e.action), ['loaded', 'swapped', 'rejected', 'stale']);
    t.match(second.events.policy('loaded')[0], { details: { origin: 'cache' } });
  });
});

t.test('start with the server down and a cache: uses the cache, reports stale; recovers via 304', async (t) => {
  const stateDir = await tempDir(t);
  const first = await rig(t, { stateDir });
  first.server.serveYaml('/policy.yaml', policyYaml('acme', 3), 'c3');
  await first.store.start();
  const digest = first.store.status().digest;
  await first.store.close();
  const port = first.server.port;
  await first.server.close();

  const second = await rig(t, { stateDir, server: first.server });
  const status = await second.store.start();
  t.match(status, { name: 'acme', revision: 3, digest, state: 'stale', stale_since: String, last_error: /ECONNREFUSED/ });
  t.same(second.events.policy().map((e) => e.action), ['loaded', 'swapped', 'stale']);
  t.match(second.events.policy('stale')[0], { details: { origin: 'cache' } });

  // The server comes back on the same port with the same document.
  const back = await new PolicyServer().start('127.0.0.1', port);
  t.teardown(() => back.close());
  back.serveYaml('/policy.yaml', policyYaml('acme', 3), 'c3');
  t.same(await second.store.reload(), { changed: false, error: null });
  t.equal(back.requests[0].headers['if-none-match'], '"c3"', 'the cached ETag is sent');
  t.match(second.store.status(), { state: 'fresh', stale_since: null, last_error: null });
});

t.test('start with neither source nor cache: deny-all, and says so; recovers when the source answers', async (t) => {
  const { store, events, server } = await rig(t);
  server.route('/policy.yaml', { status: 503 });
  const status = await store.start();
  t.match(status, { name: 'deny-all', state: 'deny-all', key_id: null, last_error: /no valid policy: .*HTTP 503.*no last-known-good copy/ });
  t.match(store.current().failClosed, /HTTP 503/);
  t.same(events.policy().map((e) => e.action), ['deny-all']);
  t.match(events.policy('deny-all')[0], { message: /denying all traffic/, details: { why: /HTTP 503/ } });
  server.route('/policy.yaml', { status: 500 });
  t.match((await store.reload()).error, /HTTP 500/);
  t.match(store.status(), { state: 'deny-all', last_error: /^no valid policy: .*HTTP 500/ }, 'still says why while denying all');
  t.equal(events.policy('deny-all').length, 1, 'deny-all reported once');
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  t.same(await store.reload(), { changed: true, error: null });
  t.match(store.status(), { name: 'acme', state: 'fresh', last_error: null });
  t.equal(store.current().failClosed, null);
});

t.test('invalid YAML from the source is rejected with file, line and path', async (t) => {
  const { store, server, events } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  await store.start();
  server.serveYaml('/policy.yaml', 'version: 1\nname: acme\nrevision: 2\nbogus: 1\n', 'bad');
  const r = await store.reload();
  t.equal(r.changed, false);
  t.match(r.error, /policy\.yaml:4: bogus: /);
  t.match(events.policy('rejected')[0], { details: { reason: 'invalid' } });
  t.equal(store.status().name, 'acme');
  server.route('/policy.yaml', { status: 200, body: Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0xfe, 0x0a]) });
  t.match((await store.reload()).error, /policy\.yaml: the policy file is not valid UTF-8/, 'invalid UTF-8 rejected');
  t.equal(store.status().revision, 1);
});

t.test('attack: a redirect to another origin keeps the policy and records why', async (t) => {
  const { store, server } = await rig(t);
  const other = await new PolicyServer().start();
  t.teardown(() => other.close());
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  await store.start();
  other.serveYaml('/evil.yaml', policyYaml('evil', 100), 'e');
  server.route('/policy.yaml', { status: 302, headers: { location: other.url('/evil.yaml') } });
  const r = await store.reload();
  t.match(r.error, /redirect to another origin refused/);
  t.equal(store.status().name, 'acme');
  t.equal(other.requests.length, 0);
});

t.test('last-known-good is re-verified on start', async (t) => {
  const acme = testKey('acme-2026');

  t.test('attack: a tampered cached copy is refused: deny-all', async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir, keys: [acme] });
    const text = policyYaml('signed', 2);
    first.server.serveYaml('/policy.yaml', text, 'v', signText(text, acme));
    await first.store.start();
    await first.store.close();
    const meta = await cacheMeta(stateDir);
    const cached = join(stateDir, POLICY_CACHE_DIR, meta.generation, 'policy.yaml');
    await writeFile(cached, text.replace('example.com', 'evil.example'));
    first.server.route('/policy.yaml', { status: 500 });
    const second = await rig(t, { stateDir, keys: [acme], server: first.server });
    await second.store.start();
    t.match(second.store.status(), { state: 'deny-all', last_error: /last-known-good copy rejected: .*does not verify/ });
    t.match(second.events.policy('rejected')[0], { details: { origin: 'cache', reason: 'signature' } });
  });

  t.test('attack: a cached copy accepted without signatures is refused once keys are configured', async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir });
    first.server.serveYaml('/policy.yaml', policyYaml('plain', 1), 'v');
    await first.store.start();
    await first.store.close();
    first.server.route('/policy.yaml', { status: 500 });
    const second = await rig(t, { stateDir, keys: [acme], server: first.server });
    await second.store.start();
    t.match(second.store.status(), { state: 'deny-all', last_error: /last-known-good copy rejected: .*no signature/ });
  });

  t.test('a cache edited without keys configured is caught by its recorded digest', async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir });
    first.server.serveYaml('/policy.yaml', policyYaml('plain', 1), 'v');
    await first.store.start();
    await first.store.close();
    const meta = await cacheMeta(stateDir);
    await writeFile(join(stateDir, POLICY_CACHE_DIR, meta.generation, 'policy.yaml'), policyYaml('plain', 1, 'evil.example'));
    first.server.route('/policy.yaml', { status: 500 });
    const second = await rig(t, { stateDir, server: first.server });
    await second.store.start();
    t.match(second.store.status(), { state: 'deny-all', last_error: /does not match the recorded/ });
  });

  t.test('a corrupt last-good.json is reported, not trusted', async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir });
    first.server.serveYaml('/policy.yaml', policyYaml('plain', 1), 'v');
    await first.store.start();
    await first.store.close();
    await writeFile(join(stateDir, POLICY_CACHE_DIR, LAST_GOOD_FILE), '{"format":1,');
    first.server.route('/policy.yaml', { status: 500 });
    const second = await rig(t, { stateDir, server: first.server });
    await second.store.start();
    t.match(second.store.status(), { state: 'deny-all', last_error: /last-known-good copy unreadable/ });
  });

  t.test("another source's cache is not used", async (t) => {
    const stateDir = await tempDir(t);
    const first = await rig(t, { stateDir, path: '/team-a.yaml' });
    first.server.serveYaml('/team-a.yaml', policyYaml('team-a', 1), 'a');
    await first.store.start();
    await first.store.close();
    const second = await rig(t, { stateDir, server: first.server, path: '/team-b.yaml' });
    await second.store.start();
    t.match(second.store.status(), { state: 'deny-all', last_error: /from another source/ });
  });
});

t.test('checks are serialised: concurrent reloads swap once', async (t) => {
  const { store, server, events } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  await store.start();
  server.serveYaml('/policy.yaml', policyYaml('acme', 2), 'v2');
  const results = await Promise.all([store.reload(), store.reload(), store.reload()]);
  t.same(
    results.map((r) => r.changed),
    [true, false, false],
  );
  t.equal(events.policy('swapped').length, 2);
});

t.test('a throwing swap listener does not block the swap or other listeners', async (t) => {
  const { store, server } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  let seen = 0;
  store.onSwap(() => {
    throw new Error('listener bug');
  });
  const off = store.onSwap(() => {
    seen += 1;
  });
  await store.start();
  t.equal(seen, 1);
  off();
  server.serveYaml('/policy.yaml', policyYaml('acme', 2), 'v2');
  await store.reload();
  t.equal(seen, 1, 'unsubscribed');
  t.equal(store.status().revision, 2);
});

t.test('lifecycle: reload before start and after close', async (t) => {
  const { store, server } = await rig(t);
  server.serveYaml('/policy.yaml', policyYaml('acme', 1), 'v1');
  t.same(await store.reload(), { changed: false, error: 'policy store not started' });
  await store.start();
  await t.rejects(store.start(), /already started/);
  await store.close();
  t.same(await store.reload(), { changed: false, error: 'policy store is closed' });
});
