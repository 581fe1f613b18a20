/**
 * The SNI gate for tunnels to TLS ports (DESIGN §4): read the client's first
 * TLS record — and nothing more — within a timeout, then say whether its SNI
 * names the tunnel's target. This is what stops domain fronting: a CONNECT
 * to an allowed host whose ClientHello asks the same CDN edge for another
 * site.
 *
 * Rules (documented in the README):
 * - no TLS at all on a TLS port → deny ("no TLS ClientHello");
 * - a name target needs an SNI, and it must canonicalise to the same name;
 * - an IP-literal target accepts a ClientHello without SNI (or with an SNI
 *   spelling that same IP); an SNI naming a host is denied, because the
 *   address rule that allowed the IP says nothing about which site on that
 *   address the client asks for.
 */
import type { Socket } from 'node:net';
import { canonicalizeHost } from '../match/canonical.js';
import type { CanonicalTarget } from '../match/types.js';
import { CLIENT_HELLO_MAX_BYTES, parseClientHello, type ClientHelloResult } from './tls-client-hello.js';

export type HelloRead =
  | { kind: 'hello'; bytes: Buffer; result: ClientHelloResult }
  | { kind: 'timeout'; bytes: Buffer }
  | { kind: 'closed'; bytes: Buffer };

/** TLS alert record: fatal access_denied (49). Sent before closing a denied tunnel so clients show a TLS error, not a hang. */
export const TLS_ALERT_ACCESS_DENIED = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
/** TLS alert record: fatal internal_error (80), for a failed dial after the tunnel was accepted. */
export const TLS_ALERT_INTERNAL_ERROR = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);

/**
 * Reads from `client` (starting with `head`, bytes already received) until the
 * first TLS record is complete or proves not to be a ClientHello. Leaves the
 * socket paused with no 'data' listener; everything read is in `bytes`.
 */
export function readClientHello(client: Socket, head: Buffer, timeoutMs: number): Promise<HelloRead> {
  return new Promise<HelloRead>((resolve) => {
    let bytes = head;
    let done = false;
    const finish = (r: HelloRead) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeListener('data', onData);
      client.removeListener('close', onClose);
      client.removeListener('end', onClose);
      client.pause();
      resolve(r);
    };
    const check = () => {
      const result = parseClientHello(bytes);
      if (result.kind !== 'need-more') finish({ kind: 'hello', bytes, result });
      else if (bytes.length >= CLIENT_HELLO_MAX_BYTES) finish({ kind: 'hello', bytes, result: { kind: 'invalid', error: 'ClientHello too large' } });
    };
    const onData = (chunk: Buffer) => {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
      check();
    };
    const onClose = () => finish({ kind: 'closed', bytes });
    const timer = setTimeout(() => finish({ kind: 'timeout', bytes }), timeoutMs);
    if (head.length > 0) {
      check();
      if (done) return;
    }
    client.on('data', onData);
    client.once('end', onClose);
    client.once('close', onClose);
    client.resume();
  });
}

/** null when the ClientHello fits the target; otherwise why it does not. */
export function sniProblem(target: CanonicalTarget, read: HelloRead, timeoutMs: number): string | null {
  if (read.kind === 'timeout') return read.bytes.length === 0 ? `no TLS ClientHello within ${timeoutMs} ms` : `incomplete TLS ClientHello within ${timeoutMs} ms`;
  if (read.kind === 'closed') return 'client closed before sending a TLS ClientHello';
  const r = read.result;
  if (r.kind === 'not-tls') return r.error;
  if (r.kind === 'invalid') return r.error;
  if (r.kind === 'need-more') return 'incomplete TLS ClientHello';
  if (r.sni === null) {
    return target.host.kind === 'name' ? `TLS ClientHello has no server name for ${target.host.host}` : null;
  }
  const sni = canonicalizeHost(r.sni);
  if (!sni.ok) return `invalid TLS server name: ${sni.error}`;
  if (sni.value.kind === target.host.kind && sni.value.host === target.host.host) return null;
  if (target.host.kind !== 'name') return `TLS server name '${sni.value.host}' on a tunnel to the address ${target.host.host}`;
  return `TLS server name '${sni.value.host}' does not match '${target.host.host}'`;
}
