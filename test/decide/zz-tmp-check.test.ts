import t from 'tap';
import { denyAllPolicy, compilePolicy } from '/work/main/src/policy/compile.js';
import { loadPolicyPath, DEFAULT_POLICY_PATH } from '/work/main/src/policy/load.js';
import { decideMount } from '/work/main/src/decide/mounts.js';
import { homedir } from 'node:os';
t.test('x', async (t) => {
  console.log(JSON.stringify(decideMount(denyAllPolicy('no file'), { path: '~', access: 'ro', labels: {}, home: homedir() })));
  const r = await loadPolicyPath(DEFAULT_POLICY_PATH);
  if (!r.ok) { console.log(r.errors); return; }
  const cp = compilePolicy(r.policy);
  for (const [p, a] of [['~/src', 'rw'], ['~/.ssh', 'ro'], ['/usr', 'ro'], ['/tmp', 'rw'], ['~', 'ro'], ['/', 'ro']] as const)
    console.log(JSON.stringify(decideMount(cp, { path: p, access: a, labels: {}, home: homedir() })));
  t.pass();
});
