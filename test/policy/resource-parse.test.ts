// Every network resource form of DESIGN §2 and every spelling the loader must refuse.
import t from 'tap';
import { inetAton, parseIPv6Parts, parseNetworkResource, parsePortSpec } from '../../src/policy/resource-parse.js';
import type { HostPattern, PortRange } from '../../src/policy/types.js';

interface Accept {
  name: string;
  text: string;
  host: HostPattern;
  ports: PortRange | null;
}

const v4 = (address: string, prefix = 32): HostPattern => ({ type: 'cidr', family: 4, address, prefix });
const v6 = (address: string, prefix = 128): HostPattern => ({ type: 'cidr', family: 6, address, prefix });
const exact = (name: string): HostPattern => ({ type: 'exact', name });
const one = (suffix: string): HostPattern => ({ type: 'one-label', suffix });
const deep = (suffix: string): HostPattern => ({ type: 'any-depth', suffix });
const port = (lo: number, hi = lo): PortRange => ({ lo, hi });

const accepted: Accept[] = [
  { name: 'exact name', text: 'example.com', host: exact('example.com'), ports: null },
  { name: 'exact name with port', text: 'example.com:443', host: exact('example.com'), ports: port(443) },
  { name: 'exact name with port range', text: 'example.com:8000-8100', host: exact('example.com'), ports: port(8000, 8100) },
  { name: 'exact name with any port', text: 'example.com:*', host: exact('example.com'), ports: null },
  { name: 'upper case is canonicalised to lower case', text: 'GitHub.COM', host: exact('github.com'), ports: null },
  { name: 'trailing dot is removed', text: 'example.com.', host: exact('example.com'), ports: null },
  { name: 'trailing dot before port is removed', text: 'example.com.:443', host: exact('example.com'), ports: port(443) },
  { name: 'single-label exact name', text: 'localhost', host: exact('localhost'), ports: null },
  { name: 'underscore and hyphen in labels', text: '_dmarc.my-host.example', host: exact('_dmarc.my-host.example'), ports: null },
  { name: 'punycode name', text: 'xn--bcher-kva.example', host: exact('xn--bcher-kva.example'), ports: null },
  { name: 'one-label wildcard', text: '*.example.com', host: one('example.com'), ports: null },
  { name: 'one-label wildcard with port', text: '*.Example.com:443', host: one('example.com'), ports: port(443) },
  { name: 'any-depth wildcard', text: '**.example.com', host: deep('example.com'), ports: null },
  { name: 'any-depth wildcard with port', text: '**.githubusercontent.com:443', host: deep('githubusercontent.com'), ports: port(443) },
  { name: 'any-depth wildcard over two labels', text: '**.co.uk', host: deep('co.uk'), ports: null },
  { name: 'IPv4 address', text: '10.0.0.7', host: v4('10.0.0.7'), ports: null },
  { name: 'IPv4 address with port', text: '127.0.0.1:3000', host: v4('127.0.0.1'), ports: port(3000) },
  { name: 'IPv4 address with port range', text: '127.0.0.1:3000-3999', host: v4('127.0.0.1'), ports: port(3000, 3999) },
  { name: 'IPv4 address 0', text: '0.0.0.0', host: v4('0.0.0.0'), ports: null },
  { name: 'IPv4 CIDR', text: '10.0.0.0/8', host: v4('10.0.0.0', 8), ports: null },
  { name: 'IPv4 CIDR with port', text: '172.17.0.0/16:5432', host: v4('172.17.0.0', 16), ports: port(5432) },
  { name: 'IPv4 CIDR with any port', text: '10.0.0.0/8:*', host: v4('10.0.0.0', 8), ports: null },
  { name: 'IPv4 CIDR /0', text: '0.0.0.0/0', host: v4('0.0.0.0', 0), ports: null },
  { name: 'IPv4 CIDR /32', text: '10.1.2.3/32', host: v4('10.1.2.3', 32), ports: null },
  { name: 'bracketed IPv6', text: '[2001:db8::1]', host: v6('2001:db8::1'), ports: null },
  { name: 'bracketed IPv6 canonicalised (RFC 5952)', text: '[2001:DB8:0:0:0:0:0:1]', host: v6('2001:db8::1'), ports: null },
  { name: 'bracketed IPv6 longest zero run compressed', text: '[2001:db8:0:0:1:0:0:1]', host: v6('2001:db8::1:0:0:1'), ports: null },
  { name: 'bracketed IPv6 with port', text: '[2001:db8::1]:443', host: v6('2001:db8::1'), ports: port(443) },
  { name: 'bracketed IPv6 with port range', text: '[::1]:3000-3999', host: v6('::1'), ports: port(3000, 3999) },
  { name: 'bracketed IPv6 with any port', text: '[fd00:ec2::254]:*', host: v6('fd00:ec2::254'), ports: null },
  { name: 'bracketed IPv6 CIDR', text: '[2001:db8::/32]', host: v6('2001:db8::', 32), ports: null },
  { name: 'bracketed IPv6 CIDR with port', text: '[2001:db8::/32]:443', host: v6('2001:db8::', 32), ports: port(443) },
  { name: 'bracketed IPv6 /0', text: '[::/0]', host: v6('::', 0), ports: null },
  { name: 'bare IPv6 without port', text: '2001:db8::1', host: v6('2001:db8::1'), ports: null },
  { name: 'bare IPv6 loopback', text: '::1', host: v6('::1'), ports: null },
  { name: 'bare IPv6 unspecified', text: '::', host: v6('::'), ports: null },
  { name: 'bare IPv6 CIDR', text: 'fc00::/7', host: v6('fc00::', 7), ports: null },
  { name: 'IPv4-compatible IPv6 with dotted tail (not mapped)', text: '[::1.2.3.4]', host: v6('::102:304'), ports: null },
  { name: 'NAT64 with dotted tail', text: '[64:ff9b::192.0.2.1]', host: v6('64:ff9b::c000:201'), ports: null },
  { name: 'port 1', text: 'a.example:1', host: exact('a.example'), ports: port(1) },
  { name: 'port 65535', text: 'a.example:65535', host: exact('a.example'), ports: port(65535) },
  { name: 'full port range', text: 'a.example:1-65535', host: exact('a.example'), ports: port(1, 65535) },
  { name: 'one-port range', text: 'a.example:443-443', host: exact('a.example'), ports: port(443) },
];

t.test('accepted resource forms', async (t) => {
  for (const c of accepted) {
    const r = parseNetworkResource(c.text);
    t.same(r, { ok: true, value: { host: c.host, ports: c.ports } }, `${c.name}: ${c.text}`);
  }
});

interface Reject {
  name: string;
  text: string;
  /** Fragments the message must contain (what is wrong, and what to write). */
  fragments: string[];
}

const rejected: Reject[] = [
  { name: 'empty resource', text: '', fragments: ['empty resource'] },
  { name: 'bare * matches every host', text: '*', fragments: ['would match every host'] },
  { name: 'bare ** matches every host', text: '**', fragments: ['would match every host'] },
  { name: '*. alone', text: '*.', fragments: ['would match every host'] },
  { name: 'wildcard over a TLD (*.com)', text: '*.com', fragments: ["top-level domain 'com'", 'at least two labels'] },
  { name: 'any-depth wildcard over a TLD (**.com)', text: '**.com', fragments: ["top-level domain 'com'"] },
  { name: 'wildcard over a TLD with port', text: '*.io:443', fragments: ["top-level domain 'io'"] },
  { name: 'wildcard in a middle label', text: 'a.*.com', fragments: ['whole leftmost label'] },
  { name: 'partial-label wildcard', text: '*foo.com', fragments: ['whole leftmost label'] },
  { name: 'suffix wildcard', text: 'foo*.example.com', fragments: ['whole leftmost label'] },
  { name: 'triple star', text: '***.example.com', fragments: ['whole leftmost label'] },
  { name: 'two wildcard labels', text: '*.*.example.com', fragments: ['whole leftmost label'] },
  { name: 'wildcard in last label', text: 'example.*', fragments: ['whole leftmost label'] },
  { name: 'non-ASCII name shows punycode', text: 'bücher.example', fragments: ["write 'xn--bcher-kva.example' instead of 'bücher.example'"] },
  { name: 'non-ASCII wildcard shows punycode with wildcard', text: '**.bücher.example', fragments: ["write '**.xn--bcher-kva.example'"] },
  { name: 'fullwidth letters (homoglyph) are non-ASCII', text: 'ｅxample.com', fragments: ["write 'example.com'"] },
  { name: 'invalid punycode label', text: 'xn--zz.example', fragments: ['not a valid host name', 'punycode'] },
  { name: 'empty label', text: 'a..example.com', fragments: ['empty label'] },
  { name: 'leading dot', text: '.example.com', fragments: ['empty label'] },
  { name: 'two trailing dots', text: 'example.com..', fragments: ['empty label'] },
  { name: 'label over 63 octets', text: `${'a'.repeat(64)}.example.com`, fragments: ['is 64 characters', 'at most 63'] },
  { name: 'name over 253 octets', text: `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}.example`, fragments: ['at most 253'] },
  { name: 'invalid character', text: 'a!b.example.com', fragments: ["invalid character '!'"] },
  { name: 'percent escape', text: 'a%41.example.com', fragments: ["invalid character '%'"] },
  { name: 'whitespace', text: 'example.com 443', fragments: ['whitespace'] },
  { name: 'NUL byte', text: 'example.com\u0000.evil', fragments: ['NUL'] },
  { name: 'CR/LF', text: 'example.com\r\nx', fragments: ['control character'] },
  { name: 'userinfo', text: 'user@example.com', fragments: ["contains '@'"] },
  { name: 'URL instead of host', text: 'https://github.com/org/repo', fragments: ['is a URL', 'write github.com:443'] },
  { name: 'URL with explicit port', text: 'http://example.com:8080/', fragments: ['write example.com:8080'] },
  { name: 'path after host', text: 'github.com/org', fragments: ['not a URL path'] },
  { name: 'port 0', text: 'example.com:0', fragments: ['port 0 is out of range', '1-65535'] },
  { name: 'port 65536', text: 'example.com:65536', fragments: ['port 65536 is out of range'] },
  { name: 'huge port', text: 'example.com:99999999999999999999', fragments: ['out of range'] },
  { name: 'port with leading zero', text: 'example.com:0443', fragments: ['leading zeros', 'write 443'] },
  { name: 'range with leading zero', text: 'example.com:080-90', fragments: ['leading zeros', 'write 80'] },
  { name: 'reversed port range', text: 'example.com:8100-8000', fragments: ['reversed', 'write :8000-8100'] },
  { name: 'range out of range', text: 'example.com:1-70000', fragments: ['70000 is out of range'] },
  { name: 'empty port', text: 'example.com:', fragments: ['empty port'] },
  { name: 'named port', text: 'example.com:https', fragments: ["invalid port 'https'"] },
  { name: 'open port range', text: 'example.com:8000-', fragments: ["invalid port ''"] },
  { name: 'negative port', text: 'example.com:-1', fragments: ["invalid port ''"] },
  { name: 'port without host', text: ':443', fragments: ['has no host'] },
  { name: 'two ports on a name', text: 'example.com:443:80', fragments: ["more than one ':'"] },
  { name: 'IPv4 hex-dotted spelling (0x7f.1)', text: '0x7f.1', fragments: ['unusual spelling', 'write 127.0.0.1'] },
  { name: 'IPv4 short form (127.1)', text: '127.1', fragments: ['write 127.0.0.1'] },
  { name: 'IPv4 decimal integer', text: '2130706433', fragments: ['write 127.0.0.1'] },
  { name: 'IPv4 hex integer', text: '0x7f000001', fragments: ['write 127.0.0.1'] },
  { name: 'IPv4 octal octets', text: '0177.0.0.1', fragments: ['octal', 'write 127.0.0.1'] },
  { name: 'IPv4 leading zero is octal', text: '010.0.0.1', fragments: ['octal', 'write 8.0.0.1'] },
  { name: 'IPv4 trailing dot', text: '10.0.0.7.', fragments: ['write 10.0.0.7'] },
  { name: 'IPv4 odd spelling with port', text: '0x7f.1:80', fragments: ['write 127.0.0.1'] },
  { name: 'IPv4 octet over 255', text: '256.1.1.1', fragments: ['not a valid IPv4 address'] },
  { name: 'five-part IPv4', text: '1.2.3.4.5', fragments: ['not a valid IPv4 address'] },
  { name: 'name ending in a numeric label', text: 'foo.123', fragments: ['cannot end in a numeric label'] },
  { name: 'CIDR with host bits set', text: '10.0.0.1/8', fragments: ['10.0.0.1/8 has host bits set; write 10.0.0.0/8'] },
  { name: 'CIDR with host bits set (/24)', text: '192.168.1.77/24', fragments: ['write 192.168.1.0/24'] },
  { name: 'CIDR prefix over 32', text: '10.0.0.0/33', fragments: ['/33 is out of range', '0-32'] },
  { name: 'CIDR prefix with leading zero', text: '10.0.0.0/08', fragments: ["invalid prefix length '/08'"] },
  { name: 'CIDR empty prefix', text: '10.0.0.0/', fragments: ["invalid prefix length '/'"] },
  { name: 'CIDR non-numeric prefix', text: '10.0.0.0/x', fragments: ["invalid prefix length '/x'"] },
  { name: 'CIDR with odd IPv4 spelling', text: '0x0a.0.0.0/8', fragments: ['write 10.0.0.0/8'] },
  { name: 'CIDR with double slash', text: '10.0.0.0/8/8', fragments: ['invalid prefix length'] },
  { name: 'IPv6 CIDR host bits set', text: '[2001:db8::1/32]', fragments: ['has host bits set; write "[2001:db8::/32]"'] },
  { name: 'IPv6 CIDR prefix over 128', text: '[2001:db8::/129]', fragments: ['/129 is out of range', '0-128'] },
  { name: 'bare IPv6 ambiguous with a port', text: '2001:db8::1:443', fragments: ['ambiguous', '"[2001:db8::1:443]"', '"[2001:db8::1]:443"'] },
  { name: 'bare IPv6 loopback with port-like tail', text: '::1:80', fragments: ['ambiguous'] },
  { name: 'bare IPv6 with a port', text: '2001:db8:0:0:0:0:0:1:443', fragments: ['must be bracketed', 'write "[2001:db8:0:0:0:0:0:1]:443"'] },
  { name: 'bare IPv6 with any port', text: '2001:db8::1:*', fragments: ['must be bracketed', '"[2001:db8::1]:*"'] },
  { name: 'bare IPv6 CIDR with a port', text: '2001:db8::/32:443', fragments: ['must be bracketed', '"[2001:db8::/32]:443"'] },
  { name: 'IPv6 zone id', text: '[fe80::1%eth0]', fragments: ['zone id'] },
  { name: 'bare IPv6 zone id', text: 'fe80::1%25eth0', fragments: ['zone id'] },
  { name: 'IPv6 with two ::', text: '[1::2::3]', fragments: ['not a valid IPv6 address'] },
  { name: 'IPv6 group over 4 hex digits', text: '[12345::1]', fragments: ['not a valid IPv6 address'] },
  { name: 'IPv6 with nine groups', text: '[1:2:3:4:5:6:7:8:9]', fragments: ['not a valid IPv6 address'] },
  { name: 'IPv6 dotted tail with leading zero octet', text: '[::ffff:01.2.3.4]', fragments: ['not a valid IPv6 address'] },
  { name: 'IPv6 dotted tail in odd spelling', text: '[::ffff:0x7f.1]', fragments: ['not a valid IPv6 address'] },
  { name: 'IPv4-mapped IPv6 address', text: '[::ffff:10.0.0.1]', fragments: ['IPv4-mapped', 'write 10.0.0.1'] },
  { name: 'IPv4-mapped IPv6 in hex', text: '[::ffff:a00:1]:443', fragments: ['IPv4-mapped', 'write 10.0.0.1'] },
  { name: 'IPv4-mapped IPv6 range', text: '[::ffff:10.0.0.0/104]', fragments: ['IPv4-mapped IPv6 range', 'write 10.0.0.0/8'] },
  { name: 'IPv4 in brackets', text: '[10.0.0.1]', fragments: ['only for IPv6', 'write 10.0.0.1'] },
  { name: 'name in brackets', text: '[Example.com]:443', fragments: ['only for IPv6', 'write example.com'] },
  { name: 'unclosed bracket', text: '[::1', fragments: ["'[' without ']'"] },
  { name: 'junk after bracket', text: '[::1]443', fragments: ["unexpected '443' after ']'"] },
  { name: 'empty brackets', text: '[]', fragments: ['empty brackets'] },
];

t.test('rejected resource spellings', async (t) => {
  for (const c of rejected) {
    const r = parseNetworkResource(c.text);
    if (r.ok) {
      t.fail(`${c.name}: ${JSON.stringify(c.text)} was accepted as ${JSON.stringify(r.value)}`);
      continue;
    }
    for (const fragment of c.fragments) {
      t.match(r.error, fragment, `${c.name}: message mentions ${JSON.stringify(fragment)}`);
    }
  }
});

t.test('parsePortSpec', async (t) => {
  t.same(parsePortSpec('*'), { ok: true, value: null }, '* is any port');
  t.same(parsePortSpec('22'), { ok: true, value: { lo: 22, hi: 22 } }, 'single port');
  t.same(parsePortSpec('1-2'), { ok: true, value: { lo: 1, hi: 2 } }, 'range');
  t.equal(parsePortSpec('1-2-3').ok, false, 'two dashes are refused');
  t.equal(parsePortSpec('+80').ok, false, 'sign is refused');
  t.equal(parsePortSpec('8e1').ok, false, 'exponent is refused');
});

t.test('inetAton reads what resolvers read', async (t) => {
  const cases: [string, number | null][] = [
    ['127.0.0.1', 0x7f000001],
    ['127.1', 0x7f000001],
    ['0x7f.1', 0x7f000001],
    ['2130706433', 0x7f000001],
    ['0177.0.0.1', 0x7f000001],
    ['0x7f000001', 0x7f000001],
    ['1.2.3', 0x01020003],
    ['1.2.3.4.', 0x01020304],
    ['4294967295', 0xffffffff],
    ['4294967296', null],
    ['1.256.0.0', null],
    ['08.0.0.1', null],
    ['1.2.3.4.5', null],
    ['a.b.c.d', null],
  ];
  for (const [text, value] of cases) t.equal(inetAton(text), value, text);
});

t.test('parseIPv6Parts is strict', async (t) => {
  t.same(parseIPv6Parts('::'), [0, 0, 0, 0, 0, 0, 0, 0], '::');
  t.same(parseIPv6Parts('1:2:3:4:5:6:7::'), [1, 2, 3, 4, 5, 6, 7, 0], ':: for the last group');
  t.same(parseIPv6Parts('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x102, 0x304], 'full form with dotted tail');
  t.same(parseIPv6Parts('::1.2.3.4'), [0, 0, 0, 0, 0, 0, 0x102, 0x304], 'IPv4-compatible stays compatible, not mapped');
  t.equal(parseIPv6Parts('1:2:3:4:5:6:7:8:9'), null, 'nine groups');
  t.equal(parseIPv6Parts('1:2:3:4:5:6:7'), null, 'seven groups without ::');
  t.equal(parseIPv6Parts('1.2.3.4'), null, 'plain IPv4');
  t.equal(parseIPv6Parts(':1'), null, 'single leading colon');
  t.equal(parseIPv6Parts('1:'), null, 'single trailing colon');
  t.equal(parseIPv6Parts('1::2:3:4:5:6:7:8'), null, ':: with eight groups');
  t.equal(parseIPv6Parts('::1.2.3'), null, 'short dotted tail');
  t.equal(parseIPv6Parts('1.2.3.4::'), null, 'dotted part not at the end');
});
