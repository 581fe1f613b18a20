/**
 * OCSF shaping (format: ocsf): class, category, activity and type_uid for each
 * kind of event, the security-control outcome (action_id / disposition_id)
 * for enforce and audit modes, the policy object, and the attributes OCSF
 * 1.1.0 requires of each class.
 */
import t from 'tap';
import { OCSF_SCHEMA_VERSION, toOcsf } from '../../src/events/ocsf.js';
import type { OcsfEvent } from '../../src/events/ocsf.js';
import { stampAll } from '../helpers/event-fixtures.js';

const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata'];
const CLASS_REQUIRED: Record<number, string[]> = {
  0: [],
  1001: ['actor', 'device', 'file'],
  4001: ['dst_endpoint', 'src_endpoint', 'action_id'],
};

const byName = new Map(stampAll().map(({ name, event }) => [name, event]));

function ocsf(name: string): OcsfEvent {
  return toOcsf(byName.get(name)!, '0.3.0');
}

t.test('classes, activities and outcomes', async (t) => {
  const table: { name: string; expect: Record<string, unknown> }[] = [
    {
      name: 'network deny (enforced)',
      expect: { class_uid: 4001, category_uid: 4, activity_id: 5, activity_name: 'Refuse', type_uid: 400105, action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked', status_id: 2, severity_id: 3 },
    },
    {
      name: 'network deny (audit)',
      expect: { class_uid: 4001, activity_id: 1, type_uid: 400101, action_id: 1, disposition_id: 15, disposition: 'Detected', status_id: 1, severity_id: 2 },
    },
    {
      name: 'network allow, closed with bytes',
      expect: { class_uid: 4001, activity_id: 2, activity_name: 'Close', type_uid: 400102, action_id: 1, disposition_id: 1, severity_id: 1, duration: 512, traffic: { bytes_out: 1234, bytes_in: 9876543210, bytes: 9876544444 } },
    },
    {
      name: 'network invalid target',
      expect: { class_uid: 4001, activity_id: 5, action_id: 2, disposition_id: 2, status_detail: 'invalid-target' },
    },
    {
      name: 'mount allow with mask',
      expect: { class_uid: 1001, category_uid: 1, activity_id: 12, activity_name: 'Mount', type_uid: 100112, action_id: 1, disposition_id: 1, file: { name: 'src', path: '/home/alice/src', type_id: 0 } },
    },
    { name: 'policy rejected', expect: { class_uid: 0, category_uid: 0, activity_id: 99, type_uid: 99, severity_id: 3 } },
    { name: 'daemon start', expect: { class_uid: 0, activity_id: 99, type_uid: 99, severity_id: 1 } },
  ];
  for (const row of table) t.match(ocsf(row.name), row.expect, row.name);
});

t.test('required attributes and common objects', async (t) => {
  for (const [name, event] of byName) {
    const o = toOcsf(event, '0.3.0');
    const required = [...BASE_REQUIRED, ...CLASS_REQUIRED[o['class_uid'] as number]!];
    t.same(
      required.filter((k) => o[k] === undefined || o[k] === null),
      [],
      `${name}: has every required attribute`,
    );
    t.equal(o['type_uid'], (o['class_uid'] as number) * 100 + (o['activity_id'] as number), `${name}: type_uid = class_uid * 100 + activity_id`);
    t.equal(o['time'], Date.parse(event.time), `${name}: time is epoch milliseconds`);
    t.match(o['metadata'], { version: OCSF_SCHEMA_VERSION, uid: event.id, product: { name: 'cordon', version: '0.3.0' } }, `${name}: metadata`);
    t.match(o['device'], { hostname: 'alice-mbp' }, `${name}: device`);
    if (event.policy !== null) {
      t.same(o['policy'], { name: 'acme-engineering', uid: 'sha256:9c1e', version: '42' }, `${name}: policy {name, uid: digest, version: revision}`);
    }
    t.doesNotThrow(() => JSON.parse(JSON.stringify(o)), `${name}: serialisable`);
  }
});

t.test('network endpoints and rule', async (t) => {
  const deny = ocsf('network deny (enforced)');
  t.same(deny['dst_endpoint'], { port: 443, hostname: 'x.pastebin.com' }, 'name target: hostname and port');
  t.same(deny['src_endpoint'], { hostname: 'alice-mbp' }, 'source is the device');
  t.match(deny['firewall_rule'], { name: 'paste sites', uid: 'guardrails/paste sites', category: 'guardrails', condition: '**.pastebin.com' }, 'the matching rule');
  t.match(deny['actor'], { user: { name: 'alice@acme.com' }, session: { uid: 's_4f00' } }, 'actor: user and session');
  t.match(deny['connection_info'], { direction_id: 2, protocol_num: 6 }, 'outbound TCP');
  const closed = ocsf('network allow, closed with bytes');
  t.same(closed['dst_endpoint'], { port: 443, hostname: 'api.github.com', ip: '2606:50c0:8000::154' }, 'dialed address in ip');
  t.match(closed['unmapped'], { cordon: { labels: { 'équipe': 'données' }, http: { method: 'GET' } } }, 'cordon-only fields under unmapped');
});
