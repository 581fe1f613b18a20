/**
 * Reversed-label trie for host-name patterns.
 *
 * A policy may hold hundreds of thousands of name rules; a lookup walks the
 * target's labels from the top-level domain down (at most 127 steps) and
 * never scans rules, so its cost depends on the length of the name, not on
 * the size of the policy. Each node is a domain suffix and holds the rules
 * for that exact name, for `*.` (one more label) and for `**.` (one or more
 * labels) over it. Specificity (DESIGN §2): exact > `*.` > `**.` with the
 * longer suffix first; within one pattern the port ranking of port-list.ts.
 */
import type { HostPattern, PortRange } from '../policy/types.js';
import { firstForPort, portEntry, sortPortEntries, type PortEntry } from './port-list.js';

/** The host patterns that name rules use (CIDRs go to the prefix table). */
export type NamePattern = Exclude<HostPattern, { type: 'cidr' }>;

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | null = null;
  /** Rules for exactly this name. */
  exact: PortEntry<T>[] | null = null;
  /** Rules `*.<this>`. */
  oneLabel: PortEntry<T>[] | null = null;
  /** Rules `**.<this>`. */
  anyDepth: PortEntry<T>[] | null = null;
}

export class NameTrie<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;
  private sealed = false;

  /** Number of (pattern, ports) entries added. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds one resource. `name`/`suffix` must already be canonical (lower-case
   * ASCII, no trailing dot) — the loader guarantees it. `tieRank` orders
   * entries of equal host and port specificity (lower wins).
   */
  add(pattern: NamePattern, ports: PortRange | null, tieRank: number, value: T): void {
    if (this.sealed) throw new Error('NameTrie: add after seal');
    const key = pattern.type === 'exact' ? pattern.name : pattern.suffix;
    const node = this.nodeFor(key);
    const entry = portEntry(ports, tieRank, this.count++, value);
    if (pattern.type === 'exact') (node.exact ??= []).push(entry);
    else if (pattern.type === 'one-label') (node.oneLabel ??= []).push(entry);
    else (node.anyDepth ??= []).push(entry);
  }

  /** Sorts every candidate list; call once after the last add. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    const stack: TrieNode<T>[] = [this.root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.exact !== null) sortPortEntries(node.exact);
      if (node.oneLabel !== null) sortPortEntries(node.oneLabel);
      if (node.anyDepth !== null) sortPortEntries(node.anyDepth);
      if (node.children !== null) for (const child of node.children.values()) stack.push(child);
    }
  }

  /**
   * The most specific entry matching `name` (canonical) on `port`, or
   * undefined. One pass from the top-level label down: `**.` entries of every
   * proper ancestor (the deepest with a port match wins), `*.` of the parent,
   * the exact entries of the name's own node.
   */
  lookup(name: string, port: number): T | undefined {
    if (!this.sealed) throw new Error('NameTrie: lookup before seal');
    if (name.length === 0) return undefined;
    let node: TrieNode<T> = this.root;
    let anyDepth: T | undefined;
    let oneLabel: T | undefined;
    let end = name.length;
    for (;;) {
      // `node` is a proper suffix of `name`: at least one label remains.
      if (node.anyDepth !== null) {
        const hit = firstForPort(node.anyDepth, port);
        if (hit !== undefined) anyDepth = hit;
      }
      const dot = end > 0 ? name.lastIndexOf('.', end - 1) : -1;
      if (dot < 0 && node.oneLabel !== null) oneLabel = firstForPort(node.oneLabel, port);
      const children = node.children;
      if (children === null) break;
      const child = children.get(name.slice(dot + 1, end));
      if (child === undefined) break;
      if (dot < 0) {
        if (child.exact !== null) {
          const exact = firstForPort(child.exact, port);
          if (exact !== undefined) return exact;
        }
        break;
      }
      node = child;
      end = dot;
    }
    return oneLabel !== undefined ? oneLabel : anyDepth;
  }

  private nodeFor(key: string): TrieNode<T> {
    let node = this.root;
    if (key.length === 0) return node;
    let end = key.length;
    for (;;) {
      const dot = end > 0 ? key.lastIndexOf('.', end - 1) : -1;
      const label = key.slice(dot + 1, end);
      const children = (node.children ??= new Map());
      let child = children.get(label);
      if (child === undefined) {
        child = new TrieNode<T>();
        children.set(label, child);
      }
      node = child;
      if (dot < 0) return node;
      end = dot;
    }
  }
}
