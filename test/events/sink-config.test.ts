/**
 * Sink configuration checks shared with the daemon config loader: URL scheme
 * per type, HEC authorisation, header injection, credentials in URLs, names
 * that become directories, duplicate names, spool floor.
 */
import t from 'tap';
import { DEFAULT_SPOOL_MAX_BYTES, sinkConfigErrors, sinksConfigErrors, withSinkDefaults } from '../../src/events/sink-config.js';
import type { SinkConfig } from '../../src/events/sink-config.js';

function sink(over: Partial<SinkConfig>): SinkConfig {
  return { name: 'siem', type: 'otlp', url: 'https://otel.acme.com:4318/v1/logs', format: 'native', headers: {}, spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES, ...over };
}

t.test('defaults', async (t) => {
  t.same(withSinkDefaults({ name: 'a', type: 'syslog', url: 'tcp://127.0.0.1:6514' }), {
    name: 'a',
    type: 'syslog',
    url: 'tcp://127.0.0.1:6514',
    format: 'native',
    headers: {},
    spool_max_bytes: 268435456,
  });
});

t.test('valid sinks have no errors', async (t) => {
  const valid: { name: string; sink: SinkConfig }[] = [
    { name: 'otlp https', sink: sink({}) },
    { name: 'http with query', sink: sink({ type: 'http', url: 'http://127.0.0.1:8080/ingest?x=1' }) },
    { name: 'hec with Splunk token', sink: sink({ type: 'hec', url: 'https://splunk:8088', headers: { Authorization: 'Splunk abc-123' } }) },
    { name: 'syslog tcp', sink: sink({ type: 'syslog', url: 'tcp://127.0.0.1:514' }) },
    { name: 'syslog tls ipv6', sink: sink({ type: 'syslog', url: 'tls://[::1]:6514', format: 'ocsf' }) },
  ];
  for (const v of valid) t.same(sinkConfigErrors(v.sink), [], v.name);
});

t.test('invalid sinks are rejected with the key named', async (t) => {
  const invalid: { name: string; sink: SinkConfig; error: RegExp }[] = [
    { name: 'unknown type', sink: sink({ type: 'kafka' as SinkConfig['type'] }), error: /^type: must be one of/ },
    { name: 'unknown format', sink: sink({ format: 'cef' as SinkConfig['format'] }), error: /^format: must be one of/ },
    { name: 'not a URL', sink: sink({ url: 'otel.acme.com' }), error: /^url: not a URL/ },
    { name: 'otlp over tcp://', sink: sink({ url: 'tcp://otel:4317' }), error: /^url: a otlp sink needs an http/ },
    { name: 'syslog over https://', sink: sink({ type: 'syslog', url: 'https://log:6514' }), error: /^url: a syslog sink needs tcp/ },
    { name: 'syslog with a path', sink: sink({ type: 'syslog', url: 'tcp://log:514/x' }), error: /no path or query/ },
    { name: 'syslog with headers', sink: sink({ type: 'syslog', url: 'tcp://log:514', headers: { A: 'b' } }), error: /takes no headers/ },
    { name: 'hec without a token', sink: sink({ type: 'hec', url: 'https://splunk:8088' }), error: /Authorization = "Splunk <token>"/ },
    { name: 'hec with a Bearer token', sink: sink({ type: 'hec', url: 'https://splunk:8088', headers: { Authorization: 'Bearer x' } }), error: /Splunk <token>/ },
    { name: 'credentials in the URL (they would leak into status and logs)', sink: sink({ url: 'https://user:pw@otel:4318/v1/logs' }), error: /credentials in the URL/ },
    { name: 'attack: header injection with CRLF', sink: sink({ headers: { 'X-A': 'v\r\nX-Evil: 1' } }), error: /control characters/ },
    { name: 'bad header name', sink: sink({ headers: { 'X A': 'v' } }), error: /invalid header name/ },
    { name: 'reserved header', sink: sink({ headers: { 'Content-Length': '5' } }), error: /set by cordon/ },
    { name: 'attack: path traversal in the name (it becomes a spool directory)', sink: sink({ name: '../../etc' }), error: /^name:/ },
    { name: 'empty name', sink: sink({ name: '' }), error: /^name:/ },
    { name: 'spool below the floor', sink: sink({ spool_max_bytes: 1024 }), error: /^spool_max_bytes: must be an integer of at least/ },
    { name: 'fractional spool size', sink: sink({ spool_max_bytes: 100000.5 }), error: /^spool_max_bytes/ },
  ];
  for (const c of invalid) {
    const errors = sinkConfigErrors(c.sink);
    t.ok(errors.some((e) => c.error.test(e)), c.name, { errors });
  }
});

t.test('duplicate names (case-insensitive) are rejected', async (t) => {
  const errors = sinksConfigErrors([sink({ name: 'siem' }), sink({ name: 'SIEM' })]);
  t.same(errors, ['sinks[1].name: duplicate of sinks[0] (SIEM)']);
});
