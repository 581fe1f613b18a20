/**
 * Port-ranked candidate lists.
 *
 * Both the name trie and the prefix table end a lookup at a small group of
 * resources that share one host pattern (or one prefix) and differ only in
 * their ports and in the layer they belong to. Within such a group the
 * narrower port range wins, "any port" ranks last, and at equal width the
 * lower tie rank wins (the engine gives deny rank 0, so deny wins a tie);
 * equal entries keep insertion (policy) order. Sorting once at seal time
 * turns the choice into "first entry of the layer whose range contains the
 * port".
 *
 * A list is one flat array, ENTRY_STRIDE slots per entry, rather than an
 * array of entry objects: a lookup over a large policy is bound by memory
 * latency, and this saves one dependent load per decision and one object per
 * resource (heap and compile time).
 */
import type { PortRange } from '../policy/types.js';

/** "Any port" spans 0..65535, one wider than `:1-65535`, so an explicit range always ranks above it. */
export const ANY_PORT_LO = 0;
export const ANY_PORT_HI = 65535;

/** Slots per entry: layer, lo, hi, tie rank, value (exported for code that repacks a sealed list). */
export const ENTRY_STRIDE = 5;
export const LAYER = 0;
export const LO = 1;
export const HI = 2;
const TIE_RANK = 3;
export const VALUE = 4;

/** A flat list of entries; build with addPortEntry, order with sortPortList, read with firstForPort. */
export type PortList<T> = (number | T)[];

/**
 * Appends an entry, creating the list when there is none yet. A new list is
 * an exact-size array literal: most lists hold one entry, and growing an
 * empty array by push would reserve 17 slots for it.
 */
export function addPortEntry<T>(list: PortList<T> | null | undefined, layer: number, ports: PortRange | null, tieRank: number, value: T): PortList<T> {
  const lo = ports === null ? ANY_PORT_LO : ports.lo;
  const hi = ports === null ? ANY_PORT_HI : ports.hi;
  if (list === null || list === undefined) return [layer, lo, hi, tieRank, value];
  list.push(layer, lo, hi, tieRank, value);
  return list;
}

/** Sorts a list in place into lookup order (most specific first; stable, so equal entries keep policy order). */
export function sortPortList<T>(list: PortList<T>): void {
  if (list.length <= ENTRY_STRIDE) return;
  const entries: (number | T)[][] = [];
  for (let i = 0; i < list.length; i += ENTRY_STRIDE) entries.push(list.slice(i, i + ENTRY_STRIDE));
  const width = (e: (number | T)[]): number => (e[HI] as number) - (e[LO] as number);
  entries.sort((a, b) => width(a) - width(b) || (a[TIE_RANK] as number) - (b[TIE_RANK] as number));
  let k = 0;
  for (const e of entries) for (const slot of e) list[k++] = slot;
}

/** First (most specific) entry of `layer` in a sorted list whose range contains `port`. */
export function firstForPort<T>(list: PortList<T>, layer: number, port: number): T | undefined {
  for (let i = 0; i < list.length; i += ENTRY_STRIDE) {
    if (list[i + LAYER] === layer && port >= (list[i + LO] as number) && port <= (list[i + HI] as number)) {
      return list[i + VALUE] as T;
    }
  }
  return undefined;
}

/**
 * The result of one lookup for two layers at once (the engine asks for the
 * guardrails and the selected profile in a single walk).
 */
export interface LayerPair<T> {
  first: T | undefined;
  second: T | undefined;
}
