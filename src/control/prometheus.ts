/**
 * Renders daemon metrics in the Prometheus text exposition format (0.0.4)
 * for `GET /metrics`.
 */
import type { DecisionCount } from '../daemon/metrics.js';
import type { PolicyStatus, SinkStatus } from './wire.js';

export interface MetricsSnapshot {
  decisions: DecisionCount[];
  connectionsOpen: number;
  bytesUp: number;
  bytesDown: number;
  policy: PolicyStatus;
  nowMs: number;
  sessions: number;
  sinks: SinkStatus[];
  eventsDropped: number;
}

function esc(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function metric(lines: string[], name: string, type: string, help: string, samples: [string, number][]): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
}

export function renderMetrics(m: MetricsSnapshot): string {
  const lines: string[] = [];
  metric(
    lines,
    'cordon_decisions_total',
    'counter',
    'Decisions recorded, by kind, verdict, layer and enforcement.',
    m.decisions.map((d) => [
      `{kind="${esc(d.kind)}",verdict="${esc(d.verdict)}",layer="${esc(d.layer)}",enforced="${d.enforced}"}`,
      d.count,
    ]),
  );
  metric(lines, 'cordon_connections_open', 'gauge', 'Proxy connections currently open.', [['', m.connectionsOpen]]);
  metric(lines, 'cordon_bytes_total', 'counter', 'Bytes relayed by the proxy.', [
    ['{direction="up"}', m.bytesUp],
    ['{direction="down"}', m.bytesDown],
  ]);
  metric(lines, 'cordon_policy_revision', 'gauge', 'Revision of the active policy (-1 when unset).', [
    [`{name="${esc(m.policy.name)}",state="${esc(m.policy.state)}"}`, m.policy.revision ?? -1],
  ]);
  const loaded = m.policy.loaded_at === null ? null : Date.parse(m.policy.loaded_at);
  metric(lines, 'cordon_policy_age_seconds', 'gauge', 'Seconds since the active policy was loaded.', [
    ['', loaded === null ? -1 : Math.max(0, Math.round((m.nowMs - loaded) / 1000))],
  ]);
  metric(lines, 'cordon_sessions', 'gauge', 'Registered sessions.', [['', m.sessions]]);
  metric(lines, 'cordon_sink_queued', 'gauge', 'Events waiting for each sink.', m.sinks.map((s) => [`{sink="${esc(s.name)}"}`, s.queued]));
  metric(lines, 'cordon_sink_spooled_bytes', 'gauge', 'Bytes in each sink spool.', m.sinks.map((s) => [`{sink="${esc(s.name)}"}`, s.spooled_bytes]));
  metric(lines, 'cordon_sink_dropped_total', 'counter', 'Events dropped by each sink.', m.sinks.map((s) => [`{sink="${esc(s.name)}"}`, s.dropped]));
  metric(lines, 'cordon_events_dropped_total', 'counter', 'Events dropped before reaching the pipeline.', [['', m.eventsDropped]]);
  return lines.join('\n') + '\n';
}
