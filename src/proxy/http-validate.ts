/**
 * What makes a plain-HTTP request unambiguous enough to forward (DESIGN §4):
 * HTTP/1.0 or 1.1 only, one Host, one way of framing the body, and no
 * hop-by-hop or Proxy-* header crossing the proxy. A proxy and an origin that
 * read a request differently is how a second, undecided request gets
 * smuggled; these checks sit on top of Node's own strict parser.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus every Proxy-* field. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'transfer-encoding']);

/** Removes hop-by-hop headers (and those Connection names) in place. Transfer-Encoding is kept when `keepFraming`. */
export function stripHopByHop(headers: IncomingHttpHeaders, keepFraming: boolean): void {
  const listed = headers.connection;
  const named = (Array.isArray(listed) ? listed.join(',') : listed ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
  for (const key of Object.keys(headers)) {
    const k = key.toLowerCase();
    if (k === 'transfer-encoding' && keepFraming) continue;
    if (HOP_BY_HOP.has(k) || k.startsWith('proxy-') || named.includes(k)) delete headers[key];
  }
}

function countRaw(rawHeaders: string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) n++;
  return n;
}

/**
 * Node's parser accepts an HTTP/0.9-style request line (no version) followed
 * by headers, and versions such as 2.0; a proxy must not guess what those mean.
 */
export function versionProblem(req: IncomingMessage): string | null {
  return req.httpVersion === '1.1' || req.httpVersion === '1.0' ? null : `unsupported HTTP version '${req.httpVersion}' (HTTP/1.0 and 1.1 only)`;
}

/** Body-framing and header ambiguities that must not be forwarded; null when the request is clean. */
export function framingProblem(req: IncomingMessage): string | null {
  const version = versionProblem(req);
  if (version) return version;
  const raw = req.rawHeaders;
  if (countRaw(raw, 'host') > 1) return 'more than one Host header';
  const cl = countRaw(raw, 'content-length');
  const te = countRaw(raw, 'transfer-encoding');
  if (cl > 1) return 'more than one Content-Length header';
  if (te > 1) return 'more than one Transfer-Encoding header';
  if (cl > 0 && te > 0) return 'both Content-Length and Transfer-Encoding';
  if (te > 0) {
    if (req.httpVersion === '1.0') return 'Transfer-Encoding in an HTTP/1.0 request';
    const value = String(req.headers['transfer-encoding'] ?? '').trim().toLowerCase();
    if (value !== 'chunked') return `unsupported Transfer-Encoding '${value.slice(0, 40)}' (only 'chunked')`;
  }
  return null;
}

