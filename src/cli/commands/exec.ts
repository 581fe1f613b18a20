/**
 * `cordon exec -- COMMAND`: run a command in a bubblewrap sandbox whose only
 * network is cordon's proxy, with policy-checked mounts. Exit status: the
 * command's own; 125 when cordon exec failed or refused before running it
 * (the message on stderr says why and how to fix it); 128+N when a signal
 * cancelled it first.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import { EXIT_EXEC_FAILED, parseMountSpec, runSandboxed } from '../../exec/run-sandbox.js';
import { PlanError } from '../../exec/sandbox-plan.js';
import { parseLabels, UsageError } from '../common.js';

export async function execCommand(command: string[], opts: Record<string, unknown>): Promise<number> {
  if (command.length === 0) throw new UsageError('give the command to run after --');
  const labels = parseLabels(opts.labels as string | undefined);
  let mounts: { path: string; access: 'ro' | 'rw' }[];
  try {
    mounts = ((opts.mount as string[] | undefined) ?? []).map((spec) => parseMountSpec(spec));
  } catch (err) {
    if (err instanceof PlanError) throw new UsageError(err.message);
    throw err;
  }
  const client = new ControlClient(resolveSocketPath(opts.socket as string | undefined));
  try {
    return await runSandboxed(client, { command, labels, mounts, cwd: (opts.cwd as string | undefined) ?? null });
  } catch (err) {
    process.stderr.write(`cordon: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_EXEC_FAILED;
  }
}
