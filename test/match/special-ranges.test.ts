/**
 * Special ranges (DESIGN §2 "Names, then addresses"): every range the design
 * names, its edges, and IPv6 forms that smuggle a special IPv4 address.
 */
import t from 'tap';
import ipaddr from 'ipaddr.js';
import { canonicalizeHost } from '../../src/match/canonical.js';
import { embeddedIPv4, specialRange } from '../../src/match/special-ranges.js';
import { formatIPv4, parseIPv6 } from '../../src/match/ip-text.js';
import type { CanonicalHost } from '../../src/match/types.js';

interface RangeCase {
  name: string;
  /** Canonical address text (IPv6 without brackets). */
  address: string;
  want: string | null;
}

function host(address: string): CanonicalHost {
  return address.includes(':') ? { kind: 'ipv6', host: address, embeddedIPv4: [] } : { kind: 'ipv4', host: address };
}

const IPV4: RangeCase[] = [
  { name: 'unspecified 0.0.0.0', address: '0.0.0.0', want: 'unspecified' },
  { name: 'top of 0.0.0.0/8', address: '0.255.255.255', want: 'unspecified' },
  { name: 'just above 0.0.0.0/8', address: '1.0.0.0', want: null },
  { name: 'bottom of 10/8', address: '10.0.0.0', want: 'private' },
  { name: 'top of 10/8', address: '10.255.255.255', want: 'private' },
  { name: 'just below 10/8', address: '9.255.255.255', want: null },
  { name: 'just above 10/8', address: '11.0.0.0', want: null },
  { name: 'bottom of 172.16/12', address: '172.16.0.0', want: 'private' },
  { name: 'top of 172.16/12', address: '172.31.255.255', want: 'private' },
  { name: 'just below 172.16/12', address: '172.15.255.255', want: null },
  { name: 'just above 172.16/12', address: '172.32.0.0', want: null },
  { name: 'bottom of 192.168/16', address: '192.168.0.0', want: 'private' },
  { name: 'top of 192.168/16', address: '192.168.255.255', want: 'private' },
  { name: 'just above 192.168/16', address: '192.169.0.0', want: null },
  { name: 'loopback 127.0.0.1', address: '127.0.0.1', want: 'loopback' },
  { name: 'top of 127/8', address: '127.255.255.255', want: 'loopback' },
  { name: 'just above 127/8', address: '128.0.0.0', want: null },
  { name: 'cloud metadata 169.254.169.254', address: '169.254.169.254', want: 'link-local' },
  { name: 'bottom of 169.254/16', address: '169.254.0.0', want: 'link-local' },
  { name: 'just above 169.254/16', address: '169.255.0.0', want: null },
  { name: 'bottom of CGNAT 100.64/10', address: '100.64.0.0', want: 'cgnat' },
  { name: 'top of CGNAT 100.64/10', address: '100.127.255.255', want: 'cgnat' },
  { name: 'just below CGNAT', address: '100.63.255.255', want: null },
  { name: 'just above CGNAT', address: '100.128.0.0', want: null },
  { name: 'bottom of multicast 224/4', address: '224.0.0.0', want: 'multicast' },
  { name: 'top of multicast 224/4', address: '239.255.255.255', want: 'multicast' },
  { name: 'limited broadcast', address: '255.255.255.255', want: 'broadcast' },
  { name: 'just below broadcast is reserved 240/4', address: '255.255.255.254', want: 'reserved' },
  { name: 'bottom of reserved 240/4', address: '240.0.0.0', want: 'reserved' },
  { name: 'IETF protocol assignments 192.0.0.0/24', address: '192.0.0.8', want: 'reserved' },
  { name: 'just above 192.0.0.0/24', address: '192.0.1.0', want: null },
  { name: 'TEST-NET-1 192.0.2.0/24', address: '192.0.2.1', want: 'reserved' },
  { name: 'benchmarking 198.18/15 bottom', address: '198.18.0.0', want: 'reserved' },
  { name: 'benchmarking 198.18/15 top', address: '198.19.255.255', want: 'reserved' },
  { name: 'just above benchmarking', address: '198.20.0.0', want: null },
  { name: 'TEST-NET-2 198.51.100.0/24', address: '198.51.100.7', want: 'reserved' },
  { name: 'TEST-NET-3 203.0.113.0/24', address: '203.0.113.9', want: 'reserved' },
  { name: 'deprecated 6to4 relay anycast 192.88.99.0/24 (ipaddr.js)', address: '192.88.99.1', want: 'reserved' },
  { name: 'public resolver', address: '8.8.8.8', want: null },
  { name: 'public anycast', address: '1.1.1.1', want: null },
  { name: 'AS112 sink is public (ipaddr.js "as112")', address: '192.175.48.1', want: null },
  { name: 'AMT relay is public (ipaddr.js "amt")', address: '192.52.193.1', want: null },
];

const IPV6: RangeCase[] = [
  { name: 'unspecified ::', address: '::', want: 'unspecified' },
  { name: 'loopback ::1', address: '::1', want: 'loopback' },
  { name: 'link-local fe80::1', address: 'fe80::1', want: 'link-local' },
  { name: 'top of fe80::/10', address: 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', want: 'link-local' },
  { name: 'deprecated site-local fec0::/10', address: 'fec0::1', want: 'reserved' },
  { name: 'unique-local fc00::/7 bottom', address: 'fc00::', want: 'unique-local' },
  { name: 'AWS IPv6 metadata fd00:ec2::254', address: 'fd00:ec2::254', want: 'unique-local' },
  { name: 'just below fc00::/7', address: 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', want: null },
  { name: 'multicast ff02::1', address: 'ff02::1', want: 'multicast' },
  { name: 'multicast ff00::', address: 'ff00::', want: 'multicast' },
  { name: 'documentation 2001:db8::/32', address: '2001:db8::1', want: 'reserved' },
  { name: 'documentation 3fff::/20 (ipaddr.js)', address: '3fff::1', want: 'reserved' },
  { name: 'discard 100::/64', address: '100::1', want: 'reserved' },
  { name: 'just outside discard 100::/64', address: '100:0:0:1::', want: null },
  { name: 'benchmarking 2001:2::/48 (ipaddr.js)', address: '2001:2::1', want: 'reserved' },
  { name: 'public Cloudflare resolver', address: '2606:4700:4700::1111', want: null },
  { name: 'public Google resolver', address: '2001:4860:4860::8888', want: null },
  // embedded IPv4
  { name: 'IPv4-mapped loopback given as ipv6 kind', address: '::ffff:7f00:1', want: 'ipv4-mapped:loopback' },
  { name: 'IPv4-mapped public address', address: '::ffff:808:808', want: null },
  { name: 'IPv4-compatible loopback', address: '::7f00:1', want: 'ipv4-compatible:loopback' },
  { name: 'IPv4-compatible low address is unspecified 0/8', address: '::2', want: 'ipv4-compatible:unspecified' },
  { name: 'IPv4-compatible public address', address: '::808:808', want: null },
  { name: 'IPv4-translated metadata address', address: '::ffff:0:a9fe:a9fe', want: 'ipv4-translated:link-local' },
  { name: 'NAT64 metadata address', address: '64:ff9b::a9fe:a9fe', want: 'nat64:link-local' },
  { name: 'NAT64 private address', address: '64:ff9b::a00:1', want: 'nat64:private' },
  { name: 'NAT64 public address', address: '64:ff9b::808:808', want: null },
  { name: 'local-use NAT64 /96 position loopback', address: '64:ff9b:1::7f00:1', want: 'nat64:loopback' },
  { name: 'local-use NAT64 public address', address: '64:ff9b:1::808:808', want: null },
  { name: 'local-use NAT64 /64 position hides loopback', address: '64:ff9b:1:0:7f:0:100:0', want: 'nat64:loopback' },
  { name: '6to4 loopback', address: '2002:7f00:1::', want: '6to4:loopback' },
  { name: '6to4 metadata address', address: '2002:a9fe:a9fe::1', want: '6to4:link-local' },
  { name: '6to4 CGNAT address', address: '2002:6440:1::', want: '6to4:cgnat' },
  { name: '6to4 public address', address: '2002:808:808::1', want: null },
  { name: 'Teredo RFC 4380 example: client in TEST-NET-1', address: '2001:0:4136:e378:8000:63bf:3fff:fdd2', want: 'teredo:reserved' },
  { name: 'Teredo with a private server', address: '2001:0:a00:1::f7f7:f7f7', want: 'teredo:private' },
  { name: 'Teredo with an obfuscated loopback client', address: '2001:0:808:808::80ff:fffe', want: 'teredo:loopback' },
  { name: 'Teredo with public server and client', address: '2001:0:808:808::fefe:fefe', want: null },
];

t.test('IPv4 special ranges and their edges', async (t) => {
  for (const c of IPV4) t.equal(specialRange(host(c.address)), c.want, c.name);
});

t.test('IPv6 special ranges and embedded IPv4 forms', async (t) => {
  for (const c of IPV6) t.equal(specialRange(host(c.address)), c.want, c.name);
});

t.test('names are not addresses', async (t) => {
  t.equal(specialRange({ kind: 'name', host: 'localhost' }), null, 'localhost as a name');
});

t.test('non-canonical address text fails closed', async (t) => {
  t.equal(specialRange({ kind: 'ipv4', host: '0177.0.0.1' }), 'invalid', 'octal IPv4 text');
  t.equal(specialRange({ kind: 'ipv4', host: 'example.com' }), 'invalid', 'a name in an ipv4 host');
  t.equal(specialRange({ kind: 'ipv6', host: 'fe80::1%eth0', embeddedIPv4: [] }), 'invalid', 'IPv6 with zone id');
});

t.test('hostile spellings canonicalise to special addresses', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['decimal integer loopback', '2130706433', 'loopback'],
    ['octal metadata address', '0251.0376.0251.0376', 'link-local'],
    ['IPv4-mapped metadata address', '[::ffff:169.254.169.254]', 'link-local'],
    ['NAT64 metadata address', '64:ff9b::169.254.169.254', 'nat64:link-local'],
    ['bare 0x', '0x', 'unspecified'],
    ['fullwidth loopback', '１２７．０．０．１', 'loopback'],
  ];
  for (const [trick, input, want] of cases) {
    const c = canonicalizeHost(input);
    t.ok(c.ok, `${trick} canonicalises`);
    if (c.ok) t.equal(specialRange(c.value), want, trick);
  }
});

t.test('embedded IPv4 extraction', async (t) => {
  const cases: Array<[string, string, string[]]> = [
    ['no embedding in a global address', '2606:4700::1111', []],
    [':: is not IPv4-compatible', '::', []],
    ['::1 is not IPv4-compatible', '::1', []],
    ['IPv4-compatible', '::a00:1', ['ipv4-compatible:10.0.0.1']],
    ['NAT64 well-known prefix', '64:ff9b::a00:1', ['nat64:10.0.0.1']],
    ['NAT64 outside the /96 is not decoded', '64:ff9b:0:1::a00:1', []],
    ['local-use NAT64 /48 position with zero suffix', '64:ff9b:1:7f00:0:100::', ['nat64:0.0.0.0', 'nat64:127.0.0.1', 'nat64:0.0.1.0', 'nat64:0.1.0.0']],
    ['local-use NAT64 with a non-zero u-octet reads /96 only', '64:ff9b:1:7f00:ff00:100::', ['nat64:0.0.0.0']],
    ['6to4', '2002:c000:204::1', ['6to4:192.0.2.4']],
    ['Teredo server and client', '2001:0:4136:e378:8000:63bf:3fff:fdd2', ['teredo:65.54.227.120', 'teredo:192.0.2.45']],
  ];
  for (const [name, address, want] of cases) {
    const groups = parseIPv6(address);
    t.ok(groups, `${name} parses`);
    if (groups) t.strictSame(embeddedIPv4(groups).map((e) => `${e.form}:${formatIPv4(e.ipv4)}`), want, name);
  }
});

t.test('IPv4 classification agrees with ipaddr.js on sampled addresses', async (t) => {
  const PUBLIC_IN_IPADDR = new Set(['unicast', 'as112', 'amt']);
  const SAMPLES = 20000;
  let state = 0x9e3779b9; // deterministic xorshift32
  let disagreements = 0;
  const edges: number[] = [];
  for (let a = 0; a < 256; a++) edges.push(a * 2 ** 24, a * 2 ** 24 + 0xffffff);
  for (let i = 0; i < SAMPLES + edges.length; i++) {
    let value: number;
    if (i < edges.length) value = edges[i];
    else {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      value = state >>> 0;
    }
    const text = formatIPv4(value);
    const ours = specialRange({ kind: 'ipv4', host: text }) !== null;
    const theirs = !PUBLIC_IN_IPADDR.has(ipaddr.IPv4.parse(text).range());
    if (ours !== theirs) {
      disagreements++;
      t.fail(`${text}: ours special=${ours}, ipaddr.js special=${theirs}`);
    }
  }
  t.equal(disagreements, 0, `no disagreement over ${SAMPLES + edges.length} addresses`);
});
