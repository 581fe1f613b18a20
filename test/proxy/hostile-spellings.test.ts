/**
 * Hostile target spellings (the canonicaliser's corpus of tricks) sent
 * through all three entry paths — plain HTTP, CONNECT and SOCKS5 — against
 * the same policy. Each path must give the same answer, and the answer must
 * be the one the canonical form deserves: `2130706433` is 127.0.0.1
 * everywhere, `0xa9.0xfe.0xa9.0xfe` is the metadata address everywhere, a
 * NUL byte is invalid everywhere.
 *
 * A request line can only carry printable ASCII, so spellings with non-ASCII
 * characters (fullwidth digits, ideographic dots) are a 400 over HTTP and
 * CONNECT by protocol; SOCKS5 carries their bytes and must decide them on
 * the same canonical form as their ASCII spelling.
 */
import t from 'tap';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { httpExchange, openWire, readResponse, socks5Connect } from '../helpers/proxy-client.js';

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture();
});
t.teardown(() => fx.close());

type Answer = 'allow' | 'invalid' | 'unresolvable' | `deny:${string}`;

interface Spelling {
  /** The trick. */
  name: string;
  input: string;
  want: Answer;
  /** Non-ASCII spellings cannot be written in an HTTP request line (400 there by protocol). */
  nonAscii?: boolean;
}

const SPELLINGS: Spelling[] = [
  // IPv4 spellings of the allowed origin address 127.0.0.1
  { name: 'decimal integer', input: '2130706433', want: 'allow' },
  { name: 'hex integer', input: '0x7f000001', want: 'allow' },
  { name: 'upper-case hex', input: '0X7F000001', want: 'allow' },
  { name: 'octal first octet', input: '0177.0.0.1', want: 'allow' },
  { name: 'octal integer', input: '017700000001', want: 'allow' },
  { name: 'two-part short form', input: '127.1', want: 'allow' },
  { name: 'three-part short form', input: '127.0.1', want: 'allow' },
  { name: 'hex first part, short form', input: '0x7f.1', want: 'allow' },
  { name: 'hex first and last octet', input: '0x7f.0.0.0x1', want: 'allow' },
  { name: 'trailing dot on an IPv4 literal', input: '127.0.0.1.', want: 'allow' },
  { name: 'leading zero is octal: 0127 = 87 (public, no rule)', input: '0127.0.0.1', want: 'deny:default' },
  // the cloud metadata address, denied by a guardrails address rule
  { name: 'metadata as decimal integer', input: '2852039166', want: 'deny:rule' },
  { name: 'metadata as hex octets', input: '0xa9.0xfe.0xa9.0xfe', want: 'deny:rule' },
  { name: 'metadata as octal octets', input: '0251.0376.0251.0376', want: 'deny:rule' },
  { name: 'metadata as two-part short form', input: '169.16689662', want: 'deny:rule' },
  { name: 'metadata as IPv4-mapped IPv6 hex', input: '[::ffff:a9fe:a9fe]', want: 'deny:rule' },
  // special ranges
  { name: '0x is 0.0.0.0', input: '0x', want: 'deny:special-range' },
  { name: 'single zero is 0.0.0.0', input: '0', want: 'deny:special-range' },
  { name: 'loopback outside the allowed /32', input: '0x7f.2', want: 'deny:special-range' },
  { name: 'IPv4-mapped IPv6 of loopback is 127.0.0.1', input: '::ffff:127.0.0.1', want: 'allow' },
  { name: 'expanded upper-case IPv4-mapped', input: '0:0:0:0:0:FFFF:7F00:0001', want: 'allow' },
  { name: 'IPv4-compatible IPv6 embedding loopback', input: '::127.0.0.1', want: 'deny:special-range' },
  { name: 'NAT64 of loopback', input: '[64:ff9b::7f00:1]', want: 'deny:special-range' },
  { name: '6to4 of loopback', input: '2002:7f00:1::', want: 'deny:special-range' },
  { name: 'IPv6 loopback', input: '::1', want: 'deny:special-range' },
  // numeric-looking non-addresses
  { name: 'octet over 255', input: '256.1.1.1', want: 'invalid' },
  { name: 'hex integer over 32 bits', input: '0x100000000', want: 'invalid' },
  { name: 'decimal 2^32 (wraps in sloppy parsers)', input: '4294967296', want: 'invalid' },
  { name: 'octal digit 8', input: '08.0.0.1', want: 'invalid' },
  { name: 'five numeric parts', input: '1.2.3.4.5', want: 'invalid' },
  { name: 'IPv4 literal in brackets', input: '[127.0.0.1]', want: 'invalid' },
  // IPv6 junk
  { name: 'zone id', input: 'fe80::1%eth0', want: 'invalid' },
  { name: 'percent-encoded zone id', input: '[fe80::1%25eth0]', want: 'invalid' },
  { name: 'two ::', input: '1::2::3', want: 'invalid' },
  { name: 'octal in an IPv6 dotted tail', input: '::ffff:0177.0.0.1', want: 'invalid' },
  // names
  { name: 'upper case and trailing dot', input: 'ALLOWED.TEST.', want: 'allow' },
  { name: 'mixed case wildcard match', input: 'WWW.Allowed.Test', want: 'allow' },
  { name: 'upper case evades an exact deny', input: 'PasteBin.TEST', want: 'deny:rule' },
  { name: 'trailing dot evades a wildcard deny', input: 'X.PASTEBIN.TEST.', want: 'deny:rule' },
  { name: 'double trailing dot', input: 'allowed.test..', want: 'invalid' },
  { name: 'empty label', input: 'a..allowed.test', want: 'invalid' },
  { name: 'leading dot', input: '.allowed.test', want: 'invalid' },
  { name: 'NUL byte truncation', input: 'allowed.test\u0000.pastebin.test', want: 'invalid' },
  { name: 'CRLF injection', input: 'allowed.test\r\nX-Injected: 1', want: 'invalid' },
  { name: 'tab inside a name', input: 'allowed.test\tpastebin.test', want: 'invalid' },
  { name: 'DEL character', input: 'allowed\u007f.test', want: 'invalid' },
  { name: 'userinfo confusion', input: 'allowed.test@pastebin.test', want: 'invalid' },
  { name: 'backslash confusion', input: 'pastebin.test\\allowed.test', want: 'invalid' },
  { name: 'path smuggled into the host', input: 'allowed.test/pastebin.test', want: 'invalid' },
  { name: 'percent-encoded loopback', input: '%31%32%37.0.0.1', want: 'invalid' },
  { name: 'query mark', input: 'pastebin.test?.allowed.test', want: 'invalid' },
  { name: 'fragment mark', input: 'pastebin.test#.allowed.test', want: 'invalid' },
  { name: 'port smuggled into the host', input: 'pastebin.test:80', want: 'invalid' },
  { name: 'wildcard as a target', input: '*.allowed.test', want: 'invalid' },
  { name: 'malformed punycode', input: 'xn--zz.allowed.test', want: 'invalid' },
  { name: 'label over 63 octets', input: `${'a'.repeat(64)}.allowed.test`, want: 'invalid' },
  // names and their addresses
  { name: 'allowed name resolving into private space', input: 'private.allowed.test', want: 'deny:special-range' },
  { name: 'allowed name resolving to IPv6 loopback', input: 'v6loop.allowed.test', want: 'deny:special-range' },
  { name: 'allowed name resolving to IPv4-mapped loopback', input: 'mapped.allowed.test', want: 'deny:special-range' },
  { name: 'allowed name whose addresses are denied for different reasons', input: 'alldenied.allowed.test', want: 'deny:no-address-allowed' },
  { name: 'allowed name that does not resolve', input: 'nxdomain.allowed.test', want: 'unresolvable' },
  { name: 'upper-case punycode, allowed by wildcard, unresolvable', input: 'XN--BCHER-KVA.allowed.test', want: 'unresolvable' },
  // non-ASCII spellings (SOCKS5 only can carry them)
  { name: 'fullwidth digits and dots', input: '１２７．０．０．１', want: 'allow', nonAscii: true },
  { name: 'fullwidth x in hex', input: '0ｘ7f.1', want: 'allow', nonAscii: true },
  { name: 'ideographic full stops', input: '127。0。0。1', want: 'allow', nonAscii: true },
  { name: 'fullwidth letters', input: 'ａｌｌｏｗｅｄ.test', want: 'allow', nonAscii: true },
  { name: 'fullwidth dot evades a deny', input: 'pastebin．test', want: 'deny:rule', nonAscii: true },
  { name: 'soft hyphen inside a name', input: 'paste\u00adbin.test', want: 'deny:rule', nonAscii: true },
  { name: 'fullwidth commercial at', input: 'allowed.test＠pastebin.test', want: 'invalid', nonAscii: true },
  { name: 'no-break space', input: 'allowed.test\u00a0', want: 'invalid', nonAscii: true },
];

function authority(host: string, port: number): string {
  // An IPv6 spelling (two or more colons) goes in brackets, as a client would write it.
  const bracket = (host.match(/:/g)?.length ?? 0) >= 2 && !host.startsWith('[') ? `[${host}]` : host;
  return `${bracket}:${port}`;
}

function fromHttp(status: number | undefined, reason: string | undefined): Answer | string {
  if (status === 200) return 'allow';
  if (status === 400) return 'invalid';
  if (status === 502 && reason === 'unresolvable') return 'unresolvable';
  if (status === 403) return `deny:${reason}`;
  return `status ${status} ${reason}`;
}

interface PathResult {
  answer: Answer | string;
  /** Canonical host in the event (for decided, non-invalid answers). */
  host: string | null;
}

async function viaHttp(input: string): Promise<PathResult> {
  await fx.quiesce();
  const a = authority(input, fx.httpA.port);
  const { answer, wire } = await httpExchange(fx.addr, Buffer.from(`GET http://${a}/ HTTP/1.1\r\nHost: ${a}\r\n\r\n`, 'utf8'));
  wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.via === 'http');
  return { answer: fromHttp(answer?.status, answer?.headers['x-cordon-reason']), host: ev.reason === 'invalid-target' ? null : ev.target.host };
}

async function viaConnect(input: string): Promise<PathResult> {
  await fx.quiesce();
  const wire = await openWire(fx.addr);
  const a = authority(input, fx.echo.port);
  wire.socket.write(Buffer.from(`CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n\r\n`, 'utf8'));
  const answer = await readResponse(wire);
  wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.via === 'connect' || (e.via === 'http' && e.reason === 'invalid-target'));
  return { answer: fromHttp(answer?.status, answer?.headers['x-cordon-reason']), host: ev.reason === 'invalid-target' ? null : ev.target.host };
}

async function viaSocks(input: string): Promise<PathResult> {
  await fx.quiesce();
  const r = await socks5Connect(fx.addr, { host: input, port: fx.echo.port });
  r.wire.socket.destroy();
  const ev = await fx.events.waitFor((e) => e.via === 'socks5');
  let answer: Answer | string;
  if (r.reply === 0x00) answer = 'allow';
  else if (ev.reason === 'invalid-target') answer = r.reply === 0x02 ? 'invalid' : `reply ${r.reply} for invalid`;
  else if (ev.reason === 'unresolvable') answer = r.reply === 0x04 ? 'unresolvable' : `reply ${r.reply} for unresolvable`;
  else answer = r.reply === 0x02 ? `deny:${ev.reason}` : `reply ${r.reply} for ${ev.reason}`;
  return { answer, host: ev.reason === 'invalid-target' ? null : ev.target.host };
}

t.test('every spelling gets the same answer over HTTP, CONNECT and SOCKS5', async (t) => {
  t.ok(SPELLINGS.length >= 60, `${SPELLINGS.length} spellings`);
  for (const s of SPELLINGS) {
    const socks = await viaSocks(s.input);
    t.equal(socks.answer, s.want, `${s.name}: SOCKS5`);
    const http = await viaHttp(s.input);
    const connect = await viaConnect(s.input);
    if (s.nonAscii) {
      t.equal(http.answer, 'invalid', `${s.name}: HTTP cannot carry it (400)`);
      t.equal(connect.answer, 'invalid', `${s.name}: CONNECT cannot carry it (400)`);
      continue;
    }
    t.equal(http.answer, s.want, `${s.name}: HTTP`);
    t.equal(connect.answer, s.want, `${s.name}: CONNECT`);
    if (socks.host !== null) {
      t.equal(http.host, socks.host, `${s.name}: same canonical target over HTTP and SOCKS5`);
      t.equal(connect.host, socks.host, `${s.name}: same canonical target over CONNECT and SOCKS5`);
    }
  }
  await fx.quiesce();
  t.equal(fx.victim.connections.total + fx.echoVictim.connections.total, 0, 'no spelling reached a server on 127.0.0.2');
});
