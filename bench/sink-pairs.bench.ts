/**
 * Concurrent A/B of two cordon builds or configurations under proxy load:
 * what an upstream sink costs the proxy (issue 5: "the proxy's throughput
 * with and without an upstream sink"), and whether every event still
 * arrives. It replaced a sequential design (daemons measured one after
 * another) whose noise on this VM was larger than the cost.
 *
 * Why concurrent: this VM's cores change speed by up to ~1.7 × within
 * minutes, and two identical daemons differ by several per cent for as
 * long as they run. So every round starts a fresh pair (A and B), pins both
 * to core 0 at the same time, loads each with its own wrk on core 1, and
 * compares their CPU per request over the same seconds: host drift hits both
 * alike, and fresh instances every round average out the per-instance
 * differences. Pairs run in a rotating order so none always goes first.
 * An A/A pair in the same run gives the noise.
 *
 * `npm run bench` (or `node build/bench/run.js sink-pairs`) runs the
 * recorded comparison: no sink against an HTTP sink, and no sink against no
 * sink. To compare builds or configurations of your own:
 *
 *   npx tsc -p tsconfig.bench.json
 *   node build/bench/sink-pairs.bench.js A B [A B ...]
 *
 * Each A or B is a CLI entry point (default build/src/cli/main.js; another
 * build to try a change), with "@http" to give that daemon an HTTP sink
 * whose collector is the bench origin, or "@floor" (default build only) to
 * load the sink floor of bench/sink-floor.ts into it instead: the least a
 * durable HTTP sink can do per event, posting to the same collector. The
 * recorded run has both, so the sink's cost is set against what its bytes
 * cost in the same rounds. ROUNDS (default 12) and SECS (default 4) set the
 * rounds and the measured seconds per round. Traffic stays on loopback.
 */
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { IngestStats } from './loopback-origin.js';
import { BENCH_POLICY_YAML, CORDON_MAIN, LOOPBACK, canPin, cpuSeconds, dirUsage, makeTempDir, median, pinProcess, removeDir, runWrk, sleep, startCordon, startOrigin } from './proxy-harness.js';
import type { Cordon, CordonOptions, Endpoint, Origin } from './proxy-harness.js';
import { FLOOR_FILE_ENV, FLOOR_URL_ENV } from './sink-floor.js';
import type { StatusResponse } from '../src/control/wire.js';
import type { BenchResult } from './types.js';

const DEFAULT_ROUNDS = 12;
const DEFAULT_MEASURE_S = 4;
const WARMUP_S = 3;
const WRK_CONNECTIONS = 50;
const DAEMON_CORE = '0';
const LOAD_CORE = '1';
/** Origin streams (unused here) are capped at this; the origin only answers small GETs and sink POSTs. */
const ORIGIN_STREAM_BYTES = 1024 * 1024;
/** The sink's difference counts as noise when it lies within this many combined standard errors of the A/A pair's (~95 %). */
const NOISE_STANDARD_ERRORS = 2;
/** The floor hook, compiled beside this file; `node --import` loads it before the CLI. */
const FLOOR_HOOK = fileURLToPath(new URL('./sink-floor.js', import.meta.url));
const FLOOR_FILE = 'floor.ndjson';
const COLLECTOR_PATH = '/ingest';
const SINK_NAME = 'bench';
/** After a round's load, a sink daemon gets this long to deliver what it still holds. */
const DRAIN_WAIT_MS = 10_000;
const DRAIN_POLL_MS = 200;
const SPOOL_SAMPLE_MS = 250;
const SPOOL_DIR = join('spool', SINK_NAME);

type SinkKind = 'none' | 'http' | 'floor';

interface Spec {
  main: string;
  sink: SinkKind;
  label: string;
}

function parseSpec(arg: string): Spec {
  const [path, extra] = arg.split('@');
  if (extra !== undefined && extra !== 'http' && extra !== 'floor') throw new Error(`unknown suffix @${extra} in ${arg}: @http and @floor are known`);
  const main = path === undefined || path === '' ? CORDON_MAIN : path;
  if (extra === 'floor' && main !== CORDON_MAIN) throw new Error(`${arg}: @floor patches the default build's pipeline, so it takes no other build`);
  return { main, sink: extra ?? 'none', label: arg === '' ? 'default' : arg };
}

/** The daemon options that give `spec` its sink (or floor), posting to `collector`. */
function sinkOptions(spec: Spec, collector: Endpoint): Partial<CordonOptions> {
  const url = `http://${collector.host}:${collector.port}${COLLECTOR_PATH}`;
  if (spec.sink === 'http') return { configYaml: `sinks:\n  - name: ${SINK_NAME}\n    type: http\n    url: ${url}\n` };
  if (spec.sink === 'floor') return { nodeArgs: ['--import', pathToFileURL(FLOOR_HOOK).href], env: (dir) => ({ [FLOOR_URL_ENV]: url, [FLOOR_FILE_ENV]: join(dir, FLOOR_FILE) }) };
  return {};
}

/** What one round of a pair with one HTTP sink daemon (and no floor) showed of its events' path to the collector. */
interface DeliveryRound {
  /** Events the collector received per second over the measured seconds (counted outside cordon; what the sink holds at either end differs by at most about a batch). */
  deliveredPerS: number;
  /** The sink's spool directory on disk (segments not yet deleted, cursor), largest and last of the samples over the measured seconds. */
  spoolPeakBytes: number;
  spoolEndBytes: number;
  /** NDJSON lines the collector got from this daemon over its life, after the drain. */
  delivered: number;
  /** The daemon's allowed decisions (one network event each). */
  allowed: number;
  /** Still queued after the drain wait, and lost anywhere (sink dropped + events_dropped). */
  queued: number;
  dropped: number;
  drainMs: number;
}

interface PairResult {
  a: Spec;
  b: Spec;
  /** Per round: CPU per request of b over a, minus 1. */
  ratios: number[];
  /** Per round, when exactly one daemon of the pair posts to the collector and it is an HTTP sink. */
  delivery: DeliveryRound[];
}

interface SinkSnapshot {
  lines: number;
  queued: number;
  dropped: number;
  allowed: number;
  eventsDropped: number;
}

/** Status first, then the collector: an event acknowledged by the time status answered is already counted. */
async function sinkSnapshot(origin: Origin, cordon: Cordon): Promise<SinkSnapshot> {
  const status = (await cordon.status()) as unknown as StatusResponse;
  const sink = status.sinks.find((x) => x.name === SINK_NAME);
  if (sink === undefined) throw new Error(`sink ${SINK_NAME} missing from cordon status`);
  const lines = await ingestLines(origin);
  return { lines, queued: sink.queued, dropped: sink.dropped, allowed: status.counters.allowed, eventsDropped: status.events_dropped };
}

interface Summary {
  median: number;
  mean: number;
  standardError: number;
}

function summarize(v: readonly number[]): Summary {
  const mean = v.reduce((x, y) => x + y, 0) / v.length;
  const variance = v.length > 1 ? v.reduce((x, y) => x + (y - mean) ** 2, 0) / (v.length - 1) : NaN;
  return { median: median(v), mean, standardError: Math.sqrt(variance / v.length) };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const MIB = 1024 * 1024;

interface DeliverySummary {
  deliveredPerS: string;
  spool: string;
  delivery: string;
  ok: boolean;
}

function summarizeDelivery(rounds: readonly DeliveryRound[]): DeliverySummary {
  const sum = (f: (r: DeliveryRound) => number): number => rounds.reduce((n, r) => n + f(r), 0);
  const delivered = sum((r) => r.delivered);
  const allowed = sum((r) => r.allowed);
  const queued = sum((r) => r.queued);
  const dropped = sum((r) => r.dropped);
  const peak = rounds.map((r) => r.spoolPeakBytes / MIB);
  const end = rounds.map((r) => r.spoolEndBytes / MIB);
  return {
    deliveredPerS: `median ${fmt(median(rounds.map((r) => r.deliveredPerS)))}/s (rounds ${rounds.map((r) => fmt(r.deliveredPerS)).join(', ')})`,
    spool: `peak ${Math.max(...peak).toFixed(2)} MiB (median of rounds' peaks ${median(peak).toFixed(2)}); at the end of the measured seconds median ${median(end).toFixed(2)} MiB`,
    delivery: `${fmt(delivered)} events delivered for ${fmt(allowed)} allowed decisions over ${rounds.length} daemons; still queued after the drain ${fmt(queued)} (longest drain ${fmt(Math.max(...rounds.map((r) => r.drainMs)))} ms); dropped ${fmt(dropped)}`,
    ok: rounds.length > 0 && delivered >= allowed && queued === 0 && dropped === 0,
  };
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
}

interface SpoolDiskUse {
  peak: number;
  last: number;
}

/** Samples a spool directory's size every SPOOL_SAMPLE_MS until stopped (from this process: the daemons do nothing for it). */
function sampleSpool(dir: string): () => SpoolDiskUse {
  const use: SpoolDiskUse = { peak: 0, last: 0 };
  const sample = (): void => {
    use.last = dirUsage(dir).bytes;
    use.peak = Math.max(use.peak, use.last);
  };
  const timer = setInterval(sample, SPOOL_SAMPLE_MS);
  return () => {
    clearInterval(timer);
    sample();
    return use;
  };
}

async function ingestLines(origin: Origin): Promise<number> {
  return ((await (await fetch(`http://${LOOPBACK}:${origin.ports.http}/ingest-stats`)).json()) as IngestStats).lines;
}

/** After the load: lets the sink drain and checks that every decision of the daemon's life arrived. */
async function deliveryRound(origin: Origin, cordon: Cordon, linesAtStart: number, deliveredPerS: number, spool: SpoolDiskUse): Promise<DeliveryRound> {
  const drainStart = Date.now();
  let last = await sinkSnapshot(origin, cordon);
  while (last.queued > 0 && Date.now() - drainStart < DRAIN_WAIT_MS) {
    await sleep(DRAIN_POLL_MS);
    last = await sinkSnapshot(origin, cordon);
  }
  return {
    deliveredPerS,
    spoolPeakBytes: spool.peak,
    spoolEndBytes: spool.last,
    delivered: last.lines - linesAtStart,
    allowed: last.allowed,
    queued: last.queued,
    dropped: last.dropped + last.eventsDropped,
    drainMs: Date.now() - drainStart,
  };
}

/** Starts every daemon of a pair; if one fails, stops the others before rethrowing, so none is left pinned to the daemon core. */
async function startAll(specs: readonly Spec[], start: (spec: Spec) => Promise<Cordon>): Promise<Cordon[]> {
  const settled = await Promise.allSettled(specs.map(start));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return settled.map((r) => (r as PromiseFulfilledResult<Cordon>).value);
  for (const r of settled) {
    if (r.status === 'fulfilled') {
      await r.value.stop();
      removeDir(r.value.dir);
    }
  }
  throw failed.reason;
}

/** Runs `rounds` rounds of every pair (rotating which goes first) and returns each pair's per-round ratios. */
async function measurePairs(pairs: readonly [Spec, Spec][], rounds: number, seconds: number): Promise<PairResult[]> {
  if (!canPin(availableParallelism())) throw new Error('needs taskset and at least two cores');
  const dir = makeTempDir('sink-pairs-');
  const origin = await startOrigin(ORIGIN_STREAM_BYTES);
  const results: PairResult[] = pairs.map(([a, b]) => ({ a, b, ratios: [], delivery: [] }));
  try {
    pinProcess(origin.pid, LOAD_CORE);
    const target: Endpoint = { host: '127.0.0.1', port: origin.ports.http };
    const start = async (spec: Spec): Promise<Cordon> => {
      const cordon = await startCordon({ policyYaml: BENCH_POLICY_YAML, main: spec.main, ...sinkOptions(spec, target) });
      pinProcess(cordon.pid, DAEMON_CORE);
      return cordon;
    };
    const load = (cordon: Cordon, secs: number) => runWrk(cordon.endpoint, target, { threads: 1, connections: WRK_CONNECTIONS, seconds: secs, cpuList: LOAD_CORE }, join(dir, String(cordon.pid)));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pairs.length; k++) {
        const p = (k + round) % pairs.length;
        const specs = pairs[p]!;
        const posting = specs.filter((x) => x.sink !== 'none');
        const accounted = posting.length === 1 && posting[0]!.sink === 'http' ? specs.indexOf(posting[0]!) : -1;
        const linesAtStart = accounted >= 0 ? await ingestLines(origin) : 0;
        const pair = await startAll(specs, start);
        try {
          await Promise.all(pair.map((c) => load(c, WARMUP_S)));
          // No control-socket request until the load is over: a daemon's first one after warm-up deoptimizes Node's
          // HTTP and stream code (a unix socket's objects have other maps) and measured +15 % CPU per request over
          // the next 4 s (gone 8 s later), which would be charged to the sink.
          const windowLines = accounted >= 0 ? await ingestLines(origin) : 0;
          const stopSampling = accounted >= 0 ? sampleSpool(join(pair[accounted]!.stateDir, SPOOL_DIR)) : null;
          const cpu0 = pair.map((c) => cpuSeconds(c.pid));
          const runs = await Promise.all(pair.map((c) => load(c, seconds)));
          const perRequest = pair.map((c, i) => (cpuSeconds(c.pid) - cpu0[i]!) / runs[i]!.requests);
          const spool = stopSampling?.() ?? null;
          const deliveredPerS = accounted >= 0 ? ((await ingestLines(origin)) - windowLines) / seconds : 0;
          for (const run of runs) if (run.non2xx > 0 || run.socketErrors !== '') throw new Error(`the proxy failed requests (${run.non2xx} non-2xx, socket errors: ${run.socketErrors || 'none'}): the figures would not be of proxied requests`);
          results[p]!.ratios.push(perRequest[1]! / perRequest[0]! - 1);
          if (spool !== null) results[p]!.delivery.push(await deliveryRound(origin, pair[accounted]!, linesAtStart, deliveredPerS, spool));
        } finally {
          await Promise.all(pair.map((c) => c.stop()));
          for (const c of pair) removeDir(c.dir);
        }
      }
      process.stderr.write(`sink-pairs: round ${round + 1}/${rounds} done\n`);
    }
  } finally {
    await origin.stop();
    removeDir(dir);
  }
  return results;
}

function roundsFromEnv(): { rounds: number; seconds: number } {
  return { rounds: Number(process.env.ROUNDS ?? DEFAULT_ROUNDS), seconds: Number(process.env.SECS ?? DEFAULT_MEASURE_S) };
}

/** The recorded comparison: an HTTP sink and the sink floor against none, with an A/A pair for the noise. */
export async function run(): Promise<BenchResult> {
  const { rounds, seconds } = roundsFromEnv();
  const loadStart = loadavg()[0]!;
  const none = parseSpec('');
  const [withSink, withFloor, placebo] = await measurePairs(
    [
      [none, parseSpec('@http')],
      [none, parseSpec('@floor')],
      [none, none],
    ],
    rounds,
    seconds,
  );
  const s = summarize(withSink!.ratios);
  const floor = summarize(withFloor!.ratios);
  const aa = summarize(placebo!.ratios);
  const gap = s.mean - aa.mean;
  const allowed = NOISE_STANDARD_ERRORS * Math.hypot(s.standardError, aa.standardError);
  const d = summarizeDelivery(withSink!.delivery);
  const overFloor = s.mean - floor.mean;
  const overFloorAllowed = NOISE_STANDARD_ERRORS * Math.hypot(s.standardError, floor.standardError);
  const row = (label: string, r: Summary, ratios: number[]): string => `| ${label} | ${pct(r.median)} | ${pct(r.mean)} ± ${(r.standardError * 100).toFixed(1)} | ${ratios.map(pct).join(', ')} |`;
  const markdown = [
    `Every round starts a fresh pair of daemons (\`node build/src/cli/main.js run\`, the bench policy, CORDON_LOG_LEVEL=warn, both writing \`events.jsonl\`), pins both (all threads) to core ${DAEMON_CORE} at the same time, loads each with its own wrk (-t1 -c${WRK_CONNECTIONS}, keep-alive, absolute-URI GETs) on core ${LOAD_CORE} for ${WARMUP_S} s of warm-up and ${seconds} s measured, and compares the two daemons' CPU per request over the same seconds; ${rounds} rounds, the pairs in rotating order. The sink daemon's config: \`sinks: [{name: bench, type: http, url: http://127.0.0.1:PORT${COLLECTOR_PATH}}]\`, the collector being the bench origin (core ${LOAD_CORE}). The floor daemon has no sink but bench/sink-floor.ts loaded with \`node --import\`: it encodes every dispatched line into one buffer, writes it every 50 ms, fsyncs every 250 ms and POSTs it every 100 ms to the same collector (cordon's spool and linger defaults; no spool format, cap, cursor or retry) — what any sink that keeps the spool-before-accept promise must pay. Host speed drift hits both daemons of a round alike, and fresh daemons every round average out the few per cent by which two identical daemons differ for their whole life: the two effects that made the sequential design this replaced (daemons measured one after another) 4–10 % noisy on this VM. For the HTTP sink daemon, events are counted outside cordon, as NDJSON lines at the collector over the measured seconds; \`cordon status\` is asked only after the load (a daemon's first control-socket request after warm-up deoptimizes Node's HTTP and stream code, +15 % CPU per request over the next 4 s, which would be charged to the sink); then the daemon gets up to ${DRAIN_WAIT_MS / 1000} s to deliver what it holds.`,
    '',
    `Load average (1 min) when the bench started / ended: ${loadStart.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores.`,
    '',
    '| pair: CPU per request of the second over the first | median | mean ± standard error | rounds |',
    '| --- | ---: | ---: | --- |',
    row('HTTP sink vs no sink', s, withSink!.ratios),
    row('sink floor vs no sink', floor, withFloor!.ratios),
    row('no sink vs no sink (A/A: the noise)', aa, placebo!.ratios),
    '',
    '| measure | figure | target | result |',
    '| --- | --- | --- | --- |',
    `| HTTP sink's CPU per request over no sink, beyond the A/A pair | ${pct(gap)} (mean ${pct(s.mean)} against ${pct(aa.mean)}) | within noise: \\|gap\\| ≤ ${NOISE_STANDARD_ERRORS} combined standard errors = ${(allowed * 100).toFixed(1)} points | ${Math.abs(gap) <= allowed ? 'pass' : '**miss**'} |`,
    `| events from decision through the spool to the collector under this load | ${d.deliveredPerS} | ≥ 50,000/s into the spool (pipeline capacity: bench/events.bench.ts) | not shown here: half a core of proxy makes only this many decisions |`,
    `| the sink's spool on disk under this load (sampled every ${SPOOL_SAMPLE_MS} ms) | ${d.spool} | — | — |`,
    `| delivery (collector's count of NDJSON lines from each sink daemon, after a drain) | ${d.delivery} | every decision delivered, none dropped | ${d.ok ? 'pass' : '**miss**'} |`,
    `| HTTP sink's CPU per request beyond the floor's | ${pct(overFloor)} (mean ${pct(s.mean)} against ${pct(floor.mean)}) | — (${NOISE_STANDARD_ERRORS} combined standard errors = ${(overFloorAllowed * 100).toFixed(1)} points) | ${Math.abs(overFloor) <= overFloorAllowed ? 'at the floor' : overFloor > 0 ? 'above the floor' : 'below the floor'} |`,
  ].join('\n');
  return { title: 'Sink cost under proxy load, concurrent pairs (bench/sink-pairs.bench.ts)', markdown };
}

async function main(): Promise<void> {
  const specs = process.argv.slice(2).map(parseSpec);
  if (specs.length === 0 || specs.length % 2 !== 0) throw new Error('give pairs: A B [A B ...] (see the header of bench/sink-pairs.bench.ts)');
  const pairs: [Spec, Spec][] = [];
  for (let i = 0; i < specs.length; i += 2) pairs.push([specs[i]!, specs[i + 1]!]);
  const { rounds, seconds } = roundsFromEnv();
  for (const r of await measurePairs(pairs, rounds, seconds)) {
    const sum = summarize(r.ratios);
    console.log(`${r.b.label} vs ${r.a.label}: CPU per request median ${pct(sum.median)}, mean ${pct(sum.mean)} ± ${(sum.standardError * 100).toFixed(1)} (standard error); rounds ${r.ratios.map(pct).join(', ')}`);
    if (r.delivery.length > 0) {
      const d = summarizeDelivery(r.delivery);
      console.log(`  events delivered ${d.deliveredPerS}; spool on disk ${d.spool}; ${d.delivery}: ${d.ok ? 'all delivered' : 'NOT all delivered'}`);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
