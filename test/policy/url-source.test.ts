import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  UrlPolicySource,
  isUrlSource,
  jittered,
  nextDelayMs,
  signatureUrlFor,
  validatePolicyUrl,
} from '../../src/policy/sources/url-source.js';
import type { FetchOutcome } from '../../src/policy/sources/types.js';
import { PolicyServer, policyYaml, tempDir, waitFor } from '../helpers/policy-propagation.js';

async function server(t: Test): Promise<PolicyServer> {
  const s = await new PolicyServer().start();
  t.teardown(() => s.close());
  return s;
}

function source(t: Test, url: string, options: ConstructorParameters<typeof UrlPolicySource>[1] = {}): UrlPolicySource {
  const s = new UrlPolicySource(url, { requestTimeoutMs: 2_000, ...options });
  t.teardown(() => s.close());
  return s;
}

function bodyOf(outcome: FetchOutcome): string | null {
  return outcome.status === 'candidate' ? outcome.candidate.files[0].bytes.toString('utf8') : null;
}

t.test('policy URL validation', async (t) => {
  const cases: { name: string; url: string; ok: boolean; error?: RegExp }[] = [
    { name: 'https anywhere', url: 'https://policy.acme.com/cordon/eng.yaml', ok: true },
    { name: 'http to 127.0.0.1', url: 'http://127.0.0.1:8080/p.yaml', ok: true },
    { name: 'http to 127.9.9.9', url: 'http://127.9.9.9/p.yaml', ok: true },
    { name: 'http to [::1]', url: 'http://[::1]:8080/p.yaml', ok: true },
    { name: 'http to localhost', url: 'http://localhost/p.yaml', ok: true },
    { name: 'attack: http:// to a non-loopback host (cleartext policy)', url: 'http://policy.acme.com/p.yaml', ok: false, error: /only to a loopback host/ },
    { name: 'attack: http:// to a private address', url: 'http://10.0.0.1/p.yaml', ok: false, error: /only to a loopback host/ },
    { name: 'attack: http:// to a loopback look-alike name', url: 'http://127.0.0.1.evil.com/p.yaml', ok: false, error: /only to a loopback host/ },
    { name: 'ftp', url: 'ftp://x/p.yaml', ok: false, error: /scheme must be https/ },
    { name: 'credentials in URL', url: 'https://user:pw@x/p.yaml', ok: false, error: /bearer_token_file/ },
    { name: 'fragment', url: 'https://x/p.yaml#frag', ok: false, error: /fragment/ },
    { name: 'garbage', url: 'https://', ok: false, error: /not a valid URL/ },
  ];
  for (const c of cases) {
    const r = validatePolicyUrl(c.url);
    t.equal(r.ok, c.ok, c.name);
    if (!r.ok && c.error) t.match(r.error, c.error, `${c.name}: message`);
  }
  t.throws(() => new UrlPolicySource('http://policy.acme.com/p.yaml'), /only to a loopback host/, 'constructor refuses too');
  t.ok(isUrlSource('https://x/y'));
  t.notOk(isUrlSource('/etc/cordon/policy.yaml'));
  t.notOk(isUrlSource('policies/http:/x'));
  t.equal(signatureUrlFor(new URL('https://x/p.yaml?v=1')).href, 'https://x/p.yaml.sig?v=1', '.sig goes on the path, query kept');
});

t.test('ETag round trip: 200 with ETag, then If-None-Match gets 304', async (t) => {
  const srv = await server(t);
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1');
  const src = source(t, srv.url('/p.yaml'));
  const first = await src.fetch({ etag: null, withSignatures: false });
  t.equal(first.status, 'candidate');
  t.equal(bodyOf(first), policyYaml('p', 1));
  t.equal(first.status === 'candidate' ? first.candidate.etag : null, '"v1"');
  t.equal(srv.requests[0].headers['if-none-match'], undefined, 'no If-None-Match without an ETag');
  const second = await src.fetch({ etag: '"v1"', withSignatures: false });
  t.same(second, { status: 'not-modified' });
  t.equal(srv.requests[1].headers['if-none-match'], '"v1"');
  srv.serveYaml('/p.yaml', policyYaml('p', 2), 'v2');
  const third = await src.fetch({ etag: '"v1"', withSignatures: false });
  t.equal(bodyOf(third), policyYaml('p', 2), 'changed ETag: full body');
});

t.test('an unsolicited 304 is an error', async (t) => {
  const srv = await server(t);
  srv.route('/p.yaml', { status: 304 });
  const r = await source(t, srv.url('/p.yaml')).fetch({ etag: null, withSignatures: false });
  t.equal(r.status, 'error');
  if (r.status === 'error') t.match(r.error, /304 to a request without If-None-Match/);
});

t.test('HTTP errors and failures are errors, and count consecutive failures', async (t) => {
  const srv = await server(t);
  const cases: { name: string; route: Parameters<PolicyServer['route']>[1]; error: RegExp }[] = [
    { name: '500', route: { status: 500, body: 'boom' }, error: /HTTP 500/ },
    { name: '503', route: { status: 503 }, error: /HTTP 503/ },
    { name: '404', route: { status: 404 }, error: /HTTP 404/ },
    { name: '403', route: { status: 403 }, error: /HTTP 403/ },
  ];
  const src = source(t, srv.url('/p.yaml'));
  let n = 0;
  for (const c of cases) {
    srv.route('/p.yaml', c.route);
    const r = await src.fetch({ etag: null, withSignatures: false });
    n += 1;
    t.equal(r.status, 'error', c.name);
    if (r.status === 'error') t.match(r.error, c.error, c.name);
    t.equal(src.failures, n, `${c.name}: failures counted`);
  }
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1');
  t.equal((await src.fetch({ etag: null, withSignatures: false })).status, 'candidate');
  t.equal(src.failures, 0, 'a success resets the count');
});

t.test('a server that never answers hits the request timeout', async (t) => {
  const srv = await server(t);
  srv.route('/p.yaml', { status: 200, hang: true });
  const src = source(t, srv.url('/p.yaml'), { requestTimeoutMs: 200 });
  const r = await src.fetch({ etag: null, withSignatures: false });
  t.equal(r.status, 'error');
  if (r.status === 'error') t.match(r.error, /timed out after 200 ms/);
});

t.test('connection refused is an error naming the URL', async (t) => {
  const srv = await server(t);
  const url = srv.url('/p.yaml');
  await srv.close();
  const r = await source(t, url).fetch({ etag: null, withSignatures: false });
  t.equal(r.status, 'error');
  if (r.status === 'error') t.match(r.error, /ECONNREFUSED/);
});

t.test('redirects: followed within the origin (max 3), refused to another origin', async (t) => {
  const srv = await server(t);
  const other = await server(t);
  other.serveYaml('/evil.yaml', policyYaml('evil', 999), 'e');
  srv.serveYaml('/final.yaml', policyYaml('p', 1), 'v1');
  srv.route('/one', { status: 302, headers: { location: '/final.yaml' } });
  srv.route('/three', { status: 301, headers: { location: '/two' } });
  srv.route('/two', { status: 307, headers: { location: '/one' } });
  srv.route('/four', { status: 308, headers: { location: '/three' } });
  srv.route('/cross', { status: 302, headers: { location: other.url('/evil.yaml') } });
  srv.route('/cross-host', { status: 302, headers: { location: `http://localhost:${srv.port}/final.yaml` } });
  srv.route('/cross-port', { status: 302, headers: { location: `http://127.0.0.1:${other.port}/evil.yaml` } });
  srv.route('/nolocation', { status: 302 });

  t.equal(bodyOf(await source(t, srv.url('/one')).fetch({ etag: null, withSignatures: false })), policyYaml('p', 1), 'one same-origin hop');
  t.equal(bodyOf(await source(t, srv.url('/three')).fetch({ etag: null, withSignatures: false })), policyYaml('p', 1), 'three hops');
  const four = await source(t, srv.url('/four')).fetch({ etag: null, withSignatures: false });
  t.match(four.status === 'error' ? four.error : '', /more than 3 redirects/, 'four hops refused');
  const refused: [string, string][] = [
    ['/cross', 'attack: redirect to another server'],
    ['/cross-host', 'attack: redirect to the same server under another host name'],
    ['/cross-port', 'attack: redirect to another port on the same host'],
  ];
  for (const [path, name] of refused) {
    const r = await source(t, srv.url(path)).fetch({ etag: null, withSignatures: false });
    t.equal(r.status, 'error', name);
    t.match(r.status === 'error' ? r.error : '', /redirect to another origin refused/, name);
  }
  t.equal(other.requestsFor('/evil.yaml').length, 0, 'the other origin was never contacted');
  const nl = await source(t, srv.url('/nolocation')).fetch({ etag: null, withSignatures: false });
  t.match(nl.status === 'error' ? nl.error : '', /without a Location/);
});

t.test('bearer token from a file is sent (also for .sig), re-read on every request, never cross-origin', async (t) => {
  const srv = await server(t);
  const dir = await tempDir(t);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'tok-1\n');
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1', 'c2ln');
  const src = source(t, srv.url('/p.yaml'), { bearerTokenFile: tokenFile });
  await src.fetch({ etag: null, withSignatures: true });
  t.equal(srv.requestsFor('/p.yaml')[0].headers.authorization, 'Bearer tok-1');
  t.equal(srv.requestsFor('/p.yaml.sig')[0].headers.authorization, 'Bearer tok-1');
  await writeFile(tokenFile, 'tok-2');
  await src.fetch({ etag: null, withSignatures: false });
  t.equal(srv.requestsFor('/p.yaml')[1].headers.authorization, 'Bearer tok-2', 'rotated token picked up');
  await writeFile(tokenFile, '   \n');
  const empty = await src.fetch({ etag: null, withSignatures: false });
  t.match(empty.status === 'error' ? empty.error : '', /must hold one token/);
  const missing = await source(t, srv.url('/p.yaml'), { bearerTokenFile: join(dir, 'nope') }).fetch({ etag: null, withSignatures: false });
  t.match(missing.status === 'error' ? missing.error : '', /cannot read bearer token file/);
  t.equal(srv.requestsFor('/p.yaml').length, 2, 'no request is sent without the configured token');
});

t.test('signature fetched from <url>.sig only when asked; a missing .sig is null, a failing one an error', async (t) => {
  const srv = await server(t);
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1', 'c2ln');
  const src = source(t, srv.url('/p.yaml'));
  const without = await src.fetch({ etag: null, withSignatures: false });
  t.equal(without.status === 'candidate' ? without.candidate.files[0].signature : 'x', null);
  t.equal(srv.requestsFor('/p.yaml.sig').length, 0, 'no .sig request when signatures are off');
  const withSig = await src.fetch({ etag: null, withSignatures: true });
  t.equal(withSig.status === 'candidate' ? withSig.candidate.files[0].signature : null, 'c2ln\n');
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1');
  const missing = await src.fetch({ etag: null, withSignatures: true });
  t.equal(missing.status, 'candidate');
  t.equal(missing.status === 'candidate' ? missing.candidate.files[0].signature : 'x', null, '404 .sig: unsigned candidate (the store rejects it)');
  srv.route('/p.yaml.sig', { status: 500 });
  const failing = await src.fetch({ etag: null, withSignatures: true });
  t.match(failing.status === 'error' ? failing.error : '', /p\.yaml\.sig: HTTP 500/);
});

t.test('attack: an oversized body is refused, declared or streamed', async (t) => {
  const srv = await server(t);
  srv.route('/big', { status: 200, body: 'x'.repeat(5000) });
  const r = await source(t, srv.url('/big'), { maxBytes: 4096 }).fetch({ etag: null, withSignatures: false });
  t.match(r.status === 'error' ? r.error : '', /exceeds the 4096-byte limit/);
  srv.route('/sig.yaml', { status: 200, body: 'ok' });
  srv.route('/sig.yaml.sig', { status: 200, body: 'A'.repeat(5000) });
  const s = await source(t, srv.url('/sig.yaml')).fetch({ etag: null, withSignatures: true });
  t.match(s.status === 'error' ? s.error : '', /exceeds the 1024-byte limit/, 'signature size capped too');
});

t.test('backoff and jitter arithmetic', async (t) => {
  const cases: { failures: number; interval: number; want: number }[] = [
    { failures: 0, interval: 300_000, want: 300_000 },
    { failures: 1, interval: 300_000, want: 1_000 },
    { failures: 2, interval: 300_000, want: 2_000 },
    { failures: 9, interval: 300_000, want: 256_000 },
    { failures: 10, interval: 300_000, want: 300_000 },
    { failures: 50, interval: 300_000, want: 300_000 },
    { failures: 20, interval: 3_600_000, want: 3_600_000 },
    { failures: 20, interval: 10_000, want: 300_000 },
  ];
  for (const c of cases) t.equal(nextDelayMs(c.failures, c.interval), c.want, `${c.failures} failures at ${c.interval} ms`);
  t.equal(jittered(1000, () => 0), 900, 'lowest: -10%');
  t.equal(jittered(1000, () => 0.5), 1000);
  t.equal(jittered(1000, () => 0.999999), 1100, 'highest: +10%');
});

const HELD_TIMER_MS = 200;

t.test('polling: the interval when healthy, exponential backoff after failures, jitter, stops on close', async (t) => {
  const srv = await server(t);
  srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1');
  const asked: number[] = [];
  const src = source(t, srv.url('/p.yaml'), {
    pollIntervalMs: 40,
    backoffInitialMs: 5,
    backoffMaxMs: 80,
    random: () => 0.75,
    setTimer: (fn, ms) => {
      asked.push(ms);
      // The first eight delays fire at once; the ninth is held back so that close() must cancel it.
      return setTimeout(fn, asked.length <= 8 ? 1 : HELD_TIMER_MS);
    },
  });
  let polls = 0;
  await src.watch(async () => {
    polls += 1;
    if (polls === 2) srv.route('/p.yaml', { status: 500 });
    if (polls === 7) srv.serveYaml('/p.yaml', policyYaml('p', 1), 'v1');
    await src.fetch({ etag: null, withSignatures: false });
  });
  // The ninth delay is asked for only after the eighth poll's fetch settles: wait for it before closing.
  await waitFor(() => polls >= 8 && asked.length >= 9, 'eight polls and the next delay scheduled');
  await src.close();
  const after = polls;
  await new Promise((r) => setTimeout(r, HELD_TIMER_MS + 50));
  t.equal(polls, after, 'no poll after close');
  // random 0.75 → +5 % jitter on every delay.
  t.same(asked.slice(0, 9), [42, 42, 5, 11, 21, 42, 84, 42, 42], 'interval, then 5·2^n ms capped at max(interval, 80), then the interval again');
  t.equal(srv.requestsFor('/p.yaml').length, after, 'one request per poll');
});
