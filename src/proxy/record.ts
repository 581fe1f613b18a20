/**
 * One decision → one event (DESIGN §5): turns a decision plus what happened
 * on the wire (bytes, duration, HTTP method/path/status, dial error) into a
 * `network` EventInput and hands it to the pipeline, which never blocks.
 * Also keeps the proxy's decision counters. Emission can never throw into a
 * connection handler.
 */
import type { Via } from '../events/types.js';
import type { Decided } from './decide-request.js';
import type { ProxyContext, ProxySession, ProxyStats } from './types.js';

export interface RecordExtra {
  bytesUp?: number;
  bytesDown?: number;
  durationMs?: number;
  http?: { method: string; path: string; status?: number };
  error?: string;
}

export function countDecision(stats: ProxyStats, decided: Decided): void {
  const d = decided.decision;
  if (d.reason === 'invalid-target') stats.decisions.invalid++;
  else if (d.decision === 'allow') stats.decisions.allowed++;
  else if (d.enforced) stats.decisions.denied++;
  else stats.decisions.audited++;
}

export function emitDecision(ctx: ProxyContext, decided: Decided, via: Via, session: ProxySession, extra: RecordExtra = {}): void {
  try {
    const d = decided.decision;
    const p = decided.policy?.policy;
    const error = extra.error ?? d.error;
    ctx.events.emit({
      kind: 'network',
      decision: d.decision,
      enforced: d.enforced,
      mode: d.mode,
      reason: d.reason,
      rule: d.rule,
      profile: d.profile,
      target: { host: d.target.host, port: d.target.port, addresses: d.addresses.map((a) => a.address), address: d.address },
      via,
      session: { id: session.id, labels: { ...session.labels } },
      policy: p ? { name: p.name, revision: p.revision, digest: p.digest } : null,
      // One fixed shape (no conditional spreads): an absent field is undefined, which JSON.stringify omits.
      bytes_up: extra.bytesUp,
      bytes_down: extra.bytesDown,
      duration_ms: extra.durationMs,
      http: extra.http,
      error: error || undefined,
    });
  } catch (e) {
    ctx.logger.error({ err: String(e) }, 'event emit failed');
  }
}
