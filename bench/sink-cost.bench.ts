/**
 * What one upstream sink costs per event, in process CPU (all threads), at
 * the rate the proxy benchmark produces events (~5,000/s, a few per
 * millisecond), without the proxy: under proxy load (sink-pairs.bench.ts)
 * the cost is a few per cent of the proxy's CPU, this isolates it.
 *
 * Three pipelines in this process, one at a time, in interleaved rounds:
 * audit log only; + an HTTP sink whose upstream is down (spool only, the
 * sender backs off); + an HTTP sink posting to a collector in another
 * process (the bench origin's /ingest). CPU per event is process CPU over
 * the round divided by the events emitted; medians over the rounds.
 *
 * A fourth scenario is the floor: the audit-log-only pipeline plus the least
 * code that makes the same lines durable and delivers them (collect them,
 * encode each batch into a reused buffer, write it every DEFAULT_WRITE_DELAY_MS,
 * fsync every DEFAULT_FSYNC_INTERVAL_MS, POST what was written every
 * DEFAULT_SEND_LINGER_MS on a keep-alive connection). No spool format, cap,
 * cursor, retry or status: what writing, syncing and posting these bytes
 * costs in Node on this machine; a sink that keeps the same promise cannot
 * cost less.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventPipeline } from '../src/events/pipeline.js';
import { withSinkDefaults, type SinkConfig } from '../src/events/sink-config.js';
import type { EventInput } from '../src/events/types.js';
import { DEFAULT_SEND_LINGER_MS } from '../src/events/sender.js';
import { DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_WRITE_DELAY_MS } from '../src/events/spool.js';
import { median, startOrigin } from './proxy-harness.js';
import type { BenchResult } from './types.js';

const ROUNDS = 5;
const ROUND_MS = 5_000;
/** Events per timer tick: ~5,000 events/s with 1 ms ticks, the proxy benchmark's request rate. */
const EVENTS_PER_TICK = 5;
const TICK_MS = 1;
const SETTLE_MS = 500;
const DOWN_PORT = 9; // discard: nothing listens

type Scenario = 'audit log only' | '+ http sink, upstream down' | '+ http sink, upstream up' | '+ floor: write, fsync and POST the lines, nothing else';
/** The floor's encode buffer: far above one write delay's worth of lines at this rate. */
const FLOOR_STAGE_BYTES = 4 * 2 ** 20;

/**
 * The floor scenario's sink: every line it is given is written to `handle`
 * within DEFAULT_WRITE_DELAY_MS, fsynced within DEFAULT_FSYNC_INTERVAL_MS,
 * and posted to `url` within DEFAULT_SEND_LINGER_MS of being written.
 */
class FloorSink {
  private pending: string[] = [];
  private unsent: Buffer[] = [];
  private readonly stage = Buffer.allocUnsafeSlow(FLOOR_STAGE_BYTES);
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly timers: NodeJS.Timeout[];
  private writing = false;
  private posting = false;
  private dirty = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly url: URL,
  ) {
    this.timers = [
      setInterval(() => void this.write().catch(() => undefined), DEFAULT_WRITE_DELAY_MS),
      setInterval(() => void this.fsync(), DEFAULT_FSYNC_INTERVAL_MS),
      setInterval(() => this.post(), DEFAULT_SEND_LINGER_MS),
    ];
  }

  add(line: string): void {
    this.pending.push(line);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.agent.destroy();
    await this.handle.close();
  }

  private async write(): Promise<void> {
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    let at = 0;
    for (const line of this.pending) at += this.stage.write(line, at, 'utf8');
    this.pending = [];
    // The written bytes are kept until posted (the stage is reused for the next write).
    const chunk = Buffer.from(this.stage.subarray(0, at));
    try {
      await this.handle.write(chunk);
      this.unsent.push(chunk);
      this.dirty = true;
    } finally {
      this.writing = false;
    }
  }

  private async fsync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.handle.sync().catch(() => undefined);
  }

  private post(): void {
    if (this.posting || this.unsent.length === 0) return;
    this.posting = true;
    const body = this.unsent.length === 1 ? this.unsent[0]! : Buffer.concat(this.unsent);
    this.unsent = [];
    const req = request(
      { host: this.url.hostname, port: this.url.port, path: this.url.pathname, method: 'POST', agent: this.agent, headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => (this.posting = false));
      },
    );
    req.on('error', () => (this.posting = false));
    req.end(body);
  }
}

function decision(i: number): EventInput {
  return {
    kind: 'network',
    decision: 'allow',
    enforced: true,
    mode: 'enforce',
    reason: 'rule',
    rule: { layer: 'profile:default', name: 'bench origin', resource: '127.0.0.1' },
    profile: 'default',
    target: { host: '127.0.0.1', port: 8080 + (i % 8), addresses: ['127.0.0.1'], address: '127.0.0.1' },
    via: 'http',
    session: { id: 'anonymous', labels: {} },
    policy: { name: 'bench', revision: 1, digest: 'sha256:00' },
    bytes_up: 120,
    bytes_down: 180,
    duration_ms: 1,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RoundFigures {
  cpuUsPerEvent: number;
  /** Minor page faults per 1,000 events (process-wide). */
  faultsPerK: number;
  /** Context switches (voluntary + involuntary) per 1,000 events (process-wide). */
  switchesPerK: number;
}

/** Process CPU, page faults and context switches per event for one round of `sinks`. */
async function round(sinks: SinkConfig[], floorUrl: URL | null): Promise<RoundFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-bench-sinkcost-'));
  const pipeline = new EventPipeline({ stateDir: dir, identity: { user: 'bench', device: 'bench' }, sinks, version: 'bench' });
  let floor: FloorSink | null = null;
  try {
    await pipeline.start();
    if (floorUrl !== null) {
      const sink = new FloorSink(await open(join(dir, 'floor.seg'), 'a'), floorUrl);
      floor = sink;
      pipeline.subscribe((_event, line) => sink.add(line));
    }
    await sleep(SETTLE_MS);
    const usage0 = process.resourceUsage();
    const end = Date.now() + ROUND_MS;
    let n = 0;
    while (Date.now() < end) {
      for (let i = 0; i < EVENTS_PER_TICK; i++) pipeline.emit(decision(n++));
      await sleep(TICK_MS);
    }
    const usage = process.resourceUsage();
    const switches = (u: NodeJS.ResourceUsage): number => u.voluntaryContextSwitches + u.involuntaryContextSwitches;
    return {
      cpuUsPerEvent: (usage.userCPUTime + usage.systemCPUTime - usage0.userCPUTime - usage0.systemCPUTime) / n,
      faultsPerK: ((usage.minorPageFault - usage0.minorPageFault) * 1000) / n,
      switchesPerK: ((switches(usage) - switches(usage0)) * 1000) / n,
    };
  } finally {
    await pipeline.close();
    await floor?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  const origin = await startOrigin(0);
  try {
    const http = (url: string): SinkConfig[] => [withSinkDefaults({ name: 'siem', type: 'http', url })];
    const ingestUrl = `http://127.0.0.1:${origin.ports.http}/ingest`;
    const floorName: Scenario = '+ floor: write, fsync and POST the lines, nothing else';
    const scenarios: Record<Scenario, SinkConfig[]> = {
      'audit log only': [],
      '+ http sink, upstream down': http(`http://127.0.0.1:${DOWN_PORT}/ingest`),
      '+ http sink, upstream up': http(ingestUrl),
      [floorName]: [],
    };
    const floorOf = (name: Scenario): URL | null => (name === floorName ? new URL(ingestUrl) : null);
    const names = Object.keys(scenarios) as Scenario[];
    const results = new Map<Scenario, RoundFigures[]>(names.map((s) => [s, []]));
    const loadBefore = loadavg()[0]!;
    await round(scenarios['+ http sink, upstream up'], null); // warm-up (JIT), not reported
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + r) % names.length]!;
        results.get(name)!.push(await round(scenarios[name], floorOf(name)));
        process.stdout.write(`  ${name}: ${results.get(name)!.at(-1)!.cpuUsPerEvent.toFixed(1)} µs/event\n`);
      }
    }
    const cpuOf = (name: Scenario): number[] => results.get(name)!.map((f) => f.cpuUsPerEvent);
    const base = median(cpuOf('audit log only'));
    const rows = names.map((name) => {
      const xs = cpuOf(name);
      const m = median(xs);
      const extra = name === 'audit log only' ? '—' : `+${(m - base).toFixed(1)} µs (${(((m - base) / base) * 100).toFixed(0)} %)`;
      const faults = median(results.get(name)!.map((f) => f.faultsPerK));
      const switches = median(results.get(name)!.map((f) => f.switchesPerK));
      return `| ${name} | ${m.toFixed(1)} (rounds ${xs.map((x) => x.toFixed(1)).join(', ')}) | ${extra} | ${faults.toFixed(0)} | ${switches.toFixed(0)} |`;
    });
    return {
      title: 'Sink cost per event: process CPU at the proxy benchmark’s event rate (bench/sink-cost.bench.ts)',
      markdown: [
        `Network decision events emitted ${EVENTS_PER_TICK} per ${TICK_MS} ms timer tick (~5,000/s, the request rate of the proxy benchmark) into a real pipeline for ${ROUND_MS / 1000} s per round; ${ROUNDS} interleaved rounds per scenario, medians. CPU is the whole process (main thread, GC helper threads, libuv threadpool), so the timer ticks themselves are in every figure; the differences are the sink's cost. The floor row is the least code that writes, fsyncs and posts the same lines on the same schedule (see the file's header): what the bytes themselves cost here. The "up" collector is the bench origin in its own process (its CPU is not counted). 1-minute load average at the start: ${loadBefore.toFixed(1)} on ${cpus().length} cores.`,
        '',
        '| scenario | process CPU per event (µs) | sink’s cost over audit log only | minor page faults per 1,000 events | context switches per 1,000 events |',
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows,
      ].join('\n'),
    };
  } finally {
    await origin.stop();
  }
}
