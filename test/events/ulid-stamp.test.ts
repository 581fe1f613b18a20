/**
 * Event ids and stamping: ULIDs are well-formed, unique and sort in emit
 * order even within one millisecond or when the clock steps back; identity
 * comes from config with a fallback to the OS; stamped events have the
 * DESIGN §5 key order.
 */
import t from 'tap';
import { EventStamper, UNKNOWN_IDENTITY, resolveIdentity } from '../../src/events/stamp.js';
import { EVENT_SCHEMA } from '../../src/events/types.js';
import { UlidFactory, isUlid, ulidTimeMs } from '../../src/events/ulid.js';
import { networkDenyInput } from '../helpers/event-fixtures.js';

t.test('ULIDs: format, time, uniqueness and order', async (t) => {
  const f = new UlidFactory();
  const now = Date.parse('2026-11-25T09:14:03.120Z');
  const ids: string[] = [];
  for (let i = 0; i < 10_000; i++) ids.push(f.next(now + Math.floor(i / 1000)));
  t.ok(ids.every(isUlid), 'every id is 26 Crockford base32 characters');
  t.equal(new Set(ids).size, ids.length, 'all unique');
  t.same([...ids].sort(), ids, 'lexical order is emit order (1000 ids per millisecond)');
  t.equal(ulidTimeMs(ids[0]!), now, 'the time part decodes to the emit time');
});

t.test('ULIDs stay monotonic when the clock steps back', async (t) => {
  const f = new UlidFactory();
  const a = f.next(2_000_000);
  const b = f.next(1_000_000);
  const c = f.next(1_000_001);
  t.ok(a < b && b < c, 'ids keep increasing');
  t.equal(ulidTimeMs(b), 2_000_000, 'the id keeps the last time rather than going back');
});

t.test('ULID randomness differs between factories', async (t) => {
  const a = new UlidFactory().next(1);
  const b = new UlidFactory().next(1);
  t.not(a.slice(10), b.slice(10), 'two factories in the same millisecond draw different random parts');
});

t.test('isUlid rejects lookalikes', async (t) => {
  const cases: [string, boolean][] = [
    ['01JD7Y0000000000000000000Z', true],
    ['01JD7Y0000000000000000000', false],
    ['01JD7Y0000000000000000000I', false],
    ['81JD7Y0000000000000000000Z', false],
    ['01jd7y0000000000000000000z', false],
  ];
  for (const [id, ok] of cases) t.equal(isUlid(id), ok, id);
});

t.test('identity: config first, then the OS, never empty', async (t) => {
  const os = { username: () => 'osuser', hostname: () => 'oshost' };
  const cases: { name: string; config: Parameters<typeof resolveIdentity>[0]; sources: typeof os; expect: { user: string; device: string } }[] = [
    { name: 'config wins', config: { user: 'alice@acme.com', device: 'alice-mbp' }, sources: os, expect: { user: 'alice@acme.com', device: 'alice-mbp' } },
    { name: 'OS fallback', config: {}, sources: os, expect: { user: 'osuser', device: 'oshost' } },
    { name: 'null and blank fall back', config: { user: null, device: '  ' }, sources: os, expect: { user: 'osuser', device: 'oshost' } },
    {
      name: 'a uid without a passwd entry (userInfo throws) gives "unknown"',
      config: {},
      sources: {
        username: () => {
          throw new Error('ENOENT');
        },
        hostname: () => '',
      },
      expect: { user: UNKNOWN_IDENTITY, device: UNKNOWN_IDENTITY },
    },
  ];
  for (const c of cases) t.same(resolveIdentity(c.config, c.sources), c.expect, c.name);
  const real = resolveIdentity();
  t.ok(real.user.length > 0 && real.device.length > 0, 'the real OS gives a user and a device');
});

t.test('stamped events: schema, id, time, identity, DESIGN §5 key order', async (t) => {
  const now = Date.parse('2026-11-25T09:14:03.120Z');
  const stamper = new EventStamper({ user: 'alice@acme.com', device: 'alice-mbp' }, new UlidFactory(), () => now);
  const e = stamper.stamp(networkDenyInput());
  t.equal(e.schema, EVENT_SCHEMA);
  t.ok(isUlid(e.id), 'ULID id');
  t.equal(e.time, '2026-11-25T09:14:03.120Z', 'ISO time with milliseconds');
  t.equal(ulidTimeMs(e.id), now, 'id time equals event time');
  t.same(
    Object.keys(e),
    ['schema', 'id', 'time', 'kind', 'decision', 'enforced', 'mode', 'reason', 'rule', 'profile', 'target', 'via', 'session', 'user', 'device', 'policy'],
    'key order: envelope first, decision, then who and which policy',
  );
  t.equal(e.user, 'alice@acme.com');
  t.equal(e.device, 'alice-mbp');
});
