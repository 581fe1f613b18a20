/**
 * One in-process cordon proxy wired to test-owned infrastructure, all on
 * loopback: a DNS responder (names resolve to 127.0.0.x), HTTP/TLS/echo
 * origins, an event recorder, and a policy compiled from YAML with
 * parsePolicyText + compilePolicy. Because every origin sits in a special
 * range, the test policy allows 127.0.0.1 and 127.0.1.0/24 explicitly with
 * address rules; 127.0.0.2 stays denied (special-range) and is where the
 * "victim" origins listen.
 */
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { createResolver } from '../../src/proxy/resolver.js';
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/server.js';
import { startDnsResponder, type DnsResponder } from './dns-responder.js';
import { EventRecorder } from './event-recorder.js';
import {
  makeSelfSignedCert,
  startEchoOrigin,
  startHttpOrigin,
  startTlsOrigin,
  type EchoOrigin,
  type HttpOrigin,
  type TestCert,
  type TlsOrigin,
} from './origins.js';
import type { ProxyAddress } from './proxy-client.js';

export interface FixturePorts {
  echo: number;
  http: number;
  tls: number;
}

/** The standard test policy; ports are the origins' actual ports. */
export function testPolicyYaml(ports: FixturePorts, mode: 'enforce' | 'audit' = 'enforce'): string {
  return `version: 1
name: proxy-test
revision: 7
mode: ${mode}
guardrails:
  network:
    rules:
      - name: paste sites
        deny: [pastebin.test, "**.pastebin.test"]
      - name: cloud metadata
        deny: [169.254.169.254]
      - name: blocked loopback
        deny: [127.0.1.9]
profiles:
  default:
    network:
      default: deny
      rules:
        - name: test names
          allow: [allowed.test, "**.allowed.test"]
        - name: one port only
          allow: ["portonly.test:${ports.echo}"]
        - name: loopback origins
          allow: [127.0.0.1, 127.0.1.0/24]
  research:
    match: { team: research }
    network:
      default: deny
      rules:
        - name: papers
          allow: [research.test]
        - name: loopback origins
          allow: [127.0.0.1]
`;
}

export function compileYaml(yaml: string): CompiledPolicy {
  const r = parsePolicyText(yaml, 'proxy-test.yaml');
  if (!r.ok) throw new Error(`test policy invalid: ${JSON.stringify(r.errors)}`);
  return compilePolicy(r.policy);
}

/** Names the DNS responder knows (see the header of dns-responder.ts for the rebinding stand-in). */
export const DNS_TABLE = {
  'allowed.test': { addresses: ['127.0.0.1'] },
  'www.allowed.test': { addresses: ['127.0.0.1'] },
  'b.allowed.test': { addresses: ['127.0.1.1'] },
  'other.test': { addresses: ['127.0.0.1'] },
  'portonly.test': { addresses: ['127.0.0.1'] },
  'research.test': { addresses: ['127.0.0.1'] },
  'pastebin.test': { addresses: ['127.0.0.1'] },
  'x.pastebin.test': { addresses: ['127.0.0.1'] },
  'private.allowed.test': { addresses: ['10.0.0.1'] },
  'loop2.allowed.test': { addresses: ['127.0.0.2'] },
  'v6loop.allowed.test': { addresses: ['::1'] },
  'mapped.allowed.test': { addresses: ['::ffff:127.0.0.2'] },
  'mixed.allowed.test': { addresses: ['127.0.0.2', '127.0.0.1'] },
  'alldenied.allowed.test': { addresses: ['127.0.1.9', '127.0.0.2'] },
  'rebind.allowed.test': { rebind: { first: ['127.0.1.1'], then: ['127.0.0.2'] } },
};

export interface ProxyFixture {
  proxy: ProxyServer;
  addr: ProxyAddress;
  events: EventRecorder;
  dns: DnsResponder;
  cert: TestCert;
  /** HTTP origin on 127.0.0.1 (label 'a'). */
  httpA: HttpOrigin;
  /** HTTP origin on 127.0.1.1 (label 'b'), port = victim's port. */
  httpB: HttpOrigin;
  /** HTTP origin on 127.0.0.2 (denied range), same port as httpB: must never be reached. */
  victim: HttpOrigin;
  echo: EchoOrigin;
  /** Echo origin on 127.0.0.2, same port as `echo`: must never be reached. */
  echoVictim: EchoOrigin;
  tls: TlsOrigin;
  ports: FixturePorts;
  setPolicy(cp: CompiledPolicy): void;
  /** Waits until the proxy has no open client connection (so every event is in), then clears the events. */
  quiesce(): Promise<void>;
  close(): Promise<void>;
}

export const QUIESCE_WAIT_MS = 5_000;

/** Polls `cond` every 10 ms; rejects after `ms`. */
export async function waitUntil(cond: () => boolean, what: string, ms = QUIESCE_WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface FixtureOptions {
  mode?: 'enforce' | 'audit';
  proxy?: Partial<ProxyServerOptions>;
}

export async function startProxyFixture(opts: FixtureOptions = {}): Promise<ProxyFixture> {
  const dns = await startDnsResponder(DNS_TABLE);
  const cert = makeSelfSignedCert(['allowed.test', '*.allowed.test', 'pastebin.test', '127.0.0.1']);
  const httpA = await startHttpOrigin({ label: 'a', host: '127.0.0.1' });
  const httpB = await startHttpOrigin({ label: 'b', host: '127.0.1.1' });
  const victim = await startHttpOrigin({ label: 'victim', host: '127.0.0.2', port: httpB.port });
  const echo = await startEchoOrigin({ host: '127.0.0.1' });
  const echoVictim = await startEchoOrigin({ host: '127.0.0.2', port: echo.port });
  const tls = await startTlsOrigin({ label: 'tls-origin', cert, host: '127.0.0.1' });
  const ports = { echo: echo.port, http: httpA.port, tls: tls.port };
  let policy = compileYaml(testPolicyYaml(ports, opts.mode));
  const events = new EventRecorder();
  const proxy = new ProxyServer({
    listen: ['127.0.0.1:0'],
    getPolicy: () => policy,
    events,
    resolver: createResolver({ server: dns.server, timeoutMs: 2_000 }),
    ...opts.proxy,
    limits: { tlsPorts: [tls.port], ...opts.proxy?.limits },
  });
  await proxy.listen();
  const a = proxy.addresses()[0];
  return {
    proxy,
    addr: { host: a.host!, port: a.port! },
    events,
    dns,
    cert,
    httpA,
    httpB,
    victim,
    echo,
    echoVictim,
    tls,
    ports,
    setPolicy: (cp) => {
      policy = cp;
    },
    quiesce: async () => {
      await waitUntil(() => proxy.stats().connectionsOpen === 0, 'the proxy to have no open connection');
      events.clear();
    },
    close: async () => {
      await proxy.close();
      await Promise.all([httpA.close(), httpB.close(), victim.close(), echo.close(), echoVictim.close(), tls.close(), dns.close()]);
    },
  };
}
