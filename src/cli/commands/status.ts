/**
 * `cordon status`: a readable summary of the running daemon, or with --json
 * exactly the `GET /v1/status` object.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import type { StatusResponse } from '../../control/wire.js';
import { ago, printJson, table } from '../common.js';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function duration(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

export function formatStatus(s: StatusResponse, nowMs: number = Date.now()): string {
  const p = s.policy;
  const rev = p.revision === null ? '' : ` rev ${p.revision}`;
  const state = p.state === 'stale' ? `STALE since ${p.stale_since ?? '?'} (source unreachable or invalid; using the last good copy)` : p.state === 'deny-all' ? 'DENY-ALL (no valid policy: everything is denied)' : 'fresh';
  const lines = [
    `cordon ${s.version} (pid ${s.pid}, up ${duration(s.uptime_s)})`,
    `policy      ${p.name}${rev} (${p.digest.slice(0, 19)}…) from ${p.source}`,
    `            loaded ${ago(p.loaded_at, nowMs)}, checked ${ago(p.checked_at, nowMs)}, ${state}${p.key_id === null ? '' : `, signed by ${p.key_id}`}`,
    `mode        ${s.mode}`,
    `listeners   proxy ${s.listeners.proxy ?? '-'}  socks ${s.listeners.socks ?? '-'}  proxy-socket ${s.listeners.proxy_socket ?? '-'}`,
    `socket      ${s.listeners.socket}`,
    `sessions    ${s.sessions}`,
    `decisions   ${s.counters.allowed} allowed, ${s.counters.denied} denied, ${s.counters.audited} audited (not enforced), ${s.counters.invalid} invalid`,
    `traffic     ${s.connections.open} open, ${bytes(s.connections.bytes_up)} up, ${bytes(s.connections.bytes_down)} down`,
  ];
  if (s.sinks.length === 0) {
    lines.push('sinks       none (local audit log only)');
  } else {
    lines.push('sinks');
    const rows = s.sinks.map((k) => [
      k.name,
      k.type,
      String(k.queued),
      bytes(k.spooled_bytes),
      k.oldest_unsent_s === null ? '-' : `${k.oldest_unsent_s}s`,
      ago(k.last_success_at, nowMs),
      String(k.dropped),
      k.last_error ?? '-',
    ]);
    lines.push(
      table(['  NAME', 'TYPE', 'QUEUED', 'SPOOLED', 'OLDEST', 'LAST SUCCESS', 'DROPPED', 'LAST ERROR'], rows.map((r) => [`  ${r[0]}`, ...r.slice(1)])),
    );
  }
  if (s.events_dropped > 0) lines.push(`events dropped before the pipeline: ${s.events_dropped}`);
  lines.push(`last error  ${p.last_error ?? 'none'}`);
  return lines.join('\n');
}

export async function statusCommand(opts: { json?: boolean; socket?: string }): Promise<number> {
  const client = new ControlClient(resolveSocketPath(opts.socket));
  const status = await client.status();
  if (opts.json === true) printJson(status);
  else process.stdout.write(formatStatus(status) + '\n');
  return 0;
}
