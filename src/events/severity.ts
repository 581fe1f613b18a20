/**
 * One severity scale for every sink, derived from the event, so OTLP, syslog
 * and OCSF agree on how loud an event is: an allowed request is info, a deny
 * recorded in audit mode is notice, an enforced deny is warn, and a hole in
 * the audit trail (dropped or poisoned events, a deny-all fallback) is error.
 */
import type { CordonEvent } from './types.js';

export type SeverityLevel = 'info' | 'notice' | 'warn' | 'error';

const DAEMON_SEVERITY: Record<string, SeverityLevel> = {
  'events-dropped': 'error',
  'poisoned-batch': 'error',
  'sink-error': 'warn',
  'sink-recovered': 'info',
  start: 'info',
  stop: 'info',
};

const POLICY_SEVERITY: Record<string, SeverityLevel> = {
  'deny-all': 'error',
  rejected: 'warn',
  stale: 'warn',
  loaded: 'notice',
  swapped: 'notice',
};

export function eventSeverity(event: CordonEvent): SeverityLevel {
  switch (event.kind) {
    case 'network':
    case 'mount':
      if (event.decision === 'allow') return 'info';
      return event.enforced ? 'warn' : 'notice';
    case 'policy':
      return POLICY_SEVERITY[event.action] ?? 'notice';
    case 'daemon':
      return DAEMON_SEVERITY[event.action] ?? 'info';
  }
}

/** OpenTelemetry log data model SeverityNumber / SeverityText. */
export const OTEL_SEVERITY: Record<SeverityLevel, { number: number; text: string }> = {
  info: { number: 9, text: 'INFO' },
  notice: { number: 10, text: 'NOTICE' },
  warn: { number: 13, text: 'WARN' },
  error: { number: 17, text: 'ERROR' },
};

/** RFC 5424 §6.2.1 severities. */
export const SYSLOG_SEVERITY: Record<SeverityLevel, number> = {
  info: 6,
  notice: 5,
  warn: 4,
  error: 3,
};

/** OCSF severity_id and its caption. */
export const OCSF_SEVERITY: Record<SeverityLevel, { id: number; caption: string }> = {
  info: { id: 1, caption: 'Informational' },
  notice: { id: 2, caption: 'Low' },
  warn: { id: 3, caption: 'Medium' },
  error: { id: 4, caption: 'High' },
};
