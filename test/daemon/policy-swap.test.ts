/**
 * Policy swaps on a running daemon (DESIGN §3, issue 6 "must show"): a swap
 * under load drops no connection, open tunnels keep the decision they were
 * given, and new connections use the new rules as soon as status shows the
 * new digest. Also: SIGHUP and POST /v1/policy/reload re-read a source that
 * is otherwise polled only hourly, and a broken edit keeps the old policy with
 * status.policy.last_error saying why.
 */
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NetworkEvent, PolicyEvent } from '../../src/events/types.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { startEchoOrigin, startHttpOrigin } from '../helpers/origins.js';
import { PolicyServer } from '../helpers/policy-propagation.js';
import { connectTunnel, echoThrough, getRequest, openWire, readResponse, type Wire } from '../helpers/proxy-client.js';
import { isNetwork, proxyAddress, seenEventIds, sleep, waitFor, waitForNewEvent } from '../helpers/daemon-e2e.js';

const TUNNELS = 8;
const KEEPALIVE_CONNECTIONS = 3;
/** Each pump does at least this many round trips after the swap is visible. */
const ROUNDS_AFTER_SWAP = 5;
/** Bound on round trips per connection (the loops stop long before). */
const MAX_ROUNDS = 5_000;
const PUMP_PAUSE_MS = 5;

function swapPolicy(revision: number, withdrawApp: boolean): string {
  return `version: 1
name: swap
revision: ${revision}
mode: enforce
guardrails:
  network:
    rules:
      - name: loopback origins
        allow: [127.0.0.1]
${withdrawApp ? '      - name: app withdrawn\n        deny: [app.test]\n' : ''}profiles:
  default:
    network:
      default: deny
      rules:
        - name: apps
          allow: [app.test]
`;
}

/** Replaces `path` the way MDM and careful editors do: write a temporary file, rename it into place. */
function atomicWrite(path: string, text: string): void {
  const tmp = join(dirname(path), `.${Date.now()}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Several real daemons and dozens of connections: a generous bound for a loaded shared machine (not a speed check). */
const FILE_TIMEOUT_MS = 300_000;
t.setTimeout(FILE_TIMEOUT_MS);

const dns = await startDnsResponder({ 'app.test': { addresses: ['127.0.0.1'] } });
const echo = await startEchoOrigin();
const http = await startHttpOrigin({ label: 'origin' });
t.teardown(async () => {
  await echo.close();
  await http.close();
  await dns.close();
});

async function daemon(opts: { policyText?: string; configText?: string }): Promise<TestDaemon> {
  const d = await startDaemon({ ...opts, args: ['--resolver', dns.server] });
  t.teardown(() => d.stop());
  return d;
}

async function digestChange(d: TestDaemon, from: string): Promise<string> {
  return waitFor('status to show a new policy digest', async () => {
    const s = await d.client.status();
    return s.policy.digest !== from ? s.policy.digest : null;
  });
}

interface Flags {
  swapVisible: boolean;
  stop: boolean;
}

interface TunnelLog {
  roundsBefore: number;
  roundsAfter: number;
  errors: string[];
}

/** Round trips through one open tunnel until told to stop; every echo must come back intact. */
async function pumpTunnel(wire: Wire, id: number, flags: Flags, log: TunnelLog): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS && !flags.stop; round++) {
    const after = flags.swapVisible;
    const msg = `t${id}r${round};`;
    const got = await echoThrough(wire, msg).catch((e: Error) => `error: ${e.message}`);
    if (got !== msg) {
      log.errors.push(`round ${round}: sent ${msg}, got ${String(got)}`);
      break;
    }
    if (after) log.roundsAfter++;
    else log.roundsBefore++;
    await sleep(PUMP_PAUSE_MS);
  }
}

interface KeepAliveLog {
  /** Status of each request, with whether it was sent after the swap was visible. */
  answers: { status: number; after: boolean }[];
  errors: string[];
}

/** Requests on one keep-alive connection; each is decided on its own (DESIGN §4). */
async function pumpKeepAlive(proxy: { host: string; port: number }, id: number, flags: Flags, log: KeepAliveLog): Promise<void> {
  const wire = await openWire(proxy);
  try {
    for (let round = 0; round < MAX_ROUNDS && !flags.stop; round++) {
      const after = flags.swapVisible;
      wire.socket.write(getRequest(`app.test:${http.port}`, { path: `/k${id}/${round}` }));
      const answer = await readResponse(wire).catch((e: Error) => {
        log.errors.push(`request ${round}: ${e.message}`);
        return null;
      });
      if (answer === null) {
        log.errors.push(`request ${round}: connection closed without a response`);
        break;
      }
      log.answers.push({ status: answer.status, after });
      await sleep(PUMP_PAUSE_MS);
    }
  } finally {
    wire.socket.destroy();
  }
}

t.test('a policy swap under load drops no connection; new connections get the new rules', async (t) => {
  const d = await daemon({ policyText: swapPolicy(1, false) });
  const proxy = proxyAddress(d.proxy);
  const oldDigest = d.status.policy.digest;
  const flags: Flags = { swapVisible: false, stop: false };

  const tunnels: Wire[] = [];
  for (let i = 0; i < TUNNELS; i++) {
    const r = await connectTunnel(proxy, `app.test:${echo.port}`);
    t.equal(r.status, 200, `tunnel ${i} established under the old policy`);
    tunnels.push(r.wire);
  }
  const logs: TunnelLog[] = tunnels.map(() => ({ roundsBefore: 0, roundsAfter: 0, errors: [] }));
  const keepAliveLogs: KeepAliveLog[] = Array.from({ length: KEEPALIVE_CONNECTIONS }, () => ({ answers: [], errors: [] }));
  const pumps = [
    ...tunnels.map((w, i) => pumpTunnel(w, i, flags, logs[i])),
    ...keepAliveLogs.map((log, i) => pumpKeepAlive(proxy, i, flags, log)),
  ];
  await waitFor('traffic on every connection', async () => ((await d.client.status()).connections.open >= TUNNELS + KEEPALIVE_CONNECTIONS ? true : null));

  const seen = await seenEventIds(d.client);
  const writtenAt = Date.now();
  atomicWrite(d.policyPath ?? '', swapPolicy(2, true));
  const newDigest = await digestChange(d, oldDigest);
  flags.swapVisible = true;
  t.comment(`swap visible in status ${Date.now() - writtenAt} ms after the rename (reported, not asserted: speed is for bench/)`);

  await t.test('new connections are decided by the new policy', async (t) => {
    const cases = [
      { name: 'CONNECT', run: async () => {
        const r = await connectTunnel(proxy, `app.test:${echo.port}`);
        r.wire.socket.destroy();
        return { status: r.status, headers: r.headers };
      } },
      { name: 'HTTP forward on a new connection', run: async () => {
        const w = await openWire(proxy);
        w.socket.write(getRequest(`app.test:${http.port}`, { path: '/new' }));
        const a = await readResponse(w);
        w.socket.destroy();
        return { status: a?.status ?? 0, headers: a?.headers ?? {} };
      } },
    ];
    for (const c of cases) {
      const r = await c.run();
      t.equal(r.status, 403, `${c.name}: 403`);
      t.equal(r.headers['x-cordon-reason'], 'rule', `${c.name}: denied by a rule`);
    }
    const ev = await waitForNewEvent<NetworkEvent>(d.client, 'deny event of the new policy', seen, (e) => isNetwork(e) && e.decision === 'deny' && e.via === 'connect');
    t.equal(ev.rule?.name, 'app withdrawn');
    t.equal(ev.policy?.digest, newDigest, 'the event names the new policy');
  });

  // Every connection keeps carrying traffic for a while after the swap; then the pumps stop.
  await waitFor('every connection to carry traffic after the swap', () => {
    const tunnelsDone = logs.every((l) => l.errors.length > 0 || l.roundsAfter >= ROUNDS_AFTER_SWAP);
    const keepAliveDone = keepAliveLogs.every((l) => l.errors.length > 0 || l.answers.filter((a) => a.after).length >= ROUNDS_AFTER_SWAP);
    return tunnelsDone && keepAliveDone ? true : null;
  });
  flags.stop = true;
  await Promise.all(pumps);

  await t.test('every open tunnel kept working to the end, with no error', async (t) => {
    for (const [i, log] of logs.entries()) {
      t.same(log.errors, [], `tunnel ${i}: no error`);
      t.ok(log.roundsBefore > 0, `tunnel ${i}: carried traffic before the swap (${log.roundsBefore} round trips)`);
      t.ok(log.roundsAfter >= ROUNDS_AFTER_SWAP, `tunnel ${i}: carried traffic after the swap (${log.roundsAfter} round trips)`);
    }
  });

  await t.test('keep-alive connections were never dropped; each request was decided on its own', async (t) => {
    for (const [i, log] of keepAliveLogs.entries()) {
      t.same(log.errors, [], `connection ${i}: every request got a response`);
      const before = log.answers.filter((a) => !a.after);
      const after = log.answers.filter((a) => a.after);
      t.ok(before.length > 0 && before[0].status === 200, `connection ${i}: served under the old policy`);
      const firstDeny = log.answers.findIndex((a) => a.status === 403);
      t.ok(firstDeny > 0, `connection ${i}: a later request was denied by the new policy`);
      t.ok(log.answers.slice(firstDeny).every((a) => a.status === 403), `connection ${i}: no allow after the first deny (no flapping)`);
      t.ok(after.every((a) => a.status === 403), `connection ${i}: every request sent after the swap was visible was denied`);
      t.ok(log.answers.every((a) => a.status === 200 || a.status === 403), `connection ${i}: only 200 or 403`);
    }
  });

  for (const w of tunnels) w.socket.end();
  await Promise.all(tunnels.map((w) => w.closed()));

  await t.test('closed tunnels are recorded with the decision they were given (the old policy)', async (t) => {
    const closes = await waitFor('close events of every tunnel', async () => {
      const { events } = await d.client.events(1000);
      const list = events.filter((e): e is NetworkEvent => isNetwork(e) && e.via === 'connect' && e.decision === 'allow' && (e.bytes_up ?? 0) > 0);
      return list.length >= TUNNELS ? list : null;
    });
    for (const e of closes) {
      t.equal(e.policy?.digest, oldDigest, `event ${e.id}: decided under the old policy`);
      t.equal(e.rule?.name, 'apps');
    }
  });

  await t.test('the swap is recorded as a policy event', async (t) => {
    const { events } = await d.client.events(1000);
    const policyEvents = events.filter((e): e is PolicyEvent => e.kind === 'policy' && !seen.has(e.id));
    t.ok(policyEvents.length >= 1, 'at least one policy event after the rename');
    t.match(JSON.stringify(policyEvents), newDigest.slice(0, 20));
  });
});

t.test('SIGHUP and POST /v1/policy/reload re-read a source that is otherwise polled hourly', async (t) => {
  const server = await new PolicyServer().start();
  t.teardown(() => server.close());
  server.serveYaml('/p.yaml', swapPolicy(1, false), 'v1');
  const d = await daemon({ configText: `policy:\n  source: ${server.url('/p.yaml')}\n  poll_interval_s: 3600\n` });
  const proxy = proxyAddress(d.proxy);
  t.equal(d.status.policy.source, server.url('/p.yaml'));
  const v1 = d.status.policy.digest;
  const open = await connectTunnel(proxy, `app.test:${echo.port}`);
  t.equal(open.status, 200, 'allowed under v1');

  const cases: { name: string; revision: number; withdraw: boolean; trigger: 'SIGHUP' | 'POST'; expect: number }[] = [
    { name: 'SIGHUP picks up a policy that withdraws app.test', revision: 2, withdraw: true, trigger: 'SIGHUP', expect: 403 },
    { name: 'POST /v1/policy/reload picks up a policy that restores it', revision: 3, withdraw: false, trigger: 'POST', expect: 200 },
    { name: 'SIGHUP again withdraws it', revision: 4, withdraw: true, trigger: 'SIGHUP', expect: 403 },
  ];
  let current = v1;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      server.serveYaml('/p.yaml', swapPolicy(c.revision, c.withdraw), `v${c.revision}`);
      if (c.trigger === 'SIGHUP') {
        d.child.kill('SIGHUP');
        current = await digestChange(d, current);
      } else {
        const r = await d.client.reload();
        t.equal(r.changed, true, 'reload reports a change');
        t.equal(r.error, null);
        t.not(r.policy.digest, current, 'reload answers with the new policy');
        current = r.policy.digest;
      }
      const s = await d.client.status();
      t.equal(s.policy.revision, c.revision, 'status shows the new revision');
      t.equal(s.policy.digest, current);
      const r = await connectTunnel(proxy, `app.test:${echo.port}`);
      t.equal(r.status, c.expect, `a new CONNECT gets ${c.expect}`);
      r.wire.socket.destroy();
      t.equal(await echoThrough(open.wire, `still-${c.revision}`), `still-${c.revision}`, 'the tunnel opened under v1 still works');
    });
  }
  await t.test('an unchanged source: reload changes nothing', async (t) => {
    const r = await d.client.reload();
    t.equal(r.changed, false);
    t.equal(r.policy.digest, current);
  });
  await t.test('rollback to an older revision is refused, the current policy stays', async (t) => {
    server.serveYaml('/p.yaml', swapPolicy(1, false), 'old');
    const r = await d.client.reload();
    t.equal(r.changed, false);
    t.match(r.error ?? '', /older than revision 4/);
    t.equal((await d.client.status()).policy.revision, 4);
  });
  open.wire.socket.destroy();
});

t.test('a broken edit keeps the old policy and status.policy.last_error says why', async (t) => {
  const d = await daemon({ policyText: swapPolicy(1, false) });
  const proxy = proxyAddress(d.proxy);
  const good = d.status.policy.digest;
  const cases: { name: string; text: string; error: RegExp }[] = [
    { name: 'YAML syntax error', text: 'version: 1\nname: [unclosed\n', error: /policy\.yaml:\d+/ },
    { name: 'unknown key', text: swapPolicy(2, true).replace('mode: enforce', 'mode: enforce\nallow_everything: true'), error: /allow_everything/ },
    { name: 'wildcard over everything (`*`)', text: swapPolicy(2, false).replace('allow: [app.test]', 'allow: ["*"]'), error: /\*/ },
    { name: 'empty file', text: '', error: /./ },
  ];
  let lastError: string | null = null;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const seen = await seenEventIds(d.client);
      atomicWrite(d.policyPath ?? '', c.text);
      const s = await waitFor('status to report the rejected edit', async () => {
        const st = await d.client.status();
        return st.policy.last_error !== null && st.policy.last_error !== lastError ? st : null;
      });
      lastError = s.policy.last_error;
      t.match(s.policy.last_error, c.error, `last_error says why: ${s.policy.last_error}`);
      t.equal(s.policy.digest, good, 'the old policy stays in force');
      t.equal(s.policy.name, 'swap');
      const r = await connectTunnel(proxy, `app.test:${echo.port}`);
      t.equal(r.status, 200, 'traffic is still decided by the old policy');
      r.wire.socket.destroy();
      const ev = await waitForNewEvent<PolicyEvent>(d.client, 'policy rejected event', seen, (e) => e.kind === 'policy' && e.action === 'rejected');
      t.match(ev.message, c.error, 'the rejection is an event too');
      const reload = await d.client.reload();
      t.equal(reload.changed, false, 'reload does not accept it either');
      t.equal(reload.policy.digest, good);
    });
  }
  await t.test('fixing the file clears last_error and swaps', async (t) => {
    atomicWrite(d.policyPath ?? '', swapPolicy(2, true));
    await digestChange(d, good);
    const s = await d.client.status();
    t.equal(s.policy.last_error, null);
    t.equal(s.policy.revision, 2);
    const r = await connectTunnel(proxy, `app.test:${echo.port}`);
    t.equal(r.status, 403, 'the fixed policy is in force');
    r.wire.socket.destroy();
  });
});
