import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FilePolicySource, listPolicyFiles, type FileSourceOptions } from '../../src/policy/sources/file-source.js';
import { PolicyStore } from '../../src/policy/store.js';
import { createPolicySource } from '../../src/policy/sources/create-source.js';
import { UrlPolicySource } from '../../src/policy/sources/url-source.js';
import { EventRecorder, policyYaml, signText, sleep, tempDir, testKey, waitFor, type TestKey } from '../helpers/policy-propagation.js';

/** Longer than the debounce: time for any further (unwanted) reload to have happened. */
const SETTLE_MS = 800;

interface Rig {
  store: PolicyStore;
  events: EventRecorder;
  swaps: () => number;
}

async function rig(t: Test, path: string, opts: { keys?: TestKey[]; stateDir?: string; source?: FileSourceOptions } = {}): Promise<Rig> {
  const events = new EventRecorder();
  const source = new FilePolicySource(path, { safetyPollMs: 0, ...opts.source });
  const store = new PolicyStore({
    source,
    stateDir: opts.stateDir ?? (await tempDir(t, 'cordon-state-')),
    events,
    trustedKeys: (opts.keys ?? []).map((k) => k.trusted),
  });
  t.teardown(() => store.close());
  let swaps = 0;
  store.onSwap(() => {
    swaps += 1;
  });
  return { store, events, swaps: () => swaps };
}

const DIR_MAIN = 'version: 1\nname: org\nrevision: 1\nguardrails:\n  network:\n    rules:\n      - name: meta\n        deny: [169.254.169.254]\n';
const DIR_PROFILES = (host: string): string =>
  `profiles:\n  default:\n    network:\n      default: deny\n      rules:\n        - name: web\n          allow: ["${host}:443"]\n`;

t.test('listPolicyFiles selects what the loader reads', async (t) => {
  const dir = await tempDir(t);
  for (const name of ['b.yaml', 'a.yml', 'B.yaml', '.hidden.yaml', 'notes.txt', 'x.yaml.sig']) await writeFile(join(dir, name), '');
  await mkdir(join(dir, 'sub.yaml'));
  t.same(await listPolicyFiles(dir), ['B.yaml', 'a.yml', 'b.yaml'], 'yaml/yml regular files, no dot-files, byte order');
});

t.test('a policy file: start, then an in-place edit is picked up', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('local', 1));
  const { store, events, swaps } = await rig(t, path);
  const status = await store.start();
  t.match(status, { name: 'local', revision: 1, source: path, state: 'fresh', last_error: null });
  await writeFile(path, policyYaml('local', 2));
  await waitFor(() => store.status().revision === 2, 'revision 2');
  await sleep(SETTLE_MS);
  t.equal(swaps(), 2, 'start + one edit');
  t.same(events.policy().map((e) => e.action), ['loaded', 'swapped', 'loaded', 'swapped']);
});

t.test('a file edit that breaks the YAML keeps the old policy and records why; fixing it swaps', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('local', 1));
  const { store, events, swaps } = await rig(t, path);
  await store.start();
  const before = store.current();
  await writeFile(path, 'version: 1\nname: local\nprofiles:\n  default: [unclosed\n');
  await waitFor(() => events.policy('rejected').length === 1, 'a rejection');
  t.equal(store.current(), before, 'old policy kept');
  const s = store.status();
  t.match(s, { name: 'local', revision: 1, state: 'stale', stale_since: String });
  t.match(s.last_error, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: `), 'error names file:line');
  t.match(events.policy('rejected')[0], { details: { reason: 'invalid' } });
  t.equal(events.policy('stale').length, 1);
  await writeFile(path, policyYaml('local', 2));
  await waitFor(() => store.status().revision === 2, 'the fix');
  t.match(store.status(), { state: 'fresh', last_error: null, stale_since: null });
  t.equal(swaps(), 2);
});

t.test('an atomic rename-into-place edit is picked up exactly once', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('local', 1));
  const { store, events, swaps } = await rig(t, path);
  await store.start();
  const tmp = join(dir, '.policy.yaml.tmp-1234');
  await writeFile(tmp, policyYaml('local', 2));
  await rename(tmp, path);
  await waitFor(() => store.status().revision === 2, 'revision 2');
  await sleep(SETTLE_MS);
  t.equal(swaps(), 2, 'start + exactly one swap');
  t.equal(events.policy('loaded').length, 2);
  t.equal(events.policy('rejected').length, 0, 'never saw a half-written file');
  // A second rename of the same content changes nothing.
  await writeFile(tmp, policyYaml('local', 2));
  await rename(tmp, path);
  await sleep(SETTLE_MS);
  t.equal(swaps(), 2, 'same bytes: no swap');
});

t.test('Kubernetes-style ..data symlink swap is picked up', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, '..2026_a'));
  await writeFile(join(dir, '..2026_a', 'policy.yaml'), policyYaml('k8s', 1));
  await symlink('..2026_a', join(dir, '..data'));
  await symlink('..data/policy.yaml', join(dir, 'policy.yaml'));
  const { store } = await rig(t, join(dir, 'policy.yaml'));
  await store.start();
  t.equal(store.status().revision, 1);
  await mkdir(join(dir, '..2026_b'));
  await writeFile(join(dir, '..2026_b', 'policy.yaml'), policyYaml('k8s', 2));
  await symlink('..2026_b', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await rm(join(dir, '..2026_a'), { recursive: true });
  await waitFor(() => store.status().revision === 2, 'revision 2 through the symlink swap');
  t.match(store.status(), { name: 'k8s', state: 'fresh', last_error: null });
});

t.test('the file disappears (policy kept, stale) and comes back (fresh)', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('local', 1));
  const { store } = await rig(t, path);
  await store.start();
  await unlink(path);
  await waitFor(() => store.status().state === 'stale', 'stale');
  t.match(store.status(), { name: 'local', last_error: /cannot read policy: ENOENT/ });
  await writeFile(path, policyYaml('local', 1));
  await waitFor(() => store.status().state === 'fresh', 'fresh again');
  t.equal(store.status().last_error, null);
});

t.test('start with a broken file and no cache: deny-all with the YAML error', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, 'version: 1\nname: x\nunknown_key: 1\n');
  const { store, events } = await rig(t, path);
  await store.start();
  t.match(store.status(), { state: 'deny-all', name: 'deny-all', last_error: /policy\.yaml:3: unknown_key: .*no last-known-good copy/s });
  t.same(events.policy().map((e) => e.action), ['rejected', 'deny-all']);
  await writeFile(path, policyYaml('x', 1));
  await waitFor(() => store.status().state === 'fresh', 'fixed file picked up');
  t.equal(store.current().failClosed, null);
});

t.test('start with a broken file and a cache: the cache, stale', async (t) => {
  const dir = await tempDir(t);
  const stateDir = await tempDir(t, 'cordon-state-');
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('local', 4));
  const first = await rig(t, path, { stateDir });
  await first.store.start();
  await first.store.close();
  await writeFile(path, 'version: 1\nname: [\n');
  const second = await rig(t, path, { stateDir });
  await second.store.start();
  t.match(second.store.status(), { name: 'local', revision: 4, state: 'stale', stale_since: String, last_error: /policy\.yaml/ });
});

t.test('a directory of policy files', async (t) => {
  const acme = testKey('acme-2026');

  t.test('loads as one policy and reloads when a file changes', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '00-main.yaml'), DIR_MAIN);
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('a.example'));
    const { store, swaps } = await rig(t, dir);
    await store.start();
    t.match(store.status(), { name: 'org', state: 'fresh', source: dir });
    t.equal(store.current().policy.files.length, 2);
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('b.example'));
    await waitFor(() => swaps() === 2, 'a second swap');
    t.match(JSON.stringify(store.current().policy.profiles), /b\.example/);
  });

  t.test('a directory policy survives in the last-known-good cache', async (t) => {
    const dir = await tempDir(t);
    const stateDir = await tempDir(t, 'cordon-state-');
    await writeFile(join(dir, '00-main.yaml'), DIR_MAIN);
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('a.example'));
    const first = await rig(t, dir, { stateDir });
    await first.store.start();
    const digest = first.store.status().digest;
    await first.store.close();
    await writeFile(join(dir, '10-profiles.yaml'), 'profiles: [broken\n');
    const second = await rig(t, dir, { stateDir });
    await second.store.start();
    t.match(second.store.status(), { name: 'org', digest, state: 'stale', last_error: /10-profiles\.yaml/ });
    t.match(JSON.stringify(second.store.current().policy.profiles), /a\.example/, 'profiles from the cached second file');
  });

  t.test('signed: every file needs its own valid .sig', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, '00-main.yaml'), DIR_MAIN);
    await writeFile(join(dir, '00-main.yaml.sig'), signText(DIR_MAIN, acme));
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('a.example'));
    await writeFile(join(dir, '10-profiles.yaml.sig'), signText(DIR_PROFILES('a.example'), acme));
    const { store, events } = await rig(t, dir, { keys: [acme] });
    await store.start();
    t.match(store.status(), { name: 'org', key_id: 'acme-2026', state: 'fresh' });

    // attack: one file of the directory edited without re-signing.
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('evil.example'));
    await waitFor(() => events.policy('rejected').length === 1, 'rejection');
    t.match(store.status(), { state: 'stale', last_error: /10-profiles\.yaml: signature does not verify/ });
    t.notMatch(JSON.stringify(store.current().policy.profiles), /evil\.example/);

    // attack: an extra unsigned file dropped into the directory.
    await writeFile(join(dir, '10-profiles.yaml'), DIR_PROFILES('a.example'));
    await writeFile(join(dir, '20-extra.yaml'), 'profiles:\n  extra:\n    match: { team: x }\n');
    await waitFor(() => events.policy('rejected').length === 2, 'second rejection');
    t.match(store.status().last_error, /20-extra\.yaml: no signature/);
    t.equal(events.policy('swapped').length, 1, 'never swapped');
  });
});

t.test('a signed file updated with its .sig is accepted', async (t) => {
  const acme = testKey('acme-2026');
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, policyYaml('signed', 1));
  await writeFile(`${path}.sig`, signText(policyYaml('signed', 1), acme));
  const { store } = await rig(t, path, { keys: [acme] });
  await store.start();
  t.match(store.status(), { revision: 1, key_id: 'acme-2026' });
  await writeFile(path, policyYaml('signed', 2));
  await writeFile(`${path}.sig`, signText(policyYaml('signed', 2), acme));
  await waitFor(() => store.status().revision === 2 && store.status().state === 'fresh', 'revision 2');
  t.match(store.status(), { key_id: 'acme-2026', last_error: null });
});

const HAVE_MKFIFO = ((): boolean => {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('attack: a FIFO in place of the policy does not hang the store', { skip: HAVE_MKFIFO ? false : 'mkfifo not available' }, async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  execFileSync('mkfifo', [path]);
  const { store } = await rig(t, path);
  await store.start();
  t.match(store.status(), { state: 'deny-all', last_error: /not a regular file/ });
});

t.test('attack: an oversized policy file is refused', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  await writeFile(path, `${policyYaml('big', 1)}# ${'x'.repeat(5000)}\n`);
  const { store } = await rig(t, path, { source: { maxBytes: 4096 } });
  await store.start();
  t.match(store.status(), { state: 'deny-all', last_error: /larger than 4096 bytes/ });
});

t.test('a policy file that does not exist yet is picked up when it appears', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'policy.yaml');
  const { store } = await rig(t, path);
  await store.start();
  t.match(store.status(), { state: 'deny-all', last_error: /ENOENT/ });
  await writeFile(path, policyYaml('late', 1));
  await waitFor(() => store.status().state === 'fresh', 'the new file');
  t.equal(store.status().name, 'late');
});

t.test('createPolicySource: URL → polled URL source, path → watched file source', async (t) => {
  const url = createPolicySource({ source: 'https://policy.acme.com/p.yaml', poll_interval_s: 300, bearer_token_file: null });
  t.ok(url instanceof UrlPolicySource);
  t.equal(url.source, 'https://policy.acme.com/p.yaml');
  const file = createPolicySource({ source: '/etc/cordon/policy.yaml', poll_interval_s: 300, bearer_token_file: null });
  t.ok(file instanceof FilePolicySource);
  t.equal(file.source, '/etc/cordon/policy.yaml');
  t.throws(() => createPolicySource({ source: 'http://policy.acme.com/p.yaml', poll_interval_s: 300, bearer_token_file: null }), /loopback/);
  t.throws(() => createPolicySource({ source: '/p.yaml', poll_interval_s: 300, bearer_token_file: '/t' }), /URL policy source only/);
});
