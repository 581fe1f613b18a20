/**
 * OTLP/HTTP JSON logs on the wire, checked by a collector of our own against
 * the published ExportLogsServiceRequest shape (opentelemetry-proto
 * logs/v1, proto3 JSON mapping): required fields present, lowerCamelCase
 * names, 64-bit integers (timeUnixNano, intValue) as decimal strings, every
 * attribute value a single-variant AnyValue, resource and record attributes
 * mapped from the event.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EventPipeline } from '../../src/events/pipeline.js';
import type { EventPipelineOptions } from '../../src/events/pipeline.js';
import { otlpLogsRequest } from '../../src/events/sinks/otlp.js';
import type { CordonEvent, EventInput } from '../../src/events/types.js';
import { EventCollector } from '../helpers/event-collector.js';
import type { CollectorScript } from '../helpers/event-collector.js';
import { ALL_INPUTS, networkClosedInput, networkDenyInput, stampAll } from '../helpers/event-fixtures.js';

const WAIT_LIMIT_MS = 20_000;
const ANY_VALUE_KEYS = ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'];
const INT64_STRING = /^-?\d+$/;

/** Problems with one AnyValue (proto3 JSON): exactly one variant, int64 as a decimal string. */
function anyValueProblems(value: unknown, where: string): string[] {
  if (value === null || typeof value !== 'object') return [`${where}: not an object`];
  const keys = Object.keys(value);
  if (keys.length !== 1 || !ANY_VALUE_KEYS.includes(keys[0]!)) return [`${where}: must have exactly one of ${ANY_VALUE_KEYS.join('|')}, has ${keys.join(',')}`];
  const v = (value as Record<string, unknown>)[keys[0]!];
  switch (keys[0]) {
    case 'stringValue':
      return typeof v === 'string' ? [] : [`${where}.stringValue: not a string`];
    case 'boolValue':
      return typeof v === 'boolean' ? [] : [`${where}.boolValue: not a boolean`];
    case 'intValue':
      return typeof v === 'string' && INT64_STRING.test(v) ? [] : [`${where}.intValue: int64 must be a decimal string, got ${JSON.stringify(v)}`];
    case 'doubleValue':
      return typeof v === 'number' ? [] : [`${where}.doubleValue: not a number`];
    case 'arrayValue': {
      const values = (v as { values?: unknown }).values;
      if (!Array.isArray(values)) return [`${where}.arrayValue.values: not an array`];
      return values.flatMap((x, i) => anyValueProblems(x, `${where}.arrayValue.values[${i}]`));
    }
    case 'kvlistValue':
      return keyValuesProblems((v as { values?: unknown }).values, `${where}.kvlistValue.values`);
    default:
      return [];
  }
}

function keyValuesProblems(list: unknown, where: string): string[] {
  if (!Array.isArray(list)) return [`${where}: not an array`];
  const problems: string[] = [];
  const seen = new Set<string>();
  list.forEach((kv: unknown, i) => {
    const { key, value } = (kv ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || key === '') problems.push(`${where}[${i}].key: missing`);
    else if (seen.has(key)) problems.push(`${where}[${i}].key: duplicate ${key}`);
    else seen.add(key);
    problems.push(...anyValueProblems(value, `${where}[${i}].value`));
  });
  return problems;
}

/** Problems with an ExportLogsServiceRequest body. */
function exportRequestProblems(body: unknown): string[] {
  const problems: string[] = [];
  const resourceLogs = (body as { resourceLogs?: unknown })?.resourceLogs;
  if (!Array.isArray(resourceLogs) || resourceLogs.length === 0) return ['resourceLogs: missing or empty'];
  resourceLogs.forEach((rl: { resource?: { attributes?: unknown }; scopeLogs?: unknown }, i) => {
    const at = `resourceLogs[${i}]`;
    problems.push(...keyValuesProblems(rl.resource?.attributes, `${at}.resource.attributes`));
    if (!Array.isArray(rl.scopeLogs) || rl.scopeLogs.length === 0) {
      problems.push(`${at}.scopeLogs: missing or empty`);
      return;
    }
    rl.scopeLogs.forEach((sl: { scope?: { name?: unknown }; logRecords?: unknown }, j) => {
      const sat = `${at}.scopeLogs[${j}]`;
      if (typeof sl.scope?.name !== 'string') problems.push(`${sat}.scope.name: missing`);
      if (!Array.isArray(sl.logRecords) || sl.logRecords.length === 0) {
        problems.push(`${sat}.logRecords: missing or empty`);
        return;
      }
      sl.logRecords.forEach((lr: Record<string, unknown>, k) => {
        const lat = `${sat}.logRecords[${k}]`;
        for (const f of ['timeUnixNano', 'observedTimeUnixNano']) {
          if (typeof lr[f] !== 'string' || !INT64_STRING.test(lr[f] as string)) problems.push(`${lat}.${f}: fixed64 must be a decimal string, got ${JSON.stringify(lr[f])}`);
        }
        const sev = lr['severityNumber'];
        if (typeof sev !== 'number' || !Number.isInteger(sev) || sev < 1 || sev > 24) problems.push(`${lat}.severityNumber: must be an integer 1..24`);
        if (typeof lr['severityText'] !== 'string') problems.push(`${lat}.severityText: not a string`);
        problems.push(...anyValueProblems(lr['body'], `${lat}.body`));
        problems.push(...keyValuesProblems(lr['attributes'], `${lat}.attributes`));
        for (const key of Object.keys(lr)) {
          if (key.includes('_')) problems.push(`${lat}.${key}: proto3 JSON field names are lowerCamelCase`);
        }
      });
    });
  });
  return problems;
}

function attr(list: { key: string; value: Record<string, unknown> }[], key: string): unknown {
  const kv = list.find((a) => a.key === key);
  return kv === undefined ? undefined : Object.values(kv.value)[0];
}

interface LogRecordJson {
  timeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: { key: string; value: Record<string, unknown> }[];
}

async function deliver(
  t: Test,
  inputs: EventInput[],
  sink: Partial<{ url: string; format: 'native' | 'ocsf' }> = {},
  script?: CollectorScript,
  extra: Partial<EventPipelineOptions> = {},
): Promise<{ collector: EventCollector; emitted: CordonEvent[]; pipeline: EventPipeline }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-otlp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const collector = await EventCollector.start(script);
  t.teardown(() => collector.close());
  const pipeline = new EventPipeline({
    stateDir: dir,
    identity: { user: 'alice@acme.com', device: 'alice-mbp' },
    version: '0.3.0',
    sinks: [
      {
        name: 'siem',
        type: 'otlp',
        url: sink.url ?? collector.url('/v1/logs'),
        format: sink.format ?? 'native',
        headers: { Authorization: 'Bearer t0ken' },
        spool_max_bytes: 1 << 24,
      },
    ],
    sender: { backoffBaseMs: 10, backoffMaxMs: 50 },
    ...extra,
  });
  await pipeline.start();
  t.teardown(() => pipeline.close());
  const emitted = inputs.map((i) => pipeline.emit(i));
  const deadline = Date.now() + WAIT_LIMIT_MS;
  await pipeline.sync();
  while (pipeline.sinkStatus()[0]!.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return { collector, emitted, pipeline };
}

t.test('wire format: a valid ExportLogsServiceRequest for every kind of event', async (t) => {
  const inputs = ALL_INPUTS.map((c) => c.input());
  const { collector, emitted, pipeline } = await deliver(t, inputs);
  const accepted = collector.accepted();
  t.ok(accepted.length >= 1, 'delivered');
  const req = accepted[0]!;
  t.equal(req.method, 'POST', 'POST');
  t.equal(req.url, '/v1/logs', 'to /v1/logs');
  t.equal(req.headers['content-type'], 'application/json', 'JSON encoding');
  t.equal(req.headers['authorization'], 'Bearer t0ken', 'configured headers are sent');
  t.equal(req.headers['user-agent'], 'cordon/0.3.0', 'user-agent names cordon and its version');
  const body = JSON.parse(req.body.toString('utf8')) as { resourceLogs: { resource: { attributes: LogRecordJson['attributes'] }; scopeLogs: { scope: { name: string; version: string }; logRecords: LogRecordJson[] }[] }[] };
  t.same(exportRequestProblems(body), [], 'matches the published shape');
  const rl = body.resourceLogs[0]!;
  t.equal(attr(rl.resource.attributes, 'service.name'), 'cordon', 'resource service.name');
  t.equal(attr(rl.resource.attributes, 'service.version'), '0.3.0', 'resource service.version');
  t.equal(attr(rl.resource.attributes, 'host.name'), 'alice-mbp', 'resource host.name is the device');
  t.equal(rl.scopeLogs[0]!.scope.name, 'cordon.events', 'scope name');
  const records = body.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords));
  const ids = records.map((r) => attr(r.attributes, 'log.record.uid'));
  for (const event of emitted) {
    const i = ids.indexOf(event.id);
    t.ok(i >= 0, `${event.kind} ${event.id}: present with log.record.uid`);
    if (i < 0) continue;
    const rec = records[i]!;
    t.equal(rec.timeUnixNano, String(BigInt(Date.parse(event.time)) * 1_000_000n), `${event.kind}: timeUnixNano is the event time in ns, as a string`);
    t.same(JSON.parse(rec.body.stringValue), event, `${event.kind}: body is the event JSON`);
    t.equal(attr(rec.attributes, 'cordon.kind'), event.kind, `${event.kind}: cordon.kind`);
    t.equal(attr(rec.attributes, 'user.name'), 'alice@acme.com', `${event.kind}: user.name`);
  }
  await pipeline.close();
});

t.test('attributes mapped from a network event (int64 values as strings)', async (t) => {
  const [deny] = stampAll().filter((e) => e.name === 'network deny (enforced)').map((e) => e.event);
  const [closed] = stampAll().filter((e) => e.name === 'network allow, closed with bytes').map((e) => e.event);
  const req = otlpLogsRequest([deny!, closed!], 'native', '0.3.0');
  t.same(exportRequestProblems(JSON.parse(JSON.stringify(req))), [], 'shape');
  const [d, c] = req.resourceLogs[0]!.scopeLogs[0]!.logRecords as unknown as LogRecordJson[];
  const cases: { name: string; rec: LogRecordJson; key: string; value: unknown }[] = [
    { name: 'decision', rec: d!, key: 'cordon.decision', value: 'deny' },
    { name: 'enforced is a bool', rec: d!, key: 'cordon.enforced', value: true },
    { name: 'rule layer', rec: d!, key: 'cordon.rule.layer', value: 'guardrails' },
    { name: 'rule name', rec: d!, key: 'cordon.rule.name', value: 'paste sites' },
    { name: 'rule resource', rec: d!, key: 'cordon.rule.resource', value: '**.pastebin.com' },
    { name: 'reason', rec: d!, key: 'cordon.reason', value: 'rule' },
    { name: 'target host', rec: d!, key: 'server.address', value: 'x.pastebin.com' },
    { name: 'target port as int64 string', rec: d!, key: 'server.port', value: '443' },
    { name: 'session id', rec: d!, key: 'cordon.session.id', value: 's_4f00' },
    { name: 'session label', rec: d!, key: 'cordon.session.label.agent', value: 'claude-code' },
    { name: 'policy revision as int64 string', rec: d!, key: 'cordon.policy.revision', value: '42' },
    { name: 'bytes down beyond 2^32 as int64 string', rec: c!, key: 'cordon.bytes_down', value: '9876543210' },
    { name: 'duration', rec: c!, key: 'cordon.duration_ms', value: '512' },
    { name: 'dialed address', rec: c!, key: 'network.peer.address', value: '2606:50c0:8000::154' },
    { name: 'http method', rec: c!, key: 'http.request.method', value: 'GET' },
    { name: 'http status', rec: c!, key: 'http.response.status_code', value: '200' },
  ];
  for (const k of cases) t.same(attr(k.rec.attributes, k.key), k.value, k.name);
  t.same(attr(c!.attributes, 'cordon.target.addresses'), { values: [{ stringValue: '2606:50c0:8000::154' }, { stringValue: '140.82.112.6' }] }, 'resolved addresses as an array value');
});

t.test('severity follows the decision', async (t) => {
  const table: { name: string; number: number; text: string }[] = [
    { name: 'network deny (enforced)', number: 13, text: 'WARN' },
    { name: 'network deny (audit)', number: 10, text: 'NOTICE' },
    { name: 'network allow, closed with bytes', number: 9, text: 'INFO' },
    { name: 'mount allow with mask', number: 9, text: 'INFO' },
    { name: 'policy rejected', number: 13, text: 'WARN' },
    { name: 'daemon start', number: 9, text: 'INFO' },
  ];
  const stamped = stampAll();
  for (const row of table) {
    const event = stamped.find((s) => s.name === row.name)!.event;
    const rec = otlpLogsRequest([event], 'native', 'x').resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
    t.equal(rec.severityNumber, row.number, `${row.name}: severityNumber`);
    t.equal(rec.severityText, row.text, `${row.name}: severityText`);
  }
});

t.test('format: ocsf puts the OCSF object in the body', async (t) => {
  const { collector } = await deliver(t, [networkDenyInput()], { format: 'ocsf' });
  const body = JSON.parse(collector.accepted()[0]!.body.toString('utf8')) as { resourceLogs: { scopeLogs: { logRecords: LogRecordJson[] }[] }[] };
  const ocsf = JSON.parse(body.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.body.stringValue) as Record<string, unknown>;
  t.match(ocsf, { class_uid: 4001, activity_id: 5, type_uid: 400105, action_id: 2, disposition_id: 2 }, 'Network Activity, Refuse, Denied, Blocked');
});

t.test('a URL without a path posts to /v1/logs', async (t) => {
  const collector = await EventCollector.start();
  t.teardown(() => collector.close());
  await deliver(t, [networkClosedInput()], { url: `http://127.0.0.1:${collector.port}` });
  await collector.waitForRequests(1);
  t.equal(collector.requests[0]?.url, '/v1/logs', 'default path appended');
});

t.test('partial success: rejected records are reported as dropped, not retried', async (t) => {
  const script: CollectorScript = (n) =>
    n === 1 ? { status: 200, body: JSON.stringify({ partialSuccess: { rejectedLogRecords: '1', errorMessage: 'record too large' } }) } : { status: 200 };
  const { collector, pipeline } = await deliver(t, [networkDenyInput(), networkDenyInput('y.pastebin.com')], {}, script);
  const deadline = Date.now() + WAIT_LIMIT_MS;
  const droppedEvent = (): CordonEvent | undefined => pipeline.recent().find((e) => e.kind === 'daemon' && e.action === 'events-dropped');
  while (droppedEvent() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.match(droppedEvent(), { kind: 'daemon', details: { sink: 'siem', count: 1, reason: 'upstream-rejected' } }, 'an events-dropped event says how many');
  t.match(droppedEvent(), { message: /record too large/ }, 'and carries the collector\'s message');
  const resent = collector.requests.slice(1).some((r) => r.body.includes('x.pastebin.com'));
  t.notOk(resent, 'the partially accepted batch is not sent again');
});
