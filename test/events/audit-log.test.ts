/**
 * The local audit log: each line is exactly the event object (through pino),
 * rotation by size and by age never loses or splits a line, retention keeps
 * the newest N rotated files, and a full queue drops and counts instead of
 * waiting.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AUDIT_LOG_FILE, AuditLog, ROTATED_FILE_PATTERN, createEventSerializer } from '../../src/events/audit-log.js';
import type { CordonEvent } from '../../src/events/types.js';
import { stampAll, stampedEvents } from '../helpers/event-fixtures.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every line of every log file in `dir`, rotated files first (oldest first), then events.jsonl. */
async function allLines(dir: string): Promise<{ files: string[]; lines: string[]; raw: string[] }> {
  const names = (await readdir(dir)).filter((n) => ROTATED_FILE_PATTERN.test(n)).sort();
  const files = [...names, AUDIT_LOG_FILE];
  const lines: string[] = [];
  const raw: string[] = [];
  for (const name of files) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    raw.push(text);
    for (const line of text.split('\n')) if (line !== '') lines.push(line);
  }
  return { files, lines, raw };
}

t.test('each line is exactly JSON.stringify(event)', async (t) => {
  const serialize = createEventSerializer();
  for (const { name, event } of stampAll()) {
    const line = serialize(event);
    t.equal(line, JSON.stringify(event) + '\n', `${name}: pino line equals the event JSON`);
    t.same(JSON.parse(line), event, `${name}: parses back to the same object`);
  }
});

t.test('writes events.jsonl, one line per event, mode 0640', async (t) => {
  const dir = await tempDir(t);
  const log = new AuditLog({ dir });
  await log.open();
  const events = stampAll().map((e) => e.event);
  for (const event of events) log.write(event);
  await log.close();
  const text = await readFile(join(dir, AUDIT_LOG_FILE), 'utf8');
  t.equal(text, events.map((e) => JSON.stringify(e) + '\n').join(''), 'file holds exactly the event lines in order');
  const { stat } = await import('node:fs/promises');
  t.equal((await stat(join(dir, AUDIT_LOG_FILE))).mode & 0o777, 0o640, 'log is not world-readable');
  t.equal(log.stats().written, events.length, 'written counter');
});

t.test('size rotation keeps every line whole and in order', async (t) => {
  const dir = await tempDir(t);
  const maxBytes = 4096;
  const log = new AuditLog({ dir, maxBytes, retainFiles: 1000 });
  await log.open();
  const events = stampedEvents(3000);
  // Bursts with event-loop turns between them, as the pipeline writes.
  for (let i = 0; i < events.length; i++) {
    log.write(events[i]!);
    if (i % 250 === 0) await new Promise((r) => setImmediate(r));
  }
  await log.close();
  const { files, lines, raw } = await allLines(dir);
  t.ok(files.length > 10, `rotated into ${files.length} files`);
  t.equal(log.stats().dropped, 0, 'nothing dropped');
  t.ok(raw.every((text) => text === '' || text.endsWith('\n')), 'every file ends at a line boundary');
  const parsed = lines.map((l) => JSON.parse(l) as CordonEvent);
  t.same(
    parsed.map((e) => e.id),
    events.map((e) => e.id),
    'every event appears exactly once, in emit order, across the files',
  );
  const maxLine = Math.max(...events.map((e) => Buffer.byteLength(JSON.stringify(e)) + 1));
  const sizes = raw.slice(0, -1).map((text) => Buffer.byteLength(text));
  t.ok(
    sizes.every((s) => s <= maxBytes + maxLine),
    'no rotated file is larger than the limit plus one line',
  );
  t.equal(log.stats().rotations, files.length - 1, 'rotation counter matches the rotated files');
});

t.test('age rotation: a file older than maxAgeMs is rotated before the next line', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const log = new AuditLog({ dir, maxAgeMs: 3_600_000, now: () => now });
  await log.open();
  const events = stampedEvents(4);
  log.write(events[0]!);
  log.write(events[1]!);
  await log.flush();
  now += 3_600_000; // one hour later
  log.write(events[2]!);
  log.write(events[3]!);
  await log.flush();
  await log.close();
  const { files, raw } = await allLines(dir);
  t.equal(files.length, 2, 'one rotated file and the current one');
  t.equal(raw[0], `${JSON.stringify(events[0])}\n${JSON.stringify(events[1])}\n`, 'rotated file holds the lines before the hour');
  t.equal(raw[1], `${JSON.stringify(events[2])}\n${JSON.stringify(events[3])}\n`, 'current file holds the lines after');
});

t.test('retention keeps the newest N rotated files', async (t) => {
  const dir = await tempDir(t);
  const log = new AuditLog({ dir, retainFiles: 3 });
  await log.open();
  const events = stampedEvents(6);
  const rotatedFirstIds: string[] = [];
  for (const event of events) {
    log.write(event);
    rotatedFirstIds.push(event.id);
    await log.rotateNow();
  }
  await log.close();
  const names = (await readdir(dir)).filter((n) => ROTATED_FILE_PATTERN.test(n)).sort();
  t.equal(names.length, 3, 'three rotated files remain');
  const kept: string[] = [];
  for (const name of names) kept.push((JSON.parse(await readFile(join(dir, name), 'utf8')) as CordonEvent).id);
  t.same(kept, rotatedFirstIds.slice(-3), 'the newest three are the ones kept');
});

t.test('reopening appends to an existing events.jsonl', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = stampedEvents(2);
  await writeFile(join(dir, AUDIT_LOG_FILE), JSON.stringify(a) + '\n');
  const log = new AuditLog({ dir });
  await log.open();
  log.write(b!);
  await log.close();
  t.equal(await readFile(join(dir, AUDIT_LOG_FILE), 'utf8'), `${JSON.stringify(a)}\n${JSON.stringify(b)}\n`, 'old line kept, new line appended');
});

t.test('a full queue drops and counts instead of waiting', async (t) => {
  const dir = await tempDir(t);
  const log = new AuditLog({ dir, queueCapacity: 10 });
  // Not opened yet: everything queues, and the queue holds 10.
  const events = stampedEvents(25);
  for (const event of events) log.write(event);
  t.equal(log.stats().dropped, 15, '15 of 25 dropped');
  t.equal(log.stats().pending, 10, '10 waiting');
  await log.open();
  await log.flush();
  await log.close();
  const { lines } = await allLines(dir);
  t.same(
    lines.map((l) => (JSON.parse(l) as CordonEvent).id),
    events.slice(0, 10).map((e) => e.id),
    'the queued ten are written once the log opens',
  );
});
