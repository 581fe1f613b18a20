import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPlaceholder, isWithin, PlaceholderError, removePlaceholders, type Placeholders } from '../../src/exec/mask-placeholders.js';

function tree(): { root: string; mount: string; outside: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-ph-')));
  const mount = join(root, 'mount');
  const outside = join(root, 'outside');
  mkdirSync(mount);
  mkdirSync(outside);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return { root, mount, outside };
}

t.test('creates a placeholder file and its missing parents, and removes them afterwards', async (t) => {
  const cases: { name: string; rel: string; created: string[] }[] = [
    { name: 'file in an existing directory', rel: '.envrc', created: ['.envrc'] },
    { name: 'file under missing directories', rel: 'a/b/.env', created: ['a', 'a/b', 'a/b/.env'] },
  ];
  for (const c of cases) {
    const { mount } = tree();
    const ph: Placeholders = { created: [] };
    createPlaceholder(join(mount, c.rel), mount, ph);
    t.same(ph.created.map((x) => x.path), c.created.map((r) => join(mount, r)), `${c.name}: records what it created, in order`);
    const st = statSync(join(mount, c.rel));
    t.ok(st.isFile() && st.size === 0, `${c.name}: an empty file`);
    t.equal(st.mode & 0o777, 0o400, `${c.name}: read-only for its owner`);
    removePlaceholders(ph);
    t.same(readdirSync(mount), [], `${c.name}: nothing left afterwards`);
  }
});

t.test('removal leaves what is no longer an empty placeholder', async (t) => {
  const { mount } = tree();
  const ph: Placeholders = { created: [] };
  const p = join(mount, 'd', '.env');
  createPlaceholder(p, mount, ph);
  rmSync(p);
  writeFileSync(p, 'written on the host meanwhile');
  removePlaceholders(ph);
  t.ok(existsSync(p), 'a file with content is kept');
  t.ok(existsSync(join(mount, 'd')), 'and so is its (non-empty) directory');
});

t.test('refusals', async (t) => {
  const cases: { name: string; setup: (d: ReturnType<typeof tree>) => { path: string; mountRoot: string }; error: RegExp }[] = [
    {
      name: 'attack: a symlink inside the mount redirects the placeholder outside it',
      setup: ({ mount, outside }) => {
        symlinkSync(outside, join(mount, 'link'));
        return { path: join(mount, 'link', 'planted'), mountRoot: mount };
      },
      error: /is not a directory/,
    },
    {
      name: 'an existing ancestor is a file',
      setup: ({ mount }) => {
        writeFileSync(join(mount, 'f'), 'x');
        return { path: join(mount, 'f', 'x'), mountRoot: mount };
      },
      error: /is not a directory/,
    },
    {
      name: 'the path is not inside the mount',
      setup: ({ mount, root }) => ({ path: join(root, 'missing', 'x'), mountRoot: mount }),
      error: /not inside the mount/,
    },
  ];
  for (const c of cases) {
    const d = tree();
    const { path, mountRoot } = c.setup(d);
    const ph: Placeholders = { created: [] };
    t.throws(() => createPlaceholder(path, mountRoot, ph), PlaceholderError, `${c.name}: refused`);
    t.throws(() => createPlaceholder(path, mountRoot, { created: [] }), c.error, `${c.name}: says why`);
    t.same(ph.created, [], `${c.name}: nothing created`);
    t.same(readdirSync(d.outside), [], `${c.name}: nothing appeared outside the mount`);
  }
});

t.test('isWithin', async (t) => {
  const cases: [string, string, boolean][] = [
    ['/a/b', '/a', true],
    ['/a', '/a', true],
    ['/ab', '/a', false],
    ['/a/b', '/', true],
    ['/a', '/a/b', false],
  ];
  for (const [p, root, want] of cases) t.equal(isWithin(p, root), want, `${p} within ${root}`);
});
