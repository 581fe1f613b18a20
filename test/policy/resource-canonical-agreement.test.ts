// A rule only matches if the loader writes names and addresses exactly as target canonicalisation
// (src/match/canonical.ts) writes the targets they must match; check both agree on every accepted form.
import t from 'tap';
import { canonicalizeHost } from '../../src/match/canonical.js';
import { parseNetworkResource } from '../../src/policy/resource-parse.js';

const hosts = [
  'example.com', 'GitHub.COM', 'example.com.', 'localhost', '_dmarc.my-host.example', 'xn--bcher-kva.example',
  'a-.example', '10.0.0.7', '0.0.0.0', '255.255.255.255', '[2001:db8::1]', '[2001:DB8:0:0:0:0:0:1]',
  '[2001:db8:0:0:1:0:0:1]', '[fd00:ec2::254]', '[::1]', '[::]', '[::1.2.3.4]', '[64:ff9b::192.0.2.1]',
  '[2002:c000:201::]', '[1:2:3:4:5:6:7::]', '[2001:db8:1:0:0:0:0:0]',
];

t.test('exact resources are written the way targets are canonicalised', async (t) => {
  for (const text of hosts) {
    const parsed = parseNetworkResource(text);
    const canon = canonicalizeHost(text);
    if (!parsed.ok || !canon.ok) {
      t.fail(`${text}: loader ${parsed.ok ? 'ok' : parsed.error} / canonical ${canon.ok ? 'ok' : canon.error}`);
      continue;
    }
    const h = parsed.value.host;
    const loaderText = h.type === 'exact' ? h.name : h.type === 'cidr' ? h.address : null;
    t.equal(loaderText, canon.value.host, `${text}`);
  }
});

t.test('wildcard suffixes are canonical names', async (t) => {
  for (const suffix of ['Example.COM', 'xn--bcher-kva.example', 'a_b.example.']) {
    for (const w of ['*.', '**.']) {
      const parsed = parseNetworkResource(`${w}${suffix}`);
      const canon = canonicalizeHost(suffix);
      if (!parsed.ok || !canon.ok || parsed.value.host.type === 'exact' || parsed.value.host.type === 'cidr') {
        t.fail(`${w}${suffix} not parsed as a wildcard`);
        continue;
      }
      t.equal(parsed.value.host.suffix, canon.value.host, `${w}${suffix}`);
    }
  }
});
