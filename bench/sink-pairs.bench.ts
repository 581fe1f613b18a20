/**
 * Concurrent A/B of two cordon builds or configurations under proxy load:
 * the tool behind the sink-cost comparisons in bench/RESULTS.md that the
 * sequential sink-overhead bench cannot resolve on this VM.
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
 * whose collector is the bench origin. ROUNDS (default 12) and SECS
 * (default 4) set the rounds and the measured seconds per round. Traffic
 * stays on loopback.
 */
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_POLICY_YAML, CORDON_MAIN, canPin, cpuSeconds, makeTempDir, median, pinProcess, removeDir, runWrk, startCordon, startOrigin } from './proxy-harness.js';
import type { Cordon, Endpoint } from './proxy-harness.js';
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

interface Spec {
  main: string;
  sink: boolean;
  label: string;
}

function parseSpec(arg: string): Spec {
  const [path, extra] = arg.split('@');
  if (extra !== undefined && extra !== 'http') throw new Error(`unknown suffix @${extra} in ${arg}: only @http is known`);
  const main = path === undefined || path === '' ? CORDON_MAIN : path;
  return { main, sink: extra === 'http', label: arg === '' ? 'default' : arg };
}

function sinkConfig(collector: Endpoint): string {
  return `sinks:\n  - name: bench\n    type: http\n    url: http://${collector.host}:${collector.port}/ingest\n`;
}

interface PairResult {
  a: Spec;
  b: Spec;
  /** Per round: CPU per request of b over a, minus 1. */
  ratios: number[];
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

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
}

/** Runs `rounds` rounds of every pair (rotating which goes first) and returns each pair's per-round ratios. */
async function measurePairs(pairs: readonly [Spec, Spec][], rounds: number, seconds: number): Promise<PairResult[]> {
  if (!canPin(availableParallelism())) throw new Error('needs taskset and at least two cores');
  const dir = makeTempDir('sink-pairs-');
  const origin = await startOrigin(ORIGIN_STREAM_BYTES);
  const results: PairResult[] = pairs.map(([a, b]) => ({ a, b, ratios: [] }));
  try {
    pinProcess(origin.pid, LOAD_CORE);
    const target: Endpoint = { host: '127.0.0.1', port: origin.ports.http };
    const start = async (spec: Spec): Promise<Cordon> => {
      const cordon = await startCordon({ policyYaml: BENCH_POLICY_YAML, main: spec.main, ...(spec.sink ? { configYaml: sinkConfig(target) } : {}) });
      pinProcess(cordon.pid, DAEMON_CORE);
      return cordon;
    };
    const load = (cordon: Cordon, secs: number) => runWrk(cordon.endpoint, target, { threads: 1, connections: WRK_CONNECTIONS, seconds: secs, cpuList: LOAD_CORE }, join(dir, String(cordon.pid)));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pairs.length; k++) {
        const p = (k + round) % pairs.length;
        const pair = await Promise.all(pairs[p]!.map(start));
        try {
          await Promise.all(pair.map((c) => load(c, WARMUP_S)));
          const cpu0 = pair.map((c) => cpuSeconds(c.pid));
          const runs = await Promise.all(pair.map((c) => load(c, seconds)));
          for (const run of runs) if (run.non2xx > 0 || run.socketErrors !== '') throw new Error(`the proxy failed requests (${run.non2xx} non-2xx, socket errors: ${run.socketErrors || 'none'}): the figures would not be of proxied requests`);
          const perRequest = pair.map((c, i) => (cpuSeconds(c.pid) - cpu0[i]!) / runs[i]!.requests);
          results[p]!.ratios.push(perRequest[1]! / perRequest[0]! - 1);
        } finally {
          await Promise.all(pair.map((c) => c.stop()));
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

/** The recorded comparison: an HTTP sink against none, with an A/A pair for the noise. */
export async function run(): Promise<BenchResult> {
  const { rounds, seconds } = roundsFromEnv();
  const loadStart = loadavg()[0]!;
  const none = parseSpec('');
  const sink = parseSpec('@http');
  const [withSink, placebo] = await measurePairs(
    [
      [none, sink],
      [none, none],
    ],
    rounds,
    seconds,
  );
  const s = summarize(withSink!.ratios);
  const aa = summarize(placebo!.ratios);
  const gap = s.mean - aa.mean;
  const allowed = NOISE_STANDARD_ERRORS * Math.hypot(s.standardError, aa.standardError);
  const row = (label: string, r: Summary, ratios: number[]): string => `| ${label} | ${pct(r.median)} | ${pct(r.mean)} ± ${(r.standardError * 100).toFixed(1)} | ${ratios.map(pct).join(', ')} |`;
  const markdown = [
    `Every round starts a fresh pair of daemons (\`node build/src/cli/main.js run\`, the bench policy, CORDON_LOG_LEVEL=warn, both writing \`events.jsonl\`), pins both (all threads) to core ${DAEMON_CORE} at the same time, loads each with its own wrk (-t1 -c${WRK_CONNECTIONS}, keep-alive, absolute-URI GETs) on core ${LOAD_CORE} for ${WARMUP_S} s of warm-up and ${seconds} s measured, and compares the two daemons' CPU per request over the same seconds; ${rounds} rounds, the pairs in rotating order. The sink daemon's config: \`sinks: [{name: bench, type: http, url: http://127.0.0.1:PORT/ingest}]\`, the collector being the bench origin (core ${LOAD_CORE}). Host speed drift hits both daemons of a round alike, and fresh daemons every round average out the few per cent by which two identical daemons differ for their whole life — the two effects that make the sequential sink-overhead bench's noise 4–10 % on this VM.`,
    '',
    `Load average (1 min) when the bench started / ended: ${loadStart.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores.`,
    '',
    '| pair: CPU per request of the second over the first | median | mean ± standard error | rounds |',
    '| --- | ---: | ---: | --- |',
    row('HTTP sink vs no sink', s, withSink!.ratios),
    row('no sink vs no sink (A/A: the noise)', aa, placebo!.ratios),
    '',
    '| measure | figure | target | result |',
    '| --- | --- | --- | --- |',
    `| HTTP sink's CPU per request over no sink, beyond the A/A pair | ${pct(gap)} (mean ${pct(s.mean)} against ${pct(aa.mean)}) | within noise: \\|gap\\| ≤ ${NOISE_STANDARD_ERRORS} combined standard errors = ${(allowed * 100).toFixed(1)} points | ${Math.abs(gap) <= allowed ? 'pass' : '**miss**'} |`,
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
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
