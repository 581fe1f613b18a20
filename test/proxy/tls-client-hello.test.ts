/**
 * The ClientHello/SNI parser on real ClientHellos (captured from Node's TLS
 * client on loopback) and on hand-made hostile ones: split across reads,
 * not TLS, oversized, spanning two records, two server names.
 */
import { createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { CLIENT_HELLO_MAX_BYTES, parseClientHello } from '../../src/proxy/tls-client-hello.js';

/** The first bytes a TLS client sends to a server that never answers. */
function captureClientHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = createServer((s: Socket) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          s.destroy();
          srv.close();
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      c.on('error', () => {});
    });
  });
}

/** A synthetic ClientHello record with the given extensions. */
function helloWith(extensions: Buffer[], opts: { recordLength?: number } = {}): Buffer {
  const ext = Buffer.concat(extensions);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 1),
    Buffer.from([0x00]), // session id
    Buffer.from([0x00, 0x02, 0x13, 0x01]), // one cipher suite
    Buffer.from([0x01, 0x00]), // null compression
    Buffer.from([ext.length >> 8, ext.length & 0xff]),
    ext,
  ]);
  const hs = Buffer.concat([Buffer.from([0x01, 0, body.length >> 8, body.length & 0xff]), body]);
  const len = opts.recordLength ?? hs.length;
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, len >> 8, len & 0xff]), hs]);
}

function sniExt(...names: string[]): Buffer {
  const entries = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0x00, n.length >> 8, n.length & 0xff]), Buffer.from(n, 'latin1')])));
  const list = Buffer.concat([Buffer.from([entries.length >> 8, entries.length & 0xff]), entries]);
  return Buffer.concat([Buffer.from([0x00, 0x00, list.length >> 8, list.length & 0xff]), list]);
}

t.test('real ClientHellos from Node', async (t) => {
  const withSni = await captureClientHello('allowed.example');
  t.same(parseClientHello(withSni), { kind: 'client-hello', sni: 'allowed.example', recordBytes: withSni.length });
  const withoutSni = await captureClientHello(undefined);
  t.same(parseClientHello(withoutSni), { kind: 'client-hello', sni: null, recordBytes: withoutSni.length });
  for (let cut = 0; cut < withSni.length; cut += 37) {
    t.same(parseClientHello(withSni.subarray(0, cut)).kind, 'need-more', `prefix of ${cut} bytes needs more`);
  }
  const trailing = Buffer.concat([withSni, Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01])]);
  t.same(parseClientHello(trailing), { kind: 'client-hello', sni: 'allowed.example', recordBytes: withSni.length }, 'bytes after the record are ignored');
});

t.test('hostile and malformed inputs', async (t) => {
  const cases: { name: string; input: Buffer; kind: string; error?: RegExp; sni?: string | null }[] = [
    { name: 'plain HTTP on a TLS port', input: Buffer.from('GET / HTTP/1.1\r\n'), kind: 'not-tls', error: /no TLS ClientHello/ },
    { name: 'SSH banner', input: Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), kind: 'not-tls' },
    { name: 'handshake byte with a bogus version', input: Buffer.from([0x16, 0x09, 0x01]), kind: 'not-tls' },
    { name: 'record longer than 16 KiB', input: Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01]), kind: 'invalid', error: /exceeds/ },
    { name: 'empty record', input: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), kind: 'invalid' },
    { name: 'first handshake message is not a ClientHello', input: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]), kind: 'invalid', error: /not a ClientHello/ },
    { name: 'ClientHello that spans two records', input: helloWith([sniExt('a.example')], { recordLength: 20 }), kind: 'invalid', error: /spans more than one TLS record/ },
    { name: 'two host_name entries (SNI confusion)', input: helloWith([sniExt('allowed.example', 'evil.example')]), kind: 'invalid', error: /two host_name/ },
    { name: 'two server_name extensions', input: helloWith([sniExt('allowed.example'), sniExt('evil.example')]), kind: 'invalid', error: /two server_name/ },
    { name: 'NUL inside the server name', input: helloWith([sniExt('allowed.example\u0000.evil')]), kind: 'invalid', error: /printable ASCII/ },
    { name: 'synthetic hello with one SNI', input: helloWith([sniExt('a.example')]), kind: 'client-hello', sni: 'a.example' },
    { name: 'synthetic hello with no extensions', input: helloWith([]), kind: 'client-hello', sni: null },
  ];
  for (const c of cases) {
    const r = parseClientHello(c.input);
    t.equal(r.kind, c.kind, `${c.name}: ${r.kind}`);
    if (c.error && 'error' in r) t.match(r.error, c.error, `${c.name}: error text`);
    if (c.sni !== undefined && r.kind === 'client-hello') t.equal(r.sni, c.sni, `${c.name}: sni`);
  }
  t.equal(CLIENT_HELLO_MAX_BYTES, 16_389, 'never more than one record plus its header is buffered');
});
