/**
 * The proxy's request-target parsing: authorities and absolute URIs become
 * canonical targets through the shared canonicaliser, and every ambiguity
 * (userinfo, unbracketed IPv6, other schemes, origin-form) is an error.
 */
import t from 'tap';
import { parseAbsoluteUri, parseAuthority } from '../../src/proxy/target-parse.js';

t.test('authorities', async (t) => {
  const ok = [
    { input: 'Example.COM.:8443', port: null, want: { host: { kind: 'name', host: 'example.com' }, port: 8443 } },
    { input: '[::1]:443', port: null, want: { host: { kind: 'ipv6', host: '::1', embeddedIPv4: [] }, port: 443 } },
    { input: '0x7f.1:22', port: null, want: { host: { kind: 'ipv4', host: '127.0.0.1' }, port: 22 } },
    { input: 'example.com', port: 80, want: { host: { kind: 'name', host: 'example.com' }, port: 80 } },
    { input: '[::ffff:127.0.0.1]', port: 80, want: { host: { kind: 'ipv4', host: '127.0.0.1' }, port: 80 } },
  ];
  for (const c of ok) t.same(parseAuthority(c.input, c.port), { ok: true, value: c.want }, c.input);
  const bad = [
    { name: 'port required for CONNECT', input: 'example.com', port: null, error: /port is required/ },
    { name: 'userinfo', input: 'allowed.com@evil.com:443', port: null, error: /userinfo/ },
    { name: 'unbracketed IPv6', input: '::1:443', port: null, error: /brackets/ },
    { name: 'unterminated bracket', input: '[::1:443', port: null, error: /unterminated/ },
    { name: 'text after ]', input: '[::1]x', port: 80, error: /after \]/ },
    { name: 'empty host', input: ':443', port: null, error: /empty/ },
    { name: 'empty port', input: 'a.b:', port: 80, error: /port/ },
    { name: 'port with leading zero', input: 'a.b:0443', port: null, error: /leading zero/ },
    { name: 'port out of range', input: 'a.b:65536', port: null, error: /range/ },
    { name: 'percent in host', input: 'ex%61mple.com:443', port: null, error: /%/ },
  ];
  for (const c of bad) {
    const r = parseAuthority(c.input, c.port);
    t.equal(r.ok, false, c.name);
    if (!r.ok) t.match(r.error, c.error, `${c.name}: error text`);
  }
});

t.test('absolute URIs', async (t) => {
  const ok = [
    { input: 'http://a.example/x?y=1#frag', path: '/x?y=1', pathNoQuery: '/x', port: 80 },
    { input: 'HTTP://a.example:8080', path: '/', pathNoQuery: '/', port: 8080 },
    { input: 'http://a.example?q', path: '/?q', pathNoQuery: '/', port: 80 },
    { input: 'http://a.example/@evil.example', path: '/@evil.example', pathNoQuery: '/@evil.example', port: 80 },
  ];
  for (const c of ok) {
    const r = parseAbsoluteUri(c.input);
    t.ok(r.ok, c.input);
    if (r.ok) {
      t.equal(r.value.target.host.host, 'a.example', `${c.input}: host`);
      t.equal(r.value.target.port, c.port, `${c.input}: port`);
      t.equal(r.value.path, c.path, `${c.input}: path`);
      t.equal(r.value.pathNoQuery, c.pathNoQuery, `${c.input}: path without query`);
    }
  }
  const bad = [
    { name: 'origin-form', input: '/index.html', error: /origin-form/ },
    { name: 'asterisk-form', input: '*', error: /origin-form/ },
    { name: 'https needs CONNECT', input: 'https://a.example/', error: /CONNECT/ },
    { name: 'ftp', input: 'ftp://a.example/', error: /unsupported scheme/ },
    { name: 'no scheme', input: 'a.example/x', error: /malformed/ },
    { name: 'userinfo', input: 'http://allowed.example@evil.example/', error: /userinfo/ },
    { name: 'userinfo with password', input: 'http://u:p@a.example/', error: /userinfo/ },
  ];
  for (const c of bad) {
    const r = parseAbsoluteUri(c.input);
    t.equal(r.ok, false, c.name);
    if (!r.ok) t.match(r.error, c.error, `${c.name}: error text`);
  }
});
