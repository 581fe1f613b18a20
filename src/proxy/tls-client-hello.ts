/**
 * TLS ClientHello parser: reads the SNI a client sends through a CONNECT (or
 * SOCKS5) tunnel to a TLS port, so the proxy can deny domain fronting — an
 * allowed CONNECT host with an SNI that names another site (DESIGN §4).
 *
 * Bounded on purpose: only the first TLS record is ever looked at, and that
 * record must hold the whole ClientHello handshake message (a record carries
 * at most 16 KiB of plaintext, which every real ClientHello fits in). The
 * parser is incremental and pure: it is handed the bytes read so far and says
 * whether it needs more, what the SNI is, or why the bytes are not a valid
 * ClientHello.
 */

export const TLS_RECORD_HEADER_BYTES = 5;
/** RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes. */
export const TLS_MAX_RECORD_PAYLOAD_BYTES = 16_384;
/** The most bytes the proxy ever buffers while waiting for a ClientHello. */
export const CLIENT_HELLO_MAX_BYTES = TLS_RECORD_HEADER_BYTES + TLS_MAX_RECORD_PAYLOAD_BYTES;

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_SERVER_NAME = 0x0000;
const SERVER_NAME_TYPE_HOST = 0x00;
const HANDSHAKE_HEADER_BYTES = 4;
const RANDOM_BYTES = 32;
const MAX_SESSION_ID_BYTES = 32;

export type ClientHelloResult =
  /** Not enough bytes yet; read more (the buffer is still below CLIENT_HELLO_MAX_BYTES). */
  | { kind: 'need-more' }
  /** The bytes are not a TLS handshake at all (e.g. plain HTTP sent to port 443). */
  | { kind: 'not-tls'; error: string }
  /** TLS, but the ClientHello is malformed, oversized or ambiguous. */
  | { kind: 'invalid'; error: string }
  /** A complete ClientHello; `sni` is the host_name it carries, or null when it has none. */
  | { kind: 'client-hello'; sni: string | null; recordBytes: number };

class Reader {
  #pos = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.#pos;
  }

  u8(): number | null {
    if (this.remaining < 1) return null;
    return this.buf[this.#pos++];
  }

  u16(): number | null {
    if (this.remaining < 2) return null;
    const v = this.buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  u24(): number | null {
    if (this.remaining < 3) return null;
    const v = (this.buf[this.#pos] << 16) | this.buf.readUInt16BE(this.#pos + 1);
    this.#pos += 3;
    return v;
  }

  bytes(n: number): Buffer | null {
    if (this.remaining < n) return null;
    const out = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
}

/**
 * Looks at `buf` (all bytes the client has sent so far) and classifies it.
 * Never reads past the first record.
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] !== CONTENT_TYPE_HANDSHAKE) return { kind: 'not-tls', error: 'no TLS ClientHello' };
  if (buf.length >= 2 && buf[1] !== 0x03) return { kind: 'not-tls', error: 'no TLS ClientHello' };
  if (buf.length < TLS_RECORD_HEADER_BYTES) return { kind: 'need-more' };
  const recordLength = buf.readUInt16BE(3);
  if (recordLength === 0) return { kind: 'invalid', error: 'empty TLS record' };
  if (recordLength > TLS_MAX_RECORD_PAYLOAD_BYTES) {
    return { kind: 'invalid', error: `TLS record of ${recordLength} bytes exceeds ${TLS_MAX_RECORD_PAYLOAD_BYTES}` };
  }
  const recordEnd = TLS_RECORD_HEADER_BYTES + recordLength;
  if (recordLength < HANDSHAKE_HEADER_BYTES) return { kind: 'invalid', error: 'TLS record too short for a handshake header' };
  if (buf.length < TLS_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES) return { kind: 'need-more' };
  if (buf[TLS_RECORD_HEADER_BYTES] !== HANDSHAKE_CLIENT_HELLO) {
    return { kind: 'invalid', error: 'first TLS handshake message is not a ClientHello' };
  }
  const helloLength = (buf[6] << 16) | buf.readUInt16BE(7);
  if (HANDSHAKE_HEADER_BYTES + helloLength > recordLength) {
    return { kind: 'invalid', error: 'ClientHello spans more than one TLS record' };
  }
  if (buf.length < recordEnd) return { kind: 'need-more' };
  const body = buf.subarray(TLS_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES, TLS_RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES + helloLength);
  const sni = parseHelloBody(body);
  if (typeof sni === 'object' && sni !== null) return { kind: 'invalid', error: sni.error };
  return { kind: 'client-hello', sni, recordBytes: recordEnd };
}

/** Returns the SNI host name, null when absent, or {error}. */
function parseHelloBody(body: Buffer): string | null | { error: string } {
  const r = new Reader(body);
  const bad = (what: string) => ({ error: `malformed ClientHello: ${what}` });
  const version = r.u16();
  if (version === null || version >> 8 !== 0x03) return bad('legacy_version');
  if (r.bytes(RANDOM_BYTES) === null) return bad('random');
  const sidLen = r.u8();
  if (sidLen === null || sidLen > MAX_SESSION_ID_BYTES || r.bytes(sidLen) === null) return bad('legacy_session_id');
  const csLen = r.u16();
  if (csLen === null || csLen === 0 || csLen % 2 !== 0 || r.bytes(csLen) === null) return bad('cipher_suites');
  const compLen = r.u8();
  if (compLen === null || compLen === 0 || r.bytes(compLen) === null) return bad('legacy_compression_methods');
  if (r.remaining === 0) return null; // no extensions at all (pre-TLS 1.0 style hello): no SNI
  const extLen = r.u16();
  if (extLen === null || extLen !== r.remaining) return bad('extensions length');
  let sni: string | null = null;
  let sawServerName = false;
  while (r.remaining > 0) {
    const type = r.u16();
    const len = r.u16();
    if (type === null || len === null) return bad('extension header');
    const data = r.bytes(len);
    if (data === null) return bad('extension length');
    if (type !== EXTENSION_SERVER_NAME) continue;
    if (sawServerName) return { error: 'ClientHello carries two server_name extensions' };
    sawServerName = true;
    const parsed = parseServerName(data);
    if (typeof parsed !== 'string' && parsed !== null) return parsed;
    sni = parsed;
  }
  return sni;
}

/** RFC 6066 §3: ServerNameList with exactly one host_name entry. */
function parseServerName(data: Buffer): string | null | { error: string } {
  if (data.length === 0) return null; // empty extension (as servers send it) carries no name
  const r = new Reader(data);
  const listLen = r.u16();
  if (listLen === null || listLen !== r.remaining || listLen === 0) return { error: 'malformed ClientHello: server_name list' };
  let name: string | null = null;
  while (r.remaining > 0) {
    const type = r.u8();
    const len = r.u16();
    if (type === null || len === null) return { error: 'malformed ClientHello: server_name entry' };
    const value = r.bytes(len);
    if (value === null || len === 0) return { error: 'malformed ClientHello: server_name entry' };
    if (type !== SERVER_NAME_TYPE_HOST) continue;
    if (name !== null) return { error: 'ClientHello carries two host_name entries' };
    for (const byte of value) {
      if (byte < 0x21 || byte > 0x7e) return { error: 'ClientHello server_name is not printable ASCII' };
    }
    name = value.toString('latin1');
  }
  return name;
}
