/**
 * Runs the benchmarks (`npm run bench [-- NAME...]`) and rewrites their
 * sections of bench/RESULTS.md, with the machine they ran on noted.
 * Speed targets live here, never in tests.
 */
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchModule, BenchResult } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = join(HERE, '..', '..', 'bench');
const RESULTS_PATH = join(SOURCE_DIR, 'RESULTS.md');
const SECTION_MARK = '<!-- bench:';

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

function readSections(): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(RESULTS_PATH)) return sections;
  const text = readFileSync(RESULTS_PATH, 'utf8');
  const parts = text.split(SECTION_MARK).slice(1);
  for (const part of parts) {
    const end = part.indexOf(' -->');
    const name = part.slice(0, end);
    sections.set(name, SECTION_MARK + part.trimEnd() + '\n');
  }
  return sections;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const files = readdirSync(HERE).filter((f) => f.endsWith('.bench.js')).sort();
  const produced = new Map<string, string>();
  for (const file of files) {
    const name = file.replace(/\.bench\.js$/, '');
    if (wanted.length > 0 && !wanted.includes(name)) continue;
    process.stdout.write(`bench ${name} ...\n`);
    const mod = (await import(pathToFileURL(join(HERE, file)).href)) as BenchModule;
    const result: BenchResult = await mod.run();
    const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
    const body = `${SECTION_MARK}${name} -->\n## ${result.title}\n\nMachine: ${machine()}. Run: ${stamp} UTC.\n\n${result.markdown.trim()}\n`;
    produced.set(name, body);
    process.stdout.write(result.markdown.trim() + '\n\n');
  }
  // Re-read just before writing so a bench that finished meanwhile keeps its section.
  const latest = readSections();
  for (const [name, body] of produced) latest.set(name, body);
  // A retired benchmark's section goes with it: figures nothing can re-run are not results.
  for (const name of latest.keys()) if (!existsSync(join(SOURCE_DIR, `${name}.bench.ts`))) latest.delete(name);
  const header = '# Benchmark results\n\nWritten by `npm run bench` (bench/run.ts); each section is rewritten when its benchmark runs.\n\n';
  writeFileSync(RESULTS_PATH, header + [...latest.values()].join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
