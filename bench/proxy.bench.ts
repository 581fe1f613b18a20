/**
 * Proxy benchmark (issue 3, "Must show"): side by side in one run on
 * loopback, a direct connection to the origin, the real cordon daemon and
 * squid (Debian's, with a no-cache config written here):
 *
 * 1. CONNECT tunnel throughput for a 1 GiB download (raw TCP origin on a port
 *    outside cordon's TLS-checked list), target cordon ≥ 0.8 × direct;
 * 2. plain-HTTP forwarded requests per second, small responses, wrk with
 *    keep-alive and absolute-URI requests, target cordon ≥ squid;
 * 3. CONNECT setup latency (TCP connect → "200" → one byte echoed back),
 *    N sequential, target added p99 over direct < 1 ms.
 *
 * The origin, cordon, squid, wrk and this process are separate processes
 * sharing the machine's cores, as they would on a laptop. Measurements are
 * interleaved in rounds (the order rotates) so that a noisy neighbour hurts
 * every contender alike; the median round is reported. CPU seconds used by
 * each proxy process during each measurement come from /proc.
 *
 * BENCH_CORDON_PROF=DIR runs the daemon with --cpu-prof into DIR.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from './types.js';
import {
  BENCH_POLICY_YAML,
  connectEcho,
  cpuSeconds,
  download,
  LOOPBACK,
  makeTempDir,
  median,
  percentile,
  removeDir,
  runWrk,
  startCordon,
  startOrigin,
  startSquid,
  type Cordon,
  type Endpoint,
  type Origin,
  type Squid,
  type WrkResult,
} from './proxy-harness.js';

const GIB = 2 ** 30;
const MIB = 2 ** 20;
const STREAM_BYTES = GIB;
const THROUGHPUT_ROUNDS = 3;
const DOWNLOAD_TIMEOUT_MS = 180_000;
const TARGET_THROUGHPUT_RATIO = 0.8;

const WRK_THREADS = 2;
const WRK_CONNECTIONS = 50;
const WRK_SECONDS = 10;
/** The daemon's JIT needs ~8 s of this load before its per-request cost settles. */
const WRK_WARMUP_SECONDS = 10;
const WRK_ROUNDS = 3;

const LATENCY_SAMPLES = 2000;
const LATENCY_ROUNDS = 4;
const LATENCY_WARMUP = 200;
const LATENCY_TIMEOUT_MS = 5_000;
const TARGET_ADDED_P99_MS = 1;

type Contender = 'direct' | 'cordon' | 'squid';
const CONTENDERS: readonly Contender[] = ['direct', 'cordon', 'squid'];

interface Peers {
  origin: Origin;
  cordon: Cordon;
  squid: Squid;
}

function proxyOf(peers: Peers, who: Contender): Endpoint | null {
  return who === 'direct' ? null : who === 'cordon' ? peers.cordon.endpoint : peers.squid.endpoint;
}

function pidOf(peers: Peers, who: Contender): number {
  return who === 'direct' ? peers.origin.pid : who === 'cordon' ? peers.cordon.pid : peers.squid.pid;
}

/** Round r runs the contenders rotated by r, so none is always first or last. */
function rotation(r: number): Contender[] {
  return CONTENDERS.map((_, i) => CONTENDERS[(i + r) % CONTENDERS.length]);
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pass = (ok: boolean) => (ok ? 'pass' : '**miss**');

// ------------------------------------------------------------ throughput

interface ThroughputRow {
  mibps: number[];
  cpuPerGib: number[];
}

async function measureThroughput(peers: Peers): Promise<Record<Contender, ThroughputRow>> {
  const rows = Object.fromEntries(CONTENDERS.map((c) => [c, { mibps: [], cpuPerGib: [] }])) as unknown as Record<Contender, ThroughputRow>;
  const target: Endpoint = { host: LOOPBACK, port: peers.origin.ports.stream };
  for (let r = 0; r < THROUGHPUT_ROUNDS; r++) {
    for (const who of rotation(r)) {
      const pid = pidOf(peers, who);
      const cpu0 = cpuSeconds(pid);
      const d = await download(proxyOf(peers, who), target, STREAM_BYTES, DOWNLOAD_TIMEOUT_MS);
      const cpu = cpuSeconds(pid) - cpu0;
      rows[who].mibps.push(d.bytes / MIB / d.seconds);
      rows[who].cpuPerGib.push(cpu / (d.bytes / GIB));
      process.stdout.write(`  throughput round ${r + 1} ${who}: ${fmt(d.bytes / MIB / d.seconds)} MiB/s\n`);
    }
  }
  return rows;
}

// ------------------------------------------------------------ requests/s

interface RpsRow {
  runs: WrkResult[];
  cpuPerKReq: number[];
}

async function measureRps(peers: Peers, dir: string): Promise<Record<Contender, RpsRow>> {
  const rows = Object.fromEntries(CONTENDERS.map((c) => [c, { runs: [], cpuPerKReq: [] }])) as unknown as Record<Contender, RpsRow>;
  const origin: Endpoint = { host: LOOPBACK, port: peers.origin.ports.http };
  for (const who of CONTENDERS) {
    await runWrk(proxyOf(peers, who), origin, { threads: WRK_THREADS, connections: WRK_CONNECTIONS, seconds: WRK_WARMUP_SECONDS }, dir);
  }
  for (let r = 0; r < WRK_ROUNDS; r++) {
    for (const who of rotation(r)) {
      const pid = pidOf(peers, who);
      const cpu0 = cpuSeconds(pid);
      const w = await runWrk(proxyOf(peers, who), origin, { threads: WRK_THREADS, connections: WRK_CONNECTIONS, seconds: WRK_SECONDS }, dir);
      const cpu = cpuSeconds(pid) - cpu0;
      rows[who].runs.push(w);
      rows[who].cpuPerKReq.push((cpu / w.requests) * 1000);
      process.stdout.write(`  wrk round ${r + 1} ${who}: ${fmt(w.rps)} req/s (non-2xx ${w.non2xx}${w.socketErrors ? `, socket errors ${w.socketErrors}` : ''})\n`);
    }
  }
  return rows;
}

// ------------------------------------------------------------ setup latency

async function measureLatency(peers: Peers): Promise<Record<Contender, number[]>> {
  const samples = Object.fromEntries(CONTENDERS.map((c) => [c, []])) as unknown as Record<Contender, number[]>;
  const target: Endpoint = { host: LOOPBACK, port: peers.origin.ports.echo };
  for (const who of CONTENDERS) {
    for (let i = 0; i < LATENCY_WARMUP; i++) await connectEcho(proxyOf(peers, who), target, LATENCY_TIMEOUT_MS);
  }
  const perRound = LATENCY_SAMPLES / LATENCY_ROUNDS;
  for (let r = 0; r < LATENCY_ROUNDS; r++) {
    for (const who of rotation(r)) {
      for (let i = 0; i < perRound; i++) samples[who].push(await connectEcho(proxyOf(peers, who), target, LATENCY_TIMEOUT_MS));
    }
  }
  for (const who of CONTENDERS) samples[who].sort((a, b) => a - b);
  return samples;
}

// ------------------------------------------------------------ report

function report(
  squidVersion: string,
  tp: Record<Contender, ThroughputRow>,
  rps: Record<Contender, RpsRow>,
  lat: Record<Contender, number[]>,
  profiled: boolean,
  load: { start: number; end: number },
): string {
  const mibps = (who: Contender) => median(tp[who].mibps);
  const tpRatio = mibps('cordon') / mibps('direct');
  const meanRps = (who: Contender) => median(rps[who].runs.map((w) => w.rps));
  const rpsRatio = meanRps('cordon') / meanRps('squid');
  const p = (who: Contender, q: number) => percentile(lat[who], q);
  const added = (who: Contender, q: number) => p(who, q) - p('direct', q);
  const lines: string[] = [];
  lines.push(
    `Everything on 127.0.0.1. Separate processes share the ${cpus().length} cores: the bench origin (node, bench/loopback-origin.ts), ` +
      `the cordon daemon (\`node build/src/cli/main.js run\`, CORDON_LOG_LEVEL=warn, a policy allowing 127.0.0.1 by address and \`localhost\` by name, ` +
      `every decision written to \`events.jsonl\`), squid ${squidVersion} (\`squid -N\`, \`cache deny all\`, \`cache_mem 0\`, access.log on, one process), ` +
      `wrk, and this node process as the tunnel client. Contenders run interleaved in rounds with a rotating order; figures are the median round.` +
      (profiled ? ' **This run had the daemon under `--cpu-prof`, which slows it.**' : ''),
  );
  lines.push('');
  lines.push('| measure | direct | cordon | squid | cordon vs | target | result |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- |');
  lines.push(
    `| CONNECT tunnel, 1 GiB download (MiB/s) | ${fmt(mibps('direct'))} | ${fmt(mibps('cordon'))} | ${fmt(mibps('squid'))} | ` +
      `${tpRatio.toFixed(2)} × direct (squid ${(mibps('squid') / mibps('direct')).toFixed(2)} ×) | ≥ ${TARGET_THROUGHPUT_RATIO} × direct | ${pass(tpRatio >= TARGET_THROUGHPUT_RATIO)} |`,
  );
  lines.push(
    `| plain-HTTP forwarded requests/s (wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${WRK_SECONDS}s, keep-alive) | ${fmt(meanRps('direct'))} | ${fmt(meanRps('cordon'))} | ${fmt(meanRps('squid'))} | ` +
      `${rpsRatio.toFixed(2)} × squid | ≥ 1.00 × squid | ${pass(rpsRatio >= 1)} |`,
  );
  lines.push(
    `| CONNECT setup + first echo, p50 (ms) | ${p('direct', 50).toFixed(3)} | ${p('cordon', 50).toFixed(3)} | ${p('squid', 50).toFixed(3)} | ` +
      `+${added('cordon', 50).toFixed(3)} ms (squid +${added('squid', 50).toFixed(3)}) | — | — |`,
  );
  lines.push(
    `| CONNECT setup + first echo, p99 (ms) | ${p('direct', 99).toFixed(3)} | ${p('cordon', 99).toFixed(3)} | ${p('squid', 99).toFixed(3)} | ` +
      `+${added('cordon', 99).toFixed(3)} ms (squid +${added('squid', 99).toFixed(3)}) | added < ${TARGET_ADDED_P99_MS} ms | ${pass(added('cordon', 99) < TARGET_ADDED_P99_MS)} |`,
  );
  const cpuGib = (who: Contender) => median(tp[who].cpuPerGib);
  const cpuReq = (who: Contender) => median(rps[who].cpuPerKReq) * 1000;
  lines.push(
    `| proxy process CPU per GiB tunnelled (s) | (origin ${cpuGib('direct').toFixed(2)}) | ${cpuGib('cordon').toFixed(2)} | ${cpuGib('squid').toFixed(2)} | ` +
      `${(cpuGib('cordon') / cpuGib('squid')).toFixed(2)} × squid | — | — |`,
  );
  lines.push(
    `| proxy process CPU per forwarded request (µs) | (origin ${fmt(cpuReq('direct'))}) | ${fmt(cpuReq('cordon'))} | ${fmt(cpuReq('squid'))} | ` +
      `${(cpuReq('cordon') / cpuReq('squid')).toFixed(2)} × squid | — | — |`,
  );
  lines.push('');
  lines.push(`Load average (1 min) when the bench started / ended: ${load.start.toFixed(1)} / ${load.end.toFixed(1)} on ${cpus().length} cores — other work was running; CPU per unit of work is the steadier comparison.`);
  lines.push('');
  lines.push('Details (one figure per round, in round order):');
  lines.push('');
  lines.push('| measure | contender | rounds | proxy CPU | notes |');
  lines.push('| --- | --- | --- | --- | --- |');
  for (const who of CONTENDERS) {
    const cpu = median(tp[who].cpuPerGib);
    lines.push(
      `| tunnel MiB/s | ${who} | ${tp[who].mibps.map((v) => fmt(v)).join(', ')} | ${who === 'direct' ? `origin ${cpu.toFixed(2)} s/GiB` : `${cpu.toFixed(2)} s/GiB`} | |`,
    );
  }
  for (const who of CONTENDERS) {
    const runs = rps[who].runs;
    const cpu = median(rps[who].cpuPerKReq);
    const errors = runs.map((w) => w.socketErrors).filter((e) => e !== '');
    lines.push(
      `| requests/s | ${who} | ${runs.map((w) => fmt(w.rps)).join(', ')} | ${who === 'direct' ? `origin ${fmt(cpu * 1000)} µs/req` : `${fmt(cpu * 1000)} µs/req`} | ` +
        `wrk latency p50/p99 ${runs.map((w) => `${w.latencyP50}/${w.latencyP99}`).join(', ')}; non-2xx ${runs.reduce((a, w) => a + w.non2xx, 0)}` +
        `${errors.length > 0 ? `; socket errors ${errors.join(' / ')}` : ''} |`,
    );
  }
  for (const who of CONTENDERS) {
    const s = lat[who];
    lines.push(
      `| setup latency | ${who} | N=${s.length} (${LATENCY_ROUNDS} rounds, ${LATENCY_WARMUP} warm-up each) | — | p50 ${p(who, 50).toFixed(3)} ms, p90 ${p(who, 90).toFixed(3)}, p99 ${p(who, 99).toFixed(3)}, max ${s[s.length - 1].toFixed(3)} |`,
    );
  }
  lines.push('');
  lines.push(
    'Notes: "proxy CPU" is user+system time of the proxy process (or the origin, for direct) during the measurement, from /proc. ' +
      'The direct tunnel row is the origin streaming straight into the client; a proxy adds a second socket pair and a copy through user space, ' +
      'so on 2 shared cores the ratio also reflects CPU contention between origin, proxy and client. ' +
      'Setup latency is measured from the connect() call to the echoed byte, sequentially, one connection at a time (direct: connect + one byte echoed).',
  );
  return lines.join('\n');
}

export async function run(): Promise<BenchResult> {
  const dir = makeTempDir('proxy-bench-');
  const profDir = process.env.BENCH_CORDON_PROF;
  let origin: Origin | null = null;
  let cordon: Cordon | null = null;
  let squid: Squid | null = null;
  try {
    origin = await startOrigin(STREAM_BYTES);
    cordon = await startCordon({ policyYaml: BENCH_POLICY_YAML, nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [] });
    squid = await startSquid([origin.ports.stream, origin.ports.echo]);
    const peers: Peers = { origin, cordon, squid };
    process.stdout.write(`  origin ${JSON.stringify(origin.ports)}, cordon ${cordon.endpoint.port} (pid ${cordon.pid}), squid ${squid.endpoint.port} (pid ${squid.pid})\n`);
    const load = { start: loadavg()[0], end: NaN };
    const lat = await measureLatency(peers);
    const tp = await measureThroughput(peers);
    const rps = await measureRps(peers, join(dir, 'wrk'));
    load.end = loadavg()[0];
    return { title: 'Proxy: tunnel throughput, forwarded requests/s, CONNECT setup latency (bench/proxy.bench.ts)', markdown: report(squid.version, tp, rps, lat, !!profDir, load) };
  } finally {
    await squid?.stop();
    await cordon?.stop();
    if (cordon) removeDir(cordon.dir);
    await origin?.stop();
    removeDir(dir);
  }
}
