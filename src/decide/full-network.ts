/**
 * The whole network decision for one raw target string, as `cordon check`
 * and `POST /v1/check` need it: canonicalise, name stage, resolve once
 * (through an injected resolver: this module does no I/O itself), address
 * stage. The proxy runs the same steps inline on its own parsed targets.
 */
import { parseTarget } from '../match/canonical.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { decideAddresses, decideTarget, invalidTargetDecision, needsResolution, type DecideOptions } from './network.js';
import type { NetworkDecision } from './types.js';

export interface NameResolver {
  /** Canonical IP texts for `host`, or [] when it does not resolve. May reject on timeout. */
  resolve(host: string): Promise<string[]>;
}

export async function decideFully(cp: CompiledPolicy, raw: string, opts: DecideOptions, resolver: NameResolver): Promise<NetworkDecision> {
  const parsed = parseTarget(raw);
  if (!parsed.ok) return invalidTargetDecision(raw, parsed.error);
  const first = decideTarget(cp, parsed.value, opts);
  if (!needsResolution(first)) return first;
  let addresses: string[];
  try {
    addresses = await resolver.resolve(parsed.value.host.host);
  } catch {
    addresses = [];
  }
  return decideAddresses(cp, first, addresses, opts);
}
