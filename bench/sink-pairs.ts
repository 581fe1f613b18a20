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
 * Run an A/A pair in the same invocation to see the noise.
 *
 *   npx tsc -p tsconfig.bench.json
 *   node build/bench/sink-pairs.js A B [A B ...]
 *
 * Each A or B is a CLI entry point (default build/src/cli/main.js; another
 * build to try a change), with "@http" to give that daemon an HTTP sink
 * whose collector is the bench origin. ROUNDS (default 12) and SECS
 * (default 4) set the rounds and the measured seconds per round. Traffic
 * stays on loopback.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { BENCH_POLICY_YAML, CORDON_MAIN, canPin, cpuSeconds, makeTempDir, median, pinProcess, removeDir, runWrk, startCordon, startOrigin } from './proxy-harness.js';
import type { Cordon, Endpoint } from './proxy-harness.js';

const DEFAULT_ROUNDS = 12;
const DEFAULT_MEASURE_S = 4;
const WARMUP_S = 3;
const WRK_CONNECTIONS = 50;
const DAEMON_CORE = '0';
const LOAD_CORE = '1';
/** Origin streams (unused here) are capped at this; the origin only answers small GETs and sink POSTs. */
const ORIGIN_STREAM_BYTES = 1024 * 1024;

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

async function main(): Promise<void> {
  const specs = process.argv.slice(2).map(parseSpec);
  if (specs.length === 0 || specs.length % 2 !== 0) throw new Error('give pairs: A B [A B ...] (see the header of bench/sink-pairs.ts)');
  if (!canPin(availableParallelism())) throw new Error('needs taskset and at least two cores');
  const rounds = Number(process.env.ROUNDS ?? DEFAULT_ROUNDS);
  const seconds = Number(process.env.SECS ?? DEFAULT_MEASURE_S);
  const dir = makeTempDir('sink-pairs-');
  const origin = await startOrigin(ORIGIN_STREAM_BYTES);
  pinProcess(origin.pid, LOAD_CORE);
  const target: Endpoint = { host: '127.0.0.1', port: origin.ports.http };
  const start = async (spec: Spec): Promise<Cordon> => {
    const cordon = await startCordon({ policyYaml: BENCH_POLICY_YAML, main: spec.main, ...(spec.sink ? { configYaml: sinkConfig(target) } : {}) });
    pinProcess(cordon.pid, DAEMON_CORE);
    return cordon;
  };
  const load = (cordon: Cordon, secs: number) => runWrk(cordon.endpoint, target, { threads: 1, connections: WRK_CONNECTIONS, seconds: secs, cpuList: LOAD_CORE }, join(dir, String(cordon.pid)));
  const pairs = specs.length / 2;
  const ratios: number[][] = Array.from({ length: pairs }, () => []);
  try {
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pairs; k++) {
        const p = (k + round) % pairs;
        const pair = await Promise.all([start(specs[2 * p]!), start(specs[2 * p + 1]!)]);
        try {
          await Promise.all(pair.map((c) => load(c, WARMUP_S)));
          const cpu0 = pair.map((c) => cpuSeconds(c.pid));
          const runs = await Promise.all(pair.map((c) => load(c, seconds)));
          for (const run of runs) if (run.non2xx > 0 || run.socketErrors !== '') throw new Error(`the proxy failed requests (${run.non2xx} non-2xx, socket errors: ${run.socketErrors || 'none'}): the figures would not be of proxied requests`);
          const perRequest = pair.map((c, i) => (cpuSeconds(c.pid) - cpu0[i]!) / runs[i]!.requests);
          ratios[p]!.push(perRequest[1]! / perRequest[0]! - 1);
        } finally {
          await Promise.all(pair.map((c) => c.stop()));
        }
      }
      process.stderr.write(`round ${round + 1}/${rounds} done\n`);
    }
  } finally {
    await origin.stop();
    removeDir(dir);
  }
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  for (let p = 0; p < pairs; p++) {
    const v = ratios[p]!;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const se = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1) / v.length) : NaN;
    console.log(`${specs[2 * p + 1]!.label} vs ${specs[2 * p]!.label}: CPU per request median ${pct(median(v))}, mean ${pct(mean)} ± ${(se * 100).toFixed(1)} (standard error); rounds ${v.map(pct).join(', ')}`);
  }
}

await main();
