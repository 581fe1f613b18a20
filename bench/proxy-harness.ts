/**
 * What the proxy benchmarks share: starting the three peers as separate
 * processes on loopback (the bench origin, the real cordon daemon, squid with
 * a config of our own), the load clients (a CONNECT-tunnel download, a
 * CONNECT-and-echo round trip, wrk with absolute-URI requests), reading a
 * process's CPU time from /proc, and percentiles. Every wait has a deadline
 * and every child is killed by its own pid when the bench ends.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OriginPorts } from './loopback-origin.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** build/ — the bench compile (tsconfig.bench.json) also compiles src/ here. */
const BUILD_DIR = join(HERE, '..');
export const REPO_DIR = join(BUILD_DIR, '..');
/** The daemon as compiled by the same `tsc -p tsconfig.bench.json` that built this bench, so it is never stale. */
export const CORDON_MAIN = join(BUILD_DIR, 'src', 'cli', 'main.js');
const ORIGIN_MAIN = join(HERE, 'loopback-origin.js');
export const SQUID_BIN = '/usr/sbin/squid';
export const WRK_BIN = '/usr/bin/wrk';
export const TASKSET_BIN = '/usr/bin/taskset';
export const LOOPBACK = '127.0.0.1';

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 100;
const CLK_TCK = 100;
const NS_PER_MS = 1e6;
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** A status line the CONNECT answer must start with (squid says HTTP/1.1 200 Connection established). */
const CONNECT_OK = /^HTTP\/1\.[01] 200/;

export interface Endpoint {
  host: string;
  port: number;
}

export interface Peer {
  name: string;
  endpoint: Endpoint;
  pid: number;
  stop(): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A port that was free a moment ago (for squid, which cannot listen on port 0 and tell us). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, LOOPBACK, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: LOOPBACK, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Sends SIGTERM to this child (by pid), SIGKILL after the deadline; resolves when it has exited. */
export function stopChild(child: ChildProcess, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function collect(child: ChildProcess, limit = 64 * 1024): () => string {
  let text = '';
  const add = (b: Buffer) => {
    if (text.length < limit) text += b.toString('utf8');
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

// ---------------------------------------------------------------- origin

export interface Origin {
  ports: OriginPorts;
  pid: number;
  stop(): Promise<void>;
}

export async function startOrigin(streamBytes: number): Promise<Origin> {
  const child = spawn(process.execPath, [ORIGIN_MAIN, String(streamBytes)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const ports = await new Promise<OriginPorts>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`origin did not start: ${err}`)), STARTUP_TIMEOUT_MS);
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.slice(0, nl)) as OriginPorts);
    });
    child.once('exit', (code) => reject(new Error(`origin exited (${code}): ${err}`)));
  });
  return {
    ports,
    pid: child.pid!,
    stop: async () => {
      child.stdin!.end();
      await stopChild(child);
    },
  };
}

// ---------------------------------------------------------------- cordon

export interface CordonOptions {
  policyYaml: string;
  /** A daemon config file (YAML) to pass with --config, e.g. for sinks. */
  configYaml?: string;
  /** Extra node flags for the daemon (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Another build of the CLI entry point (default CORDON_MAIN), e.g. a patched copy to try a change. */
  main?: string;
  /** Extra environment for the daemon, given its temp dir (e.g. for a file inside it). */
  env?: (dir: string) => Record<string, string>;
}

export interface Cordon extends Peer {
  dir: string;
  stateDir: string;
  socket: string;
  status(): Promise<Record<string, unknown>>;
}

function cordonStatus(main: string, socket: string): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, 'status', '--json', '--socket', socket], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return resolve(null);
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch {
        resolve(null);
      }
    });
  });
}

function parseListen(text: string): Endpoint {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

export async function startCordon(opts: CordonOptions): Promise<Cordon> {
  const main = opts.main ?? CORDON_MAIN;
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -p tsconfig.bench.json\` first`);
  const dir = makeTempDir('cordon-bench-');
  const stateDir = join(dir, 'state');
  const socket = join(dir, 'cordon.sock');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, opts.policyYaml);
  const args = [...(opts.nodeArgs ?? []), main, 'run', '--listen', `${LOOPBACK}:0`, '--socket', socket, '--state-dir', stateDir, '--policy', policy];
  if (opts.configYaml !== undefined) {
    const config = join(dir, 'cordon.yaml');
    writeFileSync(config, opts.configYaml);
    args.push('--config', config);
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CORDON_LOG_LEVEL: 'warn', ...opts.env?.(dir) }, cwd: dir });
  const output = collect(child);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let status: Record<string, unknown> | null = null;
  while (status === null) {
    if (child.exitCode !== null) throw new Error(`cordon exited (${child.exitCode}): ${output()}`);
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`cordon did not answer status within ${STARTUP_TIMEOUT_MS} ms: ${output()}`);
    }
    await sleep(POLL_INTERVAL_MS);
    if (existsSync(socket)) status = await cordonStatus(main, socket);
  }
  const listeners = status.listeners as { proxy: string };
  return {
    name: 'cordon',
    endpoint: parseListen(listeners.proxy),
    pid: child.pid!,
    dir,
    stateDir,
    socket,
    status: async () => {
      const s = await cordonStatus(main, socket);
      if (s === null) throw new Error('cordon status failed');
      return s;
    },
    stop: async () => {
      await stopChild(child);
      const tail = output().trim();
      if (tail !== '') process.stderr.write(`cordon output (level warn and above):\n${tail.slice(0, 4000)}\n`);
    },
  };
}

// ---------------------------------------------------------------- squid

export interface Squid extends Peer {
  dir: string;
  version: string;
}

function squidUser(): number | null {
  if (process.getuid?.() !== 0) return null;
  try {
    return Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

/**
 * Squid with no cache at all, one process (-N: no daemon, no SMP kids),
 * allowing loopback clients and CONNECT to the given ports, logging every
 * request like cordon does (access.log in the temp dir). As root, squid
 * refuses to keep root and drops to `cache_effective_user`: Debian's `proxy`,
 * which owns the temp dir.
 */
export async function startSquid(connectPorts: number[]): Promise<Squid> {
  if (!existsSync(SQUID_BIN)) throw new Error(`${SQUID_BIN} is not installed (apt-get install squid)`);
  const dir = makeTempDir('squid-bench-');
  const port = await freePort();
  const uid = squidUser();
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port ${LOOPBACK}:${port}`,
      `acl bench_clients src 127.0.0.0/8`,
      `acl SSL_ports port ${connectPorts.join(' ')}`,
      'acl CONNECT method CONNECT',
      'http_access deny CONNECT !SSL_ports',
      'http_access allow bench_clients',
      'http_access deny all',
      'cache deny all',
      'cache_mem 0 MB',
      ...(uid !== null ? ['cache_effective_user proxy'] : []),
      `pid_filename ${join(dir, 'squid.pid')}`,
      `access_log stdio:${join(dir, 'access.log')}`,
      `cache_log ${join(dir, 'cache.log')}`,
      'cache_store_log none',
      `coredump_dir ${dir}`,
      'pinger_enable off',
      'shutdown_lifetime 0 seconds',
      '',
    ].join('\n'),
  );
  if (uid !== null) chownSync(dir, uid, uid);
  const child = spawn(SQUID_BIN, ['-N', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const output = collect(child);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await portAnswers(port))) {
    if (child.exitCode !== null) throw new Error(`squid exited (${child.exitCode}): ${output()} ${readIfExists(join(dir, 'cache.log'))}`);
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`squid did not listen within ${STARTUP_TIMEOUT_MS} ms: ${readIfExists(join(dir, 'cache.log'))}`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
  const version = execFileSync(SQUID_BIN, ['-v'], { encoding: 'utf8' }).split('\n')[0].replace(/^Squid Cache: Version /, '');
  return {
    name: 'squid',
    endpoint: { host: LOOPBACK, port },
    pid: child.pid!,
    dir,
    version,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- /proc

/** User+system CPU seconds a process has used so far (Linux /proc; NaN elsewhere). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- clients

function connectRequest(target: Endpoint): string {
  const authority = `${target.host}:${target.port}`;
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

type ConnectReply = { kind: 'partial' } | { kind: 'refused'; statusLine: string } | { kind: 'open'; rest: number };

/** Reads a proxy's CONNECT reply from the bytes received so far; `rest` is how many tunnel bytes followed it. */
function parseConnectReply(header: Buffer): ConnectReply {
  const end = header.indexOf(CRLFCRLF);
  if (end === -1) return { kind: 'partial' };
  const head = header.subarray(0, end).toString('latin1');
  if (!CONNECT_OK.test(head)) return { kind: 'refused', statusLine: head.split('\r\n')[0] };
  return { kind: 'open', rest: header.length - end - CRLFCRLF.length };
}

export interface Download {
  bytes: number;
  seconds: number;
}

/**
 * Reads everything the stream origin sends, directly (proxy null) or through
 * a CONNECT tunnel; timed from the connect call to the end of the stream.
 */
export function download(proxy: Endpoint | null, target: Endpoint, expected: number, timeoutMs: number): Promise<Download> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const s = connect(proxy ?? target);
    let bytes = 0;
    let header: Buffer | null = proxy === null ? null : Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`download timed out after ${timeoutMs} ms with ${bytes} bytes`));
    }, timeoutMs);
    s.once('connect', () => {
      if (proxy !== null) s.write(connectRequest(target));
    });
    s.on('data', (chunk: Buffer) => {
      if (header !== null) {
        header = Buffer.concat([header, chunk]);
        const reply = parseConnectReply(header);
        if (reply.kind === 'partial') return;
        if (reply.kind === 'refused') {
          clearTimeout(timer);
          s.destroy();
          reject(new Error(`CONNECT refused: ${reply.statusLine}`));
          return;
        }
        bytes += reply.rest;
        header = null;
        return;
      }
      bytes += chunk.length;
    });
    s.once('end', () => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      s.destroy();
      if (bytes !== expected) reject(new Error(`download got ${bytes} bytes, expected ${expected}`));
      else resolve({ bytes, seconds });
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * One CONNECT setup: TCP connect, CONNECT (when proxied), wait for the 200,
 * send one byte and wait for it to come back from the echo origin. Returns
 * the elapsed time in ms.
 */
export function connectEcho(proxy: Endpoint | null, target: Endpoint, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const s = connect(proxy ?? target);
    s.setNoDelay(true);
    let header: Buffer | null = proxy === null ? null : Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`CONNECT+echo timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.once('connect', () => {
      if (proxy !== null) s.write(connectRequest(target));
      else s.write('x');
    });
    s.on('data', (chunk: Buffer) => {
      if (header !== null) {
        header = Buffer.concat([header, chunk]);
        const reply = parseConnectReply(header);
        if (reply.kind === 'partial') return;
        if (reply.kind === 'refused') return fail(new Error(`CONNECT refused: ${reply.statusLine}`));
        header = null;
        if (reply.rest > 0) return fail(new Error('echo origin sent bytes before the client did'));
        s.write('x');
        return;
      }
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / NS_PER_MS;
      s.destroy();
      resolve(ms);
    });
    s.once('error', fail);
  });
}

export interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: string;
  latencyP50: string;
  latencyP99: string;
}

/**
 * Pins every thread of `pid` to `cpuList` (taskset syntax, e.g. "0" or "1-3").
 * Benchmarks that compare daemons pin them so that the scheduler's placement
 * (proxy and load generator sharing a core or not) does not decide the result.
 */
export function pinProcess(pid: number, cpuList: string): void {
  execFileSync(TASKSET_BIN, ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** Whether pinning is possible here: taskset present and at least two cores. */
export function canPin(cores: number): boolean {
  return cores >= 2 && existsSync(TASKSET_BIN);
}

/**
 * wrk has no proxy option: point it at the proxy and make every request an
 * absolute URI for the origin (with the origin's Host), which is what a
 * client configured with HTTP_PROXY sends. proxy null = straight at the origin.
 */
export async function runWrk(
  proxy: Endpoint | null,
  origin: Endpoint,
  args: { threads: number; connections: number; seconds: number; cpuList?: string },
  dir: string,
): Promise<WrkResult> {
  const authority = `${origin.host}:${origin.port}`;
  const script = join(dir, 'absolute-uri.lua');
  mkdirSync(dir, { recursive: true });
  writeFileSync(script, `wrk.path = "http://${authority}/"\nwrk.headers["Host"] = "${authority}"\n`);
  const url = proxy === null ? `http://${authority}/` : `http://${proxy.host}:${proxy.port}/`;
  const wrkArgs = [`-t${args.threads}`, `-c${args.connections}`, `-d${args.seconds}s`, '--latency', '--timeout', '5s'];
  if (proxy !== null) wrkArgs.push('-s', script);
  wrkArgs.push(url);
  const child =
    args.cpuList === undefined
      ? spawn(WRK_BIN, wrkArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(TASKSET_BIN, ['-c', args.cpuList, WRK_BIN, ...wrkArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collect(child);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (args.seconds + 30) * 1000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const text = output();
  if (code !== 0) throw new Error(`wrk exited ${code}: ${text}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const total = /(\d+) requests in/.exec(text);
  if (rps === null || total === null) throw new Error(`cannot parse wrk output: ${text}`);
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: /Socket errors: ([^\n]+)/.exec(text)?.[1]?.trim() ?? '',
    latencyP50: /\s50%\s+(\S+)/.exec(text)?.[1] ?? '?',
    latencyP99: /\s99%\s+(\S+)/.exec(text)?.[1] ?? '?',
  };
}

// ---------------------------------------------------------------- stats

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** The middle value; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The policy every proxy bench runs cordon with: the loopback origin allowed by address and by name. */
export const BENCH_POLICY_YAML = [
  'version: 1',
  'name: bench-loopback',
  'mode: enforce',
  'profiles:',
  '  default:',
  '    network:',
  '      default: deny',
  '      rules:',
  '        - name: bench origin',
  '          allow:',
  '            - "127.0.0.1"',
  '            - "localhost"',
  '',
].join('\n');

export interface DirUsage {
  bytes: number;
  files: number;
}

/** Bytes and number of the files under `dir` (0 if it is missing); files deleted while it looks are skipped. */
export function dirUsage(dir: string): DirUsage {
  const usage: DirUsage = { bytes: 0, files: 0 };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return usage;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isDirectory()) {
        const inner = dirUsage(path);
        usage.bytes += inner.bytes;
        usage.files += inner.files;
      } else if (st.isFile()) {
        usage.bytes += st.size;
        usage.files++;
      }
    } catch {
      // deleted while we looked (a segment the sender finished)
    }
  }
  return usage;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
