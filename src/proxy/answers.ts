/**
 * What a client is told when cordon says no (DESIGN §4): the HTTP status,
 * the `X-Cordon-Reason` header, a one-line plain-text body naming the layer
 * and rule, and the SOCKS5 reply code — one mapping for every entry path, so
 * the same decision reads the same way over HTTP, CONNECT and SOCKS5.
 */
import type { NetworkDecision } from '../decide/types.js';
import {
  REPLY_GENERAL_FAILURE,
  REPLY_HOST_UNREACHABLE,
  REPLY_NOT_ALLOWED,
} from './socks5-wire.js';

export const REASON_HEADER = 'X-Cordon-Reason';
export const PROXY_AUTH_REALM = 'cordon';
/** Longest detail (host, error text) echoed back to the client. */
const MAX_DETAIL_CHARS = 200;

export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  200: 'Connection Established',
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
});

/** Printable, bounded text safe for a one-line body. */
export function clean(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, (c) => (c === '\u0000' ? '\\0' : '?'));
  return printable.length > MAX_DETAIL_CHARS ? printable.slice(0, MAX_DETAIL_CHARS) + '...' : printable;
}

function hostPort(d: NetworkDecision): string {
  const h = d.target.kind === 'ipv6' ? `[${d.target.host}]` : d.target.host;
  return clean(`${h}:${d.target.port}`);
}

function layerText(layer: string): string {
  return layer.startsWith('profile:') ? `profile '${layer.slice('profile:'.length)}'` : layer;
}

/** The one-line body ("cordon: denied by guardrails rule 'paste sites' (**.pastebin.com)\n"). */
export function denialText(d: NetworkDecision): string {
  const detail = d.error ? ` (${clean(d.error)})` : '';
  let line: string;
  switch (d.reason) {
    case 'rule':
      line = d.rule
        ? `cordon: denied by ${layerText(d.rule.layer)} rule '${clean(d.rule.name)}' (${clean(d.rule.resource)})`
        : `cordon: denied by a rule`;
      break;
    case 'default':
      line = `cordon: denied by profile '${clean(d.profile)}' default: no rule allows ${hostPort(d)}`;
      break;
    case 'special-range':
      line = `cordon: denied: ${clean(d.address ?? d.addresses[0]?.address ?? d.target.host)} is in a special range (loopback, private, ...) and no address rule allows it`;
      break;
    case 'no-address-allowed':
      line = `cordon: denied: no resolved address of ${hostPort(d)} is allowed (${clean(d.addresses.map((a) => a.address).join(', '))})`;
      break;
    case 'unresolvable':
      line = `cordon: ${hostPort(d)} does not resolve`;
      break;
    case 'invalid-target':
      line = `cordon: invalid target${detail}`;
      return line + '\n';
    case 'sni-mismatch':
      line = `cordon: denied: TLS server name does not match ${hostPort(d)}`;
      break;
    case 'auth-required':
      line = 'cordon: proxy authentication required';
      break;
    case 'no-policy':
      line = 'cordon: denied: no valid policy is loaded';
      break;
    default:
      line = `cordon: denied (${d.reason})`;
  }
  return line + detail + '\n';
}

/** HTTP status for a decision that is not let through. */
export function httpStatusFor(d: NetworkDecision): number {
  switch (d.reason) {
    case 'invalid-target':
      return 400;
    case 'auth-required':
      return 407;
    case 'unresolvable':
      return 502;
    default:
      return 403;
  }
}

/** SOCKS5 reply code for a decision that is not let through. */
export function socksReplyFor(d: NetworkDecision): number {
  switch (d.reason) {
    case 'unresolvable':
      return REPLY_HOST_UNREACHABLE;
    case 'internal-error':
      return REPLY_GENERAL_FAILURE;
    default:
      return REPLY_NOT_ALLOWED;
  }
}

/** Extra response headers for a refusal. */
export function refusalHeaders(d: NetworkDecision): Record<string, string> {
  const h: Record<string, string> = { [REASON_HEADER]: d.reason };
  if (d.reason === 'auth-required') h['Proxy-Authenticate'] = `Basic realm="${PROXY_AUTH_REALM}"`;
  return h;
}

/** A complete raw HTTP/1.1 response that closes the connection (for CONNECT and parse errors). */
export function rawResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  return head + body;
}
