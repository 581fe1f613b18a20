/**
 * Event pipeline throughput: decision events per second from emit() to the
 * durable spool (written and fsynced), with the audit log on, for one and for
 * three upstream sinks whose upstream is down (so the spool only grows), and
 * the spool's growth and disk use per event. Target: ≥ 50,000 events/s into
 * the spool. The producer emits in bursts and yields to the event loop, as
 * the proxy does between connections.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventPipeline } from '../src/events/pipeline.js';
import type { SinkConfig } from '../src/events/sink-config.js';
import type { EventInput } from '../src/events/types.js';
import { dirUsage } from './proxy-harness.js';
import type { BenchResult } from './types.js';

const TARGET_EVENTS_PER_S = 50_000;
const EVENTS = 100_000;
const BURST = 500;
const DOWN_PORT = 9; // discard: nothing listens
const SPOOL_MAX_BYTES = 1024 * 1024 * 1024;

function decision(i: number): EventInput {
  const deny = i % 10 === 0;
  return {
    kind: 'network',
    decision: deny ? 'deny' : 'allow',
    enforced: true,
    mode: 'enforce',
    reason: 'rule',
    rule: deny ? { layer: 'guardrails', name: 'paste sites', resource: '**.pastebin.com' } : { layer: 'profile:default', name: 'github', resource: '**.github.com' },
    profile: 'default',
    target: { host: deny ? `x${i}.pastebin.com` : 'api.github.com', port: 443, addresses: deny ? [] : ['140.82.112.6'], address: deny ? null : '140.82.112.6' },
    via: 'connect',
    session: { id: 's_4f2a9c', labels: { agent: 'claude-code', team: 'web' } },
    policy: { name: 'acme-engineering', revision: 42, digest: 'sha256:9c1e5b7f' },
  };
}

interface Scenario {
  name: string;
  sinks: SinkConfig[];
}

interface Figures {
  eventsPerS: number;
  /** Events per second of process CPU time (all threads): what one free core would do. */
  eventsPerCpuS: number;
  emitNsPerCall: number;
  spoolBytes: number;
  spoolFiles: number;
  auditBytes: number;
  dropped: number;
}

async function runScenario(s: Scenario): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-bench-events-'));
  try {
    const pipeline = new EventPipeline({ stateDir: dir, identity: { user: 'alice@acme.com', device: 'alice-mbp' }, sinks: s.sinks, version: 'bench' });
    await pipeline.start();
    let emitMs = 0;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < EVENTS; i += BURST) {
      const t0 = performance.now();
      for (let j = i; j < i + BURST; j++) pipeline.emit(decision(j));
      emitMs += performance.now() - t0;
      await new Promise((r) => setImmediate(r));
    }
    await pipeline.sync();
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpu0);
    const counters = pipeline.counters();
    await pipeline.close();
    const spool = s.sinks.length > 0 ? dirUsage(join(dir, 'spool')) : { bytes: 0, files: 0 };
    const audit = (await stat(join(dir, 'events.jsonl'))).size;
    return {
      eventsPerS: EVENTS / (elapsedMs / 1000),
      eventsPerCpuS: EVENTS / ((cpu.user + cpu.system) / 1e6),
      emitNsPerCall: (emitMs * 1e6) / EVENTS,
      spoolBytes: spool.bytes,
      spoolFiles: spool.files,
      auditBytes: audit,
      dropped: counters.dropped,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sink(name: string, type: SinkConfig['type'], url: string, format: SinkConfig['format'] = 'native'): SinkConfig {
  return { name, type, url, format, headers: {}, spool_max_bytes: SPOOL_MAX_BYTES };
}

export async function run(): Promise<BenchResult> {
  const scenarios: Scenario[] = [
    { name: 'audit log only', sinks: [] },
    { name: 'audit log + 1 sink (http, upstream down)', sinks: [sink('siem', 'http', `http://127.0.0.1:${DOWN_PORT}/ingest`)] },
    {
      name: 'audit log + 3 sinks (otlp, hec/ocsf, syslog; upstreams down)',
      sinks: [
        sink('otel', 'otlp', `http://127.0.0.1:${DOWN_PORT}/v1/logs`),
        { ...sink('splunk', 'hec', `http://127.0.0.1:${DOWN_PORT}`, 'ocsf'), headers: { Authorization: 'Splunk x' } },
        sink('rsyslog', 'syslog', `tcp://127.0.0.1:${DOWN_PORT}`),
      ],
    },
  ];
  // Warm-up (JIT), not reported.
  await runScenario({ name: 'warm-up', sinks: scenarios[1]!.sinks });
  const rows: string[] = [];
  const loadBefore = loadavg()[0]!;
  for (const s of scenarios) {
    const f = await runScenario(s);
    const perSink = s.sinks.length > 0 ? f.spoolBytes / s.sinks.length : 0;
    const pass = f.eventsPerS >= TARGET_EVENTS_PER_S ? 'pass' : 'MISS';
    const passCpu = f.eventsPerCpuS >= TARGET_EVENTS_PER_S ? 'pass' : 'MISS';
    rows.push(
      `| ${s.name} | ${Math.round(f.eventsPerS).toLocaleString('en-US')} (${pass}) | ${Math.round(f.eventsPerCpuS).toLocaleString('en-US')} (${passCpu}) | ${Math.round(f.emitNsPerCall)} | ` +
        `${s.sinks.length > 0 ? `${(perSink / 2 ** 20).toFixed(1)} MiB / ${Math.round(perSink / EVENTS)} B` : '—'} | ${f.spoolFiles} | ${(f.auditBytes / 2 ** 20).toFixed(1)} MiB | ${f.dropped} |`,
    );
  }
  return {
    title: 'Event pipeline: emit → spool',
    markdown: [
      `${EVENTS.toLocaleString('en-US')} network decision events emitted in bursts of ${BURST} (yielding to the event loop between bursts), then \`sync()\`: every event written to \`events.jsonl\` and written + fsynced in every sink's spool. Events/s is the whole run including that final sync. Upstreams are down, so spools only grow (spool segment size 16 MiB at the default cap).`,
      '',
      `Target: ≥ ${TARGET_EVENTS_PER_S.toLocaleString('en-US')} events/s into the spool. "per CPU-second" divides by the process's CPU time (all threads), i.e. what one uncontended core does; it is the fairer figure on a shared machine (1-minute load average when the runs started: ${loadBefore.toFixed(1)} on ${cpus().length} cores).`,
      '',
      '| scenario | events/s (wall) | events per CPU-second | emit() ns/call | spool growth per sink (total / per event) | spool files | audit log | dropped |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      'The proxy-throughput comparison with and without an upstream sink is measured separately with the proxy under load.',
    ].join('\n'),
  };
}
