/**
 * `cordon events`: recent decisions as a readable table (or JSON lines), and
 * `--follow` to keep streaming them from the daemon.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import type { CordonEvent } from '../../events/types.js';
import { UsageError } from '../common.js';

/** Wide enough for the header and for POLICY / DAEMON rows, so the columns line up. */
const VERDICT_WIDTH = 'VERDICT'.length;

export function formatEventRow(e: CordonEvent): string {
  const time = e.time.slice(11, 23);
  const session = 'session' in e && e.session !== undefined ? e.session.id : '-';
  if (e.kind === 'network') {
    const verdict = e.decision === 'allow' ? 'ALLOW' : e.enforced ? 'DENY' : 'AUDIT';
    const why = e.rule !== null ? `${e.rule.layer}/${e.rule.name}` : e.reason;
    const traffic = e.bytes_up === undefined ? '' : ` ↑${e.bytes_up} ↓${e.bytes_down ?? 0} ${e.duration_ms ?? 0}ms`;
    const target = e.target.host.includes(':') ? `[${e.target.host}]:${e.target.port}` : `${e.target.host}:${e.target.port}`;
    return `${time}  ${verdict.padEnd(VERDICT_WIDTH)}  ${e.via.padEnd(7)}  ${target.padEnd(34)}  ${why.padEnd(30)}  ${session}${traffic}`;
  }
  if (e.kind === 'mount') {
    const verdict = e.decision === 'allow' ? 'ALLOW' : e.enforced ? 'DENY' : 'AUDIT';
    const why = e.rule !== null ? `${e.rule.layer}/${e.rule.name}` : e.reason;
    return `${time}  ${verdict.padEnd(VERDICT_WIDTH)}  ${'mount'.padEnd(7)}  ${`${e.mount.path} (${e.mount.access})`.padEnd(34)}  ${why.padEnd(30)}  ${session}`;
  }
  return `${time}  ${e.kind.toUpperCase().padEnd(VERDICT_WIDTH)}  ${e.action.padEnd(7)}  ${e.message}`;
}

export const EVENTS_HEADER = `${'TIME'.padEnd(12)}  ${'VERDICT'.padEnd(VERDICT_WIDTH)}  ${'VIA'.padEnd(7)}  ${'TARGET'.padEnd(34)}  ${'RULE'.padEnd(30)}  SESSION`;

export async function eventsCommand(opts: { follow?: boolean; limit: string; json?: boolean; socket?: string }): Promise<number> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be an integer from 1 to 10000');
  const client = new ControlClient(resolveSocketPath(opts.socket));
  const print = (e: CordonEvent): void => {
    process.stdout.write((opts.json === true ? JSON.stringify(e) : formatEventRow(e)) + '\n');
  };
  if (opts.json !== true) process.stdout.write(EVENTS_HEADER + '\n');
  if (opts.follow === true) {
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    await client.follow(limit, print, abort.signal).catch((err: unknown) => {
      if (!abort.signal.aborted) throw err;
    });
    return 0;
  }
  const { events } = await client.events(limit);
  for (const e of events) print(e);
  return 0;
}
