/**
 * Checks one policy YAML file against the version 1 schema (DESIGN §2) and
 * builds its part of the policy AST.
 *
 * Why a module of its own: a single file is validated the same way whether it
 * is a whole policy or one file of a policy directory; load.ts then decides
 * which keys the file had to carry and assembles the Policy. Every problem is
 * collected (never just the first) with file, YAML path, line and the fix.
 */

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import { parseMountPath } from './mount-path-parse.js';
import { parseNetworkResource } from './resource-parse.js';
import type {
  Layer,
  Mode,
  MountAccess,
  MountRule,
  MountSection,
  NetworkAction,
  NetworkResource,
  NetworkRule,
  NetworkSection,
  PolicyError,
  Profile,
} from './types.js';
import { childPath, describeNode, echo, lineAt, lineOf, pathAtOffset, suggestKey, yamlMessage } from './yaml-source.js';

export const POLICY_VERSION = 1;
export { DEFAULT_PROFILE } from './types.js';
import { DEFAULT_PROFILE } from './types.js';
const TOP_KEYS = ['version', 'name', 'revision', 'mode', 'guardrails', 'profiles'] as const;
/** Keys that only the main file of a policy directory may carry. */
export const MAIN_FILE_KEYS = ['name', 'revision', 'mode', 'guardrails'] as const;
const GUARDRAILS_KEYS = ['mode', 'network', 'mounts'] as const;
const PROFILE_KEYS = ['match', 'mode', 'network', 'mounts'] as const;
const GUARDRAILS_SECTION_KEYS = ['rules'] as const;
const PROFILE_SECTION_KEYS = ['default', 'rules'] as const;
const NETWORK_ACTIONS = ['allow', 'deny'] as const;
const MOUNT_ACCESSES = ['rw', 'ro', 'deny'] as const;
const MODES = ['enforce', 'audit'] as const;
const NETWORK_DEFAULTS = ['allow', 'deny'] as const;
const MOUNT_DEFAULTS = ['deny', 'ro', 'rw'] as const;
const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const MERGE_KEY_MESSAGE = "YAML merge keys ('<<') are not supported in policies; write the keys out";
const TOP_HINTS: Record<string, string> = {
  network: "network rules go under guardrails: (every session) or under a profile (profiles.<name>.network)",
  mounts: "mount rules go under guardrails: (every session) or under a profile (profiles.<name>.mounts)",
  rules: 'rules go under guardrails.network / guardrails.mounts or under a profile',
  default: 'defaults belong to profiles: write profiles.default.network.default / profiles.default.mounts.default',
};
const GUARDRAILS_HINTS: Record<string, string> = {
  match: 'guardrails apply to every session and have no match; put label-specific rules in a profile',
  default: 'guardrails have no default: defaults belong to profiles (profiles.default.network.default)',
  rules: 'guardrail rules go under guardrails.network.rules or guardrails.mounts.rules',
};
const PROFILE_HINTS: Record<string, string> = {
  default: "a profile's defaults go under its sections: network: { default: deny }, mounts: { default: deny }",
  rules: 'profile rules go under network.rules or mounts.rules',
};

export interface Located<T> {
  value: T;
  path: string;
  line: number;
}

/** One file's validated content; fields are null when absent (or invalid: see `errors`). */
export interface PolicyFile {
  file: string;
  errors: PolicyError[];
  /** false when YAML syntax errors prevented checking the schema. */
  schemaChecked: boolean;
  /** true when the document is a map (so missing keys are worth reporting). */
  isMap: boolean;
  /** Line of the top-level map (1 for an empty file). */
  rootLine: number;
  version: Located<number> | null;
  name: Located<string> | null;
  revision: number | null;
  mode: Mode | null;
  guardrails: Layer | null;
  /** null when the file has no `profiles` key. */
  profiles: Located<Profile>[] | null;
  /** Line of the `profiles` key; 0 when the file has none. */
  profilesLine: number;
  /** Every profile name written under `profiles`, valid or not (for default/duplicate checks). */
  profileKeys: Located<string>[];
  /** MAIN_FILE_KEYS present at the top level, in file order. */
  mainKeys: Located<string>[];
}

interface Ctx {
  file: string;
  lc: LineCounter;
  errors: PolicyError[];
}

interface Entry {
  key: string;
  value: unknown;
  path: string;
  /** Line of the key. */
  line: number;
}

type Entries = Map<string, Entry>;

/** Parses and validates one YAML document. Never throws on bad input. */
export function parsePolicyFile(text: string, file: string): PolicyFile {
  const lc = new LineCounter();
  const ctx: Ctx = { file, lc, errors: [] };
  const result: PolicyFile = {
    file,
    errors: ctx.errors,
    schemaChecked: false,
    isMap: false,
    rootLine: 1,
    version: null,
    name: null,
    revision: null,
    mode: null,
    guardrails: null,
    profiles: null,
    profilesLine: 0,
    profileKeys: [],
    mainKeys: [],
  };

  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  let syntaxOk = true;
  for (const doc of docs) {
    for (const e of doc.errors) {
      syntaxOk = false;
      report(ctx, pathAtOffset(doc.contents, e.pos[0]), lineAt(lc, e.pos[0]), `YAML syntax error: ${yamlMessage(e.message)}`);
    }
    for (const w of doc.warnings) {
      const hint = w.code === 'TAG_RESOLVE_FAILED' ? ' (policies use plain YAML without custom tags)' : '';
      report(ctx, pathAtOffset(doc.contents, w.pos[0]), lineAt(lc, w.pos[0]), `YAML: ${yamlMessage(w.message)}${hint}`);
    }
  }
  if (docs.length > 1) {
    const second = docs[1];
    const line = lineAt(lc, second.range[0]);
    report(ctx, '', line, `a policy file holds exactly one YAML document; another one starts at line ${line} (remove the '---' separator, or put each policy in its own file)`);
  }
  if (!syntaxOk) return result;

  result.schemaChecked = true;
  const root: unknown = docs.length > 0 ? docs[0].contents : null;
  if (root === null || (isScalar(root) && root.value === null)) {
    report(ctx, '', 1, 'the file is empty; a policy is a map with at least version: 1 and name: <policy name>');
    return result;
  }
  result.rootLine = lineOf(lc, root, 1);
  const top = readMap(ctx, root, '', result.rootLine, 'a policy file', TOP_KEYS, TOP_HINTS);
  if (top === null) return result;
  result.isMap = true;

  for (const key of MAIN_FILE_KEYS) {
    const entry = top.get(key);
    if (entry) result.mainKeys.push({ value: key, path: entry.path, line: entry.line });
  }
  result.mainKeys.sort((a, b) => a.line - b.line);

  const version = top.get('version');
  if (version) {
    const value = readVersion(ctx, version);
    if (value !== null) result.version = { value, path: version.path, line: version.line };
  }
  const name = top.get('name');
  if (name) {
    const value = readLabelText(ctx, name.value, name.path, name.line, 'name', 'name: acme-engineering');
    if (value !== null) result.name = { value, path: name.path, line: name.line };
  }
  const revision = top.get('revision');
  if (revision) result.revision = readRevision(ctx, revision);
  const mode = top.get('mode');
  if (mode) result.mode = readEnum(ctx, mode.value, mode.path, mode.line, 'mode', MODES);
  const guardrails = top.get('guardrails');
  if (guardrails) result.guardrails = readGuardrails(ctx, guardrails);
  const profiles = top.get('profiles');
  if (profiles) {
    result.profilesLine = profiles.line;
    result.profiles = readProfiles(ctx, profiles, result.profileKeys);
  }
  return result;
}

// ---------------------------------------------------------------------------
// Generic readers

function report(ctx: Ctx, path: string, line: number, message: string): void {
  ctx.errors.push({ file: ctx.file, path, line, message });
}

/** Reports an alias (or an unquoted `*.name` that YAML read as one); true when it did. */
function rejectAlias(ctx: Ctx, node: unknown, path: string, line: number): boolean {
  if (!isAlias(node)) return false;
  const written = `*${node.source}`;
  const at = lineOf(ctx.lc, node, line);
  if (node.source.startsWith('.') || node.source.startsWith('*') || node.source.startsWith('/')) {
    report(ctx, path, at, `'${written}' must be quoted: YAML reads an unquoted leading '*' as an alias; write "${written}"`);
  } else {
    report(ctx, path, at, `YAML aliases ('${written}') are not supported in policies; write the value out`);
  }
  return true;
}

function readMap(
  ctx: Ctx,
  node: unknown,
  path: string,
  line: number,
  what: string,
  allowed: readonly string[] | null,
  hints: Record<string, string> = {},
): Entries | null {
  if (rejectAlias(ctx, node, path, line)) return null;
  const at = lineOf(ctx.lc, node, line);
  if (!isMap(node)) {
    report(ctx, path, at, `${what} must be a map, got ${describeNode(node)}`);
    return null;
  }
  const where = path === '' ? 'the top level' : path;
  const entries: Entries = new Map();
  const seen = new Map<string, number>();
  for (const pair of node.items) {
    const keyNode: unknown = pair.key;
    const keyLine = lineOf(ctx.lc, keyNode, at);
    if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
      const quote = isScalar(keyNode) && keyNode.value !== null ? `; quote it: "${String(keyNode.value)}"` : '';
      report(ctx, path, keyLine, `keys at ${where} must be strings, got ${describeNode(keyNode)}${quote}`);
      continue;
    }
    const key = keyNode.value;
    const keyPath = childPath(path, key);
    const first = seen.get(key);
    if (first !== undefined) {
      report(ctx, keyPath, keyLine, `duplicate key '${echo(key)}' (first at line ${first}); a key may appear only once in a map`);
      continue;
    }
    seen.set(key, keyLine);
    if (allowed !== null && !allowed.includes(key)) {
      const hint = key === '<<' ? MERGE_KEY_MESSAGE : hints[key];
      const guess = suggestKey(key, allowed);
      report(
        ctx,
        keyPath,
        keyLine,
        `unknown key '${echo(key)}' at ${where}; expected one of ${allowed.join(', ')}` +
          (guess ? ` (did you mean '${guess}'?)` : '') +
          (hint ? ` — ${hint}` : ''),
      );
      continue;
    }
    entries.set(key, { key, value: pair.value ?? null, path: keyPath, line: keyLine });
  }
  return entries;
}

function readList(ctx: Ctx, entry: Entry, what: string, example: string): unknown[] | null {
  if (rejectAlias(ctx, entry.value, entry.path, entry.line)) return null;
  if (!isSeq(entry.value)) {
    const scalar = isScalar(entry.value) && typeof entry.value.value === 'string' ? `; write ${entry.key}: [${entry.value.value}]` : `; write ${entry.key}: [${example}]`;
    report(ctx, entry.path, lineOf(ctx.lc, entry.value, entry.line), `${what} must be a list, got ${describeNode(entry.value)}${scalar}`);
    return null;
  }
  return entry.value.items;
}

function readString(ctx: Ctx, node: unknown, path: string, line: number, what: string): string | null {
  if (rejectAlias(ctx, node, path, line)) return null;
  if (isScalar(node) && typeof node.value === 'string') return node.value;
  const quote = isScalar(node) && node.value !== null ? `; quote it to make it a string: "${node.source ?? String(node.value)}"` : '';
  report(ctx, path, lineOf(ctx.lc, node, line), `${what} must be a string, got ${describeNode(node)}${quote}`);
  return null;
}

/** A non-empty string without control characters (policy name, rule name). */
function readLabelText(ctx: Ctx, node: unknown, path: string, line: number, what: string, example: string): string | null {
  const value = readString(ctx, node, path, line, what);
  if (value === null) return null;
  const at = lineOf(ctx.lc, node, line);
  if (value.trim() === '') {
    report(ctx, path, at, `${what} must not be empty; write e.g. ${example}`);
    return null;
  }
  if (CONTROL_RE.test(value)) {
    report(ctx, path, at, `${what} contains a control character; use printable text`);
    return null;
  }
  return value;
}

function readEnum<T extends string>(ctx: Ctx, node: unknown, path: string, line: number, what: string, options: readonly T[]): T | null {
  const value = readString(ctx, node, path, line, what);
  if (value === null) return null;
  if ((options as readonly string[]).includes(value)) return value as T;
  const lower = value.toLowerCase();
  const hint = (options as readonly string[]).includes(lower) ? ` (write '${lower}' in lower case)` : '';
  report(ctx, path, lineOf(ctx.lc, node, line), `${what} must be ${options.join(' or ')}, got '${echo(value)}'${hint}`);
  return null;
}

function readVersion(ctx: Ctx, entry: Entry): number | null {
  const node = entry.value;
  if (rejectAlias(ctx, node, entry.path, entry.line)) return null;
  const at = lineOf(ctx.lc, node, entry.line);
  if (isScalar(node) && typeof node.value === 'number') {
    if (node.value === POLICY_VERSION) return POLICY_VERSION;
    report(ctx, entry.path, at, `unsupported version ${node.value}; this cordon reads policy version ${POLICY_VERSION} (write version: ${POLICY_VERSION})`);
    return null;
  }
  report(ctx, entry.path, at, `version must be the number ${POLICY_VERSION}, got ${describeNode(node)}; write version: ${POLICY_VERSION}`);
  return null;
}

function readRevision(ctx: Ctx, entry: Entry): number | null {
  const node = entry.value;
  if (rejectAlias(ctx, node, entry.path, entry.line)) return null;
  if (isScalar(node) && typeof node.value === 'number' && Number.isSafeInteger(node.value) && node.value >= 0) return node.value;
  report(ctx, entry.path, lineOf(ctx.lc, node, entry.line), `revision must be a non-negative integer (e.g. revision: 42), got ${describeNode(node)}`);
  return null;
}

// ---------------------------------------------------------------------------
// Layers

function readGuardrails(ctx: Ctx, entry: Entry): Layer | null {
  const map = readMap(ctx, entry.value, entry.path, entry.line, 'guardrails', GUARDRAILS_KEYS, GUARDRAILS_HINTS);
  if (map === null) return null;
  return readLayerBody(ctx, map, 'guardrails', false);
}

function readLayerBody(ctx: Ctx, map: Entries, layer: string, isProfile: boolean): Layer {
  const mode = map.get('mode');
  const network = map.get('network');
  const mounts = map.get('mounts');
  return {
    mode: mode ? readEnum(ctx, mode.value, mode.path, mode.line, 'mode', MODES) : null,
    network: network ? readNetworkSection(ctx, network, layer, isProfile) : null,
    mounts: mounts ? readMountSection(ctx, mounts, layer, isProfile) : null,
  };
}

function sectionKeys(isProfile: boolean): readonly string[] {
  return isProfile ? PROFILE_SECTION_KEYS : GUARDRAILS_SECTION_KEYS;
}

function sectionHints(isProfile: boolean, section: 'network' | 'mounts'): Record<string, string> {
  if (isProfile) return {};
  return {
    default: `guardrails have no default: defaults belong to profiles (write it as profiles.default.${section}.default); guardrails only add rules that apply to every session`,
  };
}

function readNetworkSection(ctx: Ctx, entry: Entry, layer: string, isProfile: boolean): NetworkSection | null {
  const map = readMap(ctx, entry.value, entry.path, entry.line, `${layerWords(layer)} network`, sectionKeys(isProfile), sectionHints(isProfile, 'network'));
  if (map === null) return null;
  const def = map.get('default');
  const rulesEntry = map.get('rules');
  const rules: NetworkRule[] = [];
  if (rulesEntry) {
    const items = readList(ctx, rulesEntry, 'rules', '{ name: ..., allow: [...] }');
    const names = new Map<string, number>();
    items?.forEach((item, i) => {
      const rule = readNetworkRule(ctx, item, childPath(rulesEntry.path, i), rulesEntry.line, names, layer);
      if (rule) rules.push(rule);
    });
  }
  return {
    default: def ? readEnum<NetworkAction>(ctx, def.value, def.path, def.line, 'network default', NETWORK_DEFAULTS) : null,
    rules,
  };
}

function readMountSection(ctx: Ctx, entry: Entry, layer: string, isProfile: boolean): MountSection | null {
  const map = readMap(ctx, entry.value, entry.path, entry.line, `${layerWords(layer)} mounts`, sectionKeys(isProfile), sectionHints(isProfile, 'mounts'));
  if (map === null) return null;
  const def = map.get('default');
  const rulesEntry = map.get('rules');
  const rules: MountRule[] = [];
  if (rulesEntry) {
    const items = readList(ctx, rulesEntry, 'rules', '{ name: ..., ro: [...] }');
    const names = new Map<string, number>();
    items?.forEach((item, i) => {
      const rule = readMountRule(ctx, item, childPath(rulesEntry.path, i), rulesEntry.line, names, layer);
      if (rule) rules.push(rule);
    });
  }
  return {
    default: def ? readEnum<MountAccess>(ctx, def.value, def.path, def.line, 'mounts default', MOUNT_DEFAULTS) : null,
    rules,
  };
}

function layerWords(layer: string): string {
  return layer === 'guardrails' ? 'guardrails' : `profile '${layer.slice('profile:'.length)}'`;
}

/** Reads `name`, checks it is unique among `names` (name → line); null when missing or invalid. */
function readRuleName(ctx: Ctx, map: Entries, path: string, ruleLine: number, names: Map<string, number>, layer: string, kind: string): string | null {
  const entry = map.get('name');
  if (!entry) {
    report(ctx, path, ruleLine, `${kind} rule has no name; add name: <text> (unique within ${layerWords(layer)}; it is the rule id in decisions and events)`);
    return null;
  }
  const name = readLabelText(ctx, entry.value, entry.path, entry.line, 'rule name', 'name: package registries');
  if (name === null) return null;
  const first = names.get(name);
  if (first !== undefined) {
    report(ctx, entry.path, entry.line, `duplicate ${kind} rule name '${echo(name)}' in ${layerWords(layer)} (first at line ${first}); rule names are unique within a layer`);
    return null;
  }
  names.set(name, entry.line);
  return name;
}

/** The single action key present among `actions`, reporting none/several. */
function readAction<T extends string>(ctx: Ctx, map: Entries, path: string, ruleLine: number, actions: readonly T[], kind: string, name: string | null): Entry | null {
  const present = actions.filter((a) => map.has(a));
  const label = name === null ? `${kind} rule` : `${kind} rule '${echo(name)}'`;
  const choice = actions.map((a) => `${a}:`).join(' or ');
  if (present.length === 0) {
    report(ctx, path, ruleLine, `${label} needs exactly one of ${choice} with a non-empty list`);
    return null;
  }
  if (present.length > 1) {
    const extra = map.get(present[1]) as Entry;
    report(ctx, extra.path, extra.line, `${label} has both ${present.join(' and ')}; a rule has exactly one of ${choice} — split it into one rule per action`);
    return null;
  }
  return map.get(present[0]) as Entry;
}

function readNetworkRule(ctx: Ctx, node: unknown, path: string, line: number, names: Map<string, number>, layer: string): NetworkRule | null {
  const map = readMap(ctx, node, path, line, 'a network rule', ['name', ...NETWORK_ACTIONS]);
  if (map === null) return null;
  const ruleLine = lineOf(ctx.lc, node, line);
  const name = readRuleName(ctx, map, path, ruleLine, names, layer, 'network');
  const action = readAction(ctx, map, path, ruleLine, NETWORK_ACTIONS, 'network', name);
  if (action === null) return null;
  const items = readList(ctx, action, `'${action.key}'`, 'example.com:443');
  if (items === null) return null;
  if (items.length === 0) {
    report(ctx, action.path, action.line, `'${action.key}' is an empty list; list at least one resource, e.g. ${action.key}: [example.com:443] (or remove the rule)`);
    return null;
  }
  const resources: NetworkResource[] = [];
  items.forEach((item, i) => {
    const itemPath = childPath(action.path, i);
    const itemLine = lineOf(ctx.lc, item, action.line);
    const text = readResourceText(ctx, item, itemPath, itemLine);
    if (text === null) return;
    const parsed = parseNetworkResource(text);
    if (!parsed.ok) {
      report(ctx, itemPath, itemLine, parsed.error);
      return;
    }
    resources.push({ text, host: parsed.value.host, ports: parsed.value.ports, source: { file: ctx.file, path: itemPath, line: itemLine } });
  });
  if (name === null) return null;
  return { name, action: action.key as NetworkAction, resources, source: { file: ctx.file, path, line: ruleLine } };
}

function readResourceText(ctx: Ctx, node: unknown, path: string, line: number): string | null {
  if (isSeq(node)) {
    report(ctx, path, line, 'a resource must be a string, got a list; an IPv6 address in brackets must be quoted: "[2001:db8::1]"');
    return null;
  }
  if (isMap(node)) {
    report(ctx, path, line, `a resource must be a string, got a map; quote resources that contain ': ' or start with '[' or '{', e.g. "[2001:db8::1]:443"`);
    return null;
  }
  return readString(ctx, node, path, line, 'a resource');
}

function readMountRule(ctx: Ctx, node: unknown, path: string, line: number, names: Map<string, number>, layer: string): MountRule | null {
  const map = readMap(ctx, node, path, line, 'a mount rule', ['name', ...MOUNT_ACCESSES]);
  if (map === null) return null;
  const ruleLine = lineOf(ctx.lc, node, line);
  const name = readRuleName(ctx, map, path, ruleLine, names, layer, 'mount');
  const action = readAction(ctx, map, path, ruleLine, MOUNT_ACCESSES, 'mount', name);
  if (action === null) return null;
  const items = readList(ctx, action, `'${action.key}'`, '~/src');
  if (items === null) return null;
  if (items.length === 0) {
    report(ctx, action.path, action.line, `'${action.key}' is an empty list; list at least one path, e.g. ${action.key}: ["~/src"] (or remove the rule)`);
    return null;
  }
  const paths: MountRule['paths'] = [];
  items.forEach((item, i) => {
    const itemPath = childPath(action.path, i);
    const itemLine = lineOf(ctx.lc, item, action.line);
    const text = readString(ctx, item, itemPath, itemLine, 'a mount path');
    if (text === null) return;
    const parsed = parseMountPath(text);
    if (!parsed.ok) {
      report(ctx, itemPath, itemLine, parsed.error);
      return;
    }
    paths.push({ text: parsed.path, source: { file: ctx.file, path: itemPath, line: itemLine } });
  });
  if (name === null) return null;
  return { name, access: action.key as MountAccess, paths, source: { file: ctx.file, path, line: ruleLine } };
}

// ---------------------------------------------------------------------------
// Profiles

function readProfiles(ctx: Ctx, entry: Entry, keys: Located<string>[]): Located<Profile>[] | null {
  const map = readMap(ctx, entry.value, entry.path, entry.line, 'profiles', null);
  if (map === null) return null;
  const profiles: Located<Profile>[] = [];
  for (const profileEntry of map.values()) {
    keys.push({ value: profileEntry.key, path: profileEntry.path, line: profileEntry.line });
    const profile = readProfile(ctx, profileEntry);
    if (profile) profiles.push({ value: profile, path: profileEntry.path, line: profileEntry.line });
  }
  return profiles;
}

function readProfile(ctx: Ctx, entry: Entry): Profile | null {
  const name = entry.key;
  let nameOk = true;
  if (!PROFILE_NAME_RE.test(name)) {
    report(ctx, entry.path, entry.line, `profile name '${echo(name)}' is not allowed; use letters, digits, '.', '_' and '-', starting with a letter or digit`);
    nameOk = false;
  }
  const map = readMap(ctx, entry.value, entry.path, entry.line, `profile '${echo(name)}'`, PROFILE_KEYS, PROFILE_HINTS);
  if (map === null) return null;
  const layer = `profile:${name}`;
  const matchEntry = map.get('match');
  let match: Record<string, string> = {};
  if (name === DEFAULT_PROFILE) {
    if (matchEntry) {
      report(ctx, matchEntry.path, matchEntry.line, `the default profile cannot have match: it is used for every session no other profile matches; remove match, or move these labels to a new profile`);
    }
  } else if (!matchEntry) {
    report(ctx, entry.path, entry.line, `profile '${echo(name)}' has no match; add match: { label: value } with the session labels that select it (e.g. match: { team: ${PROFILE_NAME_RE.test(name) ? name : 'research'} })`);
  } else {
    match = readMatch(ctx, matchEntry) ?? {};
  }
  const body = readLayerBody(ctx, map, layer, true);
  if (!nameOk) return null;
  return { name, match, ...body };
}

function readMatch(ctx: Ctx, entry: Entry): Record<string, string> | null {
  const map = readMap(ctx, entry.value, entry.path, entry.line, 'match', null);
  if (map === null) return null;
  if (map.size === 0) {
    report(ctx, entry.path, entry.line, 'match is empty; list the session labels that select this profile, e.g. match: { team: research }');
    return null;
  }
  const match: Record<string, string> = {};
  for (const label of map.values()) {
    if (label.key === '') {
      report(ctx, label.path, label.line, 'label names must not be empty');
      continue;
    }
    const value = readString(ctx, label.value, label.path, label.line, `label '${echo(label.key)}'`);
    if (value !== null) match[label.key] = value;
  }
  return match;
}
