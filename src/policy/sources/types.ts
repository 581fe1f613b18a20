/**
 * The seam between where a policy comes from (a file, a directory, a URL) and
 * the store that validates and swaps it. A source only fetches bytes and
 * decides when to look again; it never parses, verifies or decides whether a
 * policy is acceptable — that is the store's job, identical for every source.
 */

/** One policy file's exact bytes and, when signing is configured, its detached signature text. */
export interface PolicyFileBytes {
  /** Base name (`policy.yaml`); always `policy.yaml` for a URL. */
  name: string;
  bytes: Buffer;
  /** Contents of `<file>.sig` / `<url>.sig`; null when absent or not requested. */
  signature: string | null;
}

export type PolicySourceKind = 'file' | 'directory' | 'url';

/** What a source found: bytes to validate, not yet a policy. */
export interface PolicyCandidate {
  kind: PolicySourceKind;
  /** The source as configured (absolute path or URL). */
  source: string;
  /** Absolute path for files and directories; the URL for URLs (what the loader names in errors). */
  location: string;
  /** In the order the loader reads them (one for a file or a URL). */
  files: PolicyFileBytes[];
  /** HTTP ETag of the body, or null. */
  etag: string | null;
}

export type FetchOutcome =
  | { status: 'candidate'; candidate: PolicyCandidate }
  /** HTTP 304 for the ETag the store sent: what is in force is still current. */
  | { status: 'not-modified' }
  /** The source could not be read (network, HTTP status, I/O); nothing about the policy is known. */
  | { status: 'error'; error: string };

export interface FetchOptions {
  /** ETag of the policy in force when it came from this source (sent as If-None-Match). */
  etag: string | null;
  /** Fetch `.sig` files too (trusted keys are configured). */
  withSignatures: boolean;
}

/**
 * Called by a source when it should be checked (a file changed, a poll is
 * due). Resolves when the store has finished with that check, so that a
 * poller can choose its next delay.
 */
export type CheckTrigger = () => Promise<void>;

export interface PolicySource {
  readonly kind: PolicySourceKind | 'path';
  /** The source as configured: absolute path or URL. */
  readonly source: string;
  fetch(options: FetchOptions): Promise<FetchOutcome>;
  /** Starts watching or polling; resolves once watching is in place. */
  watch(trigger: CheckTrigger): Promise<void>;
  close(): Promise<void>;
}
