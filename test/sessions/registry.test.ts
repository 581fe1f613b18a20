import t from 'tap';
import { SessionRegistry, labelsError, SESSION_ID_PREFIX } from '../../src/sessions/registry.js';

t.test('create returns an id, a secret and the labels', async (t) => {
  const reg = new SessionRegistry();
  const s = reg.create({ agent: 'claude-code', team: 'web' });
  t.match(s.id, /^s_[0-9a-f]{24}$/);
  t.ok(s.id.startsWith(SESSION_ID_PREFIX));
  t.ok(s.secret.length >= 32, 'secret has at least 192 bits');
  t.same(s.labels, { agent: 'claude-code', team: 'web' });
  t.equal(s.expires_at, null);
  t.equal(reg.size, 1);
});

t.test('authenticate: right secret, wrong secret, unknown id', async (t) => {
  const reg = new SessionRegistry();
  const s = reg.create({ team: 'web' });
  const ok = reg.authenticate(s.id, s.secret);
  t.ok(ok.ok);
  if (ok.ok) t.same(ok.session.labels, { team: 'web' });
  t.same(reg.authenticate(s.id, s.secret + 'x'), { ok: false, reason: 'bad-secret' });
  t.same(reg.authenticate(s.id, ''), { ok: false, reason: 'bad-secret' }, 'empty secret (length confusion) is refused');
  t.same(reg.authenticate('s_000000000000000000000000', s.secret), { ok: false, reason: 'unknown-session' });
  t.same(reg.authenticate(s.id, s.secret.slice(0, -1)), { ok: false, reason: 'bad-secret' }, 'prefix of the secret is refused');
});

t.test('attack: secret comparison is constant-time (digests of equal length through timingSafeEqual)', async (t) => {
  // The registry never compares the presented string directly: a prefix, a longer string and a
  // completely different string all go through SHA-256 then timingSafeEqual, so none of them throws
  // (timingSafeEqual throws on unequal lengths) and all are refused the same way.
  const reg = new SessionRegistry();
  const s = reg.create({});
  for (const attempt of ['a', s.secret.slice(0, 5), s.secret + s.secret, 'x'.repeat(10_000)]) {
    t.same(reg.authenticate(s.id, attempt), { ok: false, reason: 'bad-secret' }, `refused: ${attempt.length} chars`);
  }
});

t.test('expiry: a session with ttl_s stops authenticating and leaves the list', async (t) => {
  let now = 1_000_000;
  const reg = new SessionRegistry(() => now);
  const s = reg.create({ team: 'web' }, 60);
  t.equal(s.expires_at, new Date(1_000_000 + 60_000).toISOString());
  t.ok(reg.authenticate(s.id, s.secret).ok, 'valid before expiry');
  now += 59_999;
  t.ok(reg.authenticate(s.id, s.secret).ok, 'valid 1 ms before expiry');
  now += 1;
  t.same(reg.authenticate(s.id, s.secret), { ok: false, reason: 'expired' });
  t.equal(reg.list().length, 0);
  t.equal(reg.get(s.id), null);
});

t.test('delete removes the session', async (t) => {
  const reg = new SessionRegistry();
  const s = reg.create({});
  t.equal(reg.delete(s.id), true);
  t.equal(reg.delete(s.id), false);
  t.same(reg.authenticate(s.id, s.secret), { ok: false, reason: 'unknown-session' });
});

t.test('secrets never appear in listings', async (t) => {
  const reg = new SessionRegistry();
  const s = reg.create({ a: 'b' });
  t.notMatch(JSON.stringify(reg.list()), s.secret);
  t.notMatch(JSON.stringify(reg.get(s.id)), s.secret);
});

const labelCases: [string, unknown, RegExp | null][] = [
  ['plain labels', { agent: 'claude', team: 'web' }, null],
  ['not an object', 'team=web', /must be an object/],
  ['array', ['a'], /must be an object/],
  ['number value', { team: 5 }, /must be a string/],
  ['key with space', { 'a b': 'c' }, /label key/],
  ['control characters in value (log injection)', { team: 'web\nevil' }, /printable/],
  ['empty key', { '': 'x' }, /label key/],
];
for (const [name, input, expected] of labelCases) {
  t.test(`labels: ${name}`, async (t) => {
    const err = labelsError(input);
    if (expected === null) t.equal(err, null);
    else t.match(err, expected);
  });
}
