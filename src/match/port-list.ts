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
 * While a structure is built, a list is one flat array (ENTRY_STRIDE slots
 * per entry, no object per entry). When it is sealed, every list is sorted
 * and packed into one Int32Array — [count, (layer, lo, hi, value index) ×
 * count] at the list's ref — with the values in one array beside it: a
 * lookup over a large policy is bound by memory latency, and a packed list
 * is one cache line away instead of three objects.
 */
import type { PortRange } from '../policy/types.js';

/** "Any port" spans 0..65535, one wider than `:1-65535`, so an explicit range always ranks above it. */
export const ANY_PORT_LO = 0;
export const ANY_PORT_HI = 65535;

/** Slots per entry: layer, lo, hi, tie rank, value. */
const ENTRY_STRIDE = 5;
const LAYER = 0;
const LO = 1;
const HI = 2;
const TIE_RANK = 3;
const VALUE = 4;
/** Ints per packed entry: layer, lo, hi, value index. */
const PACKED_ENTRY_INTS = 4;
/** "No entry" from firstPacked. */
export const NO_ENTRY = -1;

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

export interface PackedPortLists<T> {
  readonly entries: Int32Array;
  readonly values: readonly T[];
}

/** Sorts and packs lists; `refs[i]` is where `lists[i]` starts in `entries`. */
export function packPortLists<T>(lists: readonly PortList<T>[]): { packed: PackedPortLists<T>; refs: Int32Array } {
  let ints = 0;
  for (const list of lists) ints += 1 + (list.length / ENTRY_STRIDE) * PACKED_ENTRY_INTS;
  const entries = new Int32Array(ints);
  const values: T[] = [];
  const refs = new Int32Array(lists.length);
  let ref = 0;
  for (let i = 0; i < lists.length; i++) {
    const list = lists[i];
    sortPortList(list);
    const n = list.length / ENTRY_STRIDE;
    refs[i] = ref;
    entries[ref] = n;
    for (let k = 0; k < n; k++) {
      const out = ref + 1 + k * PACKED_ENTRY_INTS;
      const from = k * ENTRY_STRIDE;
      entries[out] = list[from + LAYER] as number;
      entries[out + 1] = list[from + LO] as number;
      entries[out + 2] = list[from + HI] as number;
      entries[out + 3] = values.length;
      values.push(list[from + VALUE] as T);
    }
    ref += 1 + n * PACKED_ENTRY_INTS;
  }
  return { packed: { entries, values }, refs };
}

/** Value index of the first entry of `layer` in the packed list at `ref` whose range contains `port`, or NO_ENTRY. */
export function firstPacked(entries: Int32Array, ref: number, layer: number, port: number): number {
  const n = entries[ref];
  for (let k = 0, at = ref + 1; k < n; k++, at += PACKED_ENTRY_INTS) {
    if (entries[at] === layer && port >= entries[at + 1] && port <= entries[at + 2]) return entries[at + 3];
  }
  return NO_ENTRY;
}

/**
 * The result of one lookup for two layers at once (the engine asks for the
 * guardrails and the selected profile in a single walk).
 */
export interface LayerPair<T> {
  first: T | undefined;
  second: T | undefined;
}
