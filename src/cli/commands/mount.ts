/**
 * `cordon mount PATH`: the decision for a sandbox mount, with its real path
 * and masks. With --policy it decides offline; without, it asks the daemon
 * (which records a mount event).
 */
import { homedir } from 'node:os';
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import type { MountDecision } from '../../decide/types.js';
import { decisionExitCode, explainMount } from '../explain.js';
import { parseLabels, printJson, UsageError } from '../common.js';

export async function mountCommand(path: string, opts: Record<string, string | boolean | undefined>): Promise<number> {
  if (opts.ro === true && opts.rw === true) throw new UsageError('give --ro or --rw, not both');
  const access = opts.rw === true ? 'rw' : 'ro';
  const labels = parseLabels(opts.labels as string | undefined);
  let decision: MountDecision;
  if (typeof opts.policy === 'string') {
    // The policy loader and engine load only for --policy: asking the daemon stays quick.
    const { loadCompiledPolicy } = await import('./offline-policy.js');
    const { decideMount } = await import('../../decide/mounts.js');
    const cp = await loadCompiledPolicy(opts.policy);
    decision = decideMount(cp, { path, access, labels, home: homedir() });
  } else {
    const client = new ControlClient(resolveSocketPath(opts.socket as string | undefined));
    decision = await client.mount({ path, access, labels, home: homedir() });
  }
  if (opts.json === true) printJson(decision);
  else process.stdout.write(explainMount(decision) + '\n');
  return decisionExitCode(decision);
}
