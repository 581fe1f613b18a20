/**
 * Strict YAML reading with a path and a line for every problem, for the
 * daemon config (DESIGN §6: "unknown keys are errors"). Paths, lines, node
 * descriptions and key suggestions come from the policy loader's
 * src/policy/yaml-source.ts, so config and policy errors read the same.
 *
 * The config is read from the YAML node tree (not from plain JS values) so
 * that every error can name the YAML path (`sinks[1].url`) and the line it
 * is on, and so that duplicate keys, aliases and non-string keys are refused
 * instead of silently resolved. Every problem is collected; nothing stops at
 * the first.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode, YAMLMap, YAMLSeq } from 'yaml';
import { childPath, describeNode, lineOf, suggestKey, yamlMessage } from '../policy/yaml-source.js';

export interface YamlIssue {
  file: string;
  /** YAML path, e.g. `policy.trusted_keys[0]`; '' for the document itself. */
  path: string;
  /** 1-based line; 0 when unknown. */
  line: number;
  message: string;
}

export interface YamlEntry {
  key: string;
  path: string;
  keyNode: YamlNode;
  value: YamlNode | null;
}

/** A parsed YAML document plus the error list its readers append to. */
export class YamlReader {
  readonly file: string;
  readonly issues: YamlIssue[] = [];
  /** The document's root node; null for an empty document. */
  readonly root: YamlNode | null;
  readonly #lines: LineCounter;

  constructor(text: string, file: string) {
    this.file = file;
    this.#lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: this.#lines, uniqueKeys: true, prettyErrors: false, version: '1.2' });
    for (const err of doc.errors) {
      const line = err.pos === undefined ? 0 : this.#lines.linePos(err.pos[0]).line;
      const message = err.code === 'DUPLICATE_KEY' ? 'duplicate key' : yamlMessage(err.message);
      this.issues.push({ file, path: '', line, message: `invalid YAML: ${message}` });
    }
    for (const warn of doc.warnings) {
      const line = warn.pos === undefined ? 0 : this.#lines.linePos(warn.pos[0]).line;
      this.issues.push({ file, path: '', line, message: `invalid YAML: ${yamlMessage(warn.message)}` });
    }
    this.root = doc.errors.length > 0 ? null : ((doc.contents as YamlNode | null) ?? null);
  }

  lineOf(node: YamlNode | null | undefined): number {
    return lineOf(this.#lines, node);
  }

  error(node: YamlNode | null | undefined, path: string, message: string): void {
    this.issues.push({ file: this.file, path, line: this.lineOf(node), message });
  }

  /** True when the node is absent or an explicit `null`/`~`/empty value. */
  isNull(node: YamlNode | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  /**
   * The entries of a mapping, in order, refusing unknown keys (each reported
   * with its own path and line). Returns null (after recording an error) when
   * the node is not a mapping. `allowed` null accepts any string key.
   */
  map(node: YamlNode | null, path: string, allowed: readonly string[] | null): Map<string, YamlEntry> | null {
    if (this.#refuseAlias(node, path)) return null;
    if (!isMap(node)) {
      this.error(node, path, `must be a map, got ${describeNode(node)}`);
      return null;
    }
    const entries = new Map<string, YamlEntry>();
    for (const pair of (node as YAMLMap<unknown, unknown>).items) {
      const keyNode = pair.key as YamlNode;
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        this.error(keyNode, path, `keys must be strings, got ${describeNode(keyNode)}`);
        continue;
      }
      const key = keyNode.value;
      const entryPath = childPath(path, key);
      if (allowed !== null && !allowed.includes(key)) {
        const suggestion = suggestKey(key, allowed);
        const hint = suggestion === null ? `allowed: ${allowed.join(', ')}` : `did you mean '${suggestion}'?`;
        this.error(keyNode, entryPath, `unknown key '${key}' (${hint})`);
        continue;
      }
      entries.set(key, { key, path: entryPath, keyNode, value: (pair.value as YamlNode | null) ?? null });
    }
    return entries;
  }

  /** The items of a sequence with their paths; null (after an error) otherwise. */
  seq(node: YamlNode | null, path: string): { node: YamlNode | null; path: string }[] | null {
    if (this.#refuseAlias(node, path)) return null;
    if (!isSeq(node)) {
      this.error(node, path, `must be a list, got ${describeNode(node)}`);
      return null;
    }
    return (node as YAMLSeq<unknown>).items.map((item, i) => ({ node: (item as YamlNode | null) ?? null, path: childPath(path, i) }));
  }

  string(node: YamlNode | null, path: string): string | null {
    if (this.#refuseAlias(node, path)) return null;
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    this.error(node, path, `must be a string, got ${describeNode(node)}`);
    return null;
  }

  boolean(node: YamlNode | null, path: string): boolean | null {
    if (this.#refuseAlias(node, path)) return null;
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.error(node, path, `must be true or false, got ${describeNode(node)}`);
    return null;
  }

  /** An integer in [min, max]. */
  integer(node: YamlNode | null, path: string, min: number, max: number): number | null {
    if (this.#refuseAlias(node, path)) return null;
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      this.error(node, path, `must be an integer, got ${describeNode(node)}`);
      return null;
    }
    if (node.value < min || node.value > max) {
      this.error(node, path, `must be between ${min} and ${max}, got ${node.value}`);
      return null;
    }
    return node.value;
  }

  #refuseAlias(node: YamlNode | null, path: string): boolean {
    if (isAlias(node)) {
      this.error(node, path, 'YAML aliases are not allowed here');
      return true;
    }
    return false;
  }
}

/** "file:line: path: message", one per line (the same shape as policy errors). */
export function formatYamlIssues(issues: readonly YamlIssue[]): string {
  return issues
    .map((i) => `${i.file}${i.line > 0 ? `:${i.line}` : ''}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`)
    .join('\n');
}
