/**
 * Resolve once: the system resolver and a given DNS server both return
 * canonical IP texts, [] for names that do not exist, and give up at the
 * timeout instead of holding a decision open.
 */
import { createSocket } from 'node:dgram';
import t from 'tap';
import { createResolver, ResolveTimeoutError } from '../../src/proxy/resolver.js';
import { startDnsResponder } from '../helpers/dns-responder.js';

t.test('a given DNS server', async (t) => {
  const dns = await startDnsResponder({
    'both.test': { addresses: ['127.0.0.1', '::1'] },
    'mapped.test': { addresses: ['::ffff:127.0.0.9'] },
    'dup.test': { addresses: ['127.0.0.1', '127.0.0.1'] },
    'empty.test': { addresses: [] },
  });
  t.teardown(() => dns.close());
  const r = createResolver({ server: dns.server, timeoutMs: 2_000 });
  t.equal(r.description, `dns ${dns.server}`);
  t.same(await r.resolve('both.test'), ['127.0.0.1', '::1'], 'A then AAAA, canonical text');
  t.same(await r.resolve('mapped.test'), ['127.0.0.9'], 'IPv4-mapped answers become IPv4');
  t.same(await r.resolve('dup.test'), ['127.0.0.1'], 'duplicates removed');
  t.same(await r.resolve('empty.test'), [], 'no records: []');
  t.same(await r.resolve('nxdomain.test'), [], 'NXDOMAIN: []');
  t.equal(dns.queriesFor('both.test', 'A'), 1, 'one A query');
  t.equal(dns.queriesFor('both.test', 'AAAA'), 1, 'one AAAA query');
});

t.test('a DNS server that never answers times out', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => silent.close());
  const r = createResolver({ server: `127.0.0.1:${silent.address().port}`, timeoutMs: 300 });
  await t.rejects(r.resolve('slow.test'), ResolveTimeoutError);
});

t.test('a malformed server address fails at creation', async (t) => {
  t.throws(() => createResolver({ server: 'not a server' }));
});

t.test('the system resolver', async (t) => {
  const r = createResolver();
  t.equal(r.description, 'system');
  const addrs = await r.resolve('localhost');
  t.ok(addrs.length > 0 && addrs.every((a) => a === '127.0.0.1' || a === '::1'), `localhost resolves to loopback (${addrs.join(', ')})`);
});
