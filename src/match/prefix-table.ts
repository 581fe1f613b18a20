/**
 * IPv4/IPv6 prefix table: longest prefix first.
 *
 * Address rules are keyed per family by prefix length, and within a length by
 * the masked network bits as signed 32-bit words (IPv4: one word; IPv6: one
 * nested map level per word the prefix touches, so a /48 costs two lookups).
 * A lookup probes only the lengths that occur in the policy, longest first,
 * so its cost is bounded by the number of distinct lengths (≤ 33 + 129), not
 * by the number of rules. At one prefix the entries are port-ranked
 * (port-list.ts): a longer prefix always beats a shorter one; the port
 * decides only between resources of equal prefix. One table holds every
 * layer of a policy (entries carry a layer number) and a lookup answers for
 * two layers (guardrails and the session's profile) in one pass.
 *
 * Why numbers and nested maps: a scratch benchmark of IPv6 keying over 25k
 * prefixes of 7 lengths measured ~100 ns per lookup for nested word maps,
 * ~200 ns for a 32-bit hash with bucket compare, ~2.4 µs for hex-string
 * keys (an allocation and a hash per probe) and ~54 µs for BigInt keys.
 */
import type { PortRange } from '../policy/types.js';
import { parseDottedQuad, parseIPv6 } from './ip-text.js';
import { addPortEntry, firstForPort, sortPortList, type LayerPair, type PortList } from './port-list.js';

const IPV4_BITS = 32;
const IPV6_BITS = 128;
const WORD_BITS = 32;
const IPV6_WORDS = 4;
/** A layer number no entry has: asks for one layer only. */
const NO_LAYER = -1;

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

/** Nested maps keyed by masked words; the last level holds the port-ranked entries. */
type WordMap<T> = Map<number, WordMap<T> | PortList<T>>;

interface Level<T> {
  readonly prefix: number;
  /** Words the prefix touches (at least one, so /0 is a single key 0). */
  readonly depth: number;
  readonly masks: readonly number[];
  readonly root: WordMap<T>;
}

function newLevel<T>(prefix: number, words: number): Level<T> {
  const depth = Math.max(1, Math.ceil(prefix / WORD_BITS));
  const masks = Array.from({ length: words }, (_, k) => wordMask(prefix, k * WORD_BITS));
  return { prefix, depth, masks, root: new Map() };
}

function insert<T>(level: Level<T>, words: readonly number[], layer: number, ports: PortRange | null, tieRank: number, value: T): void {
  let map = level.root;
  const last = level.depth - 1;
  for (let k = 0; k < last; k++) {
    const key = words[k] & level.masks[k];
    let next = map.get(key) as WordMap<T> | undefined;
    if (next === undefined) {
      next = new Map();
      map.set(key, next);
    }
    map = next;
  }
  const key = words[last] & level.masks[last];
  const list = map.get(key) as PortList<T> | undefined;
  if (list === undefined) map.set(key, addPortEntry(list, layer, ports, tieRank, value));
  else addPortEntry(list, layer, ports, tieRank, value);
}

function sortLevel<T>(map: WordMap<T>, depth: number): void {
  for (const v of map.values()) {
    if (depth > 1) sortLevel(v as WordMap<T>, depth - 1);
    else sortPortList(v as PortList<T>);
  }
}

export class PrefixTable<T> {
  private readonly v4ByLength = new Map<number, Level<T>>();
  private readonly v6ByLength = new Map<number, Level<T>>();
  /** Longest first; filled by seal(). */
  private v4Levels: Level<T>[] = [];
  private v6Levels: Level<T>[] = [];
  private count = 0;
  private sealed = false;

  get size(): number {
    return this.count;
  }

  /**
   * Adds one CIDR resource of `layer`. `address` is canonical network-address text (the
   * loader rejects set host bits; here they would simply be masked off).
   * Throws on text that is not an address of `family` or a bad prefix.
   */
  add(layer: number, family: 4 | 6, address: string, prefix: number, ports: PortRange | null, tieRank: number, value: T): void {
    if (this.sealed) throw new Error('PrefixTable: add after seal');
    const maxBits = family === 4 ? IPV4_BITS : IPV6_BITS;
    const v4 = family === 4 ? ipv4Word(address) : null;
    const words = family === 4 ? (v4 === null ? null : [v4]) : ipv6Words(address);
    if (words === null || !Number.isInteger(prefix) || prefix < 0 || prefix > maxBits) {
      throw new Error(`PrefixTable: not an IPv${family} prefix: ${address}/${prefix}`);
    }
    const byLength = family === 4 ? this.v4ByLength : this.v6ByLength;
    let level = byLength.get(prefix);
    if (level === undefined) {
      level = newLevel<T>(prefix, family === 4 ? 1 : IPV6_WORDS);
      byLength.set(prefix, level);
    }
    insert(level, words, layer, ports, tieRank, value);
    this.count++;
  }

  /** Orders lengths longest first and sorts every candidate list; call once after the last add. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    this.v4Levels = [...this.v4ByLength.values()].sort((a, b) => b.prefix - a.prefix);
    this.v6Levels = [...this.v6ByLength.values()].sort((a, b) => b.prefix - a.prefix);
    for (const level of this.v4Levels) sortLevel(level.root, level.depth);
    for (const level of this.v6Levels) sortLevel(level.root, level.depth);
  }

  /** Most specific entry of each of two layers for an IPv4 address (a 32-bit word) on `port`. */
  lookupV4Pair(word: number, port: number, layerA: number, layerB: number): LayerPair<T> {
    if (!this.sealed) throw new Error('PrefixTable: lookup before seal');
    let first: T | undefined;
    let second: T | undefined;
    const levels = this.v4Levels;
    for (let i = 0; i < levels.length && (first === undefined || second === undefined); i++) {
      const level = levels[i];
      const list = level.root.get(word & level.masks[0]) as PortList<T> | undefined;
      if (list !== undefined) {
        if (first === undefined) first = firstForPort(list, layerA, port);
        if (second === undefined) second = firstForPort(list, layerB, port);
      }
    }
    return { first, second };
  }

  /** Most specific entry of each of two layers for an IPv6 address (four 32-bit words) on `port`. */
  lookupV6Pair(words: readonly number[], port: number, layerA: number, layerB: number): LayerPair<T> {
    if (!this.sealed) throw new Error('PrefixTable: lookup before seal');
    let first: T | undefined;
    let second: T | undefined;
    const levels = this.v6Levels;
    for (let i = 0; i < levels.length && (first === undefined || second === undefined); i++) {
      const level = levels[i];
      const masks = level.masks;
      let node: WordMap<T> | PortList<T> | undefined = level.root;
      for (let k = 0; k < level.depth && node !== undefined; k++) {
        node = (node as WordMap<T>).get(words[k] & masks[k]);
      }
      if (node !== undefined) {
        const list = node as PortList<T>;
        if (first === undefined) first = firstForPort(list, layerA, port);
        if (second === undefined) second = firstForPort(list, layerB, port);
      }
    }
    return { first, second };
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
