/**
 * Loads and compiles a policy for the offline forms of `check` and `mount`,
 * failing with every validation error listed.
 */
import { compilePolicy, type CompiledPolicy } from '../../policy/compile.js';
import { formatPolicyErrors, loadPolicyPath } from '../../policy/load.js';

export async function loadCompiledPolicy(path: string): Promise<CompiledPolicy> {
  const result = await loadPolicyPath(path);
  if (!result.ok) throw new Error(`policy ${path} is invalid:\n${formatPolicyErrors(result.errors)}`);
  return compilePolicy(result.policy);
}
