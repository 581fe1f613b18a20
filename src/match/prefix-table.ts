/**
 * IPv4/IPv6 prefix table: longest prefix first.
 *
 * Address rules are keyed by (prefix length, masked network bits as signed
 * 32-bit words: one for IPv4, four for IPv6). A lookup probes only the
 * lengths that occur in the policy, longest first, so its cost is bounded by
 * the number of distinct lengths (≤ 33 + 129), not by the number of rules. At
 * one prefix the entries are port-ranked (port-list.ts): a longer prefix
 * always beats a shorter one; the port decides only between resources of
 * equal prefix. One table holds every layer of a policy (entries carry a
 * layer number) and a lookup answers for two layers (guardrails and the
 * session's profile) in one pass.
 *
 * Layout. Sealed, each family is one open-addressing table in an Int32Array
 * whose rows are [prefix + 1, masked words..., list ref], so a probe is
 * integer arithmetic and about one cache miss, with no allocation. Scratch
 * measurements of IPv6 keying over 25k prefixes of 7 lengths: nested Maps of
 * words ~100 ns per lookup, a 32-bit hash with bucket compare ~200 ns,
 * hex-string keys ~2.4 µs (an allocation and a hash per probe), BigInt keys
 * ~54 µs; and over a 200k-rule policy a tree of objects and Maps was ~5×
 * slower on uncached than on cached keys — memory latency dominates, which is
 * what the flat rows cut.
 */
import type { PortRange } from '../policy/types.js';
import { parseDottedQuad, parseIPv6 } from './ip-text.js';
import { addPortEntry, firstPacked, NO_ENTRY, packPortLists, type LayerPair, type PortList } from './port-list.js';

const IPV4_BITS = 32;
const IPV6_BITS = 128;
const WORD_BITS = 32;
const IPV4_WORDS = 1;
const IPV6_WORDS = 4;
/** A layer number no entry has: asks for one layer only. */
const NO_LAYER = -1;
/** Rows are kept at least twice the number of keys. */
const LOAD_FACTOR_INVERSE = 2;
const MIN_ROWS = 8;
const HASH_SEED = 0x9e3779b1 | 0;
const MIX_1 = 0x85ebca6b | 0;
const MIX_2 = 0xc2b2ae35 | 0;

/** The mask of a prefix over the word that starts at bit `wordStart`, as a signed 32-bit number. */
function wordMask(prefix: number, wordStart: number): number {
  const bits = prefix - wordStart;
  if (bits <= 0) return 0;
  if (bits >= WORD_BITS) return -1;
  return -1 << (WORD_BITS - bits);
}

/** Signed 32-bit words of an IPv6 address text, or null. */
export function ipv6Words(text: string): number[] | null {
  const g = parseIPv6(text);
  if (g === null) return null;
  return [(g[0] << 16) | g[1], (g[2] << 16) | g[3], (g[4] << 16) | g[5], (g[6] << 16) | g[7]];
}

/** Signed 32-bit value of a dotted-quad text, or null. */
export function ipv4Word(text: string): number | null {
  const v = parseDottedQuad(text);
  return v < 0 ? null : v | 0;
}

function rowHash(prefix: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(prefix + 1, HASH_SEED);
  h = Math.imul(h ^ w0, MIX_1);
  h ^= h >>> 15;
  h = Math.imul(h ^ w1, MIX_2);
  h ^= h >>> 13;
  h = Math.imul(h ^ w2, MIX_1);
  h ^= h >>> 16;
  h = Math.imul(h ^ w3, MIX_2);
  return h ^ (h >>> 15);
}

/** One prefix length present in a family, with its per-word masks. */
interface Level {
  readonly prefix: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
}

/**
 * One family: a growable open-addressing table of rows [prefix + 1, masked
 * words..., list ref] built as resources are added (the ref slot holds an
 * index into `lists` until seal packs them), and the lengths present.
 */
class Family<T> {
  readonly stride: number;
  levels: Level[] = [];
  rows: Int32Array;
  mask = MIN_ROWS - 1;
  /** Build phase: the list of each row, by the index stored in its ref slot. */
  lists: PortList<T>[] = [];
  private readonly lengths = new Set<number>();

  constructor(readonly words: number) {
    this.stride = words + 2;
    this.rows = new Int32Array(MIN_ROWS * this.stride);
  }

  add(prefix: number, bits: readonly number[], layer: number, ports: PortRange | null, tieRank: number, value: T): void {
    const w0 = bits[0] & wordMask(prefix, 0);
    const w1 = this.words > 1 ? bits[1] & wordMask(prefix, WORD_BITS) : 0;
    const w2 = this.words > 2 ? bits[2] & wordMask(prefix, 2 * WORD_BITS) : 0;
    const w3 = this.words > 3 ? bits[3] & wordMask(prefix, 3 * WORD_BITS) : 0;
    const found = this.find(prefix, w0, w1, w2, w3);
    if (found !== NO_ENTRY) {
      addPortEntry(this.lists[found], layer, ports, tieRank, value);
      return;
    }
    this.lengths.add(prefix);
    this.put(prefix, w0, w1, w2, w3, this.lists.length);
    this.lists.push(addPortEntry(undefined, layer, ports, tieRank, value));
    if (this.lists.length * LOAD_FACTOR_INVERSE > this.mask + 1) this.grow();
  }

  /** The ref slot's value of the row for (prefix, words), or NO_ENTRY. */
  find(prefix: number, w0: number, w1: number, w2: number, w3: number): number {
    const { rows, mask, stride } = this;
    const tag = prefix + 1;
    let slot = rowHash(prefix, w0, w1, w2, w3) & mask;
    for (;;) {
      const base = slot * stride;
      const t = rows[base];
      if (t === 0) return NO_ENTRY;
      if (
        t === tag &&
        rows[base + 1] === w0 &&
        (stride === 3 || (rows[base + 2] === w1 && rows[base + 3] === w2 && rows[base + 4] === w3))
      ) {
        return rows[base + stride - 1];
      }
      slot = (slot + 1) & mask;
    }
  }

  /** The levels, longest first; returns the lists in ref-slot order for packing. */
  seal(): PortList<T>[] {
    this.levels = [...this.lengths]
      .sort((a, b) => b - a)
      .map((prefix) => ({
        prefix,
        m0: wordMask(prefix, 0),
        m1: wordMask(prefix, WORD_BITS),
        m2: wordMask(prefix, 2 * WORD_BITS),
        m3: wordMask(prefix, 3 * WORD_BITS),
      }));
    const lists = this.lists;
    this.lists = [];
    return lists;
  }

  /** Replaces each row's list index by its packed ref: refs[offset + index]. */
  resolveRefs(refs: Int32Array, offset: number): void {
    const { rows, stride } = this;
    for (let base = 0; base < rows.length; base += stride) {
      if (rows[base] !== 0) rows[base + stride - 1] = refs[offset + rows[base + stride - 1]];
    }
  }

  private put(prefix: number, w0: number, w1: number, w2: number, w3: number, ref: number): void {
    const { rows, mask, stride } = this;
    let slot = rowHash(prefix, w0, w1, w2, w3) & mask;
    while (rows[slot * stride] !== 0) slot = (slot + 1) & mask;
    const base = slot * stride;
    rows[base] = prefix + 1;
    rows[base + 1] = w0;
    if (stride > 3) {
      rows[base + 2] = w1;
      rows[base + 3] = w2;
      rows[base + 4] = w3;
    }
    rows[base + stride - 1] = ref;
  }

  /** Doubles the table and re-inserts every row. */
  private grow(): void {
    const old = this.rows;
    const stride = this.stride;
    const rowCount = (this.mask + 1) * 2;
    this.rows = new Int32Array(rowCount * stride);
    this.mask = rowCount - 1;
    for (let base = 0; base < old.length; base += stride) {
      const t = old[base];
      if (t === 0) continue;
      const prefix = t - 1;
      if (stride > 3) this.put(prefix, old[base + 1], old[base + 2], old[base + 3], old[base + 4], old[base + stride - 1]);
      else this.put(prefix, old[base + 1], 0, 0, 0, old[base + stride - 1]);
    }
  }
}

export class PrefixTable<T> {
  private readonly v4 = new Family<T>(IPV4_WORDS);
  private readonly v6 = new Family<T>(IPV6_WORDS);
  private entries: Int32Array = new Int32Array(0);
  private values: readonly T[] = [];
  private count = 0;
  private sealed = false;

  get size(): number {
    return this.count;
  }

  /**
   * Adds one CIDR resource of `layer`. `address` is canonical network-address
   * text (the loader rejects set host bits; here they would simply be masked
   * off). Throws on text that is not an address of `family` or a bad prefix.
   */
  add(layer: number, family: 4 | 6, address: string, prefix: number, ports: PortRange | null, tieRank: number, value: T): void {
    if (this.sealed) throw new Error('PrefixTable: add after seal');
    const maxBits = family === 4 ? IPV4_BITS : IPV6_BITS;
    const v4 = family === 4 ? ipv4Word(address) : null;
    const words = family === 4 ? (v4 === null ? null : [v4]) : ipv6Words(address);
    if (words === null || !Number.isInteger(prefix) || prefix < 0 || prefix > maxBits) {
      throw new Error(`PrefixTable: not an IPv${family} prefix: ${address}/${prefix}`);
    }
    (family === 4 ? this.v4 : this.v6).add(prefix, words, layer, ports, tieRank, value);
    this.count++;
  }

  /** Sorts and packs every list and builds the row tables; call once after the last add. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    const v4Lists = this.v4.seal();
    const v6Lists = this.v6.seal();
    // Both families share one packed store.
    const { packed, refs } = packPortLists([...v4Lists, ...v6Lists]);
    this.entries = packed.entries;
    this.values = packed.values;
    this.v4.resolveRefs(refs, 0);
    this.v6.resolveRefs(refs, v4Lists.length);
  }

  /** Most specific entry of each of two layers for an IPv4 address (a 32-bit word) on `port`. */
  lookupV4Pair(word: number, port: number, layerA: number, layerB: number): LayerPair<T> {
    if (!this.sealed) throw new Error('PrefixTable: lookup before seal');
    const family = this.v4;
    const levels = family.levels;
    let a = NO_ENTRY;
    let b = NO_ENTRY;
    for (let i = 0; i < levels.length && (a === NO_ENTRY || b === NO_ENTRY); i++) {
      const level = levels[i];
      const ref = family.find(level.prefix, word & level.m0, 0, 0, 0);
      if (ref !== NO_ENTRY) {
        if (a === NO_ENTRY) a = firstPacked(this.entries, ref, layerA, port);
        if (b === NO_ENTRY) b = firstPacked(this.entries, ref, layerB, port);
      }
    }
    return { first: a === NO_ENTRY ? undefined : this.values[a], second: b === NO_ENTRY ? undefined : this.values[b] };
  }

  /** Most specific entry of each of two layers for an IPv6 address (four 32-bit words) on `port`. */
  lookupV6Pair(words: readonly number[], port: number, layerA: number, layerB: number): LayerPair<T> {
    if (!this.sealed) throw new Error('PrefixTable: lookup before seal');
    const family = this.v6;
    const levels = family.levels;
    const [w0, w1, w2, w3] = words;
    let a = NO_ENTRY;
    let b = NO_ENTRY;
    for (let i = 0; i < levels.length && (a === NO_ENTRY || b === NO_ENTRY); i++) {
      const level = levels[i];
      const ref = family.find(level.prefix, w0 & level.m0, w1 & level.m1, w2 & level.m2, w3 & level.m3);
      if (ref !== NO_ENTRY) {
        if (a === NO_ENTRY) a = firstPacked(this.entries, ref, layerA, port);
        if (b === NO_ENTRY) b = firstPacked(this.entries, ref, layerB, port);
      }
    }
    return { first: a === NO_ENTRY ? undefined : this.values[a], second: b === NO_ENTRY ? undefined : this.values[b] };
  }

  /**
   * Most specific entry of each of two layers for canonical address text of
   * `family` on `port`. Throws on text that does not parse (callers fail closed).
   */
  lookupPair(family: 4 | 6, address: string, port: number, layerA: number, layerB: number): LayerPair<T> {
    if (family === 4) {
      const word = ipv4Word(address);
      if (word === null) throw new Error(`PrefixTable: not an IPv4 address: ${address}`);
      return this.lookupV4Pair(word, port, layerA, layerB);
    }
    const words = ipv6Words(address);
    if (words === null) throw new Error(`PrefixTable: not an IPv6 address: ${address}`);
    return this.lookupV6Pair(words, port, layerA, layerB);
  }

  /** Most specific entry of `layer` for canonical address text of `family` on `port`. */
  lookup(family: 4 | 6, address: string, port: number, layer: number): T | undefined {
    return this.lookupPair(family, address, port, layer, NO_LAYER).first;
  }
}
