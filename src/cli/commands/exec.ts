/**
 * `cordon exec -- COMMAND`: run a command in a bubblewrap sandbox whose only
 * network is cordon's proxy, with policy-checked mounts.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import { parseMountSpec, runSandboxed } from '../../exec/run-sandbox.js';
import { parseLabels, UsageError } from '../common.js';

export async function execCommand(command: string[], opts: Record<string, unknown>): Promise<number> {
  if (command.length === 0) throw new UsageError('give the command to run after --');
  const labels = parseLabels(opts.labels as string | undefined);
  const mounts = ((opts.mount as string[] | undefined) ?? []).map(parseMountSpec);
  const client = new ControlClient(resolveSocketPath(opts.socket as string | undefined));
  return runSandboxed(client, { command, labels, mounts, cwd: (opts.cwd as string | undefined) ?? null });
}
