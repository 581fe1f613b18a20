/**
 * Parent side of the crash tests: runs test/helpers/event-producer.ts as a
 * child process, collects the ids it prints as accepted, and offers bounded
 * waiting helpers.
 *
 * The child runs plain JavaScript: `buildProducer` transpiles the producer
 * and src/events/ once per test process with the TypeScript compiler the
 * test already has loaded (type-only imports vanish), into
 * node_modules/.cache/ so package imports (pino) resolve. Loading a
 * TypeScript loader in every child instead costs seconds per start.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { EventCollector } from './event-collector.js';
import { ndjsonIds } from './event-collector.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Transpiles the producer and src/events/ to JavaScript; returns the producer's path and a cleanup. */
export function buildProducer(): { script: string; cleanup: () => void } {
  const out = join(REPO, 'node_modules', '.cache', 'cordon-event-producer', String(process.pid));
  const sources = [...tsFiles(join(REPO, 'src', 'events')), join(REPO, 'test', 'helpers', 'event-producer.ts')];
  for (const file of sources) {
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      fileName: file,
    }).outputText;
    const target = join(out, relative(REPO, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  const cleanup = (): void => {
    rmSync(out, { recursive: true, force: true });
    try {
      rmdirSync(dirname(out)); // only when no other test process is using it
    } catch {
      // not empty, or already gone
    }
  };
  return { script: join(out, 'test', 'helpers', 'event-producer.js'), cleanup };
}

export interface Producer {
  child: ChildProcess;
  /** Ids printed as accepted (written and fsynced in the spool). */
  accepted: string[];
  lines: string[];
  exited: Promise<number | null>;
}

export function startProducer(script: string, stateDir: string, url: string, emitCount: number): Producer {
  const env = { ...process.env };
  delete env['NODE_OPTIONS']; // tap's process-info hook is not for children
  const child = spawn(process.execPath, [script, stateDir, url, String(emitCount)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const producer: Producer = {
    child,
    accepted: [],
    lines: [],
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      producer.lines.push(line);
      if (line.startsWith('ACCEPTED ')) producer.accepted.push(line.slice('ACCEPTED '.length));
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => producer.lines.push(`stderr: ${chunk}`));
  return producer;
}

export async function until(check: () => boolean, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return check();
}

/** A loopback port nobody listens on (bound, then released). */
export async function downPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** How many times each id reached the collector in a request it answered with 2xx. */
export function deliveredCounts(collector: EventCollector): Map<string, number> {
  const counts = new Map<string, number>();
  for (const req of collector.accepted()) for (const id of ndjsonIds(req.body)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Ids in any request the collector received, answered or not. */
export function receivedIds(collector: EventCollector): Set<string> {
  const ids = new Set<string>();
  for (const req of collector.requests) for (const id of ndjsonIds(req.body)) ids.add(id);
  return ids;
}
