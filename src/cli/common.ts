/**
 * Helpers shared by CLI commands: label parsing, JSON printing, and turning
 * any failure into one line on stderr with a non-zero exit.
 */
// Only light modules here: every command, `--version` and `--help` included, loads this file.
import { labelsError } from '../sessions/labels.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_INVALID = 2;
export const EXIT_DENY = 3;

export class UsageError extends Error {}

/** `k=v,k2=v2` → labels; rejects malformed pairs with the offending text. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined || text.trim() === '') return labels;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--labels: '${pair}' is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  const err = labelsError(labels);
  if (err !== null) throw new UsageError(`--labels: ${err}`);
  return labels;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Runs a command body; prints errors as one line and sets the exit code. */
export async function runCommand(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    // ClientError, UsageError and every other Error already carry the one line to print.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`cordon: ${message}\n`);
    process.exitCode = err instanceof UsageError ? EXIT_INVALID : EXIT_ERROR;
  }
}

/** A fixed-width text table for human output. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function ago(iso: string | null, nowMs: number = Date.now()): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
