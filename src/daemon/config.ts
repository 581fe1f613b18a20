/**
 * The daemon config file (`cordon run --config FILE`, DESIGN §6).
 *
 * Validated as strictly as a policy: unknown keys, wrong types and bad values
 * are errors naming the YAML path and line, all of them at once; nothing is
 * silently ignored or coerced. Every key is optional; defaults are applied
 * here so the composition root receives one fully resolved `DaemonConfig`.
 * Relative paths in the file are resolved against the file's directory (the
 * file is usually installed with the keys it names); relative paths in flags
 * against the working directory. `~/` expands to the home directory.
 */
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Node as YamlNode } from 'yaml';
import type { Mode } from '../policy/types.js';
import { DEFAULT_POLICY_PATH } from '../policy/load.js';
import { isUrlSource } from '../policy/sources/url-source.js';
import { DEFAULT_AUDIT_MAX_AGE_MS, DEFAULT_AUDIT_MAX_BYTES, DEFAULT_AUDIT_RETAIN_FILES } from '../events/audit-log.js';
import {
  DEFAULT_SPOOL_MAX_BYTES,
  MIN_SPOOL_MAX_BYTES,
  SINK_FORMATS,
  SINK_KEYS,
  SINK_TYPES,
  sinkConfigErrors,
  type SinkConfig,
  type SinkFormat,
  type SinkType,
} from '../events/sink-config.js';
import { YamlReader, formatYamlIssues } from './config-yaml.js';
import {
  checkPath,
  checkUpstreamProxy,
  identityError,
  isLoopbackListen,
  parseListenAddress,
  parsePolicySource,
  parseResolver,
  resolvePath,
} from './config-values.js';
import type { YamlIssue } from './config-yaml.js';

export const DEFAULT_LISTEN = '127.0.0.1:3128';
export const DEFAULT_STATE_DIR_NAME = '.cordon';
export const STATE_DIR_ENV = 'CORDON_STATE_DIR';
export const STATUS_SOCKET_NAME = 'cordon.sock';
export const DEFAULT_POLL_INTERVAL_S = 300;
export const MIN_POLL_INTERVAL_S = 1;
export const MAX_POLL_INTERVAL_S = 7 * 24 * 3600;
export const MAX_SPOOL_MAX_BYTES = 1_099_511_627_776;
export const DEFAULT_MAX_CONNECTIONS = 4096;
export const MAX_MAX_CONNECTIONS = 1_000_000;
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const MIN_TIMEOUT_MS = 100;
export const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
export const DEFAULT_AUDIT_LOG_MAX_BYTES = DEFAULT_AUDIT_MAX_BYTES;
export const MIN_AUDIT_LOG_MAX_BYTES = 65_536;
export const DEFAULT_AUDIT_LOG_MAX_AGE_S = DEFAULT_AUDIT_MAX_AGE_MS / 1000;
export const MIN_AUDIT_LOG_MAX_AGE_S = 60;
export const MAX_AUDIT_LOG_MAX_AGE_S = 366 * 86_400;
export const DEFAULT_AUDIT_LOG_RETAIN_FILES = DEFAULT_AUDIT_RETAIN_FILES;
export const MAX_AUDIT_LOG_RETAIN_FILES = 10_000;
export const MAX_TRUSTED_KEYS = 64;
export const MAX_SINKS = 32;

export type { SinkConfig } from '../events/sink-config.js';
export { isLoopbackListen } from './config-values.js';

export interface PolicySourceConfig {
  /** An absolute file or directory path, or an https:// (or loopback http://) URL. */
  source: string;
  poll_interval_s: number;
  /** Absolute paths of trusted Ed25519 public keys; [] = signatures not required. */
  trusted_keys: string[];
  bearer_token_file: string | null;
}

export interface LimitsConfig {
  max_connections: number;
  header_timeout_ms: number;
  idle_timeout_ms: number;
}

export interface AuditLogConfig {
  /** Rotate the local JSONL log when it reaches this size. */
  max_bytes: number;
  /** Rotate when the current file is this old. */
  max_age_s: number;
  /** Rotated files kept besides the current one. */
  retain_files: number;
}

export interface DaemonConfig {
  /** Proxy listen address `HOST:PORT` (IPv6 as `[addr]:port`). */
  listen: string;
  socks_listen: string | null;
  /** Status socket path (default `$STATE_DIR/cordon.sock`). */
  socket: string;
  /** Optional Unix socket serving the proxy (for `cordon exec`). */
  proxy_socket: string | null;
  state_dir: string;
  /** Forces enforce|audit over the policy's modes; null = the policy decides. */
  mode: Mode | null;
  require_session: boolean;
  /** DNS server `IP:PORT`; null = the system resolver. */
  resolver: string | null;
  /** `http://…`, `socks5://…` or `socks5h://…`; null = dial directly. */
  upstream_proxy: string | null;
  /** Listening on a non-loopback address is refused unless this is true. */
  allow_non_loopback: boolean;
  identity: { user: string; device: string };
  policy: PolicySourceConfig;
  sinks: SinkConfig[];
  limits: LimitsConfig;
  audit_log: AuditLogConfig;
  /** The config file, or null when running on defaults. */
  file: string | null;
  /** YAML paths of keys that were not set and took their default (e.g. `socket`). */
  defaulted: string[];
}

export interface ConfigError {
  /** The config file, or `--flags` for a flag. */
  file: string;
  path: string;
  line: number;
  message: string;
}

export type ConfigResult = { ok: true; config: DaemonConfig } | { ok: false; errors: ConfigError[] };

/** Flags of `cordon run` that override the file (commander's camelCase names). */
export interface DaemonFlags {
  policy?: string;
  listen?: string;
  socksListen?: string;
  socket?: string;
  proxySocket?: string;
  stateDir?: string;
  mode?: string;
  resolver?: string;
  upstreamProxy?: string;
  requireSession?: boolean;
  allowNonLoopback?: boolean;
}

export interface ConfigEnvironment {
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where relative flag paths and the default state dir are resolved. Default: process.cwd(). */
  cwd?: string;
}

const TOP_KEYS = [
  'listen',
  'socks_listen',
  'socket',
  'proxy_socket',
  'state_dir',
  'mode',
  'require_session',
  'resolver',
  'upstream_proxy',
  'allow_non_loopback',
  'identity',
  'policy',
  'sinks',
  'limits',
  'audit_log',
] as const;
const IDENTITY_KEYS = ['user', 'device'];
const POLICY_KEYS = ['source', 'poll_interval_s', 'trusted_keys', 'bearer_token_file'];
const LIMITS_KEYS = ['max_connections', 'header_timeout_ms', 'idle_timeout_ms'];
const AUDIT_LOG_KEYS = ['max_bytes', 'max_age_s', 'retain_files'];
const FLAGS_FILE = '--flags';

/** Everything defaulted: what `cordon run` uses with no --config. */
export function defaultDaemonConfig(environment: ConfigEnvironment = {}): DaemonConfig {
  const env = environment.env ?? process.env;
  const cwd = environment.cwd ?? process.cwd();
  const envStateDir = env[STATE_DIR_ENV];
  const stateDir = envStateDir !== undefined && envStateDir !== '' ? resolvePath(envStateDir, cwd) : join(cwd, DEFAULT_STATE_DIR_NAME);
  return {
    listen: DEFAULT_LISTEN,
    socks_listen: null,
    socket: join(stateDir, STATUS_SOCKET_NAME),
    proxy_socket: null,
    state_dir: stateDir,
    mode: null,
    require_session: false,
    resolver: null,
    upstream_proxy: null,
    allow_non_loopback: false,
    identity: { user: defaultUser(env), device: hostname() },
    policy: { source: DEFAULT_POLICY_PATH, poll_interval_s: DEFAULT_POLL_INTERVAL_S, trusted_keys: [], bearer_token_file: null },
    sinks: [],
    limits: {
      max_connections: DEFAULT_MAX_CONNECTIONS,
      header_timeout_ms: DEFAULT_HEADER_TIMEOUT_MS,
      idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
    },
    audit_log: {
      max_bytes: DEFAULT_AUDIT_LOG_MAX_BYTES,
      max_age_s: DEFAULT_AUDIT_LOG_MAX_AGE_S,
      retain_files: DEFAULT_AUDIT_LOG_RETAIN_FILES,
    },
    file: null,
    defaulted: [
      'listen',
      'socks_listen',
      'socket',
      'proxy_socket',
      'state_dir',
      'mode',
      'require_session',
      'resolver',
      'upstream_proxy',
      'allow_non_loopback',
      'identity.user',
      'identity.device',
      'policy.source',
      'policy.poll_interval_s',
      'policy.trusted_keys',
      'policy.bearer_token_file',
      'sinks',
      'limits.max_connections',
      'limits.header_timeout_ms',
      'limits.idle_timeout_ms',
      'audit_log.max_bytes',
      'audit_log.max_age_s',
      'audit_log.retain_files',
    ],
  };
}

/** Reads and validates a config file. */
export async function loadDaemonConfig(file: string, environment: ConfigEnvironment = {}): Promise<ConfigResult> {
  const path = resolve(environment.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { ok: false, errors: [{ file: path, path: '', line: 0, message: `cannot read config file: ${code}` }] };
  }
  return parseDaemonConfigText(text, path, environment);
}

/**
 * Validates config text. `file` names the file in errors and anchors relative
 * paths (its directory).
 */
export function parseDaemonConfigText(text: string, file: string, environment: ConfigEnvironment = {}): ConfigResult {
  const base = defaultDaemonConfig(environment);
  const reader = new YamlReader(text, file);
  const baseDir = dirname(resolve(environment.cwd ?? process.cwd(), file));
  const config: DaemonConfig = { ...base, file, defaulted: [...base.defaulted] };
  const setKeys = new Set<string>();
  const root = reader.root;
  if (reader.issues.length === 0 && !reader.isNull(root)) {
    readTop(reader, root, config, baseDir, setKeys);
  }
  config.defaulted = base.defaulted.filter((key) => !setKeys.has(key));
  if (config.defaulted.includes('socket')) config.socket = join(config.state_dir, STATUS_SOCKET_NAME);
  checkCrossKeys(config, (path, message) => reader.error(findNode(reader, root, path), path, message));
  if (reader.issues.length > 0) {
    // In file order (stable within a line), like policy errors.
    const errors = reader.issues.map((issue, i) => ({ issue, i }));
    errors.sort((a, b) => a.issue.line - b.issue.line || a.i - b.i);
    return { ok: false, errors: errors.map(({ issue }) => toConfigError(issue)) };
  }
  return { ok: true, config };
}

/**
 * Applies `cordon run` flags over a config. Flag values are validated exactly
 * like config values (errors name the flag); relative paths resolve against
 * the working directory.
 */
export function mergeFlags(config: DaemonConfig, flags: DaemonFlags, environment: ConfigEnvironment = {}): ConfigResult {
  const cwd = environment.cwd ?? process.cwd();
  const errors: ConfigError[] = [];
  const fail = (flag: string, message: string): void => {
    errors.push({ file: FLAGS_FILE, path: flag, line: 0, message });
  };
  const out: DaemonConfig = {
    ...config,
    identity: { ...config.identity },
    policy: { ...config.policy, trusted_keys: [...config.policy.trusted_keys] },
    sinks: config.sinks.map((s) => ({ ...s, headers: { ...s.headers } })),
    limits: { ...config.limits },
    audit_log: { ...config.audit_log },
    defaulted: [...config.defaulted],
  };
  const overridden = (key: string): void => {
    out.defaulted = out.defaulted.filter((k) => k !== key);
  };
  if (flags.listen !== undefined) {
    const v = parseListenAddress(flags.listen);
    if (typeof v === 'string') (out.listen = v), overridden('listen');
    else fail('--listen', v.error);
  }
  if (flags.socksListen !== undefined) {
    const v = parseListenAddress(flags.socksListen);
    if (typeof v === 'string') (out.socks_listen = v), overridden('socks_listen');
    else fail('--socks-listen', v.error);
  }
  if (flags.stateDir !== undefined) {
    const v = checkPath(flags.stateDir);
    if (v === null) (out.state_dir = resolvePath(flags.stateDir, cwd)), overridden('state_dir');
    else fail('--state-dir', v);
  }
  if (flags.socket !== undefined) {
    const v = checkPath(flags.socket);
    if (v === null) (out.socket = resolvePath(flags.socket, cwd)), overridden('socket');
    else fail('--socket', v);
  } else if (out.defaulted.includes('socket')) {
    out.socket = join(out.state_dir, STATUS_SOCKET_NAME);
  }
  if (flags.proxySocket !== undefined) {
    const v = checkPath(flags.proxySocket);
    if (v === null) (out.proxy_socket = resolvePath(flags.proxySocket, cwd)), overridden('proxy_socket');
    else fail('--proxy-socket', v);
  }
  if (flags.mode !== undefined) {
    if (flags.mode === 'enforce' || flags.mode === 'audit') (out.mode = flags.mode), overridden('mode');
    else fail('--mode', `must be enforce or audit, got '${flags.mode}'`);
  }
  if (flags.resolver !== undefined) {
    const v = parseResolver(flags.resolver);
    if (typeof v === 'string') (out.resolver = v), overridden('resolver');
    else fail('--resolver', v.error);
  }
  if (flags.upstreamProxy !== undefined) {
    const v = checkUpstreamProxy(flags.upstreamProxy);
    if (v === null) (out.upstream_proxy = flags.upstreamProxy), overridden('upstream_proxy');
    else fail('--upstream-proxy', v);
  }
  if (flags.requireSession !== undefined) (out.require_session = flags.requireSession), overridden('require_session');
  if (flags.allowNonLoopback !== undefined) (out.allow_non_loopback = flags.allowNonLoopback), overridden('allow_non_loopback');
  if (flags.policy !== undefined) {
    const v = parsePolicySource(flags.policy, cwd);
    if ('source' in v) (out.policy.source = v.source), overridden('policy.source');
    else fail('--policy', v.error);
  }
  checkCrossKeys(out, (path, message) => fail(flagForPath(path), message));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: out };
}

/** "file:line: path: message", one per line. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return formatYamlIssues(errors);
}

// ---------------------------------------------------------------------------

function readTop(reader: YamlReader, root: YamlNode | null, config: DaemonConfig, baseDir: string, setKeys: Set<string>): void {
  const top = reader.map(root, '', TOP_KEYS);
  if (top === null) return;
  for (const entry of top.values()) {
    const { key, path, value } = entry;
    const nullable = reader.isNull(value);
    switch (key) {
      case 'listen': {
        const text = reader.string(value, path);
        if (text === null) break;
        const v = parseListenAddress(text);
        if (typeof v === 'string') (config.listen = v), setKeys.add(path);
        else reader.error(value, path, v.error);
        break;
      }
      case 'socks_listen': {
        if (nullable) {
          setKeys.add(path);
          break;
        }
        const text = reader.string(value, path);
        if (text === null) break;
        const v = parseListenAddress(text);
        if (typeof v === 'string') (config.socks_listen = v), setKeys.add(path);
        else reader.error(value, path, v.error);
        break;
      }
      case 'socket':
      case 'state_dir': {
        const p = readPath(reader, value, path, baseDir);
        if (p === null) break;
        if (key === 'socket') config.socket = p;
        else config.state_dir = p;
        setKeys.add(path);
        break;
      }
      case 'proxy_socket': {
        if (nullable) {
          setKeys.add(path);
          break;
        }
        const p = readPath(reader, value, path, baseDir);
        if (p !== null) (config.proxy_socket = p), setKeys.add(path);
        break;
      }
      case 'mode': {
        if (nullable) {
          setKeys.add(path);
          break;
        }
        const text = reader.string(value, path);
        if (text === null) break;
        if (text === 'enforce' || text === 'audit') (config.mode = text), setKeys.add(path);
        else reader.error(value, path, `must be enforce, audit or null, got '${text}'`);
        break;
      }
      case 'require_session':
      case 'allow_non_loopback': {
        const b = reader.boolean(value, path);
        if (b === null) break;
        if (key === 'require_session') config.require_session = b;
        else config.allow_non_loopback = b;
        setKeys.add(path);
        break;
      }
      case 'resolver': {
        if (nullable) {
          setKeys.add(path);
          break;
        }
        const text = reader.string(value, path);
        if (text === null) break;
        const v = parseResolver(text);
        if (typeof v === 'string') (config.resolver = v), setKeys.add(path);
        else reader.error(value, path, v.error);
        break;
      }
      case 'upstream_proxy': {
        if (nullable) {
          setKeys.add(path);
          break;
        }
        const text = reader.string(value, path);
        if (text === null) break;
        const err = checkUpstreamProxy(text);
        if (err === null) (config.upstream_proxy = text), setKeys.add(path);
        else reader.error(value, path, err);
        break;
      }
      case 'identity':
        readIdentity(reader, value, path, config, setKeys);
        break;
      case 'policy':
        readPolicy(reader, value, path, config, baseDir, setKeys);
        break;
      case 'sinks':
        readSinks(reader, value, path, config, setKeys);
        break;
      case 'limits':
        readLimits(reader, value, path, config, setKeys);
        break;
      case 'audit_log':
        readAuditLog(reader, value, path, config, setKeys);
        break;
    }
  }
}

function readIdentity(reader: YamlReader, node: YamlNode | null, path: string, config: DaemonConfig, setKeys: Set<string>): void {
  const entries = reader.map(node, path, IDENTITY_KEYS);
  if (entries === null) return;
  for (const { key, path: p, value } of entries.values()) {
    const text = reader.string(value, p);
    if (text === null) continue;
    const err = identityError(text);
    if (err !== null) {
      reader.error(value, p, err);
      continue;
    }
    if (key === 'user') config.identity.user = text;
    else config.identity.device = text;
    setKeys.add(p);
  }
}

function readPolicy(
  reader: YamlReader,
  node: YamlNode | null,
  path: string,
  config: DaemonConfig,
  baseDir: string,
  setKeys: Set<string>,
): void {
  const entries = reader.map(node, path, POLICY_KEYS);
  if (entries === null) return;
  for (const { key, path: p, value } of entries.values()) {
    switch (key) {
      case 'source': {
        const text = reader.string(value, p);
        if (text === null) break;
        const v = parsePolicySource(text, baseDir);
        if ('source' in v) (config.policy.source = v.source), setKeys.add(p);
        else reader.error(value, p, v.error);
        break;
      }
      case 'poll_interval_s': {
        const n = reader.integer(value, p, MIN_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S);
        if (n !== null) (config.policy.poll_interval_s = n), setKeys.add(p);
        break;
      }
      case 'trusted_keys': {
        const items = reader.seq(value, p);
        if (items === null) break;
        if (items.length > MAX_TRUSTED_KEYS) {
          reader.error(value, p, `at most ${MAX_TRUSTED_KEYS} keys`);
          break;
        }
        const keys: string[] = [];
        for (const item of items) {
          const kp = readPath(reader, item.node, item.path, baseDir);
          if (kp === null) continue;
          if (keys.includes(kp)) reader.error(item.node, item.path, `'${kp}' is listed twice`);
          else keys.push(kp);
        }
        config.policy.trusted_keys = keys;
        setKeys.add(p);
        break;
      }
      case 'bearer_token_file': {
        if (reader.isNull(value)) {
          setKeys.add(p);
          break;
        }
        const tp = readPath(reader, value, p, baseDir);
        if (tp !== null) (config.policy.bearer_token_file = tp), setKeys.add(p);
        break;
      }
    }
  }
}

/**
 * `sinks:` — structure here (keys, types, with lines); the checks only the
 * event side knows (URL scheme per type, HEC token, reserved headers) come
 * from the events module's sinkConfigErrors, mapped back to the offending line.
 */
function readSinks(reader: YamlReader, node: YamlNode | null, path: string, config: DaemonConfig, setKeys: Set<string>): void {
  if (reader.isNull(node)) {
    setKeys.add(path);
    return;
  }
  const items = reader.seq(node, path);
  if (items === null) return;
  if (items.length > MAX_SINKS) {
    reader.error(node, path, `at most ${MAX_SINKS} sinks`);
    return;
  }
  const sinks: SinkConfig[] = [];
  for (const item of items) {
    const entries = reader.map(item.node, item.path, SINK_KEYS);
    if (entries === null) continue;
    const sink: SinkConfig = { name: '', type: 'http', url: '', format: 'native', headers: {}, spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES };
    let ok = true;
    for (const required of ['name', 'type', 'url']) {
      if (!entries.has(required)) {
        reader.error(item.node, `${item.path}.${required}`, `'${required}' is required`);
        ok = false;
      }
    }
    for (const { key, path: p, value } of entries.values()) {
      switch (key) {
        case 'name':
        case 'url': {
          const text = reader.string(value, p);
          if (text === null) ok = false;
          else sink[key] = text;
          break;
        }
        case 'type': {
          const text = reader.string(value, p);
          if (text !== null && (SINK_TYPES as readonly string[]).includes(text)) sink.type = text as SinkType;
          else {
            if (text !== null) reader.error(value, p, `must be one of ${SINK_TYPES.join(', ')}, got '${text}'`);
            ok = false;
          }
          break;
        }
        case 'format': {
          const text = reader.string(value, p);
          if (text !== null && (SINK_FORMATS as readonly string[]).includes(text)) sink.format = text as SinkFormat;
          else {
            if (text !== null) reader.error(value, p, `must be one of ${SINK_FORMATS.join(', ')}, got '${text}'`);
            ok = false;
          }
          break;
        }
        case 'headers': {
          const headers = readHeaders(reader, value, p);
          if (headers === null) ok = false;
          else sink.headers = headers;
          break;
        }
        case 'spool_max_bytes': {
          const n = reader.integer(value, p, MIN_SPOOL_MAX_BYTES, MAX_SPOOL_MAX_BYTES);
          if (n === null) ok = false;
          else sink.spool_max_bytes = n;
          break;
        }
      }
    }
    if (!ok) continue;
    for (const problem of sinkConfigErrors(sink)) {
      const colon = problem.indexOf(': ');
      const key = colon > 0 ? problem.slice(0, colon) : '';
      const entry = entries.get(key);
      const where = entry?.value ?? entry?.keyNode ?? item.node;
      reader.error(where, key === '' ? item.path : `${item.path}.${key}`, colon > 0 ? problem.slice(colon + 2) : problem);
      ok = false;
    }
    const duplicate = sinks.find((s) => s.name.toLowerCase() === sink.name.toLowerCase());
    if (duplicate !== undefined) {
      reader.error(entries.get('name')?.value ?? item.node, `${item.path}.name`, `sink name '${sink.name}' is used twice`);
      ok = false;
    }
    if (ok) sinks.push(sink);
  }
  config.sinks = sinks;
  setKeys.add(path);
}

function readHeaders(reader: YamlReader, node: YamlNode | null, path: string): Record<string, string> | null {
  if (reader.isNull(node)) return {};
  const entries = reader.map(node, path, null);
  if (entries === null) return null;
  const headers: Record<string, string> = {};
  let ok = true;
  for (const { key, path: p, value } of entries.values()) {
    const text = reader.string(value, p);
    if (text === null) ok = false;
    else headers[key] = text;
  }
  return ok ? headers : null;
}

function readLimits(reader: YamlReader, node: YamlNode | null, path: string, config: DaemonConfig, setKeys: Set<string>): void {
  const entries = reader.map(node, path, LIMITS_KEYS);
  if (entries === null) return;
  for (const { key, path: p, value } of entries.values()) {
    const n =
      key === 'max_connections'
        ? reader.integer(value, p, 1, MAX_MAX_CONNECTIONS)
        : reader.integer(value, p, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
    if (n === null) continue;
    config.limits[key as keyof LimitsConfig] = n;
    setKeys.add(p);
  }
}

function readAuditLog(reader: YamlReader, node: YamlNode | null, path: string, config: DaemonConfig, setKeys: Set<string>): void {
  const entries = reader.map(node, path, AUDIT_LOG_KEYS);
  if (entries === null) return;
  for (const { key, path: p, value } of entries.values()) {
    let n: number | null;
    if (key === 'max_bytes') n = reader.integer(value, p, MIN_AUDIT_LOG_MAX_BYTES, MAX_SPOOL_MAX_BYTES);
    else if (key === 'max_age_s') n = reader.integer(value, p, MIN_AUDIT_LOG_MAX_AGE_S, MAX_AUDIT_LOG_MAX_AGE_S);
    else n = reader.integer(value, p, 1, MAX_AUDIT_LOG_RETAIN_FILES);
    if (n === null) continue;
    config.audit_log[key as keyof AuditLogConfig] = n;
    setKeys.add(p);
  }
}

function readPath(reader: YamlReader, node: YamlNode | null, path: string, baseDir: string): string | null {
  const text = reader.string(node, path);
  if (text === null) return null;
  const err = checkPath(text);
  if (err !== null) {
    reader.error(node, path, err);
    return null;
  }
  return resolvePath(text, baseDir);
}

/** Checks between keys (after flags too): loopback-only listening, token only for URL sources. */
function checkCrossKeys(config: DaemonConfig, fail: (path: string, message: string) => void): void {
  if (!config.allow_non_loopback) {
    for (const key of ['listen', 'socks_listen'] as const) {
      const address = config[key];
      if (address !== null && !isLoopbackListen(address)) {
        fail(key, `${address} is not a loopback address; set allow_non_loopback: true to listen on it`);
      }
    }
  }
  if (config.policy.bearer_token_file !== null && !isUrlSource(config.policy.source)) {
    fail('policy.bearer_token_file', 'a bearer token applies to a URL policy source only');
  }
}

function findNode(reader: YamlReader, root: YamlNode | null, path: string): YamlNode | null {
  let node: unknown = root;
  for (const part of path.split('.')) {
    const m = node as { get?: (k: string, keepScalar: boolean) => unknown } | null;
    if (m === null || typeof m?.get !== 'function') return null;
    node = m.get(part, true);
  }
  return (node as YamlNode | null) ?? null;
}

function flagForPath(path: string): string {
  const flags: Record<string, string> = {
    listen: '--listen',
    socks_listen: '--socks-listen',
    'policy.bearer_token_file': '--policy',
  };
  return flags[path] ?? path;
}

function toConfigError(issue: YamlIssue): ConfigError {
  return { file: issue.file, path: issue.path, line: issue.line, message: issue.message };
}

function defaultUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'unknown';
  }
}
