/**
 * A tiny UDP DNS server on 127.0.0.1 for proxy tests: answers A and AAAA
 * queries from a table, NXDOMAIN for unknown names, and counts every query,
 * so tests can prove the proxy resolved a name exactly once.
 *
 * Rebinding mode: a name can answer one address to its first A query and
 * another afterwards (the classic DNS-rebinding attack). Tests never send
 * traffic off loopback, so the "public-looking" first answer is a loopback
 * address the test policy explicitly allows (e.g. 127.0.1.1) and the second
 * is one it does not (e.g. 127.0.0.2); the property under test is the same:
 * the proxy dials only the address it checked.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface DnsEntry {
  /** Answers in this order; A and AAAA records are picked by the address family. */
  addresses?: string[];
  /** First A/AAAA query answers `first`, every later one `then`. */
  rebind?: { first: string[]; then: string[] };
}

export interface DnsResponder {
  /** "127.0.0.1:PORT" for createResolver({ server }). */
  server: string;
  port: number;
  /** Queries received per lower-case name and type ("rebind.test/A"). */
  queries: Map<string, number>;
  queriesFor(name: string, type?: 'A' | 'AAAA'): number;
  /** Replaces or adds an entry (and restarts its rebinding sequence; query counts are kept). */
  set(name: string, entry: DnsEntry): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const TTL_S = 1;

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(text: string): Buffer {
  // A dotted-quad tail (::ffff:127.0.0.2) is two 16-bit groups.
  const ip = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Parses the question; returns null for anything malformed. */
function parseQuestion(msg: Buffer): { id: number; name: string; type: number; questionEnd: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let pos = 12;
  for (;;) {
    if (pos >= msg.length) return null;
    const len = msg[pos];
    if (len === 0) {
      pos++;
      break;
    }
    if (len > 63 || pos + 1 + len > msg.length) return null;
    labels.push(msg.subarray(pos + 1, pos + 1 + len).toString('latin1'));
    pos += 1 + len;
  }
  if (pos + 4 > msg.length) return null;
  return { id: msg.readUInt16BE(0), name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(pos), questionEnd: pos + 4 };
}

function reply(query: Buffer, q: { questionEnd: number }, rcode: number, answers: Buffer[], type: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  const rd = query[2] & 0x01;
  header[2] = 0x80 | 0x04 | rd; // QR, AA, RD copied
  header[3] = 0x80 | rcode; // RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const question = query.subarray(12, q.questionEnd);
  const records = answers.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL_S, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, question, ...records]);
}

export async function startDnsResponder(table: Record<string, DnsEntry>): Promise<DnsResponder> {
  const entries = new Map<string, DnsEntry>(Object.entries(table).map(([k, v]) => [k.toLowerCase(), v]));
  const queries = new Map<string, number>();
  const answered = new Map<string, number>();
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const q = parseQuestion(msg);
    if (!q) return;
    const typeName = q.type === TYPE_A ? 'A' : q.type === TYPE_AAAA ? 'AAAA' : String(q.type);
    const key = `${q.name}/${typeName}`;
    queries.set(key, (queries.get(key) ?? 0) + 1);
    const entry = entries.get(q.name);
    let out: Buffer;
    if (!entry) {
      out = reply(msg, q, RCODE_NXDOMAIN, [], q.type);
    } else {
      let list = entry.addresses ?? [];
      if (entry.rebind) {
        const n = answered.get(key) ?? 0;
        answered.set(key, n + 1);
        list = n === 0 ? entry.rebind.first : entry.rebind.then;
      }
      const rdata =
        q.type === TYPE_A ? list.filter((a) => isIPv4(a)).map(ipv4Bytes) : q.type === TYPE_AAAA ? list.filter((a) => isIPv6(a)).map(ipv6Bytes) : [];
      out = reply(msg, q, 0, rdata, q.type);
    }
    socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries,
    queriesFor: (name, type) => {
      const n = name.toLowerCase();
      if (type) return queries.get(`${n}/${type}`) ?? 0;
      return (queries.get(`${n}/A`) ?? 0) + (queries.get(`${n}/AAAA`) ?? 0);
    },
    set: (name, entry) => {
      const n = name.toLowerCase();
      entries.set(n, entry);
      answered.delete(`${n}/A`);
      answered.delete(`${n}/AAAA`);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
