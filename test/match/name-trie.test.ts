import t from 'tap';
import { NameTrie, type NamePattern } from '../../src/match/name-trie.js';
import type { PortRange } from '../../src/policy/types.js';

/** Compact pattern text for tests: `example.com`, `*.example.com`, `**.example.com`, optional `:443` / `:1-9`. */
function pattern(text: string): { host: NamePattern; ports: PortRange | null } {
  const colon = text.lastIndexOf(':');
  let ports: PortRange | null = null;
  let hostText = text;
  if (colon >= 0) {
    const [lo, hi] = text.slice(colon + 1).split('-').map(Number);
    ports = { lo, hi: hi ?? lo };
    hostText = text.slice(0, colon);
  }
  if (hostText.startsWith('**.')) return { host: { type: 'any-depth', suffix: hostText.slice(3) }, ports };
  if (hostText.startsWith('*.')) return { host: { type: 'one-label', suffix: hostText.slice(2) }, ports };
  return { host: { type: 'exact', name: hostText }, ports };
}

/** A sealed trie (layer 0, or layer N for entries written `N:<action> <pattern>`) whose values are the entry text; deny gets tie rank 0. */
function trie(entries: string[]): NameTrie<string> {
  const tr = new NameTrie<string>();
  for (const e of entries) {
    const [head, text] = e.split(' ');
    const [layer, action] = head.includes(':') ? [Number(head.split(':')[0]), head.split(':')[1]] : [0, head];
    const p = pattern(text);
    tr.add(layer, p.host, p.ports, action === 'deny' ? 0 : 1, e);
  }
  tr.seal();
  return tr;
}

t.test('pattern forms match exactly what DESIGN §2 says', async (t) => {
  const cases: { name: string; rules: string[]; host: string; want: string | undefined }[] = [
    { name: 'exact matches the name itself', rules: ['allow example.com'], host: 'example.com', want: 'allow example.com' },
    { name: 'exact does not match a subdomain', rules: ['allow example.com'], host: 'a.example.com', want: undefined },
    { name: 'exact does not match the parent', rules: ['allow a.example.com'], host: 'example.com', want: undefined },
    { name: '*. matches one more label', rules: ['allow *.example.com'], host: 'a.example.com', want: 'allow *.example.com' },
    { name: '*. does not match two more labels', rules: ['allow *.example.com'], host: 'a.b.example.com', want: undefined },
    { name: '*. does not match the suffix itself', rules: ['allow *.example.com'], host: 'example.com', want: undefined },
    { name: '**. matches one more label', rules: ['allow **.example.com'], host: 'a.example.com', want: 'allow **.example.com' },
    { name: '**. matches many more labels', rules: ['allow **.example.com'], host: 'a.b.c.example.com', want: 'allow **.example.com' },
    { name: '**. does not match the suffix itself', rules: ['allow **.example.com'], host: 'example.com', want: undefined },
    { name: 'suffix match respects label boundaries (notexample.com)', rules: ['allow **.example.com', 'allow example.com'], host: 'notexample.com', want: undefined },
    { name: 'suffix match respects label boundaries (a.notexample.com)', rules: ['allow **.example.com'], host: 'a.notexample.com', want: undefined },
    { name: 'a longer name under an exact rule does not match it', rules: ['allow b.example.com'], host: 'a.b.example.com', want: undefined },
    { name: 'single-label name matches an exact single-label rule', rules: ['allow localhost'], host: 'localhost', want: 'allow localhost' },
    { name: 'empty name matches nothing', rules: ['allow example.com', 'allow **.com'], host: '', want: undefined },
    { name: 'empty label matches nothing (a..example.com)', rules: ['allow *.example.com'], host: 'a..example.com', want: undefined },
    { name: 'leading dot is not the suffix itself (.example.com)', rules: ['allow example.com'], host: '.example.com', want: undefined },
  ];
  for (const c of cases) t.equal(trie(c.rules).lookup(c.host, 443, 0), c.want, c.name);
});

t.test('specificity: host first, then port, deny at a tie', async (t) => {
  const cases: { name: string; rules: string[]; host: string; port: number; want: string | undefined }[] = [
    { name: 'exact beats *.', rules: ['deny *.example.com', 'allow a.example.com'], host: 'a.example.com', port: 443, want: 'allow a.example.com' },
    { name: 'exact beats **.', rules: ['allow **.example.com', 'deny a.example.com'], host: 'a.example.com', port: 443, want: 'deny a.example.com' },
    { name: '*. beats **. of the same suffix', rules: ['deny **.example.com', 'allow *.example.com'], host: 'a.example.com', port: 80, want: 'allow *.example.com' },
    { name: '*. beats a shorter **.', rules: ['deny **.com', 'allow *.example.com'], host: 'a.example.com', port: 80, want: 'allow *.example.com' },
    { name: 'longer **. suffix beats shorter', rules: ['allow **.example.com', 'deny **.b.example.com'], host: 'a.b.example.com', port: 80, want: 'deny **.b.example.com' },
    { name: 'shorter **. applies where longer does not', rules: ['allow **.example.com', 'deny **.b.example.com'], host: 'a.c.example.com', port: 80, want: 'allow **.example.com' },
    { name: 'host specificity beats port specificity', rules: ['allow **.example.com:443', 'deny *.example.com'], host: 'a.example.com', port: 443, want: 'deny *.example.com' },
    { name: 'explicit port beats no port', rules: ['deny api.example.com', 'allow api.example.com:443'], host: 'api.example.com', port: 443, want: 'allow api.example.com:443' },
    { name: 'no-port rule applies to other ports', rules: ['deny api.example.com', 'allow api.example.com:443'], host: 'api.example.com', port: 80, want: 'deny api.example.com' },
    { name: 'narrower range beats wider', rules: ['allow svc.example.com:8000-8100', 'deny svc.example.com:8080'], host: 'svc.example.com', port: 8080, want: 'deny svc.example.com:8080' },
    { name: 'wider range applies outside the narrower', rules: ['allow svc.example.com:8000-8100', 'deny svc.example.com:8080'], host: 'svc.example.com', port: 8081, want: 'allow svc.example.com:8000-8100' },
    { name: 'explicit :1-65535 beats no port', rules: ['deny x.example.com', 'allow x.example.com:1-65535'], host: 'x.example.com', port: 22, want: 'allow x.example.com:1-65535' },
    { name: 'deny wins a tie without ports', rules: ['allow tie.example.com', 'deny tie.example.com'], host: 'tie.example.com', port: 443, want: 'deny tie.example.com' },
    { name: 'deny wins a tie with equal ports', rules: ['allow tie.example.com:443', 'deny tie.example.com:443'], host: 'tie.example.com', port: 443, want: 'deny tie.example.com:443' },
    { name: 'deny wins a tie of equal-width ranges that overlap', rules: ['allow r.example.com:80-90', 'deny r.example.com:85-95'], host: 'r.example.com', port: 85, want: 'deny r.example.com:85-95' },
    { name: 'equal-width allow applies where the deny range does not', rules: ['allow r.example.com:80-90', 'deny r.example.com:85-95'], host: 'r.example.com', port: 80, want: 'allow r.example.com:80-90' },
    { name: 'port mismatch on exact falls back to *.', rules: ['allow a.example.com:22', 'deny *.example.com'], host: 'a.example.com', port: 443, want: 'deny *.example.com' },
    { name: 'port mismatch on *. falls back to **.', rules: ['allow *.example.com:22', 'deny **.example.com'], host: 'a.example.com', port: 443, want: 'deny **.example.com' },
    { name: 'port mismatch on deeper **. falls back to shallower **.', rules: ['deny **.a.example.com:22', 'allow **.example.com'], host: 'x.a.example.com', port: 443, want: 'allow **.example.com' },
    { name: 'no port matches anywhere: no result', rules: ['allow a.example.com:22', 'allow **.example.com:22'], host: 'a.example.com', port: 443, want: undefined },
  ];
  for (const c of cases) t.equal(trie(c.rules).lookup(c.host, c.port, 0), c.want, c.name);
});

t.test('layers are answered independently in one walk', async (t) => {
  const cases: { name: string; rules: string[]; host: string; port: number; want: [string | undefined, string | undefined] }[] = [
    { name: 'each layer gets its own match', rules: ['0:deny **.example.com', '1:allow a.example.com'], host: 'a.example.com', port: 443, want: ['0:deny **.example.com', '1:allow a.example.com'] },
    { name: 'a more specific entry of one layer does not shadow the other', rules: ['0:allow **.example.com', '1:deny x.a.example.com'], host: 'x.a.example.com', port: 443, want: ['0:allow **.example.com', '1:deny x.a.example.com'] },
    { name: 'a layer with no match answers undefined', rules: ['1:allow a.example.com'], host: 'a.example.com', port: 443, want: [undefined, '1:allow a.example.com'] },
    { name: 'entries of a third layer never leak', rules: ['2:deny a.example.com', '0:allow **.example.com'], host: 'a.example.com', port: 443, want: ['0:allow **.example.com', undefined] },
    { name: 'same pattern in both layers, different ports', rules: ['0:deny a.example.com:22', '1:allow a.example.com'], host: 'a.example.com', port: 22, want: ['0:deny a.example.com:22', '1:allow a.example.com'] },
    { name: 'port fallback is per layer', rules: ['0:deny a.example.com:22', '0:allow *.example.com', '1:allow a.example.com:443'], host: 'a.example.com', port: 443, want: ['0:allow *.example.com', '1:allow a.example.com:443'] },
  ];
  for (const c of cases) {
    const got = trie(c.rules).lookupPair(c.host, c.port, 0, 1);
    t.same([got.first, got.second], c.want, c.name);
  }
});

t.test('labels whose hashes collide are still told apart', async (t) => {
  // '7yzlaaa' and 'e6apaaa' have the same 32-bit FNV-1a hash, the trie's row hash.
  const tr = trie(['allow 7yzlaaa.example.com', 'deny **.7yzlaaa.example.com']);
  t.equal(tr.lookup('7yzlaaa.example.com', 443, 0), 'allow 7yzlaaa.example.com', 'the rule itself');
  t.equal(tr.lookup('e6apaaa.example.com', 443, 0), undefined, 'a colliding label does not alias the exact rule');
  t.equal(tr.lookup('x.e6apaaa.example.com', 443, 0), undefined, 'nor the wildcard below it');
  const both = trie(['allow 7yzlaaa.example.com', 'deny e6apaaa.example.com']);
  t.equal(both.lookup('7yzlaaa.example.com', 443, 0), 'allow 7yzlaaa.example.com', 'both present: first');
  t.equal(both.lookup('e6apaaa.example.com', 443, 0), 'deny e6apaaa.example.com', 'both present: second');
});

t.test('equal entries keep policy order', async (t) => {
  const tr = new NameTrie<string>();
  tr.add(0, { type: 'exact', name: 'a.example.com' }, null, 1, 'first');
  tr.add(0, { type: 'exact', name: 'a.example.com' }, null, 1, 'second');
  tr.seal();
  t.equal(tr.lookup('a.example.com', 1, 0), 'first');
});

t.test('a large trie finds every rule it holds and nothing else', async (t) => {
  const RULES = 5000;
  const tr = new NameTrie<number>();
  for (let i = 0; i < RULES; i++) {
    tr.add(0, { type: 'exact', name: `host${i}.zone${i % 37}.example` }, null, 1, i);
    tr.add(0, { type: 'any-depth', suffix: `svc${i}.example` }, { lo: 443, hi: 443 }, 1, RULES + i);
  }
  tr.seal();
  t.equal(tr.size, RULES * 2, 'size counts every entry');
  let wrong = 0;
  for (let i = 0; i < RULES; i++) {
    if (tr.lookup(`host${i}.zone${i % 37}.example`, 80, 0) !== i) wrong++;
    if (tr.lookup(`host${i}.zone${(i + 1) % 37}.example`, 80, 0) !== undefined) wrong++;
    if (tr.lookup(`deep.x.svc${i}.example`, 443, 0) !== RULES + i) wrong++;
    if (tr.lookup(`deep.x.svc${i}.example`, 80, 0) !== undefined) wrong++;
  }
  t.equal(wrong, 0, 'every lookup answered correctly');
});

t.test('misuse is refused', async (t) => {
  const tr = new NameTrie<string>();
  t.throws(() => tr.lookup('a.example.com', 443, 0), /before seal/, 'lookup before seal');
  tr.seal();
  t.throws(() => tr.add(0, { type: 'exact', name: 'a.example.com' }, null, 0, 'x'), /after seal/, 'add after seal');
});
