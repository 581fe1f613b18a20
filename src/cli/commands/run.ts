/**
 * `cordon run`: read the config file (if any), apply flags, start the daemon
 * and stay up until SIGTERM/SIGINT.
 */
import pino from 'pino';
import { defaultDaemonConfig, formatConfigErrors, loadDaemonConfig, mergeFlags, type DaemonFlags } from '../../daemon/config.js';
import { installSignalHandlers, startDaemon } from '../../daemon/run.js';

export const LOG_LEVEL_ENV = 'CORDON_LOG_LEVEL';

export async function runFromCli(opts: Record<string, unknown>): Promise<number> {
  const file = opts.config as string | undefined;
  const base = file === undefined ? { ok: true as const, config: defaultDaemonConfig() } : await loadDaemonConfig(file);
  if (!base.ok) throw new Error(`config ${file} is invalid:\n${formatConfigErrors(base.errors)}`);
  const merged = mergeFlags(base.config, opts as DaemonFlags);
  if (!merged.ok) throw new Error(`invalid flags:\n${formatConfigErrors(merged.errors)}`);
  const logger = pino({ name: 'cordon', level: process.env[LOG_LEVEL_ENV] ?? 'info' }, pino.destination({ fd: 2, sync: true }));
  const daemon = await startDaemon(merged.config, logger);
  installSignalHandlers(daemon, logger);
  return daemon.done;
}
