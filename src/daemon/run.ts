/**
 * The composition root: the one place that builds and wires every part of a
 * running cordon — event pipeline, policy store, sessions, resolver, proxy,
 * status socket — and owns signals and the shutdown order. Nothing else
 * holds process-wide state.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { DaemonConfig } from './config.js';
import { CountingEmitter } from './metrics.js';
import { EventPipeline } from '../events/pipeline.js';
import type { EventInput, EventPolicyRef } from '../events/types.js';
import { PolicyStore } from '../policy/store.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { createPolicySource } from '../policy/sources/create-source.js';
import { loadTrustedKeys } from '../policy/signature.js';
import { SessionRegistry, ANONYMOUS_SESSION_ID } from '../sessions/registry.js';
import { createResolver } from '../proxy/resolver.js';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import { startControlServer, type ControlDeps, type ControlServer } from '../control/server.js';
import { prepareSocketPath, SOCKET_DIR_MODE } from '../control/socket-file.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { WireError, type ReloadResponse, type StatusResponse } from '../control/wire.js';
import { homeError } from './home-check.js';
import { decideFully } from '../decide/full-network.js';
import { decideMount } from '../decide/mounts.js';
import { CLI_VERSION } from '../cli/program.js';

export const DRAIN_DEADLINE_MS = 10_000;
export const SESSION_SWEEP_INTERVAL_MS = 30_000;
const MS_PER_S = 1000;
const STATE_DIR_MODE = 0o750;

export interface RunningDaemon {
  readonly config: DaemonConfig;
  /** Resolves with the exit code once the daemon has shut down. */
  readonly done: Promise<number>;
  stop(reason: string): Promise<void>;
  /** Re-reads the policy source now (SIGHUP, POST /v1/policy/reload). */
  reload(): Promise<ReloadResponse>;
}

function policyRef(cp: CompiledPolicy): EventPolicyRef {
  return { name: cp.policy.name, revision: cp.policy.revision, digest: cp.policy.digest };
}

function tcpUrl(scheme: string, listen: string | null, id: string, secret: string): string | null {
  if (listen === null || listen.startsWith('/')) return null;
  return `${scheme}://${encodeURIComponent(id)}:${encodeURIComponent(secret)}@${listen}`;
}

/** Lock file of the state directory (instance-lock.ts). */
export const STATE_LOCK_FILE = 'cordon.lock';
/** The socket's lock file is the socket path with this suffix. */
export const SOCKET_LOCK_SUFFIX = '.lock';

/**
 * One daemon per socket path and per state dir, taken before anything a
 * running daemon owns is touched (audit log, spool, last-good cache, socket).
 * Returns the release function.
 */
function lockInstance(config: DaemonConfig, logger: Logger): () => void {
  mkdirSync(dirname(config.socket), { recursive: true, mode: SOCKET_DIR_MODE });
  const socketLock = acquireInstanceLock(config.socket + SOCKET_LOCK_SUFFIX, {
    held: (o) => `another cordon is already listening on ${config.socket} (pid ${o.pid}); stop it first or choose --socket`,
  });
  let stateLock: InstanceLock;
  try {
    mkdirSync(config.state_dir, { recursive: true, mode: STATE_DIR_MODE });
    stateLock = acquireInstanceLock(join(config.state_dir, STATE_LOCK_FILE), {
      held: (o) => `another cordon (pid ${o.pid}) is already using state dir ${config.state_dir}; stop it first or choose --state-dir`,
    });
  } catch (err) {
    socketLock.release();
    throw err;
  }
  for (const lock of [socketLock, stateLock]) {
    if (lock.tookOverFrom !== null) logger.info({ lock: lock.path, previous_pid: lock.tookOverFrom.pid }, 'took over the lock of a daemon that is gone');
  }
  return () => {
    stateLock.release();
    socketLock.release();
  };
}

export async function startDaemon(config: DaemonConfig, logger: Logger = pino({ name: 'cordon' }, pino.destination(2))): Promise<RunningDaemon> {
  const releaseLocks = lockInstance(config, logger);
  try {
    return await startLocked(config, logger, releaseLocks);
  } catch (err) {
    releaseLocks();
    throw err;
  }
}

async function startLocked(config: DaemonConfig, logger: Logger, releaseLocks: () => void): Promise<RunningDaemon> {
  const startedAt = Date.now();
  // With the socket lock held, a socket that still answers belongs to a daemon
  // that does not lock (an older cordon): refuse rather than take it.
  await prepareSocketPath(config.socket);

  const pipeline = new EventPipeline({
    stateDir: config.state_dir,
    identity: config.identity,
    sinks: config.sinks,
    auditLog: { maxBytes: config.audit_log.max_bytes, maxAgeMs: config.audit_log.max_age_s * MS_PER_S, retainFiles: config.audit_log.retain_files },
    version: CLI_VERSION,
    logger: {
      info: (obj, msg) => logger.info(obj, msg),
      warn: (obj, msg) => logger.warn(obj, msg),
      error: (obj, msg) => logger.error(obj, msg),
    },
  });
  await pipeline.start();
  const events = new CountingEmitter(pipeline);
  const emit = (input: EventInput): void => {
    events.emit(input);
  };

  const trustedKeys = await loadTrustedKeys(config.policy.trusted_keys);
  const store = new PolicyStore({ source: createPolicySource(config.policy), stateDir: config.state_dir, events, trustedKeys });
  const policyStatus = await store.start();
  logger.info({ policy: policyStatus.name, state: policyStatus.state, source: policyStatus.source, error: policyStatus.last_error }, 'policy loaded');

  const sessions = new SessionRegistry();
  const sweep = setInterval(() => sessions.sweep(), SESSION_SWEEP_INTERVAL_MS);
  sweep.unref();
  const resolver = createResolver({ server: config.resolver });
  const modeOverride = config.mode;

  let proxy: ProxyServer;
  let control: ControlServer | null = null;
  try {
    proxy = await startProxy({
      listen: [config.listen, ...(config.proxy_socket === null ? [] : [config.proxy_socket])],
      socksListen: config.socks_listen === null ? [] : [config.socks_listen],
      allowNonLoopback: config.allow_non_loopback,
      getPolicy: () => store.current(),
      authenticate: (user, pass) => {
        const r = sessions.authenticate(user, pass);
        return r.ok ? { session: { id: r.session.id, labels: r.session.labels } } : null;
      },
      requireSession: config.require_session,
      events,
      resolver,
      modeOverride,
      limits: { maxConnections: config.limits.max_connections, headerTimeoutMs: config.limits.header_timeout_ms, idleTimeoutMs: config.limits.idle_timeout_ms },
      upstreamProxy: config.upstream_proxy,
      logger,
    });
  } catch (err) {
    await store.close();
    await pipeline.close();
    throw err;
  }

  const listenerAddress = (protocols: 'all' | 'socks5', kind: 'tcp' | 'unix'): string | null =>
    proxy.addresses().find((l) => l.protocols === protocols && l.kind === kind)?.address ?? null;

  const status = (): StatusResponse => {
    const stats = proxy.stats();
    const counters = pipeline.counters();
    const list = sessions.list();
    return {
      version: CLI_VERSION,
      pid: process.pid,
      uptime_s: Math.round((Date.now() - startedAt) / MS_PER_S),
      mode: modeOverride ?? store.current().policy.mode,
      listeners: {
        proxy: listenerAddress('all', 'tcp'),
        socks: listenerAddress('socks5', 'tcp'),
        socket: config.socket,
        proxy_socket: listenerAddress('all', 'unix'),
      },
      policy: { ...store.status(), mode: modeOverride ?? store.status().mode },
      counters: { allowed: counters.allowed, denied: counters.denied, audited: counters.audited, invalid: counters.invalid },
      connections: { open: stats.connectionsOpen, bytes_up: stats.bytesUp, bytes_down: stats.bytesDown },
      sessions: list.length,
      session_list: list,
      sinks: pipeline.sinkStatus(),
      events_dropped: counters.bus_dropped,
      state_dir: config.state_dir,
    };
  };

  const reload = async (): Promise<ReloadResponse> => {
    const r = await store.reload();
    return { changed: r.changed, error: r.error, policy: store.status() };
  };

  const deps: ControlDeps = {
    status,
    check: (target, labels) => decideFully(store.current(), target, { labels, modeOverride }, resolver),
    mount: (req, session) => {
      const cp = store.current();
      const labels = session?.labels ?? req.labels ?? {};
      const home = req.home ?? homedir();
      const bad = homeError(home, homedir());
      if (bad !== null) throw new WireError(bad, 400, 'bad-request');
      const d = decideMount(cp, { path: req.path, access: req.access, labels, home, modeOverride });
      emit({
        kind: 'mount',
        decision: d.decision,
        enforced: d.enforced,
        mode: d.mode,
        reason: d.reason,
        rule: d.rule,
        profile: d.profile,
        policy: policyRef(cp),
        mount: { requested: req.path, path: d.path, access: d.access, effective: d.effective, masks: d.masks },
        session: session === null ? { id: ANONYMOUS_SESSION_ID, labels } : { id: session.id, labels: session.labels },
      });
      return d;
    },
    sessions,
    proxyUrls: (id, secret) => {
      const main = listenerAddress('all', 'tcp');
      return { http: tcpUrl('http', main, id, secret), socks: tcpUrl('socks5', listenerAddress('socks5', 'tcp') ?? main, id, secret) };
    },
    recentEvents: (limit) => pipeline.recent(limit),
    subscribeEvents: (fn) => pipeline.subscribe(fn),
    reload,
    metrics: () => {
      const s = status();
      return {
        decisions: events.decisions(),
        connectionsOpen: s.connections.open,
        bytesUp: s.connections.bytes_up,
        bytesDown: s.connections.bytes_down,
        policy: s.policy,
        nowMs: Date.now(),
        sessions: s.sessions,
        sinks: s.sinks,
        eventsDropped: s.events_dropped,
      };
    },
    onInternalError: (err) => logger.error({ err }, 'status API internal error'),
  };

  try {
    control = await startControlServer(config.socket, deps);
  } catch (err) {
    await proxy.close();
    await store.close();
    await pipeline.close();
    throw err;
  }

  const listeners = status().listeners;
  emit({ kind: 'daemon', action: 'start', message: `cordon ${CLI_VERSION} started`, policy: policyRef(store.current()), details: { pid: process.pid, listeners } });
  logger.info({ listeners, state_dir: config.state_dir }, 'cordon is running');

  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  let stopping: Promise<void> | null = null;

  const stop = (reason: string): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      logger.info({ reason }, 'draining');
      await proxy.drain(DRAIN_DEADLINE_MS);
      emit({ kind: 'daemon', action: 'stop', message: `cordon stopping: ${reason}`, policy: policyRef(store.current()) });
      await control?.close();
      await store.close();
      clearInterval(sweep);
      await pipeline.close();
      releaseLocks();
      logger.info('stopped');
      resolveDone(0);
    })();
    return stopping;
  };

  return { config, done, stop, reload };
}

/** Signals of a foreground or service daemon: SIGHUP reloads, SIGTERM/SIGINT drain and stop. */
export function installSignalHandlers(daemon: RunningDaemon, logger: Logger): void {
  process.on('SIGHUP', () => {
    daemon.reload().catch((err: unknown) => logger.error({ err }, 'reload failed'));
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      void daemon.stop(sig);
    });
  }
  // Per-connection errors are handled where they happen; anything that still
  // escapes is logged and the daemon keeps enforcing rather than leaving the
  // machine without its proxy (every decision path fails closed on its own).
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (daemon continues)'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (daemon continues)'));
}
