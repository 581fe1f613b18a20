/**
 * `cordon check TARGET`: the decision the proxy would make. With --policy it
 * decides offline (resolving names like the proxy: system resolver or
 * --resolver); without, it asks the running daemon.
 */
import { ControlClient, resolveSocketPath } from '../../control/client.js';
import type { NetworkDecision } from '../../decide/types.js';
import { decisionExitCode, explainNetwork } from '../explain.js';
import { parseLabels, printJson, UsageError } from '../common.js';

export async function decideOffline(policyPath: string, target: string, labels: Record<string, string>, resolverSpec?: string): Promise<NetworkDecision> {
  // The policy loader and engine load only for --policy: asking the daemon stays quick.
  const { loadCompiledPolicy } = await import('./offline-policy.js');
  const cp = await loadCompiledPolicy(policyPath);
  const { decideFully } = await import('../../decide/full-network.js');
  const { createResolver } = await import('../../proxy/resolver.js');
  const resolver = createResolver({ server: resolverSpec ?? null });
  return decideFully(cp, target, { labels }, resolver);
}

export async function checkCommand(target: string, opts: Record<string, string | boolean | undefined>): Promise<number> {
  const labels = parseLabels(opts.labels as string | undefined);
  let decision: NetworkDecision;
  if (typeof opts.policy === 'string') {
    decision = await decideOffline(opts.policy, target, labels, opts.resolver as string | undefined);
  } else {
    if (opts.resolver !== undefined) throw new UsageError('--resolver only applies with --policy (the daemon uses its own resolver)');
    const client = new ControlClient(resolveSocketPath(opts.socket as string | undefined));
    decision = await client.check(target, labels);
  }
  if (opts.json === true) printJson(decision);
  else process.stdout.write(explainNetwork(decision) + '\n');
  return decisionExitCode(decision);
}
