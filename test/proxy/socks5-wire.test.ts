/**
 * SOCKS5 framing byte by byte: every message parses only once complete,
 * address types decode to text for the canonicaliser, replies encode the
 * bound address in the right family.
 */
import t from 'tap';
import { encodeReply, parseGreeting, parseRequest, parseUserPass } from '../../src/proxy/socks5-wire.js';

function prefixes(buf: Buffer): Buffer[] {
  return Array.from({ length: buf.length }, (_, i) => buf.subarray(0, i));
}

t.test('greeting', async (t) => {
  const g = Buffer.from([0x05, 0x02, 0x00, 0x02, 0xaa]);
  for (const p of prefixes(g.subarray(0, 4))) t.equal(parseGreeting(p).kind, 'need-more', `${p.length} bytes: need more`);
  t.same(parseGreeting(g), { kind: 'ok', consumed: 4, methods: [0x00, 0x02] }, 'trailing bytes are left for the next message');
  t.equal(parseGreeting(Buffer.from([0x04, 0x01])).kind, 'error', 'wrong version');
});

t.test('username/password', async (t) => {
  const m = Buffer.from([0x01, 0x03, ...Buffer.from('abc'), 0x02, ...Buffer.from('xy')]);
  for (const p of prefixes(m)) t.equal(parseUserPass(p).kind, 'need-more', `${p.length} bytes: need more`);
  t.same(parseUserPass(m), { kind: 'ok', consumed: m.length, user: 'abc', pass: 'xy' });
  t.equal(parseUserPass(Buffer.from([0x05, 0x00, 0x00])).kind, 'error', 'wrong sub-negotiation version');
});

t.test('requests by address type', async (t) => {
  const cases = [
    { name: 'IPv4', bytes: [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x01, 0xbb], address: { type: 'ipv4', text: '127.0.0.1' }, port: 443 },
    {
      name: 'IPv6',
      bytes: [0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x50],
      address: { type: 'ipv6', text: '2001:db8:0:0:0:0:0:1' },
      port: 80,
    },
    { name: 'domain', bytes: [0x05, 0x01, 0x00, 0x03, 0x03, 0x61, 0x2e, 0x62, 0x00, 0x16], address: { type: 'domain', text: 'a.b', raw: 'a.b' }, port: 22 },
    { name: 'domain that is not UTF-8', bytes: [0x05, 0x01, 0x00, 0x03, 0x02, 0xff, 0xfe, 0x00, 0x16], address: { type: 'domain', text: null, raw: '\u00ff\u00fe' }, port: 22 },
  ];
  for (const c of cases) {
    const buf = Buffer.from(c.bytes);
    for (const p of prefixes(buf)) t.equal(parseRequest(p).kind, 'need-more', `${c.name}: ${p.length} bytes need more`);
    t.same(parseRequest(buf), { kind: 'ok', consumed: buf.length, command: 0x01, atyp: buf[3], address: c.address, port: c.port }, c.name);
  }
  const unknown = parseRequest(Buffer.from([0x05, 0x01, 0x00, 0x09, 1, 2]));
  t.same(unknown.kind === 'ok' ? unknown.address : 'not ok', null, 'unknown address type has no address');
});

t.test('replies', async (t) => {
  t.same([...encodeReply(0x02)], [0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0], 'no bound address: 0.0.0.0:0');
  t.same([...encodeReply(0x00, { address: '127.0.0.1', port: 8080 })], [0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90]);
  const v6 = encodeReply(0x00, { address: '::1', port: 1 });
  t.same([...v6], [0x05, 0x00, 0x00, 0x04, ...Array(15).fill(0), 1, 0x00, 0x01], 'IPv6 bound address');
  const mapped = encodeReply(0x00, { address: '::ffff:127.0.0.1', port: 2 });
  t.same([...mapped.subarray(4, 20)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], 'IPv4-mapped bound address');
});
