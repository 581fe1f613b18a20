/**
 * Canonicalisation of targets (DESIGN §2 "Targets are canonicalised"): every
 * hostile spelling a resolver or URL parser could read differently from a
 * naive string match either becomes the one canonical form or is rejected.
 */
import t from 'tap';
import {
  canonicalizeAddress,
  canonicalizeHost,
  MAX_NAME_OCTETS,
  parsePort,
  parseTarget,
} from '../../src/match/canonical.js';
import type { CanonicalHost, CanonicalTarget } from '../../src/match/types.js';

type Want = CanonicalHost | { error: string };

interface HostCase {
  /** The trick (hostile) or the property (positive) the case checks. */
  name: string;
  input: string;
  want: Want;
}

const v4 = (host: string): CanonicalHost => ({ kind: 'ipv4', host });
const v6 = (host: string, embeddedIPv4: string[] = []): CanonicalHost => ({ kind: 'ipv6', host, embeddedIPv4 });
const dns = (host: string): CanonicalHost => ({ kind: 'name', host });
const err = (error: string): Want => ({ error });

function expectation<T>(want: T | { error: string }): { ok: true; value: T } | { ok: false; error: string } {
  return typeof want === 'object' && want !== null && 'error' in want
    ? { ok: false, error: want.error }
    : { ok: true, value: want as T };
}

const label63 = 'a'.repeat(63);
/** 63+1+63+1+63+1+61 = 253 octets. */
const name253 = `${label63}.${label63}.${label63}.${'b'.repeat(61)}`;

/** Spellings an attacker would use to slip past a rule written for the canonical form. */
const HOSTILE: HostCase[] = [
  // --- IPv4 spellings inet_aton / WHATWG accept ---
  { name: 'decimal integer spelling of loopback', input: '2130706433', want: v4('127.0.0.1') },
  { name: 'hex integer spelling of loopback', input: '0x7f000001', want: v4('127.0.0.1') },
  { name: 'upper-case hex prefix and digits', input: '0X7F000001', want: v4('127.0.0.1') },
  { name: 'octal first octet', input: '0177.0.0.1', want: v4('127.0.0.1') },
  { name: 'octal integer spelling of loopback', input: '017700000001', want: v4('127.0.0.1') },
  { name: 'two-part short form (last part fills 24 bits)', input: '127.1', want: v4('127.0.0.1') },
  { name: 'three-part short form (last part fills 16 bits)', input: '127.0.1', want: v4('127.0.0.1') },
  { name: 'mixed hex first part and short form', input: '0x7f.1', want: v4('127.0.0.1') },
  { name: 'hex first and last octet', input: '0x7f.0.0.0x1', want: v4('127.0.0.1') },
  { name: 'leading zero makes an octet octal (0127 = 87, not 127)', input: '0127.0.0.1', want: v4('87.0.0.1') },
  { name: 'trailing dot on an IPv4 literal', input: '127.0.0.1.', want: v4('127.0.0.1') },
  { name: 'decimal integer spelling of the metadata address', input: '2852039166', want: v4('169.254.169.254') },
  { name: 'hex octets of the metadata address', input: '0xa9.0xfe.0xa9.0xfe', want: v4('169.254.169.254') },
  { name: 'octal octets of the metadata address', input: '0251.0376.0251.0376', want: v4('169.254.169.254') },
  { name: 'two-part short form of the metadata address', input: '169.16689662', want: v4('169.254.169.254') },
  { name: 'hex with a run of leading zeros', input: '0x00000000007f000001', want: v4('127.0.0.1') },
  { name: 'octal with a run of leading zeros', input: '0000000000177.1', want: v4('127.0.0.1') },
  { name: 'bare 0x prefix is zero (WHATWG URL parser)', input: '0x', want: v4('0.0.0.0') },
  { name: 'single zero is the unspecified address', input: '0', want: v4('0.0.0.0') },
  { name: 'fullwidth digits and dots spell loopback', input: '１２７．０．０．１', want: v4('127.0.0.1') },
  { name: 'fullwidth x in a hex spelling', input: '0ｘ7f.1', want: v4('127.0.0.1') },
  { name: 'ideographic full stops between IPv4 octets', input: '127。0。0。1', want: v4('127.0.0.1') },
  // --- numeric-looking names that are not valid IPv4: resolvers disagree, so reject ---
  { name: 'octet over 255 is not IPv4 and not a name', input: '256.1.1.1', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'hex integer over 32 bits', input: '0x100000000', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'decimal integer 2^32 wraps to 0.0.0.0 in sloppy parsers', input: '4294967296', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'short form whose last part overflows its 24 bits', input: '127.16777216', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'octal part with digit 8', input: '08.0.0.1', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'five numeric parts', input: '1.2.3.4.5', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'all-numeric top-level label', input: 'example.123', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'hex-looking top-level label', input: 'example.0x1f', want: err('numeric last label but not a valid IPv4 address') },
  { name: 'trailing whitespace that inet_aton ignores', input: '127.0.0.1 evil', want: err('contains space') },
  // --- IPv6 forms ---
  { name: 'IPv4-mapped IPv6 hides loopback', input: '::ffff:127.0.0.1', want: v4('127.0.0.1') },
  { name: 'IPv4-mapped IPv6 in hex groups hides the metadata address', input: '[::ffff:a9fe:a9fe]', want: v4('169.254.169.254') },
  { name: 'IPv4-mapped IPv6 fully expanded, upper case', input: '0:0:0:0:0:FFFF:7F00:0001', want: v4('127.0.0.1') },
  { name: 'IPv4-compatible IPv6 embeds loopback', input: '::127.0.0.1', want: v6('::7f00:1', ['127.0.0.1']) },
  { name: 'NAT64 well-known prefix hides the metadata address', input: '64:ff9b::169.254.169.254', want: v6('64:ff9b::a9fe:a9fe', ['169.254.169.254']) },
  { name: 'NAT64 hex spelling hides loopback', input: '[64:ff9b::7f00:1]', want: v6('64:ff9b::7f00:1', ['127.0.0.1']) },
  { name: '6to4 prefix embeds loopback', input: '2002:7f00:1::', want: v6('2002:7f00:1::', ['127.0.0.1']) },
  {
    name: 'Teredo embeds server and obfuscated client (RFC 4380 example)',
    input: '2001:0000:4136:e378:8000:63bf:3fff:fdd2',
    want: v6('2001:0:4136:e378:8000:63bf:3fff:fdd2', ['65.54.227.120', '192.0.2.45']),
  },
  { name: 'SIIT IPv4-translated form embeds the metadata address', input: '::ffff:0:169.254.169.254', want: v6('::ffff:0:a9fe:a9fe', ['169.254.169.254']) },
  { name: 'zone id selects an interface', input: 'fe80::1%eth0', want: err("zone id not allowed ('%')") },
  { name: 'percent-encoded zone id in brackets', input: '[fe80::1%25eth0]', want: err("zone id not allowed ('%')") },
  { name: 'upper case and zero padding in IPv6', input: '2001:0DB8:0000:0000:0000:0000:0000:0001', want: v6('2001:db8::1') },
  { name: 'five hex digits in a group', input: '00001::1', want: err('invalid IPv6 address') },
  { name: 'two :: in one address', input: '1::2::3', want: err('invalid IPv6 address') },
  { name: '9 groups', input: '1:2:3:4:5:6:7:8:9', want: err('invalid IPv6 address') },
  { name: ':: standing for zero groups', input: '1:2:3:4::5:6:7:8', want: err('invalid IPv6 address') },
  { name: 'octal octet inside an IPv6 dotted tail (ipaddr.js reads it as decimal)', input: '::ffff:0177.0.0.1', want: err('invalid IPv6 address') },
  { name: 'short IPv4 form inside an IPv6 dotted tail', input: '::ffff:127.1', want: err('invalid IPv6 address') },
  { name: 'IPv4 literal in brackets', input: '[127.0.0.1]', want: err('bracketed host is not an IPv6 address') },
  { name: 'unbalanced bracket', input: '[::1', want: err("unbalanced '['") },
  { name: 'CRLF after an IPv6 literal', input: '::1\r\nHost: evil', want: err('contains CR') },
  // --- names ---
  { name: 'trailing dot evades exact match', input: 'Example.COM.', want: dns('example.com') },
  { name: 'upper case evades exact match', input: 'PasteBin.COM', want: dns('pastebin.com') },
  { name: 'double trailing dot', input: 'example.com..', want: err('empty label') },
  { name: 'empty label in the middle', input: 'a..example.com', want: err('empty label') },
  { name: 'leading dot', input: '.example.com', want: err('empty label') },
  { name: 'NUL byte truncation', input: 'allowed.com\u0000.evil.com', want: err('contains NUL byte') },
  { name: 'CRLF header injection', input: 'allowed.com\r\nX-Injected: 1', want: err('contains CR') },
  { name: 'bare LF injection', input: 'allowed.com\nevil.com', want: err('contains LF') },
  { name: 'tab inside a name', input: 'allowed.com\tevil.com', want: err('contains tab') },
  { name: 'other C0 control character', input: 'allowed\u0001.com', want: err('contains control character 0x01') },
  { name: 'DEL character', input: 'allowed\u007f.com', want: err('contains control character 0x7f') },
  { name: 'userinfo confusion allowed@evil', input: 'allowed.com@evil.com', want: err("contains '@'") },
  { name: 'backslash authority confusion', input: 'evil.com\\allowed.com', want: err("contains '\\'") },
  { name: 'path smuggled into the host', input: 'allowed.com/evil.com', want: err("contains '/'") },
  { name: 'percent-encoded host (WHATWG decodes it)', input: '%31%32%37.0.0.1', want: err("contains '%'") },
  { name: 'query mark truncates the host in URL parsers', input: 'evil.com?.allowed.com', want: err("contains '?'") },
  { name: 'fragment mark truncates the host in URL parsers', input: 'evil.com#.allowed.com', want: err("contains '#'") },
  { name: 'port smuggled into a host', input: 'evil.com:80', want: err("contains ':' (a port is not part of a host)") },
  { name: 'wildcard as a target', input: '*.example.com', want: err("contains '*'") },
  { name: 'fullwidth commercial at hides userinfo', input: 'allowed.com＠evil.com', want: err("contains '@' after Unicode normalisation") },
  { name: 'fullwidth solidus hides a path', input: 'allowed.com／evil.com', want: err("contains '/' after Unicode normalisation") },
  { name: 'fullwidth reverse solidus', input: 'allowed.com＼evil.com', want: err("contains '\\' after Unicode normalisation") },
  { name: 'no-break space', input: 'allowed.com\u00a0', want: err('contains space after Unicode normalisation') },
  { name: 'fullwidth dot', input: 'example．com', want: dns('example.com') },
  { name: 'ideographic full stop', input: 'example。com', want: dns('example.com') },
  { name: 'halfwidth ideographic full stop', input: 'example｡com', want: dns('example.com') },
  { name: 'fullwidth letters', input: 'ＥＸＡＭＰＬＥ.com', want: dns('example.com') },
  { name: 'ideographic full stop as the trailing dot', input: 'example.com。', want: dns('example.com') },
  { name: 'soft hyphen is ignored by UTS 46', input: 'exa\u00admple.com', want: dns('example.com') },
  { name: 'zero-width space is ignored by UTS 46', input: 'exa\u200bmple.com', want: dns('example.com') },
  { name: 'Kelvin sign case-folds to k', input: '\u212aeys.example', want: dns('keys.example') },
  { name: 'zero-width joiner outside its allowed context', input: 'a\u200db.com', want: err('invalid IDN') },
  { name: 'one dot leader is not a label separator', input: 'example\u2024com', want: err('invalid IDN') },
  { name: 'uppercase punycode', input: 'XN--BCHER-KVA.DE', want: dns('xn--bcher-kva.de') },
  { name: 'mixed-case punycode', input: 'xn--Bcher-KVA.de', want: dns('xn--bcher-kva.de') },
  { name: 'malformed punycode label', input: 'xn--zz.com', want: err('invalid IDN (malformed punycode label)') },
  { name: 'Cyrillic homograph becomes distinct punycode', input: '\u0430pple.com', want: dns('xn--pple-43d.com') },
  { name: 'over-long label', input: `${'a'.repeat(64)}.com`, want: err('label over 63 octets') },
  { name: 'over-long label once encoded as punycode', input: `${'ü'.repeat(60)}.de`, want: err('label over 63 octets') },
  { name: 'over-long name', input: `c.${name253}`, want: err('name over 253 octets') },
  { name: 'huge input', input: 'a'.repeat(5000), want: err('host longer than 1024 characters') },
];

const POSITIVE: HostCase[] = [
  { name: 'plain name unchanged', input: 'api.github.com', want: dns('api.github.com') },
  { name: 'single-label name', input: 'localhost', want: dns('localhost') },
  { name: 'underscore is allowed', input: '_dmarc.example.com', want: dns('_dmarc.example.com') },
  { name: 'leading and trailing hyphens are allowed', input: '-a-.example.com', want: dns('-a-.example.com') },
  { name: 'numeric labels before a non-numeric one', input: '1.2.3.4.nip.io', want: dns('1.2.3.4.nip.io') },
  { name: 'last label starting 0x but not hex', input: 'example.0xzz', want: dns('example.0xzz') },
  { name: 'label of exactly 63 octets', input: `${label63}.com`, want: dns(`${label63}.com`) },
  { name: 'name of exactly 253 octets', input: name253, want: dns(name253) },
  { name: 'name of 253 octets plus the root dot', input: `${name253}.`, want: dns(name253) },
  { name: 'IDN to punycode', input: 'Bücher.de', want: dns('xn--bcher-kva.de') },
  { name: 'sharp s kept (nontransitional UTS 46)', input: 'faß.de', want: dns('xn--fa-hia.de') },
  { name: 'valid punycode kept', input: 'xn--bcher-kva.de', want: dns('xn--bcher-kva.de') },
  { name: 'dotted quad unchanged', input: '10.0.0.7', want: v4('10.0.0.7') },
  { name: 'IPv6 loopback', input: '::1', want: v6('::1') },
  { name: 'bracketed IPv6', input: '[2001:db8::1]', want: v6('2001:db8::1') },
  { name: 'unspecified IPv6', input: '::', want: v6('::') },
  { name: 'RFC 5952: the first of equal zero runs is compressed', input: '2001:db8:0:0:1:0:0:1', want: v6('2001:db8::1:0:0:1') },
  { name: 'RFC 5952: the longest zero run is compressed', input: '2001:db8:0:0:0:1:0:0', want: v6('2001:db8::1:0:0') },
  { name: 'RFC 5952: a single zero group is not compressed', input: '2001:db8:0:1:1:1:1:1', want: v6('2001:db8:0:1:1:1:1:1') },
  { name: 'RFC 5952: leading zeros dropped', input: '2001:0db8::0001', want: v6('2001:db8::1') },
  { name: 'RFC 5952: longest run later in the address', input: '1:0:0:2:0:0:0:3', want: v6('1:0:0:2::3') },
  { name: 'RFC 5952: trailing run', input: '0:1:0:0:0:0:0:0', want: v6('0:1::') },
  { name: ':: for one trailing group', input: '1:2:3:4:5:6:7::', want: v6('1:2:3:4:5:6:7:0') },
  { name: 'public NAT64 address keeps its embedded IPv4', input: '64:ff9b::8.8.8.8', want: v6('64:ff9b::808:808', ['8.8.8.8']) },
  { name: 'IPv4-mapped public address becomes IPv4', input: '::ffff:8.8.8.8', want: v4('8.8.8.8') },
  { name: 'empty host', input: '', want: err('empty host') },
  { name: 'root alone', input: '.', want: err('empty host') },
];

t.test('hostile spellings (each names its trick)', async (t) => {
  t.ok(HOSTILE.length >= 30, `at least 30 hostile spellings (${HOSTILE.length})`);
  for (const c of HOSTILE) t.strictSame(canonicalizeHost(c.input), expectation(c.want), c.name);
});

t.test('positive cases', async (t) => {
  for (const c of POSITIVE) t.strictSame(canonicalizeHost(c.input), expectation(c.want), c.name);
});

t.test('canonical output is a fixed point', async (t) => {
  for (const c of [...HOSTILE, ...POSITIVE]) {
    const first = canonicalizeHost(c.input);
    if (!first.ok) continue;
    const text = first.value.kind === 'ipv6' ? `[${first.value.host}]` : first.value.host;
    t.strictSame(canonicalizeHost(text), first, `re-canonicalising ${c.name}`);
  }
});

t.test('name length limits are counted after punycode', async (t) => {
  const longUnicode = `${'ü'.repeat(40)}.`.repeat(6) + 'de';
  const r = canonicalizeHost(longUnicode);
  t.ok(longUnicode.length < MAX_NAME_OCTETS, 'the Unicode text itself is short');
  t.strictSame(r, { ok: false, error: 'name over 253 octets' }, 'six 40-letter IDN labels exceed 253 octets as punycode');
});

interface AddressCase {
  name: string;
  input: string;
  want: Want;
}

const ADDRESSES: AddressCase[] = [
  { name: 'dotted quad', input: '93.184.216.34', want: v4('93.184.216.34') },
  { name: 'IPv6 text from a resolver', input: '2606:2800:220:1:248:1893:25c8:1946', want: v6('2606:2800:220:1:248:1893:25c8:1946') },
  { name: 'non-canonical IPv6 text', input: '2001:DB8:0:0::1', want: v6('2001:db8::1') },
  { name: 'IPv4-mapped resolver answer becomes IPv4', input: '::ffff:10.0.0.1', want: v4('10.0.0.1') },
  { name: 'NAT64 resolver answer lists the embedded IPv4', input: '64:ff9b::a00:1', want: v6('64:ff9b::a00:1', ['10.0.0.1']) },
  { name: 'octal spelling is not a strict literal', input: '0177.0.0.1', want: err('not a dotted-quad IPv4 address') },
  { name: 'short form is not a strict literal', input: '127.1', want: err('not a dotted-quad IPv4 address') },
  { name: 'integer spelling is not a strict literal', input: '2130706433', want: err('not a dotted-quad IPv4 address') },
  { name: 'leading zero octet', input: '10.0.0.01', want: err('not a dotted-quad IPv4 address') },
  { name: 'trailing space', input: '10.0.0.1 ', want: err('not a dotted-quad IPv4 address') },
  { name: 'a name', input: 'example.com', want: err('not a dotted-quad IPv4 address') },
  { name: 'brackets are not part of an address', input: '[::1]', want: err('not an IPv6 address') },
  { name: 'zone id in a resolver answer', input: 'fe80::1%eth0', want: err("zone id not allowed ('%')") },
  { name: 'empty', input: '', want: err('not a dotted-quad IPv4 address') },
];

t.test('canonicalizeAddress: strict IP literals only', async (t) => {
  for (const c of ADDRESSES) t.strictSame(canonicalizeAddress(c.input), expectation(c.want), c.name);
});

interface PortCase {
  name: string;
  input: string;
  want: number | { error: string };
}

const PORTS: PortCase[] = [
  { name: 'lowest port', input: '1', want: 1 },
  { name: 'https', input: '443', want: 443 },
  { name: 'highest port', input: '65535', want: 65535 },
  { name: 'port zero', input: '0', want: { error: 'port out of range 1-65535' } },
  { name: 'one past the highest port', input: '65536', want: { error: 'port out of range 1-65535' } },
  { name: 'leading zero (octal in some parsers)', input: '0443', want: { error: 'port has a leading zero' } },
  { name: 'negative sign', input: '-1', want: { error: 'port must be digits only' } },
  { name: 'plus sign', input: '+443', want: { error: 'port must be digits only' } },
  { name: 'leading space', input: ' 443', want: { error: 'port must be digits only' } },
  { name: 'hex port', input: '0x1bb', want: { error: 'port must be digits only' } },
  { name: 'fullwidth digits', input: '４４３', want: { error: 'port must be digits only' } },
  { name: 'integer that wraps modulo 65536 in sloppy parsers', input: '65979', want: { error: 'port out of range 1-65535' } },
  { name: 'very long digit string', input: '99999999999999999999999', want: { error: 'port out of range 1-65535' } },
  { name: 'empty', input: '', want: { error: 'empty port' } },
];

t.test('parsePort', async (t) => {
  for (const c of PORTS) t.strictSame(parsePort(c.input), expectation(c.want), c.name);
});

interface TargetCase {
  name: string;
  input: string;
  defaultPort?: number;
  want: CanonicalTarget | { error: string };
}

const at = (host: CanonicalHost, port: number): CanonicalTarget => ({ host, port });

const TARGETS: TargetCase[] = [
  { name: 'http URL takes port 80', input: 'http://a.b/x', want: at(dns('a.b'), 80) },
  { name: 'https URL takes port 443', input: 'https://a.b', want: at(dns('a.b'), 443) },
  { name: 'ws URL takes port 80', input: 'ws://a.b/socket', want: at(dns('a.b'), 80) },
  { name: 'wss URL takes port 443', input: 'wss://a.b', want: at(dns('a.b'), 443) },
  { name: 'explicit port wins over the scheme', input: 'HTTPS://A.B:8443/x?y#z', want: at(dns('a.b'), 8443) },
  { name: 'query right after the host', input: 'http://a.b?q=1', want: at(dns('a.b'), 80) },
  { name: 'bracketed IPv6 in a URL', input: 'http://[::1]:8080/', want: at(v6('::1'), 8080) },
  { name: 'hostile IPv4 spelling in a URL', input: 'http://0x7f.1/', want: at(v4('127.0.0.1'), 80) },
  { name: 'IPv4-mapped IPv6 in a URL', input: 'https://[::ffff:169.254.169.254]/latest', want: at(v4('169.254.169.254'), 443) },
  { name: 'userinfo in a URL', input: 'http://user@evil/', want: { error: "userinfo in URL not allowed ('@')" } },
  { name: 'userinfo confusion allowed@evil in a URL', input: 'https://allowed.com@evil.com/', want: { error: "userinfo in URL not allowed ('@')" } },
  { name: 'userinfo with password', input: 'https://allowed.com:443@evil.com/', want: { error: "userinfo in URL not allowed ('@')" } },
  { name: 'backslash before userinfo (WHATWG and RFC 3986 disagree)', input: 'http://allowed.com\\@evil.com/', want: { error: "userinfo in URL not allowed ('@')" } },
  { name: 'backslash as a path separator (WHATWG and RFC 3986 disagree)', input: 'http://evil.com\\.allowed.com/', want: { error: "contains '\\'" } },
  { name: 'at sign inside the fragment is not userinfo', input: 'http://a.b#@evil.com', want: at(dns('a.b'), 80) },
  { name: 'at sign inside the path is not userinfo', input: 'http://a.b/@evil.com', want: at(dns('a.b'), 80) },
  { name: 'unbracketed IPv6 in a URL', input: 'http://::1/', want: { error: "more than one ':' in URL authority (an IPv6 address must be in brackets)" } },
  { name: 'two ports in a URL', input: 'http://a.b:80:90/', want: { error: "more than one ':' in URL authority (an IPv6 address must be in brackets)" } },
  { name: 'unsupported scheme', input: 'ftp://a.b/', want: { error: "unsupported URL scheme 'ftp' (http, https, ws, wss)" } },
  { name: 'malformed scheme', input: '1http://a.b/', want: { error: 'invalid URL scheme' } },
  { name: 'port zero in a URL', input: 'http://a.b:0/', want: { error: 'port out of range 1-65535' } },
  { name: 'empty port in a URL', input: 'http://a.b:/', want: { error: 'empty port' } },
  { name: 'empty authority', input: 'http:///x', want: { error: 'empty host' } },
  { name: 'CRLF in a URL host', input: 'http://a.b\r\n/', want: { error: 'contains CR' } },
  { name: 'host:port', input: 'a.b:8080', want: at(dns('a.b'), 8080) },
  { name: 'bracketed IPv6 with port', input: '[::1]:8080', want: at(v6('::1'), 8080) },
  { name: 'bracketed IPv6 without port', input: '[2001:db8::1]', want: at(v6('2001:db8::1'), 443) },
  { name: 'bare IPv6 takes the default port', input: '::1', want: at(v6('::1'), 443) },
  { name: 'bare host takes the default port', input: 'Example.COM.', want: at(dns('example.com'), 443) },
  { name: 'bare host with a caller default port', input: 'example.com', defaultPort: 80, want: at(dns('example.com'), 80) },
  { name: 'hostile IPv4 spelling with a port', input: '2130706433:22', want: at(v4('127.0.0.1'), 22) },
  { name: 'text after the closing bracket', input: '[::1]x', want: { error: "unexpected text after ']'" } },
  { name: 'unbalanced bracket with port', input: '[::1:80', want: { error: "unbalanced '['" } },
  { name: 'port with a leading zero', input: 'a.b:080', want: { error: 'port has a leading zero' } },
  { name: 'signed port', input: 'a.b:+80', want: { error: 'port must be digits only' } },
  { name: 'port out of range', input: 'a.b:65536', want: { error: 'port out of range 1-65535' } },
  { name: 'port without host', input: ':443', want: { error: 'empty host' } },
  { name: 'host with empty port', input: 'a.b:', want: { error: 'empty port' } },
  { name: 'path without a scheme', input: 'a.b/x', want: { error: "contains '/'" } },
  { name: 'zone id on a bare IPv6 target', input: 'fe80::1%eth0', want: { error: "zone id not allowed ('%')" } },
  { name: 'empty target', input: '', want: { error: 'empty target' } },
];

t.test('parseTarget', async (t) => {
  for (const c of TARGETS) {
    const got = c.defaultPort === undefined ? parseTarget(c.input) : parseTarget(c.input, c.defaultPort);
    t.strictSame(got, expectation(c.want), c.name);
  }
});
