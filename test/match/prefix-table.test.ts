import t from 'tap';
import { PrefixTable, ipv4Word, ipv6Words } from '../../src/match/prefix-table.js';
import type { PortRange } from '../../src/policy/types.js';

/** Compact rule text for tests: `allow 10.0.0.0/8`, `deny [2001:db8::/32]:443`, `allow 10.0.0.1:8000-8100`; `N:allow ...` puts an entry in layer N (default 0). */
function table(rules: string[]): PrefixTable<string> {
  const tb = new PrefixTable<string>();
  for (const r of rules) {
    const [head, text] = r.split(' ');
    const [layer, action] = head.includes(':') ? [Number(head.split(':')[0]), head.split(':')[1]] : [0, head];
    let rest = text;
    let ports: PortRange | null = null;
    let family: 4 | 6 = 4;
    if (rest.startsWith('[')) {
      family = 6;
      const close = rest.indexOf(']');
      const after = rest.slice(close + 1);
      if (after.startsWith(':')) ports = parsePorts(after.slice(1));
      rest = rest.slice(1, close);
    } else if (rest.includes(':')) {
      const colon = rest.indexOf(':');
      ports = parsePorts(rest.slice(colon + 1));
      rest = rest.slice(0, colon);
    }
    const [address, len] = rest.split('/');
    tb.add(layer, family, address, len === undefined ? (family === 4 ? 32 : 128) : Number(len), ports, action === 'deny' ? 0 : 1, r);
  }
  tb.seal();
  return tb;
}

function parsePorts(text: string): PortRange {
  const [lo, hi] = text.split('-').map(Number);
  return { lo, hi: hi ?? lo };
}

t.test('address text converts to signed 32-bit words', async (t) => {
  t.equal(ipv4Word('0.0.0.0'), 0, 'zero');
  t.equal(ipv4Word('255.255.255.255'), -1, 'all ones is -1 as a signed word');
  t.equal(ipv4Word('128.0.0.1'), (0x80000001 | 0), 'high bit set');
  t.equal(ipv4Word('10.0.0.01'), null, 'leading zero is not canonical');
  t.equal(ipv4Word('10.0.0'), null, 'three parts are not a dotted quad');
  t.same(ipv6Words('::'), [0, 0, 0, 0], 'unspecified');
  t.same(ipv6Words('2001:db8::1'), [0x20010db8, 0, 0, 1], 'compressed');
  t.same(ipv6Words('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), [-1, -1, -1, -1], 'all ones');
  t.same(ipv6Words('::ffff:10.1.2.3'), [0, 0, 0xffff, 0x0a010203], 'dotted tail');
  t.equal(ipv6Words('fe80::1%eth0'), null, 'zone id refused');
  t.equal(ipv6Words('[::1]'), null, 'brackets refused');
});

t.test('IPv4: longest prefix first, then port, deny at a tie', async (t) => {
  const cases: { name: string; rules: string[]; address: string; port: number; want: string | undefined }[] = [
    { name: '/32 matches only itself', rules: ['deny 10.0.0.7/32'], address: '10.0.0.7', port: 443, want: 'deny 10.0.0.7/32' },
    { name: '/32 does not match its neighbour', rules: ['deny 10.0.0.7/32'], address: '10.0.0.8', port: 443, want: undefined },
    { name: '/8 covers the whole block', rules: ['allow 10.0.0.0/8'], address: '10.255.255.255', port: 443, want: 'allow 10.0.0.0/8' },
    { name: '/8 stops at the block edge', rules: ['allow 10.0.0.0/8'], address: '11.0.0.0', port: 443, want: undefined },
    { name: 'longer prefix wins (deny inside allow)', rules: ['allow 10.0.0.0/8', 'deny 10.1.0.0/16'], address: '10.1.2.3', port: 443, want: 'deny 10.1.0.0/16' },
    { name: 'longer prefix wins (allow inside deny)', rules: ['deny 10.0.0.0/8', 'allow 10.1.2.0/24'], address: '10.1.2.3', port: 443, want: 'allow 10.1.2.0/24' },
    { name: 'longer prefix wins over a port on the shorter', rules: ['deny 10.1.2.0/24', 'allow 10.0.0.0/8:443'], address: '10.1.2.3', port: 443, want: 'deny 10.1.2.0/24' },
    { name: 'port decides at an equal prefix', rules: ['deny 10.1.2.0/24', 'allow 10.1.2.0/24:443'], address: '10.1.2.3', port: 443, want: 'allow 10.1.2.0/24:443' },
    { name: 'port mismatch falls back to a shorter prefix', rules: ['deny 10.1.2.0/24:22', 'allow 10.0.0.0/8'], address: '10.1.2.3', port: 443, want: 'allow 10.0.0.0/8' },
    { name: 'deny wins a tie', rules: ['allow 10.1.2.0/24', 'deny 10.1.2.0/24'], address: '10.1.2.3', port: 443, want: 'deny 10.1.2.0/24' },
    { name: '/0 covers everything', rules: ['deny 0.0.0.0/0'], address: '203.0.113.9', port: 1, want: 'deny 0.0.0.0/0' },
    { name: '/1 over the high half (sign bit)', rules: ['deny 128.0.0.0/1'], address: '255.1.2.3', port: 443, want: 'deny 128.0.0.0/1' },
    { name: '/1 over the high half excludes the low half', rules: ['deny 128.0.0.0/1'], address: '127.255.255.255', port: 443, want: undefined },
    { name: 'non-octet prefix /10 (CGNAT)', rules: ['allow 100.64.0.0/10'], address: '100.127.255.255', port: 443, want: 'allow 100.64.0.0/10' },
    { name: 'non-octet prefix /10 edge', rules: ['allow 100.64.0.0/10'], address: '100.128.0.0', port: 443, want: undefined },
    { name: 'broadcast /32', rules: ['allow 255.255.255.255/32'], address: '255.255.255.255', port: 443, want: 'allow 255.255.255.255/32' },
    { name: 'host bits in a rule are masked off', rules: ['deny 10.1.2.3/8'], address: '10.9.9.9', port: 443, want: 'deny 10.1.2.3/8' },
    { name: 'IPv4 rules never match IPv6 addresses', rules: ['deny 0.0.0.0/0'], address: '::', port: 443, want: undefined },
  ];
  for (const c of cases) {
    const family = c.address.includes(':') ? 6 : 4;
    t.equal(table(c.rules).lookup(family, c.address, c.port, 0), c.want, c.name);
  }
});

t.test('IPv6: longest prefix first across word boundaries', async (t) => {
  const cases: { name: string; rules: string[]; address: string; port: number; want: string | undefined }[] = [
    { name: '/128 matches only itself', rules: ['deny [fd00:ec2::254]'], address: 'fd00:ec2::254', port: 443, want: 'deny [fd00:ec2::254]' },
    { name: '/128 does not match its neighbour', rules: ['deny [fd00:ec2::254]'], address: 'fd00:ec2::255', port: 443, want: undefined },
    { name: '/32 covers the documentation block', rules: ['allow [2001:db8::/32]'], address: '2001:db8:ffff:1::9', port: 443, want: 'allow [2001:db8::/32]' },
    { name: '/32 stops at the block edge', rules: ['allow [2001:db8::/32]'], address: '2001:db9::', port: 443, want: undefined },
    { name: '/48 inside /32: longer wins', rules: ['allow [2001:db8::/32]', 'deny [2001:db8:bad::/48]'], address: '2001:db8:bad:1::1', port: 443, want: 'deny [2001:db8:bad::/48]' },
    { name: '/64 inside /48 inside /32', rules: ['allow [2001:db8::/32]', 'deny [2001:db8:bad::/48]', 'allow [2001:db8:bad:1::/64]'], address: '2001:db8:bad:1::1', port: 443, want: 'allow [2001:db8:bad:1::/64]' },
    { name: '/33 (one bit past a word)', rules: ['deny [2001:db8:8000::/33]'], address: '2001:db8:ffff::1', port: 443, want: 'deny [2001:db8:8000::/33]' },
    { name: '/33 excludes the other half', rules: ['deny [2001:db8:8000::/33]'], address: '2001:db8:7fff::1', port: 443, want: undefined },
    { name: '/127 pairs', rules: ['allow [2001:db8::/127]'], address: '2001:db8::1', port: 443, want: 'allow [2001:db8::/127]' },
    { name: '/127 excludes the next pair', rules: ['allow [2001:db8::/127]'], address: '2001:db8::2', port: 443, want: undefined },
    { name: '/7 unique-local', rules: ['deny [fc00::/7]'], address: 'fdff::1', port: 443, want: 'deny [fc00::/7]' },
    { name: '/0 covers everything', rules: ['deny [::/0]'], address: 'ffff::', port: 443, want: 'deny [::/0]' },
    { name: 'port decides at an equal prefix', rules: ['deny [2001:db8::/32]', 'allow [2001:db8::/32]:443'], address: '2001:db8::5', port: 443, want: 'allow [2001:db8::/32]:443' },
    { name: 'port mismatch falls back to a shorter prefix', rules: ['deny [2001:db8::1]:22', 'allow [2001:db8::/32]'], address: '2001:db8::1', port: 443, want: 'allow [2001:db8::/32]' },
    { name: 'deny wins a tie', rules: ['allow [2001:db8::/32]:443', 'deny [2001:db8::/32]:443'], address: '2001:db8::1', port: 443, want: 'deny [2001:db8::/32]:443' },
    { name: 'uncompressed address text matches the canonical rule', rules: ['deny [2001:db8::1]'], address: '2001:0db8:0000:0000:0000:0000:0000:0001', port: 443, want: 'deny [2001:db8::1]' },
    { name: 'IPv6 rules never match IPv4 addresses', rules: ['deny [::/0]'], address: '0.0.0.0', port: 443, want: undefined },
  ];
  for (const c of cases) {
    const family = c.address.includes(':') ? 6 : 4;
    t.equal(table(c.rules).lookup(family, c.address, c.port, 0), c.want, c.name);
  }
});

t.test('layers are answered independently in one pass', async (t) => {
  const cases: { name: string; rules: string[]; address: string; port: number; want: [string | undefined, string | undefined] }[] = [
    { name: 'each layer gets its own longest prefix', rules: ['0:deny 10.0.0.0/8', '1:allow 10.1.0.0/16'], address: '10.1.2.3', port: 443, want: ['0:deny 10.0.0.0/8', '1:allow 10.1.0.0/16'] },
    { name: 'a longer prefix of one layer does not shadow the other', rules: ['0:allow 10.1.2.3/32', '1:deny 10.0.0.0/8'], address: '10.1.2.3', port: 443, want: ['0:allow 10.1.2.3/32', '1:deny 10.0.0.0/8'] },
    { name: 'entries of a third layer never leak', rules: ['2:deny 10.1.2.3/32', '1:allow 10.0.0.0/8'], address: '10.1.2.3', port: 443, want: [undefined, '1:allow 10.0.0.0/8'] },
    { name: 'IPv6: each layer its own prefix', rules: ['0:deny [2001:db8::/32]', '1:allow [2001:db8:1::/48]:443'], address: '2001:db8:1::1', port: 443, want: ['0:deny [2001:db8::/32]', '1:allow [2001:db8:1::/48]:443'] },
    { name: 'IPv6: port fallback is per layer', rules: ['0:allow [2001:db8:1::/48]:22', '1:allow [2001:db8:1::/48]:443', '0:deny [2001:db8::/32]'], address: '2001:db8:1::1', port: 443, want: ['0:deny [2001:db8::/32]', '1:allow [2001:db8:1::/48]:443'] },
  ];
  for (const c of cases) {
    const family = c.address.includes(':') ? 6 : 4;
    const got = table(c.rules).lookupPair(family, c.address, c.port, 0, 1);
    t.same([got.first, got.second], c.want, c.name);
  }
});

t.test('a large table finds every prefix it holds', async (t) => {
  const RULES = 4000;
  const tb = new PrefixTable<number>();
  for (let i = 0; i < RULES; i++) {
    tb.add(0, 4, `10.${(i >> 8) & 255}.${i & 255}.0`, 24, null, 1, i);
    tb.add(0, 6, `2001:db8:${i.toString(16)}::`, 48, null, 1, RULES + i);
  }
  tb.seal();
  t.equal(tb.size, RULES * 2, 'size counts every entry');
  let wrong = 0;
  for (let i = 0; i < RULES; i++) {
    if (tb.lookup(4, `10.${(i >> 8) & 255}.${i & 255}.77`, 80, 0) !== i) wrong++;
    if (tb.lookup(6, `2001:db8:${i.toString(16)}:1::77`, 80, 0) !== RULES + i) wrong++;
  }
  if (tb.lookup(4, '10.200.0.1', 80, 0) !== undefined) wrong++;
  if (tb.lookup(6, '2001:db9::1', 80, 0) !== undefined) wrong++;
  t.equal(wrong, 0, 'every lookup answered correctly');
});

t.test('bad input is refused, never guessed at', async (t) => {
  const tb = new PrefixTable<string>();
  t.throws(() => tb.add(0, 4, '10.0.0.0', 33, null, 0, 'x'), /not an IPv4 prefix/, 'IPv4 prefix over 32');
  t.throws(() => tb.add(0, 6, '2001:db8::', 129, null, 0, 'x'), /not an IPv6 prefix/, 'IPv6 prefix over 128');
  t.throws(() => tb.add(0, 4, '2001:db8::', 8, null, 0, 'x'), /not an IPv4 prefix/, 'IPv6 text as IPv4');
  t.throws(() => tb.add(0, 6, '10.0.0.0', 8, null, 0, 'x'), /not an IPv6 prefix/, 'IPv4 text as IPv6');
  t.throws(() => tb.lookup(4, '10.0.0.0', 1, 0), /before seal/, 'lookup before seal');
  tb.seal();
  t.throws(() => tb.add(0, 4, '10.0.0.0', 8, null, 0, 'x'), /after seal/, 'add after seal');
  t.throws(() => tb.lookup(4, '0x7f.1', 443, 0), /not an IPv4 address/, 'non-canonical IPv4 spelling at lookup');
  t.throws(() => tb.lookup(6, 'fe80::1%eth0', 443, 0), /not an IPv6 address/, 'zone id at lookup');
});
