import t from 'tap';
import {
  decideAddresses,
  decideTarget,
  invalidTargetDecision,
  needsResolution,
  selectProfile,
  type DecideOptions,
} from '../../src/decide/network.js';
import { compilePolicy, denyAllPolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import type { NetworkDecision, RuleRef } from '../../src/decide/types.js';
import type { Mode } from '../../src/policy/types.js';
import { compileMounts } from '../../src/match/path-rules.js';
import { compileYaml, policyFromYaml, target } from '../helpers/policy-builder.js';

const POLICY = `
version: 1
name: engine-test
mode: enforce
guardrails:
  network:
    rules:
      - name: cloud metadata
        deny: [169.254.169.254, "[fd00:ec2::254]", metadata.google.internal]
      - name: paste sites
        deny: [pastebin.com, "**.pastebin.com"]
      - name: intranet
        allow: ["intranet.corp.example:443"]
      - name: status page
        allow: [status.example.com]
      - name: no ssh to partners
        deny: ["**.partner.example:22"]
      - name: lab net
        allow: [10.20.0.0/16]
      - name: lab admin
        deny: [10.20.30.0/24]
      - name: lab admin web
        allow: ["10.20.30.0/24:443"]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: source hosting
          allow: [github.com, "**.github.com", "**.githubusercontent.com:443"]
        - name: no gists
          deny: [gist.github.com]
        - name: cdn edge
          allow: ["*.cdn.example.com"]
        - name: cdn deep
          deny: ["**.cdn.example.com"]
        - name: nets
          allow: ["**.example.net"]
        - name: bad nets
          deny: ["**.bad.example.net"]
        - name: api any port
          deny: [api.example.com]
        - name: api tls
          allow: ["api.example.com:443"]
        - name: svc range
          allow: ["svc.example.com:8000-8100"]
        - name: svc debug
          deny: ["svc.example.com:8080"]
        - name: tie allow
          allow: [tie.example.com, "tieport.example.com:443"]
        - name: tie deny
          deny: [tie.example.com, "tieport.example.com:443"]
        - name: io tls
          allow: ["**.example.io:443"]
        - name: io one label
          deny: ["*.example.io"]
        - name: paste mirror
          allow: [pastebin.com]
        - name: corp block
          deny: ["**.corp.example"]
        - name: partners
          allow: ["**.partner.example"]
        - name: local dev
          allow: [127.0.0.1, "127.0.0.2:8080"]
        - name: docs net
          allow: ["[2001:db8::/32]"]
        - name: docs bad
          deny: ["[2001:db8:bad::/48]"]
        - name: public dns
          deny: [9.9.9.9]
  research:
    match: { team: research }
    mode: audit
    network:
      default: deny
      rules:
        - name: papers
          allow: ["arxiv.org:443", "**.arxiv.org:443"]
  open:
    match: { team: open }
    network:
      default: allow
      rules:
        - name: no ads
          deny: ["**.ads.example"]
  research-high:
    match: { team: research, risk: high }
    network:
      default: deny
  bare:
    match: { team: bare }
  alpha:
    match: { group: x }
  beta:
    match: { tier: y }
`;

const cp = compileYaml(POLICY);
const NO_LABELS: DecideOptions = { labels: {} };

/** `layer / name / resource`, or null: compact rule text for expectations. */
function ruleText(rule: RuleRef | null): string | null {
  return rule === null ? null : `${rule.layer} / ${rule.name} / ${rule.resource}`;
}

interface Want {
  decision: 'allow' | 'deny';
  enforced?: boolean;
  reason: string;
  rule: string | null;
  profile?: string;
}

function summary(d: NetworkDecision, want: Want): Want {
  const s: Want = { decision: d.decision, enforced: d.enforced, reason: d.reason, rule: ruleText(d.rule) };
  if (want.profile !== undefined) s.profile = d.profile;
  return s;
}

interface Case {
  name: string;
  host: string;
  port?: number;
  labels?: Record<string, string>;
  want: Want;
}

const G = 'guardrails';
const P = 'profile:default';

const CASES: Case[] = [
  // --- specificity within one layer (names) ---
  { name: 'exact name allow', host: 'github.com', want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / github.com` } },
  { name: '**. allow one label down', host: 'api.github.com', want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / **.github.com` } },
  { name: 'exact deny beats **. allow', host: 'gist.github.com', want: { decision: 'deny', enforced: true, reason: 'rule', rule: `${P} / no gists / gist.github.com` } },
  { name: '*. allow beats **. deny of the same suffix', host: 'a.cdn.example.com', want: { decision: 'allow', reason: 'rule', rule: `${P} / cdn edge / *.cdn.example.com` } },
  { name: '**. deny applies two labels down where *. does not', host: 'a.b.cdn.example.com', want: { decision: 'deny', reason: 'rule', rule: `${P} / cdn deep / **.cdn.example.com` } },
  { name: 'neither *. nor **. matches the suffix itself', host: 'cdn.example.com', want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'longer **. suffix (deny) beats shorter (allow)', host: 'x.bad.example.net', want: { decision: 'deny', reason: 'rule', rule: `${P} / bad nets / **.bad.example.net` } },
  { name: 'shorter **. applies outside the longer', host: 'x.good.example.net', want: { decision: 'allow', reason: 'rule', rule: `${P} / nets / **.example.net` } },
  { name: 'explicit port (allow) beats no port (deny)', host: 'api.example.com', port: 443, want: { decision: 'allow', reason: 'rule', rule: `${P} / api tls / api.example.com:443` } },
  { name: 'no-port rule covers the other ports', host: 'api.example.com', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${P} / api any port / api.example.com` } },
  { name: 'narrower port range (deny) beats wider (allow)', host: 'svc.example.com', port: 8080, want: { decision: 'deny', reason: 'rule', rule: `${P} / svc debug / svc.example.com:8080` } },
  { name: 'wider port range applies outside the narrower', host: 'svc.example.com', port: 8000, want: { decision: 'allow', reason: 'rule', rule: `${P} / svc range / svc.example.com:8000-8100` } },
  { name: 'outside every port range: the profile default', host: 'svc.example.com', port: 443, want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'deny wins a tie (same name, no port)', host: 'tie.example.com', want: { decision: 'deny', reason: 'rule', rule: `${P} / tie deny / tie.example.com` } },
  { name: 'deny wins a tie (same name, same port)', host: 'tieport.example.com', port: 443, want: { decision: 'deny', reason: 'rule', rule: `${P} / tie deny / tieport.example.com:443` } },
  { name: 'tied rules on one port say nothing about others', host: 'tieport.example.com', port: 80, want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'host specificity beats port specificity (*. deny over **.:443 allow)', host: 'a.example.io', port: 443, want: { decision: 'deny', reason: 'rule', rule: `${P} / io one label / *.example.io` } },
  { name: '**.:443 allow applies deeper than *.', host: 'a.b.example.io', port: 443, want: { decision: 'allow', reason: 'rule', rule: `${P} / io tls / **.example.io:443` } },
  { name: '**.:443 allow does not cover port 80', host: 'a.b.example.io', port: 80, want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'port-scoped allow does not leak to another port', host: 'raw.githubusercontent.com', port: 80, want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'lookalike name outside the suffix (notgithub.com)', host: 'notgithub.com', want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'trailing dot and upper case are the same name', host: 'GIST.GitHub.com.', want: { decision: 'deny', reason: 'rule', rule: `${P} / no gists / gist.github.com` } },
  // --- layering ---
  { name: 'guardrails deny beats a profile exact allow', host: 'pastebin.com', want: { decision: 'deny', enforced: true, reason: 'rule', rule: `${G} / paste sites / pastebin.com` } },
  { name: 'guardrails **. deny applies with no profile rule', host: 'x.pastebin.com', want: { decision: 'deny', reason: 'rule', rule: `${G} / paste sites / **.pastebin.com` } },
  { name: 'profile deny beats a guardrails allow', host: 'intranet.corp.example', port: 443, want: { decision: 'deny', reason: 'rule', rule: `${P} / corp block / **.corp.example` } },
  { name: 'guardrails allow allows when the profile has no rule', host: 'status.example.com', want: { decision: 'allow', reason: 'rule', rule: `${G} / status page / status.example.com` } },
  { name: 'guardrails port-scoped deny beats a profile allow on that port', host: 'git.partner.example', port: 22, want: { decision: 'deny', reason: 'rule', rule: `${G} / no ssh to partners / **.partner.example:22` } },
  { name: 'profile allow on the ports the guardrails do not deny', host: 'git.partner.example', port: 443, want: { decision: 'allow', reason: 'rule', rule: `${P} / partners / **.partner.example` } },
  { name: 'guardrails name deny (metadata.google.internal)', host: 'metadata.google.internal', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / metadata.google.internal` } },
  { name: 'no rule in any layer: profile default deny', host: 'unknown.example', want: { decision: 'deny', enforced: true, reason: 'default', rule: null, profile: 'default' } },
  { name: 'no rule in any layer: profile default allow', host: 'unknown.example', labels: { team: 'open' }, want: { decision: 'allow', enforced: true, reason: 'default', rule: null, profile: 'open' } },
  { name: 'guardrails deny beats a profile default allow', host: 'pastebin.com', labels: { team: 'open' }, want: { decision: 'deny', reason: 'rule', rule: `${G} / paste sites / pastebin.com`, profile: 'open' } },
  { name: 'selected profile own deny', host: 'x.ads.example', labels: { team: 'open' }, want: { decision: 'deny', reason: 'rule', rule: 'profile:open / no ads / **.ads.example' } },
  { name: 'rules of an unselected profile do not apply', host: 'github.com', labels: { team: 'open' }, want: { decision: 'allow', reason: 'default', rule: null, profile: 'open' } },
  { name: 'profile without a network section denies', host: 'github.com', labels: { team: 'bare' }, want: { decision: 'deny', reason: 'default', rule: null, profile: 'bare' } },
  { name: 'audit profile: default deny is not enforced', host: 'unknown.example', labels: { team: 'research' }, want: { decision: 'deny', enforced: false, reason: 'default', rule: null, profile: 'research' } },
  { name: 'audit profile: its allow allows', host: 'arxiv.org', labels: { team: 'research' }, want: { decision: 'allow', enforced: true, reason: 'rule', rule: 'profile:research / papers / arxiv.org:443' } },
  { name: 'audit profile: an enforcing guardrails deny stays enforced', host: 'pastebin.com', labels: { team: 'research' }, want: { decision: 'deny', enforced: true, reason: 'rule', rule: `${G} / paste sites / pastebin.com` } },
  { name: 'the two-key profile wins over the one-key profile', host: 'arxiv.org', labels: { team: 'research', risk: 'high' }, want: { decision: 'deny', enforced: true, reason: 'default', rule: null, profile: 'research-high' } },
  // --- IP-literal targets (address rules of both layers) ---
  { name: 'metadata IPv4 literal: guardrails rule', host: '169.254.169.254', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254` } },
  { name: 'metadata IPv6 literal: guardrails rule', host: '[fd00:ec2::254]', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / [fd00:ec2::254]` } },
  { name: 'NAT64 spelling of the metadata address hits the IPv4 rule', host: '[64:ff9b::a9fe:a9fe]', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254` } },
  { name: 'IPv4-mapped spelling of the metadata address hits the IPv4 rule', host: '[::ffff:169.254.169.254]', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254` } },
  { name: 'decimal spelling of the metadata address hits the rule', host: '2852039166', port: 80, want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254` } },
  { name: 'loopback reachable only by an explicit rule', host: '127.0.0.1', port: 3000, want: { decision: 'allow', reason: 'rule', rule: `${P} / local dev / 127.0.0.1` } },
  { name: 'explicit loopback rule with a port: that port', host: '127.0.0.2', port: 8080, want: { decision: 'allow', reason: 'rule', rule: `${P} / local dev / 127.0.0.2:8080` } },
  { name: 'explicit loopback rule with a port: other port is special-range', host: '127.0.0.2', port: 80, want: { decision: 'deny', enforced: true, reason: 'special-range', rule: null } },
  { name: 'loopback with no rule (short spelling 127.3)', host: '127.3', port: 80, want: { decision: 'deny', reason: 'special-range', rule: null } },
  { name: 'private address with no rule', host: '10.21.0.1', want: { decision: 'deny', reason: 'special-range', rule: null } },
  { name: 'public address with no rule: profile default deny', host: '8.8.8.8', want: { decision: 'deny', reason: 'default', rule: null } },
  { name: 'public address with no rule: profile default allow', host: '8.8.8.8', labels: { team: 'open' }, want: { decision: 'allow', reason: 'default', rule: null } },
  { name: 'special address is denied even under a default-allow profile', host: '192.168.1.1', labels: { team: 'open' }, want: { decision: 'deny', reason: 'special-range', rule: null } },
  { name: 'profile address deny', host: '9.9.9.9', want: { decision: 'deny', reason: 'rule', rule: `${P} / public dns / 9.9.9.9` } },
  { name: 'guardrails CIDR allow reaches a private range', host: '10.20.1.1', want: { decision: 'allow', reason: 'rule', rule: `${G} / lab net / 10.20.0.0/16` } },
  { name: 'longer prefix (deny) beats shorter (allow)', host: '10.20.30.5', port: 22, want: { decision: 'deny', reason: 'rule', rule: `${G} / lab admin / 10.20.30.0/24` } },
  { name: 'equal prefix: explicit port beats none', host: '10.20.30.5', port: 443, want: { decision: 'allow', reason: 'rule', rule: `${G} / lab admin web / 10.20.30.0/24:443` } },
  { name: 'IPv6 CIDR allow (documentation range, special without it)', host: '[2001:db8:1::1]', want: { decision: 'allow', reason: 'rule', rule: `${P} / docs net / [2001:db8::/32]` } },
  { name: 'longer IPv6 prefix deny inside the allow', host: '[2001:db8:bad::1]', want: { decision: 'deny', reason: 'rule', rule: `${P} / docs bad / [2001:db8:bad::/48]` } },
  { name: '6to4 spelling of loopback is special-range', host: '[2002:7f00:1::]', want: { decision: 'deny', reason: 'special-range', rule: null } },
  { name: 'NAT64 spelling of a denied public address hits that rule', host: '[64:ff9b::909:909]', want: { decision: 'deny', reason: 'rule', rule: `${P} / public dns / 9.9.9.9` } },
  { name: 'NAT64 spelling of an allowed loopback needs the IPv6 form allowed too', host: '[64:ff9b::7f00:1]', port: 3000, want: { decision: 'deny', reason: 'special-range', rule: null } },
  { name: 'public IPv6 with no rule: profile default', host: '[2606:4700::1111]', want: { decision: 'deny', reason: 'default', rule: null } },
];

t.test('specificity and layering (name stage and IP literals)', async (t) => {
  for (const c of CASES) {
    const d = decideTarget(cp, target(c.host, c.port ?? 443), { labels: c.labels ?? {} });
    const want = { enforced: true, ...c.want };
    t.same(summary(d, want), want, c.name);
  }
  t.ok(CASES.length >= 40, `${CASES.length} named cases`);
});

t.test('a name-stage decision has the name filled and no addresses; a literal has no name stage', async (t) => {
  const n = decideTarget(cp, target('api.github.com'), NO_LABELS);
  t.same(n.name, { decision: 'allow', reason: 'rule', rule: n.rule }, 'name stage mirrors the decision');
  t.same([n.addresses, n.address, n.target], [[], null, { host: 'api.github.com', port: 443, kind: 'name' }]);
  t.equal(needsResolution(n), true, 'an allowed name must be resolved');

  const lit = decideTarget(cp, target('10.20.1.1', 8443), NO_LABELS);
  t.equal(lit.name, null, 'no name stage for a literal');
  t.same(lit.addresses, [{ address: '10.20.1.1', decision: 'allow', reason: 'rule', rule: lit.rule }], 'its one address verdict');
  t.equal(lit.address, '10.20.1.1', 'the literal is dialed');
  t.same(lit.target, { host: '10.20.1.1', port: 8443, kind: 'ipv4' });
  t.equal(needsResolution(lit), false, 'a literal is never resolved');

  const denied = decideTarget(cp, target('127.0.0.9'), NO_LABELS);
  t.equal(denied.address, null, 'an enforced deny dials nothing');

  const ipv6 = decideTarget(cp, target('[2001:db8:1::1]'), NO_LABELS);
  t.same(ipv6.target, { host: '2001:db8:1::1', port: 443, kind: 'ipv6' });
  t.equal(needsResolution(decideTarget(cp, target('gist.github.com'), NO_LABELS)), false, 'an enforced name deny is not resolved');
  t.equal(needsResolution(decideTarget(cp, target('unknown.example'), { labels: { team: 'research' } })), true, 'an audit-only name deny is resolved');
});

interface ResolveCase {
  name: string;
  host: string;
  port?: number;
  labels?: Record<string, string>;
  resolved: string[];
  want: Want & { address: string | null; addresses?: string[] };
}

const RESOLVE_CASES: ResolveCase[] = [
  { name: 'DNS rebinding to loopback is special-range', host: 'api.github.com', resolved: ['127.0.0.9'],
    want: { decision: 'deny', enforced: true, reason: 'special-range', rule: null, address: null, addresses: ['127.0.0.9 deny special-range'] } },
  { name: 'first allowed address is dialed, denied ones are skipped', host: 'api.github.com', resolved: ['127.0.0.9', '140.82.112.3', '140.82.112.4'],
    want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / **.github.com`, address: '140.82.112.3',
      addresses: ['127.0.0.9 deny special-range', '140.82.112.3 allow default', '140.82.112.4 allow default'] } },
  { name: 'all denied for different reasons: no-address-allowed', host: 'api.github.com', resolved: ['127.0.0.9', '169.254.169.254'],
    want: { decision: 'deny', enforced: true, reason: 'no-address-allowed', rule: null, address: null } },
  { name: 'all denied for one reason: that reason', host: 'api.github.com', resolved: ['10.0.0.1', '192.168.1.1', 'fd00::1'],
    want: { decision: 'deny', reason: 'special-range', rule: null, address: null } },
  { name: 'all denied by one rule: that rule', host: 'api.github.com', resolved: ['9.9.9.9'],
    want: { decision: 'deny', reason: 'rule', rule: `${P} / public dns / 9.9.9.9`, address: null } },
  { name: 'all denied by one CIDR rule though different addresses', host: 'api.github.com', port: 22, resolved: ['10.20.30.1', '10.20.30.2'],
    want: { decision: 'deny', reason: 'rule', rule: `${G} / lab admin / 10.20.30.0/24`, address: null } },
  { name: 'no answers: unresolvable', host: 'api.github.com', resolved: [],
    want: { decision: 'deny', enforced: true, reason: 'unresolvable', rule: null, address: null, addresses: [] } },
  { name: 'IPv4-mapped answer is checked (and dialed) as IPv4', host: 'api.github.com', resolved: ['::ffff:127.0.0.9'],
    want: { decision: 'deny', reason: 'special-range', rule: null, address: null, addresses: ['127.0.0.9 deny special-range'] } },
  { name: 'NAT64 answer embedding loopback is special-range', host: 'api.github.com', resolved: ['64:ff9b::7f00:1'],
    want: { decision: 'deny', reason: 'special-range', rule: null, address: null } },
  { name: 'NAT64 answer embedding the metadata address hits the guardrails rule', host: 'api.github.com', resolved: ['64:ff9b::a9fe:a9fe'],
    want: { decision: 'deny', reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254`, address: null } },
  { name: 'explicit address allow reaches loopback through a name', host: 'github.com', resolved: ['127.0.0.1'],
    want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / github.com`, address: '127.0.0.1', addresses: ['127.0.0.1 allow rule'] } },
  { name: 'guardrails CIDR allow reaches a private answer', host: 'status.example.com', resolved: ['10.20.1.1'],
    want: { decision: 'allow', reason: 'rule', rule: `${G} / status page / status.example.com`, address: '10.20.1.1' } },
  { name: 'a malformed resolver answer is denied, the next one used', host: 'api.github.com', resolved: ['not-an-ip', '140.82.112.3'],
    want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / **.github.com`, address: '140.82.112.3',
      addresses: ['not-an-ip deny invalid-target', '140.82.112.3 allow default'] } },
  { name: 'a non-canonical resolver answer is dialed in canonical form', host: 'api.github.com', resolved: ['2606:4700:0000::0001'],
    want: { decision: 'allow', reason: 'rule', rule: `${P} / source hosting / **.github.com`, address: '2606:4700::1' } },
  { name: 'audit-only name deny: resolved, recorded, would dial', host: 'unknown.example', labels: { team: 'research' }, resolved: ['93.184.216.34'],
    want: { decision: 'deny', enforced: false, reason: 'default', rule: null, address: '93.184.216.34' } },
  { name: 'audit profile, enforcing guardrails: special-range stays enforced', host: 'arxiv.org', labels: { team: 'research' }, resolved: ['127.0.0.1'],
    want: { decision: 'deny', enforced: true, reason: 'special-range', rule: null, address: null } },
  { name: 'audit-only name deny, enforced address deny: enforced', host: 'unknown.example', labels: { team: 'research' }, resolved: ['169.254.169.254'],
    want: { decision: 'deny', enforced: true, reason: 'rule', rule: `${G} / cloud metadata / 169.254.169.254`, address: null } },
  { name: 'enforced name deny is final whatever the answers', host: 'gist.github.com', resolved: ['140.82.112.3'],
    want: { decision: 'deny', enforced: true, reason: 'rule', rule: `${P} / no gists / gist.github.com`, address: null, addresses: [] } },
];

function addressSummary(d: NetworkDecision): string[] {
  return d.addresses.map((a) => `${a.address} ${a.decision} ${a.reason}`);
}

t.test('names, then addresses', async (t) => {
  for (const c of RESOLVE_CASES) {
    const opts = { labels: c.labels ?? {} };
    const stage = decideTarget(cp, target(c.host, c.port ?? 443), opts);
    const d = decideAddresses(cp, stage, c.resolved, opts);
    const want = { enforced: true, ...c.want };
    const got: Record<string, unknown> = { ...summary(d, want), address: d.address };
    if (want.addresses !== undefined) got.addresses = addressSummary(d);
    t.same(got, want, c.name);
    t.same(d.name, stage.name, `${c.name}: the name stage is carried through`);
  }
});

t.test('the decision object has exactly the DESIGN §2 shape and key order', async (t) => {
  const design = compileYaml(`
version: 1
name: shape
mode: enforce
profiles:
  default:
    network:
      default: deny
      rules:
        - name: net
          allow: ["**.example.net"]
`);
  const stage = decideTarget(design, target('rebind.example.net'), NO_LABELS);
  const d = decideAddresses(design, stage, ['127.0.0.1'], NO_LABELS);
  t.equal(
    JSON.stringify(d),
    '{"decision":"deny","enforced":true,"mode":"enforce","reason":"special-range",' +
      '"profile":"default",' +
      '"rule":null,' +
      '"target":{"host":"rebind.example.net","port":443,"kind":"name"},' +
      '"name":{"decision":"allow","reason":"rule","rule":{"layer":"profile:default","name":"net","resource":"**.example.net"}},' +
      '"addresses":[{"address":"127.0.0.1","decision":"deny","reason":"special-range","rule":null}],' +
      '"address":null}',
  );
  t.same(Object.keys(stage), ['decision', 'enforced', 'mode', 'reason', 'profile', 'rule', 'target', 'name', 'addresses', 'address'], 'name stage keys');
});

t.test('profile selection', async (t) => {
  const cases: { name: string; labels: Record<string, string>; want: string }[] = [
    { name: 'no labels: default', labels: {}, want: 'default' },
    { name: 'one matching pair', labels: { team: 'research' }, want: 'research' },
    { name: 'extra labels do not prevent a match', labels: { team: 'open', agent: 'claude' }, want: 'open' },
    { name: 'most matching keys wins', labels: { team: 'research', risk: 'high' }, want: 'research-high' },
    { name: 'a partial match of a two-key profile does not count', labels: { risk: 'high' }, want: 'default' },
    { name: 'value must be equal', labels: { team: 'Research' }, want: 'default' },
    { name: 'tie in key count: file order', labels: { group: 'x', tier: 'y' }, want: 'alpha' },
    { name: 'tie in key count: the other one alone', labels: { tier: 'y' }, want: 'beta' },
    { name: 'inherited properties are not labels', labels: Object.create({ team: 'research' }) as Record<string, string>, want: 'default' },
    { name: 'null labels are no labels (anonymous session)', labels: null as unknown as Record<string, string>, want: 'default' },
  ];
  for (const c of cases) t.equal(selectProfile(cp, c.labels), c.want, c.name);
});

const MODES_POLICY = (policyMode: Mode, guardrailsMode: Mode | null, profileMode: Mode | null): string => `
version: 1
name: modes
mode: ${policyMode}
guardrails:
${guardrailsMode === null ? '' : `  mode: ${guardrailsMode}\n`}  network:
    rules:
      - name: paste
        deny: [pastebin.com]
profiles:
  default:
${profileMode === null ? '' : `    mode: ${profileMode}\n`}    network:
      default: deny
      rules:
        - name: paste too
          deny: [pastebin.com]
        - name: ok
          allow: [ok.example]
        - name: quad9
          deny: [9.9.9.9]
`;

t.test('modes', async (t) => {
  const cases: {
    name: string;
    policy: [Mode, Mode | null, Mode | null];
    override?: Mode;
    host: string;
    resolved?: string[];
    want: { decision: string; enforced: boolean; mode: string; reason: string; rule?: string | null; address?: string | null };
  }[] = [
    { name: 'enforce everywhere: deny enforced', policy: ['enforce', null, null], host: 'unknown.example', want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'default' } },
    { name: 'policy audit: deny recorded only', policy: ['audit', null, null], host: 'unknown.example', want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'default' } },
    { name: 'layer mode overrides policy mode', policy: ['audit', null, 'enforce'], host: 'unknown.example', want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'default' } },
    { name: 'both layers deny: the enforced one is reported', policy: ['enforce', 'audit', 'enforce'], host: 'pastebin.com',
      want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'rule', rule: 'profile:default / paste too / pastebin.com' } },
    { name: 'both layers deny, both enforce: guardrails reported', policy: ['enforce', null, null], host: 'pastebin.com',
      want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'rule', rule: 'guardrails / paste / pastebin.com' } },
    { name: 'both layers deny in audit: recorded only', policy: ['enforce', 'audit', 'audit'], host: 'pastebin.com',
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'rule', rule: 'guardrails / paste / pastebin.com' } },
    { name: 'special-range takes the guardrails mode (audit)', policy: ['enforce', 'audit', null], host: '127.0.0.1',
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'special-range', address: '127.0.0.1' } },
    { name: 'special-range takes the guardrails mode (enforce) under an audit profile', policy: ['enforce', null, 'audit'], host: '127.0.0.1',
      want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'special-range', address: null } },
    { name: 'override enforce beats audit layers', policy: ['audit', 'audit', 'audit'], override: 'enforce', host: 'unknown.example',
      want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'default' } },
    { name: 'override audit beats enforce layers', policy: ['enforce', 'enforce', 'enforce'], override: 'audit', host: 'pastebin.com',
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'rule', rule: 'guardrails / paste / pastebin.com' } },
    { name: 'unresolvable is enforced even under override audit', policy: ['enforce', null, null], override: 'audit', host: 'ok.example', resolved: [],
      want: { decision: 'deny', enforced: true, mode: 'enforce', reason: 'unresolvable', address: null } },
    { name: 'audit: nothing allowed, the first address would be dialed', policy: ['audit', null, null], host: 'ok.example', resolved: ['127.0.0.1', '10.0.0.1'],
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'special-range', address: '127.0.0.1' } },
    { name: 'mixed modes: the first address whose deny is unenforced is dialed', policy: ['enforce', 'audit', 'enforce'], host: 'ok.example', resolved: ['9.9.9.9', '127.0.0.1'],
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'no-address-allowed', address: '127.0.0.1' } },
    { name: 'mixed modes: every address deny enforced', policy: ['enforce', 'enforce', 'audit'], host: 'ok.example', resolved: ['9.9.9.9', '127.0.0.1'],
      want: { decision: 'deny', enforced: false, mode: 'audit', reason: 'no-address-allowed', address: '9.9.9.9' } },
    { name: 'allowed name, allowed address: allow in audit too', policy: ['audit', null, null], host: 'ok.example', resolved: ['93.184.216.34'],
      want: { decision: 'allow', enforced: true, mode: 'audit', reason: 'rule', address: '93.184.216.34' } },
  ];
  for (const c of cases) {
    const p = compileYaml(MODES_POLICY(...c.policy));
    const opts: DecideOptions = { labels: {}, modeOverride: c.override ?? null };
    let d = decideTarget(p, target(c.host), opts);
    if (c.resolved !== undefined) {
      t.equal(needsResolution(d), true, `${c.name}: needs resolution`);
      d = decideAddresses(p, d, c.resolved, opts);
    }
    const got: Record<string, unknown> = { decision: d.decision, enforced: d.enforced, mode: d.mode, reason: d.reason };
    if (c.want.rule !== undefined) got.rule = ruleText(d.rule);
    if (c.want.address !== undefined) got.address = d.address;
    t.same(got, c.want, c.name);
  }
});

t.test('deny-all policy fails closed', async (t) => {
  const deny = denyAllPolicy('policy file unreadable: ENOENT');
  t.equal(deny.policy.name, 'deny-all');
  t.equal(deny.failClosed, 'policy file unreadable: ENOENT');
  t.ok(deny.mounts !== undefined, 'carries compiled mounts');
  for (const [label, host] of [['name', 'github.com'], ['IPv4', '8.8.8.8'], ['IPv6', '[2606:4700::1111]']] as const) {
    for (const override of [null, 'audit'] as const) {
      const opts = { labels: { team: 'x' }, modeOverride: override };
      const d = decideTarget(deny, target(host), opts);
      t.same(
        { decision: d.decision, enforced: d.enforced, reason: d.reason, rule: d.rule, address: d.address, error: d.error },
        { decision: 'deny', enforced: true, reason: 'no-policy', rule: null, address: null, error: 'policy file unreadable: ENOENT' },
        `${label} target denied (override ${override})`,
      );
      t.equal(needsResolution(d), false, `${label}: nothing to resolve`);
      t.equal(decideAddresses(deny, d, ['93.184.216.34'], opts).reason, 'no-policy', `${label}: address stage denies too`);
    }
  }
});

t.test('invalid targets are denied in every mode', async (t) => {
  const d = invalidTargetDecision('evil.com\u0000.example', "contains NUL", 443);
  t.same(d, {
    decision: 'deny', enforced: true, mode: 'enforce', reason: 'invalid-target', profile: 'default', rule: null,
    target: { host: 'evil.com\u0000.example', port: 443, kind: 'name' }, name: null, addresses: [], address: null, error: 'contains NUL',
  });
  t.equal(invalidTargetDecision('x@y', "contains '@'").target.port, 0, 'unknown port is 0');
  t.equal(invalidTargetDecision('x@y', "contains '@'", 80, 'research').profile, 'research', 'profile when the caller knows it');
});

t.test('exceptions never escape: internal-error, fail closed', async (t) => {
  const boom = (): never => {
    throw new Error('trie corrupted');
  };
  const broken = {
    ...cp,
    names: { lookupPair: boom }, addresses: { lookupPair: boom },
  } as unknown as CompiledPolicy;
  for (const host of ['github.com', '8.8.8.8']) {
    const d = decideTarget(broken, target(host), { labels: {}, modeOverride: 'audit' });
    t.same({ decision: d.decision, enforced: d.enforced, reason: d.reason, error: d.error, address: d.address },
      { decision: 'deny', enforced: true, reason: 'internal-error', error: 'trie corrupted', address: null }, `decideTarget ${host}`);
  }
  const stage = decideTarget(cp, target('api.github.com'), NO_LABELS);
  const d = decideAddresses(broken, stage, ['140.82.112.3'], NO_LABELS);
  t.same([d.decision, d.enforced, d.reason], ['deny', true, 'internal-error'], 'decideAddresses');
  const garbage = decideTarget(cp, null as unknown as Parameters<typeof decideTarget>[1], NO_LABELS);
  t.same([garbage.decision, garbage.reason], ['deny', 'internal-error'], 'a null target');
  const noOpts = decideTarget(cp, target('github.com'), undefined as unknown as DecideOptions);
  t.same([noOpts.decision, noOpts.reason], ['deny', 'internal-error'], 'no options at all');
});

t.test('compiled policy', async (t) => {
  const policy = policyFromYaml(POLICY);
  const c = compilePolicy(policy);
  t.equal(c.policy, policy, 'keeps the AST it came from');
  t.same(c.profiles.map((p) => p.name), ['default', 'research', 'open', 'research-high', 'bare', 'alpha', 'beta'], 'profiles in file order');
  t.same(c.counts, { nameResources: 30, addressResources: 10 }, 'resource counts');
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.profiles), 'immutable');
  const a = decideTarget(c, target('github.com'), NO_LABELS);
  const b = decideTarget(c, target('github.com'), NO_LABELS);
  t.not(a, b, 'a fresh object per decision');
  t.same(a, b, 'same input, same decision');
  t.same(c.mounts, compileMounts(policy), 'mount rules compiled by path-rules');
});

t.test('policies without guardrails, or an AST without a default profile', async (t) => {
  const noGuardrails = compileYaml(`
version: 1
name: plain
mode: enforce
profiles:
  default:
    network:
      default: deny
      rules:
        - name: one
          allow: [one.example]
`);
  t.equal(decideTarget(noGuardrails, target('one.example'), NO_LABELS).decision, 'allow', 'profile rule applies alone');
  t.equal(decideTarget(noGuardrails, target('127.0.0.1'), NO_LABELS).reason, 'special-range', 'built-in special ranges still apply');

  const ast = policyFromYaml(POLICY);
  const withoutDefault = compilePolicy({ ...ast, profiles: ast.profiles.filter((p) => p.name !== 'default') });
  const d = decideTarget(withoutDefault, target('github.com'), NO_LABELS);
  t.same([d.profile, d.decision, d.reason], ['default', 'deny', 'default'], 'a synthesised default profile denies');
  t.equal(selectProfile(withoutDefault, { team: 'open' }), 'open', 'other profiles still selected');
});
