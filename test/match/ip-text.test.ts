/**
 * IP text parsers and the RFC 5952 formatter behind canonicalisation.
 */
import t from 'tap';
import ipaddr from 'ipaddr.js';
import { formatIPv6, parseDottedQuad, parseInetAton, parseIPv6 } from '../../src/match/ip-text.js';

t.test('formatIPv6 agrees with ipaddr.js toString (RFC 5952) on sampled addresses', async (t) => {
  const SAMPLES = 5000;
  let state = 0x2545f491; // deterministic xorshift32
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  let disagreements = 0;
  for (let i = 0; i < SAMPLES; i++) {
    // Mostly zero groups, so that runs of every length and position occur.
    const groups = Array.from({ length: 8 }, () => (next() % 3 === 0 ? next() & 0xffff : 0));
    const ours = formatIPv6(groups);
    const theirs = new ipaddr.IPv6(groups).toString();
    const back = parseIPv6(ours);
    if (ours !== theirs || back === null || back.some((g, k) => g !== groups[k])) {
      disagreements++;
      t.fail(`${groups.map((g) => g.toString(16)).join(':')}: ours ${ours}, ipaddr.js ${theirs}`);
    }
  }
  t.equal(disagreements, 0, `no disagreement over ${SAMPLES} addresses`);
});

t.test('parseIPv6 rejects what inet_pton rejects', async (t) => {
  const rejects: Array<[string, string]> = [
    ['empty', ''],
    ['single colon', ':'],
    ['triple colon', ':::'],
    ['leading single colon', ':1::'],
    ['trailing single colon', '1::2:'],
    ['five hex digits', '12345::'],
    ['two ::', '1::2::3'],
    ['nine groups', '1:2:3:4:5:6:7:8:9'],
    ['seven groups without ::', '1:2:3:4:5:6:7'],
    [':: standing for no group', '1:2:3:4:5:6:7:8::'],
    ['non-hex letter', 'g::1'],
    ['brackets', '[::1]'],
    ['zone id', 'fe80::1%1'],
    ['dotted tail not last', '::1.2.3.4:1'],
    ['dotted tail with leading zero', '::01.2.3.4'],
    ['dotted tail octet over 255', '::1.2.3.256'],
    ['dotted tail with three parts', '::1.2.3'],
    ['dotted tail after 7 groups', '1:2:3:4:5:6:7:1.2.3.4'],
    ['longer than any IPv6 text', '0000:0000:0000:0000:0000:0000:0000:0000:0000:0000'],
  ];
  for (const [name, text] of rejects) t.equal(parseIPv6(text), null, name);
  t.strictSame(parseIPv6('1:2:3:4:5:6:1.2.3.4'), [1, 2, 3, 4, 5, 6, 0x102, 0x304], 'dotted tail after 6 groups');
  t.strictSame(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0], '::');
  t.strictSame(parseIPv6('1::8'), [1, 0, 0, 0, 0, 0, 0, 8], ':: in the middle');
  t.strictSame(parseIPv6('ABCD:ef01::'), [0xabcd, 0xef01, 0, 0, 0, 0, 0, 0], 'mixed case hex');
});

t.test('parseInetAton and parseDottedQuad', async (t) => {
  const aton: Array<[string, string, number]> = [
    ['one decimal part', '1', 1],
    ['max 32-bit integer', '4294967295', 0xffffffff],
    ['max 32-bit hex', '0xffffffff', 0xffffffff],
    ['four hex parts', '0xff.0xff.0xff.0xff', 0xffffffff],
    ['empty part', '1..2', -1],
    ['leading dot', '.1', -1],
    ['trailing dot (callers strip it)', '1.', -1],
    ['sign', '+1', -1],
    ['hex digit without prefix', '1a', -1],
    ['non-last part over 255', '256.1', -1],
    ['octal with 9', '019', -1],
    ['double 0x', '0x0x1', -1],
  ];
  for (const [name, text, want] of aton) t.equal(parseInetAton(text), want, `inet_aton: ${name}`);
  const quad: Array<[string, string, number]> = [
    ['loopback', '127.0.0.1', 0x7f000001],
    ['all ones', '255.255.255.255', 0xffffffff],
    ['leading zero', '127.0.0.01', -1],
    ['three parts', '127.0.1', -1],
    ['five parts', '1.2.3.4.5', -1],
    ['trailing dot', '1.2.3.4.', -1],
    ['octet over 255', '1.2.3.256', -1],
    ['empty', '', -1],
  ];
  for (const [name, text, want] of quad) t.equal(parseDottedQuad(text), want, `dotted quad: ${name}`);
});
