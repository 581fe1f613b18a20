/**
 * Sample event inputs and stamped events for the event-pipeline tests: one of
 * each kind, with the awkward values real traffic brings (non-ASCII labels,
 * quotes and newlines in messages, IPv6 addresses).
 */
import { EventStamper } from '../../src/events/stamp.js';
import type { CordonEvent, EventInput } from '../../src/events/types.js';
import { UlidFactory } from '../../src/events/ulid.js';

export const POLICY_REF = { name: 'acme-engineering', revision: 42, digest: 'sha256:9c1e' };

export function networkDenyInput(host = 'x.pastebin.com'): EventInput {
  return {
    kind: 'network',
    decision: 'deny',
    enforced: true,
    mode: 'enforce',
    reason: 'rule',
    rule: { layer: 'guardrails', name: 'paste sites', resource: '**.pastebin.com' },
    profile: 'default',
    target: { host, port: 443, addresses: [], address: null },
    via: 'connect',
    session: { id: 's_4f00', labels: { agent: 'claude-code', team: 'web' } },
    policy: POLICY_REF,
  };
}

export function networkAuditInput(): EventInput {
  return {
    kind: 'network',
    decision: 'deny',
    enforced: false,
    mode: 'audit',
    reason: 'special-range',
    rule: null,
    profile: 'default',
    target: { host: 'rebind.example.net', port: 8443, addresses: ['127.0.0.1'], address: '127.0.0.1' },
    via: 'socks5',
    session: { id: 'anonymous', labels: {} },
    policy: POLICY_REF,
  };
}

export function networkClosedInput(): EventInput {
  return {
    kind: 'network',
    decision: 'allow',
    enforced: true,
    mode: 'enforce',
    reason: 'rule',
    rule: { layer: 'profile:default', name: 'github', resource: '**.github.com' },
    profile: 'default',
    target: { host: 'api.github.com', port: 443, addresses: ['2606:50c0:8000::154', '140.82.112.6'], address: '2606:50c0:8000::154' },
    via: 'http',
    session: { id: 's_9a', labels: { agent: 'codex', 'équipe': 'données' } },
    bytes_up: 1234,
    bytes_down: 9_876_543_210,
    duration_ms: 512,
    http: { method: 'GET', path: '/repos/acme/app', status: 200 },
    policy: POLICY_REF,
  };
}

export function invalidTargetInput(): EventInput {
  return {
    kind: 'network',
    decision: 'deny',
    enforced: true,
    mode: 'enforce',
    reason: 'invalid-target',
    rule: null,
    profile: 'default',
    target: { host: 'bad\\host', port: 443, addresses: [], address: null },
    via: 'http',
    session: { id: 'anonymous', labels: {} },
    error: 'name contains "\\"',
    policy: POLICY_REF,
  };
}

export function mountInput(): EventInput {
  return {
    kind: 'mount',
    decision: 'allow',
    enforced: true,
    mode: 'enforce',
    reason: 'rule',
    rule: { layer: 'profile:default', name: 'source', resource: '~/src' },
    profile: 'default',
    mount: {
      requested: '~/src',
      path: '/home/alice/src',
      access: 'rw',
      effective: 'rw',
      masks: [{ path: '/home/alice/src/secrets', access: 'deny' }],
    },
    session: { id: 's_4f00', labels: { agent: 'claude-code' } },
    policy: POLICY_REF,
  };
}

export function policyInput(): EventInput {
  return {
    kind: 'policy',
    action: 'rejected',
    source: 'https://policy.acme.com/cordon/engineering.yaml',
    message: 'signature check failed:\n key "acme-2026" did not sign this "policy"',
    details: { key_id: 'acme-2026' },
    policy: POLICY_REF,
  };
}

export function daemonInput(i = 0): EventInput {
  return { kind: 'daemon', action: 'start', message: `daemon event ${i}`, details: { i }, policy: null };
}

export const ALL_INPUTS: { name: string; input: () => EventInput }[] = [
  { name: 'network deny (enforced)', input: () => networkDenyInput() },
  { name: 'network deny (audit)', input: networkAuditInput },
  { name: 'network allow, closed with bytes', input: networkClosedInput },
  { name: 'network invalid target', input: invalidTargetInput },
  { name: 'mount allow with mask', input: mountInput },
  { name: 'policy rejected', input: policyInput },
  { name: 'daemon start', input: () => daemonInput() },
];

/** Stamped events with a fixed identity. */
export function stampedEvents(count: number, make: (i: number) => EventInput = (i) => daemonInput(i)): CordonEvent[] {
  const stamper = new EventStamper({ user: 'alice@acme.com', device: 'alice-mbp' }, new UlidFactory());
  const out: CordonEvent[] = [];
  for (let i = 0; i < count; i++) out.push(stamper.stamp(make(i)));
  return out;
}

export function stampAll(): { name: string; event: CordonEvent }[] {
  const stamper = new EventStamper({ user: 'alice@acme.com', device: 'alice-mbp' });
  return ALL_INPUTS.map(({ name, input }) => ({ name, event: stamper.stamp(input()) }));
}
