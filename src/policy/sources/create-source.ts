/**
 * Picks the policy source for a configured `policy.source` (DESIGN §6): a URL
 * becomes a polled UrlPolicySource, anything else a watched FilePolicySource.
 * Kept apart from both so the composition root needs one call and the two
 * sources need not know about each other.
 */
import type { PolicySource } from './types.js';
import { FilePolicySource } from './file-source.js';
import { isUrlSource, UrlPolicySource } from './url-source.js';

export const MS_PER_S = 1000;

export interface PolicySourceSettings {
  /** Absolute path, or https:// (loopback http://) URL. */
  source: string;
  /** URL: the poll interval; file/directory: the safety re-read interval. */
  poll_interval_s: number;
  bearer_token_file: string | null;
}

export function createPolicySource(settings: PolicySourceSettings): PolicySource {
  const intervalMs = settings.poll_interval_s * MS_PER_S;
  if (isUrlSource(settings.source)) {
    return new UrlPolicySource(settings.source, { pollIntervalMs: intervalMs, bearerTokenFile: settings.bearer_token_file });
  }
  if (settings.bearer_token_file !== null) throw new Error('a bearer token applies to a URL policy source only');
  return new FilePolicySource(settings.source, { safetyPollMs: intervalMs });
}
