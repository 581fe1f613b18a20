/**
 * Plain-HTTP forwarding through the real proxy on loopback: decisions by
 * name / CIDR / port, the 403 answer, Host agreement, userinfo tricks,
 * smuggling shapes, keep-alive re-decisions, hop-by-hop stripping, header
 * limits and slowloris.
 */
import t from 'tap';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { getRequest, httpExchange, openWire, readResponse } from '../helpers/proxy-client.js';

let fx: ProxyFixture;

t.before(async () => {
  fx = await startProxyFixture({ proxy: { limits: { maxHeaderBytes: 8 * 1024, headerTimeoutMs: 600 } } });
});
t.teardown(() => fx.close());

function originBody(body: string): { origin: string; url: string; rawHeaders: string[]; method: string; body: string } {
  return JSON.parse(body);
}

t.test('allowed and denied by name, by CIDR and by port', async (t) => {
  const cases: { name: string; authority: () => string; status: number; origin?: string; reason?: string }[] = [
    { name: 'allowed by exact name rule', authority: () => `allowed.test:${fx.httpA.port}`, status: 200, origin: 'a' },
    { name: 'allowed by **. wildcard', authority: () => `www.allowed.test:${fx.httpA.port}`, status: 200, origin: 'a' },
    { name: 'name with no rule: profile default deny', authority: () => `other.test:${fx.httpA.port}`, status: 403, reason: 'default' },
    { name: 'guardrails deny by name', authority: () => `pastebin.test:${fx.httpA.port}`, status: 403, reason: 'rule' },
    { name: 'allowed by address rule /32', authority: () => `127.0.0.1:${fx.httpA.port}`, status: 200, origin: 'a' },
    { name: 'allowed by CIDR 127.0.1.0/24', authority: () => `127.0.1.1:${fx.httpB.port}`, status: 200, origin: 'b' },
    { name: 'IP literal in special range with no rule', authority: () => `127.0.0.2:${fx.victim.port}`, status: 403, reason: 'special-range' },
    { name: 'guardrails deny by address inside an allowed CIDR', authority: () => `127.0.1.9:${fx.httpB.port}`, status: 403, reason: 'rule' },
    { name: 'name allowed on its port only: other port denied', authority: () => `portonly.test:${fx.httpA.port}`, status: 403, reason: 'default' },
  ];
  for (const c of cases) {
    const { answer, wire } = await httpExchange(fx.addr, getRequest(c.authority()));
    wire.socket.destroy();
    t.equal(answer?.status, c.status, `${c.name}: status`);
    if (c.origin) t.equal(originBody(answer!.body).origin, c.origin, `${c.name}: reached origin ${c.origin}`);
    if (c.reason) t.equal(answer?.headers['x-cordon-reason'], c.reason, `${c.name}: X-Cordon-Reason`);
  }
  t.equal(fx.victim.connections.total, 0, 'the victim origin on 127.0.0.2 was never connected');
});

t.test('403 names the layer and the rule in one line', async (t) => {
  const { answer, wire } = await httpExchange(fx.addr, getRequest(`x.pastebin.test:${fx.httpA.port}`, { path: '/p?secret=1' }));
  wire.socket.destroy();
  t.equal(answer?.status, 403);
  t.equal(answer?.headers['x-cordon-reason'], 'rule');
  t.equal(answer?.body, "cordon: denied by guardrails rule 'paste sites' (**.pastebin.test)\n");
  const ev = await fx.events.waitFor((e) => e.target.host === 'x.pastebin.test' && e.via === 'http');
  t.equal(ev.decision, 'deny');
  t.equal(ev.enforced, true);
  t.same(ev.rule, { layer: 'guardrails', name: 'paste sites', resource: '**.pastebin.test' });
  t.same(ev.http, { method: 'GET', path: '/p', status: 403 }, 'event path has no query string');
  t.same(ev.policy, { name: 'proxy-test', revision: 7, digest: ev.policy?.digest });
});

t.test('allowed request: Host preserved, pinned address dialed, one event with bytes', async (t) => {
  await fx.quiesce();
  const body = 'hello=world';
  const raw =
    `POST http://allowed.test:${fx.httpA.port}/submit?q=1 HTTP/1.1\r\nHost: allowed.test:${fx.httpA.port}\r\n` +
    `Content-Length: ${body.length}\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n` +
    `Connection: keep-alive, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Keep: yes\r\n\r\n${body}`;
  const { answer, wire } = await httpExchange(fx.addr, raw);
  wire.socket.destroy();
  t.equal(answer?.status, 200);
  const seen = originBody(answer!.body);
  t.equal(seen.url, '/submit?q=1', 'origin got origin-form path with query');
  t.equal(seen.body, body, 'body forwarded');
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
  const host = seen.rawHeaders[seen.rawHeaders.findIndex((h) => h.toLowerCase() === 'host') + 1];
  t.equal(host, `allowed.test:${fx.httpA.port}`, 'Host header preserved');
  for (const hop of ['proxy-authorization', 'proxy-connection', 'x-drop-me', 'keep-alive', 'te']) {
    t.notOk(names.includes(hop), `hop-by-hop ${hop} not forwarded`);
  }
  t.ok(names.includes('x-keep'), 'end-to-end header forwarded');
  t.notOk(answer!.headers['x-origin-hop'], 'response header named by Connection stripped');
  t.notOk(answer!.headers['proxy-authenticate'], 'response Proxy-* stripped');
  t.equal(answer!.headers['x-origin'], 'a', 'end-to-end response header kept');
  const ev = await fx.events.waitFor((e) => e.target.host === 'allowed.test' && e.via === 'http');
  t.equal(ev.decision, 'allow');
  t.equal(ev.target.address, '127.0.0.1');
  t.same(ev.target.addresses, ['127.0.0.1']);
  t.equal(ev.bytes_up, body.length);
  t.ok((ev.bytes_down ?? 0) > 0, 'bytes down counted');
  t.same(ev.http, { method: 'POST', path: '/submit', status: 200 });
  t.equal(ev.session.id, 'anonymous');
});

t.test('Host header must agree with the URI authority', async (t) => {
  const p = fx.httpA.port;
  const cases = [
    { name: 'different host', uri: `allowed.test:${p}`, host: `pastebin.test:${p}`, status: 400 },
    { name: 'different port', uri: `allowed.test:${p}`, host: `allowed.test:${p + 1}`, status: 400 },
    { name: 'Host without the non-default port', uri: `allowed.test:${p}`, host: 'allowed.test', status: 400 },
    { name: 'allowed URI, Host names a denied IP', uri: `allowed.test:${p}`, host: `127.0.0.2:${p}`, status: 400 },
    { name: 'same host, other spelling (case, trailing dot)', uri: `allowed.test:${p}`, host: `ALLOWED.Test.:${p}`, status: 200 },
    { name: 'same address, other IPv4 spelling', uri: `127.0.0.1:${p}`, host: `0x7f.1:${p}`, status: 200 },
  ];
  for (const c of cases) {
    const { answer, wire } = await httpExchange(fx.addr, getRequest(c.uri, { host: c.host }));
    wire.socket.destroy();
    t.equal(answer?.status, c.status, c.name);
    if (c.status === 400) t.equal(answer?.headers['x-cordon-reason'], 'invalid-target', `${c.name}: reason`);
  }
  t.test('two Host headers', async (t) => {
    const raw = `GET http://allowed.test:${p}/ HTTP/1.1\r\nHost: allowed.test:${p}\r\nHost: pastebin.test:${p}\r\n\r\n`;
    const { answer, wire } = await httpExchange(fx.addr, raw);
    wire.socket.destroy();
    t.equal(answer?.status, 400);
  });
});

t.test('userinfo and URI tricks are invalid targets (400), never decided on the wrong host', async (t) => {
  const p = fx.httpA.port;
  const before = fx.httpA.requests.length;
  const cases = [
    { name: 'allowed@evil', line: `GET http://allowed.test@pastebin.test:${p}/ HTTP/1.1`, host: `pastebin.test:${p}` },
    { name: 'allowed:port@denied IP', line: `GET http://allowed.test:${p}@127.0.0.2:${p}/ HTTP/1.1`, host: `127.0.0.2:${p}` },
    { name: 'user:pass@allowed', line: `GET http://user:pass@allowed.test:${p}/ HTTP/1.1`, host: `allowed.test:${p}` },
    { name: 'origin-form request to the proxy', line: 'GET /index.html HTTP/1.1', host: `allowed.test:${p}` },
    { name: 'https absolute URI (must use CONNECT)', line: `GET https://allowed.test:${p}/ HTTP/1.1`, host: `allowed.test:${p}` },
    { name: 'unbracketed IPv6', line: `GET http://::1:${p}/ HTTP/1.1`, host: `[::1]:${p}` },
    { name: 'percent-encoded host', line: `GET http://allowed%2etest:${p}/ HTTP/1.1`, host: `allowed%2etest:${p}` },
  ];
  for (const c of cases) {
    const { answer, wire } = await httpExchange(fx.addr, `${c.line}\r\nHost: ${c.host}\r\n\r\n`);
    wire.socket.destroy();
    t.equal(answer?.status, 400, c.name);
  }
  t.equal(fx.httpA.requests.length, before, 'origin received none of them');
});

t.test('request smuggling shapes get 400, not a reset, and reach no origin', async (t) => {
  const p = fx.httpA.port;
  const before = fx.httpA.requests.length;
  const start = `POST http://allowed.test:${p}/ HTTP/1.1\r\nHost: allowed.test:${p}\r\n`;
  const cases = [
    { name: 'CL.TE: Content-Length and Transfer-Encoding', raw: `${start}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` },
    { name: 'TE.CL: Transfer-Encoding first', raw: `${start}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n` },
    { name: 'duplicate equal Content-Length', raw: `${start}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc` },
    { name: 'conflicting Content-Length', raw: `${start}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd` },
    { name: 'Content-Length list', raw: `${start}Content-Length: 3, 3\r\n\r\nabc` },
    { name: 'Transfer-Encoding gzip (not chunked)', raw: `${start}Transfer-Encoding: gzip\r\n\r\nabc` },
    { name: 'Transfer-Encoding xchunked', raw: `${start}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n` },
    { name: 'Transfer-Encoding twice', raw: `${start}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` },
    { name: 'space before colon', raw: `${start}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n` },
    { name: 'obs-fold header', raw: `${start}X-A: 1\r\n  folded\r\n\r\n` },
    { name: 'bare LF line endings', raw: `POST http://allowed.test:${p}/ HTTP/1.1\nHost: allowed.test:${p}\nContent-Length: 0\n\n` },
    { name: 'Transfer-Encoding in HTTP/1.0', raw: `POST http://allowed.test:${p}/ HTTP/1.0\r\nHost: allowed.test:${p}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` },
    { name: 'negative Content-Length', raw: `${start}Content-Length: -1\r\n\r\n` },
    { name: 'HTTP/0.9-style request line (no version) followed by headers', raw: `GET http://allowed.test:${p}/\r\nHost: allowed.test:${p}\r\n\r\n` },
    { name: 'HTTP/2.0 in an HTTP/1 request line', raw: `GET http://allowed.test:${p}/ HTTP/2.0\r\nHost: allowed.test:${p}\r\n\r\n` },
  ];
  for (const c of cases) {
    const { answer, wire } = await httpExchange(fx.addr, c.raw);
    t.equal(answer?.status, 400, `${c.name}: 400`);
    await wire.closed();
    t.pass(`${c.name}: connection closed after the 400`);
  }
  t.equal(fx.httpA.requests.length, before, 'origin received none of them');
});

t.test('keep-alive: every request is decided on its own', async (t) => {
  const wire = await openWire(fx.addr);
  const pa = fx.httpA.port;
  const pb = fx.httpB.port;
  wire.socket.write(getRequest(`allowed.test:${pa}`, { path: '/one' }));
  const r1 = await readResponse(wire);
  t.equal(r1?.status, 200, 'first request allowed');
  wire.socket.write(getRequest(`pastebin.test:${pa}`, { path: '/two' }));
  const r2 = await readResponse(wire);
  t.equal(r2?.status, 403, 'second request on the same connection, to a denied host: 403');
  wire.socket.write(getRequest(`b.allowed.test:${pb}`, { path: '/three' }));
  const r3 = await readResponse(wire);
  t.equal(r3?.status, 200, 'third request to another allowed host');
  t.equal(originBody(r3!.body).origin, 'b', 'third request reached origin b, not a reused connection to a');
  // Pipelined: two requests in one write, the second denied.
  wire.socket.write(getRequest(`allowed.test:${pa}`, { path: '/four' }) + getRequest(`127.0.0.2:${fx.victim.port}`, { path: '/five' }));
  const r4 = await readResponse(wire);
  const r5 = await readResponse(wire);
  t.equal(r4?.status, 200, 'pipelined allowed request');
  t.equal(r5?.status, 403, 'pipelined denied request');
  wire.socket.destroy();
  t.notOk(fx.httpA.requests.some((r) => r.url === '/two'), 'denied request never reached origin a');
  t.equal(fx.victim.connections.total, 0, 'victim never reached');
});

t.test('upstream connections are reused per decided target only', async (t) => {
  const pa = fx.httpA.port;
  fx.dns.set('pool1.allowed.test', { addresses: ['127.0.0.1'] });
  fx.dns.set('pool2.allowed.test', { addresses: ['127.0.0.1'] });
  const before = fx.httpA.connections.total;
  for (const path of ['/r1', '/r2']) {
    const { answer, wire } = await httpExchange(fx.addr, getRequest(`pool1.allowed.test:${pa}`, { path }));
    wire.socket.destroy();
    t.equal(answer?.status, 200, `pool1.allowed.test${path}`);
  }
  t.equal(fx.httpA.connections.total - before, 1, 'two requests for the same decided target share one upstream connection');
  const { answer, wire } = await httpExchange(fx.addr, getRequest(`pool2.allowed.test:${pa}`, { path: '/r3' }));
  wire.socket.destroy();
  t.equal(answer?.status, 200);
  t.equal(fx.httpA.connections.total - before, 2, 'another name on the same address gets its own upstream connection');
});

t.test('oversized request headers get 431', async (t) => {
  const big = 'X-Big: ' + 'a'.repeat(20 * 1024);
  const { answer, wire } = await httpExchange(fx.addr, getRequest(`allowed.test:${fx.httpA.port}`, { headers: [big] }));
  t.equal(answer?.status, 431);
  await wire.closed();
  t.pass('closed after 431');
});

t.test('slowloris: a request head that never completes is cut off', async (t) => {
  const wire = await openWire(fx.addr);
  wire.socket.write(`GET http://allowed.test:${fx.httpA.port}/ HTTP/1.1\r\nHost: allowed.test\r\n`);
  let drips = 0;
  const drip = setInterval(() => {
    if (!wire.socket.destroyed && drips++ < 40) wire.socket.write('X-Slow: 1\r\n');
  }, 100);
  const answer = await readResponse(wire);
  clearInterval(drip);
  t.equal(answer?.status, 408, 'answered 408 Request Timeout');
  await wire.closed();
  t.pass('connection closed');
});

t.test('a connection that sends nothing is closed', async (t) => {
  const wire = await openWire(fx.addr);
  await wire.closed();
  t.equal(wire.buf.length, 0, 'closed without an answer');
});
