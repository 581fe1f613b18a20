/**
 * SOCKS5 framing (RFC 1928) and username/password sub-negotiation (RFC 1929)
 * as pure functions over the bytes received so far, so the connection handler
 * in socks5.ts stays a small state machine and the framing can be tested
 * byte by byte. Nothing here decides anything; the request's address comes
 * out as raw text for the same canonicaliser the HTTP paths use.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const SOCKS_VERSION = 0x05;
export const SOCKS4_VERSION = 0x04;
export const USERPASS_VERSION = 0x01;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export const REPLY_SUCCEEDED = 0x00;
export const REPLY_GENERAL_FAILURE = 0x01;
export const REPLY_NOT_ALLOWED = 0x02;
export const REPLY_NETWORK_UNREACHABLE = 0x03;
export const REPLY_HOST_UNREACHABLE = 0x04;
export const REPLY_CONNECTION_REFUSED = 0x05;
export const REPLY_COMMAND_NOT_SUPPORTED = 0x07;
export const REPLY_ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

export const USERPASS_SUCCESS = 0x00;
export const USERPASS_FAILURE = 0x01;

/** SOCKS4 reply "request rejected or failed" (VN=0, CD=91). */
export const SOCKS4_REJECTED_REPLY = Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]);

/** Largest legal message of the handshake (RFC 1929: 1+1+255+1+255). */
export const SOCKS_MAX_MESSAGE_BYTES = 513;

export type Parse<T> = { kind: 'need-more' } | { kind: 'error'; error: string } | ({ kind: 'ok'; consumed: number } & T);

const NEED_MORE = { kind: 'need-more' } as const;

export function parseGreeting(buf: Buffer): Parse<{ methods: number[] }> {
  if (buf.length < 2) return NEED_MORE;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', error: `unsupported SOCKS version ${buf[0]}` };
  const n = buf[1];
  if (buf.length < 2 + n) return NEED_MORE;
  return { kind: 'ok', consumed: 2 + n, methods: [...buf.subarray(2, 2 + n)] };
}

export function parseUserPass(buf: Buffer): Parse<{ user: string; pass: string }> {
  if (buf.length < 2) return NEED_MORE;
  if (buf[0] !== USERPASS_VERSION) return { kind: 'error', error: `unsupported username/password version ${buf[0]}` };
  const ulen = buf[1];
  if (buf.length < 2 + ulen + 1) return NEED_MORE;
  const plen = buf[2 + ulen];
  const end = 3 + ulen + plen;
  if (buf.length < end) return NEED_MORE;
  return {
    kind: 'ok',
    consumed: end,
    user: buf.subarray(2, 2 + ulen).toString('utf8'),
    pass: buf.subarray(3 + ulen, end).toString('utf8'),
  };
}

export type SocksAddress =
  | { type: 'ipv4' | 'ipv6'; text: string }
  /** `text` is the decoded name; null when the bytes are not valid UTF-8 (`raw` keeps them for the record). */
  | { type: 'domain'; text: string | null; raw: string };

export type SocksRequest = { command: number; address: SocksAddress | null; atyp: number; port: number };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function parseRequest(buf: Buffer): Parse<SocksRequest> {
  if (buf.length < 4) return NEED_MORE;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', error: `unsupported SOCKS version ${buf[0]}` };
  const command = buf[1];
  const atyp = buf[3];
  let addrEnd: number;
  let address: SocksAddress | null;
  switch (atyp) {
    case ATYP_IPV4: {
      addrEnd = 4 + 4;
      if (buf.length < addrEnd + 2) return NEED_MORE;
      address = { type: 'ipv4', text: [...buf.subarray(4, 8)].join('.') };
      break;
    }
    case ATYP_IPV6: {
      addrEnd = 4 + 16;
      if (buf.length < addrEnd + 2) return NEED_MORE;
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(4 + i * 2).toString(16));
      address = { type: 'ipv6', text: groups.join(':') };
      break;
    }
    case ATYP_DOMAIN: {
      if (buf.length < 5) return NEED_MORE;
      const len = buf[4];
      addrEnd = 5 + len;
      if (buf.length < addrEnd + 2) return NEED_MORE;
      const bytes = buf.subarray(5, addrEnd);
      let text: string | null;
      try {
        text = UTF8.decode(bytes);
      } catch {
        text = null;
      }
      address = { type: 'domain', text, raw: bytes.toString('latin1') };
      break;
    }
    default:
      // Unknown address type: the length of the rest is unknowable; the caller replies 0x08 and closes.
      return { kind: 'ok', consumed: buf.length, command, atyp, address: null, port: 0 };
  }
  const port = buf.readUInt16BE(addrEnd);
  return { kind: 'ok', consumed: addrEnd + 2, command, atyp, address, port };
}

/** A reply; `bound` is the proxy's outgoing address and port (0.0.0.0:0 when not known yet). */
export function encodeReply(code: number, bound?: { address: string; port: number }): Buffer {
  const address = bound?.address ?? '0.0.0.0';
  const port = bound?.port ?? 0;
  if (isIPv6(address) && !isIPv4(address)) {
    const out = Buffer.alloc(4 + 16 + 2);
    out[0] = SOCKS_VERSION;
    out[1] = code;
    out[3] = ATYP_IPV6;
    ipv6Bytes(address).copy(out, 4);
    out.writeUInt16BE(port, 20);
    return out;
  }
  const out = Buffer.alloc(4 + 4 + 2);
  out[0] = SOCKS_VERSION;
  out[1] = code;
  out[3] = ATYP_IPV4;
  const quads = isIPv4(address) ? address.split('.').map(Number) : [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) out[4 + i] = quads[i];
  out.writeUInt16BE(port, 8);
  return out;
}

/** 16 bytes of an IPv6 text (which node:net already validated). */
function ipv6Bytes(text: string): Buffer {
  let t = text.split('%')[0];
  const out = Buffer.alloc(16);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted) {
    const q = dotted[1].split('.').map(Number);
    t = t.slice(0, -dotted[1].length) + ((q[0] << 8) | q[1]).toString(16) + ':' + ((q[2] << 8) | q[3]).toString(16);
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, null];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === null ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function encodeMethodChoice(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

export function encodeUserPassStatus(status: number): Buffer {
  return Buffer.from([USERPASS_VERSION, status]);
}
