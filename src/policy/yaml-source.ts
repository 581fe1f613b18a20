/**
 * YAML source positions for policy errors: the YAML path of a node
 * (`guardrails.network.rules[1].deny[0]`), its 1-based line, and a plain
 * description of what a node is ("a list", "the number 3").
 *
 * Why a module of its own: every policy error must point at the place to fix,
 * and the loader should read like the schema it checks rather than like
 * position arithmetic.
 */

import { isAlias, isMap, isPair, isScalar, isSeq, type LineCounter } from 'yaml';

const PLAIN_KEY_RE = /^[A-Za-z0-9_-]+$/;
/** Longest scalar echoed back in an error message. */
const MAX_ECHO_CHARS = 60;
/** Largest edit distance for a "did you mean" suggestion. */
const MAX_SUGGESTION_DISTANCE = 2;
const SHORT_KEY_CHARS = 4;

/** Appends a map key (`.key`, or `["odd key"]`) or a list index (`[3]`) to a path. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (!PLAIN_KEY_RE.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

interface Ranged {
  range?: [number, number, number] | null;
}

/** 1-based line where `node` starts, or `fallback` when the node has no position. */
export function lineOf(lc: LineCounter, node: unknown, fallback = 0): number {
  const range = (node as Ranged | null | undefined)?.range;
  if (!range) return fallback;
  return lc.linePos(range[0]).line;
}

/** 1-based line of a character offset. */
export function lineAt(lc: LineCounter, offset: number): number {
  return lc.linePos(offset).line;
}

/** YAML path of the deepest node that contains `offset` (for syntax errors); '' for the root. */
export function pathAtOffset(root: unknown, offset: number): string {
  let path = '';
  let node: unknown = root;
  for (;;) {
    if (isMap(node)) {
      let next: unknown = null;
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : null;
        if (key === null) continue;
        const keyRange = (pair.key as Ranged).range;
        const valueRange = (pair.value as Ranged | null)?.range;
        const start = keyRange?.[0] ?? Infinity;
        const end = valueRange?.[2] ?? keyRange?.[2] ?? -1;
        if (offset >= start && offset <= end) {
          path = childPath(path, key);
          next = pair.value;
          break;
        }
      }
      if (next === null) return path;
      node = next;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => {
        const r = (item as Ranged | null)?.range;
        return r ? offset >= r[0] && offset <= r[2] : false;
      });
      if (index < 0) return path;
      path = childPath(path, index);
      node = node.items[index];
    } else {
      return path;
    }
  }
}

/** "a map", "a list", "the string 'x'", "the number 3", "an empty value", ... */
export function describeNode(node: unknown): string {
  if (node === null || node === undefined) return 'an empty value';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return `the alias *${node.source}`;
  if (isScalar(node)) {
    const value: unknown = node.value;
    if (value === null) return 'an empty value';
    if (typeof value === 'string') return `the string '${echo(value)}'`;
    if (typeof value === 'number' || typeof value === 'bigint') return `the number ${String(value)}`;
    if (typeof value === 'boolean') return `the boolean ${String(value)}`;
    return `a ${typeof value}`;
  }
  return 'an unsupported value';
}

/** Shortens a value for echoing in an error message. */
export function echo(text: string): string {
  return text.length > MAX_ECHO_CHARS ? `${text.slice(0, MAX_ECHO_CHARS)}…` : text;
}

/** The yaml library's message without its location suffix and code frame. */
export function yamlMessage(message: string): string {
  const first = message.split('\n')[0];
  return first.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** The allowed key closest to a mistyped one, if it is close enough to be a likely typo. */
export function suggestKey(key: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = MAX_SUGGESTION_DISTANCE + 1;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Short keys tolerate one typo; longer ones two.
  const limit = key.length <= SHORT_KEY_CHARS ? 1 : MAX_SUGGESTION_DISTANCE;
  return bestDistance <= limit ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost));
    }
    previous = current;
  }
  return previous[b.length];
}
