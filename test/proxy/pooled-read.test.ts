/**
 * The read-buffer pool behind tunnel downloads (src/proxy/pooled-read.ts):
 * buffers are shared by every tunnel of a proxy, so these cases pin down
 * when a buffer may be handed out again — only after the write using it
 * called back, or after its socket closed — that the pool stays bounded,
 * and that a tunnel moves to bulk buffers while a download fills them and
 * back to small ones when it goes quiet. Real sockets on 127.0.0.1 where a
 * socket is involved.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import {
  BULK_READ_BUFFER_BYTES,
  MAX_POOLED_BULK_BUFFERS,
  MAX_POOLED_READ_BUFFERS,
  PooledReader,
  READ_BUFFER_BYTES,
  ReadBufferPool,
} from '../../src/proxy/pooled-read.js';

t.test('pool: hands back what it was given, bounded per size', (t) => {
  const pool = new ReadBufferPool();
  const small = pool.take(false);
  const bulk = pool.take(true);
  t.equal(small.length, READ_BUFFER_BYTES, 'small buffer size');
  t.equal(bulk.length, BULK_READ_BUFFER_BYTES, 'bulk buffer size');
  pool.give(small);
  pool.give(bulk);
  t.same(pool.size, { small: 1, bulk: 1 }, 'both kept');
  t.equal(pool.take(false), small, 'the small one is reused');
  t.equal(pool.take(true), bulk, 'the bulk one is reused');
  for (let i = 0; i < MAX_POOLED_READ_BUFFERS + 10; i++) pool.give(Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
  for (let i = 0; i < MAX_POOLED_BULK_BUFFERS + 10; i++) pool.give(Buffer.allocUnsafeSlow(BULK_READ_BUFFER_BYTES));
  t.same(pool.size, { small: MAX_POOLED_READ_BUFFERS, bulk: MAX_POOLED_BULK_BUFFERS }, 'extra buffers are left to the GC');
  t.end();
});

t.test('reader: a full read switches to bulk buffers, a short read switches back', (t) => {
  const pool = new ReadBufferPool();
  const reader = new PooledReader(pool);
  const seen: number[] = [];
  reader.attach((n, buf) => {
    seen.push(n);
    reader.release(buf);
    return true;
  });
  // Node calls buffer() for the first read, then callback(n, buf) + buffer() for each read.
  let buf = reader.onread.buffer() as Buffer;
  t.equal(buf.length, READ_BUFFER_BYTES, 'a new tunnel starts small');
  reader.onread.callback(READ_BUFFER_BYTES, buf);
  buf = reader.onread.buffer() as Buffer;
  t.equal(buf.length, BULK_READ_BUFFER_BYTES, 'after a read that filled its buffer: bulk');
  reader.onread.callback(BULK_READ_BUFFER_BYTES / 2, buf);
  buf = reader.onread.buffer() as Buffer;
  t.equal(buf.length, BULK_READ_BUFFER_BYTES, 'a half-full bulk read stays bulk');
  reader.onread.callback(100, buf);
  buf = reader.onread.buffer() as Buffer;
  t.equal(buf.length, READ_BUFFER_BYTES, 'a short read goes back to small');
  t.same(seen, [READ_BUFFER_BYTES, BULK_READ_BUFFER_BYTES / 2, 100], 'every read reached the sink');
  t.end();
});

t.test('reader: a buffer in a pending write is not reused; the unfilled one returns on close', (t) => {
  const pool = new ReadBufferPool();
  const reader = new PooledReader(pool);
  const held: Buffer[] = [];
  reader.attach((_n, buf) => {
    held.push(buf); // the write has not called back yet
    return true;
  });
  const first = reader.onread.buffer() as Buffer;
  reader.onread.callback(10, first);
  const second = reader.onread.buffer() as Buffer;
  t.not(second, first, 'the next read gets a different buffer while the first is in a write');
  t.same(pool.size, { small: 0, bulk: 0 }, 'nothing free yet');
  reader.socketClosed();
  t.same(pool.size, { small: 1, bulk: 0 }, 'the unfilled buffer went back when the socket closed');
  reader.socketClosed();
  t.same(pool.size, { small: 1, bulk: 0 }, 'closing twice does not give it back twice');
  reader.release(held[0]!);
  t.same(pool.size, { small: 2, bulk: 0 }, 'the written one went back when its write called back');
  t.end();
});

t.test('reader: bytes that arrive before a sink attaches are copied aside and the socket pauses', (t) => {
  const pool = new ReadBufferPool();
  const reader = new PooledReader(pool);
  const buf = reader.onread.buffer() as Buffer;
  buf.write('early bytes');
  t.equal(reader.onread.callback(11, buf), false, 'the socket is paused');
  buf.write('XXXXXXXXXXX'); // the buffer is reused; the copy must not change
  const early = reader.attach(() => true);
  t.same(early.map((b) => b.toString()), ['early bytes'], 'the copy is intact');
  t.end();
});

t.test('reader on a real socket: sequential connections reuse pooled buffers', async (t) => {
  const server: Server = createServer((s: Socket) => {
    s.on('error', () => {});
    s.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const pool = new ReadBufferPool();
  const handedOut = new Set<Buffer>();
  const take = pool.take.bind(pool);
  pool.take = (bulk: boolean) => {
    const b = take(bulk);
    handedOut.add(b);
    return b;
  };
  const CONNECTIONS = 20;
  for (let i = 0; i < CONNECTIONS; i++) {
    const reader = new PooledReader(pool);
    const got: string[] = [];
    reader.attach((n, buf) => {
      got.push(buf.subarray(0, n).toString());
      reader.release(buf);
      return true;
    });
    const s = connect({ host: '127.0.0.1', port, onread: reader.onread });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.once('close', () => {
        reader.socketClosed();
        resolve();
      });
    });
    t.equal(got.join(''), 'hello', `connection ${i}: bytes arrived`);
  }
  t.ok(handedOut.size <= 2, `${CONNECTIONS} connections used ${handedOut.size} distinct buffers (a buffer per connection would be ${CONNECTIONS})`);
});
