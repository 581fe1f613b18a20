#!/usr/bin/env node
// @ts-check
/**
 * The parts of scripts/ci-sidecar.sh that need to read JSON: deciding from
 * `cordon status --json` whether the daemon is healthy, and turning the
 * audit log (events*.jsonl in the state directory) into the markdown job
 * summary of allowed and denied destinations.
 *
 * Why a script and not a cordon command: the recipe must work on any runner
 * with only Node.js, read the events file after the daemon has stopped, and
 * never need the daemon's own code to be importable.
 *
 * Usage:
 *   node ci-sidecar.mjs health < status.json     prints the proxy address (HOST:PORT);
 *                                                exit 1 = not ready yet, 2 = will not become healthy
 *   node ci-sidecar.mjs report --state-dir DIR   prints the markdown summary
 *
 * The summary is built from text an agent controls (target names), so every
 * value is rendered inert: code spans with a long enough fence, table pipes
 * escaped, control characters replaced. No link, image or HTML can be
 * injected into the job page.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const EXIT_NOT_READY = 1;
const EXIT_FATAL = 2;
const EXIT_USAGE = 64;
/** Rows per table; the rest is counted and left to the events artifact. */
export const MAX_ROWS_PER_TABLE = 100;
/** Longest value shown in a cell (names are at most 253 octets; rule names are free text). */
const MAX_CELL_CHARS = 300;
const DENY_ALL_POLICY = 'deny-all';
/** events.jsonl and its rotations (events-<ULID>.jsonl; also events.jsonl.N); compressed files are skipped. */
const EVENTS_FILE_RE = /^events[^/]*\.jsonl(\.\d+)?$/;
const SIDECAR_INFO_FILE = 'sidecar.env';

/** @param {unknown} v @returns {v is Record<string, unknown>} */
function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ------------------------------------------------------------------ health

/**
 * @param {string} text  the output of `cordon status --json`
 * @returns {{ ok: true, proxy: string } | { ok: false, fatal: boolean, reason: string }}
 */
export function checkHealth(text) {
  /** @type {unknown} */
  let status;
  try {
    status = JSON.parse(text);
  } catch {
    return { ok: false, fatal: false, reason: 'status is not JSON' };
  }
  if (!isObject(status)) return { ok: false, fatal: false, reason: 'status is not an object' };
  const policy = isObject(status.policy) ? status.policy : null;
  const lastError = policy !== null && typeof policy.last_error === 'string' ? policy.last_error : null;
  if (policy === null || typeof policy.name !== 'string') return { ok: false, fatal: false, reason: 'no policy loaded yet' };
  if (policy.name === DENY_ALL_POLICY) {
    // fail closed: the policy source was invalid or unreachable
    return lastError !== null
      ? { ok: false, fatal: true, reason: `no valid policy (cordon denies everything): ${lastError}` }
      : { ok: false, fatal: false, reason: 'no valid policy loaded yet' };
  }
  const listeners = isObject(status.listeners) ? status.listeners : null;
  const proxy = listeners !== null && typeof listeners.proxy === 'string' ? listeners.proxy : null;
  if (proxy === null || !/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):[0-9]{1,5}$/.test(proxy)) {
    return { ok: false, fatal: false, reason: `no proxy listener yet (${String(proxy)})` };
  }
  return { ok: true, proxy };
}

// ------------------------------------------------------------------ report

/**
 * @typedef {{ destination: string, verdict: 'blocked' | 'would-deny' | 'allowed', reason: string,
 *             rule: { layer: string, name: string, resource: string } | null, count: number }} Row
 * @typedef {{ rows: Row[], decisions: number, badLines: number, files: string[], modes: Set<string>,
 *             policies: Map<string, { name: string, revision: unknown, digest: string }>,
 *             warnings: string[] }} Tally
 */

/**
 * Replaces control characters (incl. newlines and bidi overrides) that would break a table row.
 * @param {string} value
 */
function clean(value) {
  const s = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
  return s.length > MAX_CELL_CHARS ? `${s.slice(0, MAX_CELL_CHARS)}…` : s;
}

/**
 * Inline code that nothing inside can close early: the fence is one backtick
 * longer than the longest run inside; `|` is escaped for the table.
 * @param {unknown} value
 */
export function code(value) {
  const s = clean(String(value));
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s.replace(/\|/g, '\\|')}${pad}${fence}`;
}

/**
 * Plain text with every markdown-significant character backslash-escaped.
 * @param {unknown} value
 */
export function text(value) {
  return clean(String(value)).replace(/[\\`*_{}[\]()<>!|~&]/g, (c) => `\\${c}`);
}

/** @param {string} host @param {unknown} port */
function destination(host, port) {
  const h = host.includes(':') ? `[${host}]` : host;
  return typeof port === 'number' ? `${h}:${port}` : h;
}

/**
 * @param {Tally} tally
 * @param {Map<string, Row>} byKey
 * @param {unknown} event
 */
function addEvent(tally, byKey, event) {
  if (!isObject(event)) {
    tally.badLines += 1;
    return;
  }
  if (event.kind === 'policy' && (event.action === 'rejected' || event.action === 'deny-all')) {
    tally.warnings.push(`policy ${text(event.action)}: ${text(event.message ?? '')}`);
  }
  if (event.kind === 'daemon' && event.action === 'events-dropped') {
    tally.warnings.push(`events were dropped: ${text(event.message ?? '')}`);
  }
  if (event.kind !== 'network') return;
  const target = isObject(event.target) ? event.target : {};
  const host = typeof target.host === 'string' ? target.host : '?';
  const verdict = event.decision === 'allow' ? 'allowed' : event.enforced === false ? 'would-deny' : 'blocked';
  const r = isObject(event.rule) ? event.rule : null;
  const rule = r === null ? null : { layer: String(r.layer ?? ''), name: String(r.name ?? ''), resource: String(r.resource ?? '') };
  const reason = typeof event.reason === 'string' ? event.reason : '?';
  const dest = destination(host, target.port);
  const key = JSON.stringify([verdict, dest, reason, rule]);
  const row = byKey.get(key);
  if (row === undefined) byKey.set(key, { destination: dest, verdict, reason, rule, count: 1 });
  else row.count += 1;
  tally.decisions += 1;
  if (typeof event.mode === 'string') tally.modes.add(event.mode);
  if (isObject(event.policy) && typeof event.policy.name === 'string') {
    const p = event.policy;
    tally.policies.set(String(p.digest), { name: String(p.name), revision: p.revision, digest: String(p.digest ?? '') });
  }
}

/**
 * Reads every events file in `stateDir`, oldest rotation first.
 * @param {string} stateDir
 * @returns {Promise<Tally>}
 */
export async function tallyEvents(stateDir) {
  /** @type {Tally} */
  const tally = { rows: [], decisions: 0, badLines: 0, files: [], modes: new Set(), policies: new Map(), warnings: [] };
  /** @type {Map<string, Row>} */
  const byKey = new Map();
  const names = existsSync(stateDir) ? readdirSync(stateDir).filter((n) => EVENTS_FILE_RE.test(n)) : [];
  // oldest first: events-<ULID>.jsonl in ULID (= time) order, then events.jsonl.N from the
  // highest N, then the current events.jsonl
  const ROTATION_DIGITS = 9;
  const sortKey = (/** @type {string} */ n) => {
    if (n === 'events.jsonl') return '2';
    const numbered = /\.(\d+)$/.exec(n);
    if (numbered !== null) return `1${String(10 ** ROTATION_DIGITS - Number(numbered[1])).padStart(ROTATION_DIGITS + 1, '0')}`;
    return `0${n}`;
  };
  names.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  for (const name of names) {
    tally.files.push(name);
    const lines = createInterface({ input: createReadStream(join(stateDir, name)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      try {
        addEvent(tally, byKey, JSON.parse(line));
      } catch {
        tally.badLines += 1; // e.g. the last line of a log cut by a crash
      }
    }
  }
  tally.rows = [...byKey.values()].sort((a, b) => b.count - a.count || a.destination.localeCompare(b.destination));
  return tally;
}

/** @param {Row} row */
function ruleCell(row) {
  if (row.rule === null) return '—';
  return `${text(row.rule.layer)} › ${text(row.rule.name)} › ${code(row.rule.resource)}`;
}

/** @param {string} title @param {Row[]} rows @param {string[]} out */
function table(title, rows, out) {
  const destinations = new Set(rows.map((r) => r.destination)).size;
  out.push(`### ${title} (${destinations} destination${destinations === 1 ? '' : 's'})`, '');
  if (rows.length === 0) {
    out.push('_None._', '');
    return;
  }
  out.push('| Destination | Count | Reason | Rule |', '| --- | ---: | --- | --- |');
  for (const row of rows.slice(0, MAX_ROWS_PER_TABLE)) {
    out.push(`| ${code(row.destination)} | ${row.count} | ${text(row.reason)} | ${ruleCell(row)} |`);
  }
  if (rows.length > MAX_ROWS_PER_TABLE) {
    const rest = rows.slice(MAX_ROWS_PER_TABLE).reduce((n, r) => n + r.count, 0);
    out.push('', `…and ${rows.length - MAX_ROWS_PER_TABLE} more rows (${rest} decisions): see the events artifact.`);
  }
  out.push('');
}

/**
 * @param {string} stateDir
 * @returns {Record<string, string>}
 */
function readSidecarInfo(stateDir) {
  /** @type {Record<string, string>} */
  const info = {};
  const path = join(stateDir, SIDECAR_INFO_FILE);
  if (!existsSync(path)) return info;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (m !== null) info[m[1]] = m[2];
  }
  return info;
}

/**
 * @param {string} stateDir
 * @returns {Promise<string>} the markdown summary
 */
export async function renderReport(stateDir) {
  const tally = await tallyEvents(stateDir);
  const info = readSidecarInfo(stateDir);
  const blocked = tally.rows.filter((r) => r.verdict === 'blocked');
  const wouldDeny = tally.rows.filter((r) => r.verdict === 'would-deny');
  const allowed = tally.rows.filter((r) => r.verdict === 'allowed');
  const count = (/** @type {Row[]} */ rows) => new Set(rows.map((r) => r.destination)).size;
  const mode = info.mode ?? ([...tally.modes].join(', ') || 'unknown');

  const out = ['## cordon egress report', ''];
  if (blocked.length > 0) out.push(`**${count(blocked)} destination(s) blocked.**`);
  if (wouldDeny.length > 0) out.push(`**${count(wouldDeny)} destination(s) would be blocked in enforce mode.**`);
  if (blocked.length === 0 && wouldDeny.length === 0) out.push(tally.decisions === 0 ? 'No network decision was recorded.' : 'No destination was denied.');
  out.push('');
  const facts = [`Mode: **${text(mode)}**`, `${tally.decisions} network decision${tally.decisions === 1 ? '' : 's'}`];
  for (const p of tally.policies.values()) {
    facts.push(`policy ${code(p.name)}${p.revision === null || p.revision === undefined ? '' : ` revision ${text(p.revision)}`} ${code(p.digest.slice(0, 19))}`);
  }
  out.push(facts.join(' · '), '');
  if (tally.files.length === 0) out.push(`> No events file found in ${code(stateDir)}.`, '');
  if (tally.badLines > 0) out.push(`> ${tally.badLines} unreadable line(s) in the events file(s) were skipped.`, '');
  for (const w of tally.warnings) out.push(`> Warning: ${w}`, '');

  table('Blocked', blocked, out);
  table('Would be blocked in enforce mode', wouldDeny, out);
  table('Allowed', allowed, out);
  return out.join('\n');
}

// ------------------------------------------------------------------ command line

/** @returns {Promise<string>} */
async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** @param {string[]} argv @returns {Promise<number>} */
async function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'health' && rest.length === 0) {
    const result = checkHealth(await readStdin());
    if (result.ok) {
      process.stdout.write(`${result.proxy}\n`);
      return 0;
    }
    process.stderr.write(`${result.reason}\n`);
    return result.fatal ? EXIT_FATAL : EXIT_NOT_READY;
  }
  if (command === 'report' && rest.length === 2 && rest[0] === '--state-dir' && rest[1] !== undefined) {
    process.stdout.write(`${await renderReport(rest[1])}\n`);
    return 0;
  }
  process.stderr.write('usage: ci-sidecar.mjs health < status.json | report --state-dir DIR\n');
  return EXIT_USAGE;
}

const invokedAs = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invokedAs === realpathSync(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`ci-sidecar.mjs: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
