/**
 * Port-ranked candidate lists.
 *
 * Both the name trie and the prefix table end a lookup at a small group of
 * resources that share one host pattern (or one prefix) and differ only in
 * their ports. Within such a group the narrower port range wins, "any port"
 * ranks last, and at equal width the lower tie rank wins (the engine gives
 * deny rank 0, so deny wins a tie). Sorting once at seal time turns the choice
 * into "first entry whose range contains the port".
 */
import type { PortRange } from '../policy/types.js';

/** Lowest and highest TCP port a rule can name; "any port" spans one more (port 0) so it ranks below `:1-65535`. */
export const ANY_PORT_LO = 0;
export const ANY_PORT_HI = 65535;

export interface PortEntry<T> {
  readonly lo: number;
  readonly hi: number;
  /** hi - lo + 1; "any port" is 65536, wider than any explicit range. */
  readonly width: number;
  /** Lower wins between entries of equal width. */
  readonly tieRank: number;
  /** Insertion sequence, so equal entries keep policy order. */
  readonly seq: number;
  readonly value: T;
}

export function portEntry<T>(ports: PortRange | null, tieRank: number, seq: number, value: T): PortEntry<T> {
  const lo = ports === null ? ANY_PORT_LO : ports.lo;
  const hi = ports === null ? ANY_PORT_HI : ports.hi;
  return { lo, hi, width: hi - lo + 1, tieRank, seq, value };
}

function compareEntries<T>(a: PortEntry<T>, b: PortEntry<T>): number {
  return a.width - b.width || a.tieRank - b.tieRank || a.seq - b.seq;
}

/** Sorts a group in place into lookup order (most specific first). */
export function sortPortEntries<T>(list: PortEntry<T>[]): void {
  if (list.length > 1) list.sort(compareEntries);
}

/** First (most specific) entry of a sorted group whose range contains `port`. */
export function firstForPort<T>(list: readonly PortEntry<T>[], port: number): T | undefined {
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (port >= e.lo && port <= e.hi) return e.value;
  }
  return undefined;
}
