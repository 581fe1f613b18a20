/**
 * Reads a tunnel's upstream socket into reused buffers instead of the fresh
 * 64 KiB buffer Node allocates for every socket read (most of the tunnel's
 * CPU went to page faults on those). The socket is dialed with `onread`
 * (dial.ts); a PooledReader supplies its buffers and its callback.
 *
 * A read that fills its buffer switches the tunnel to 1 MiB buffers (fewer
 * system calls per byte); a short read switches it back, so an idle tunnel
 * holds one small buffer. The buffers come from one ReadBufferPool per proxy, shared by every
 * tunnel, and go back to it when the tunnel closes: a short tunnel (one
 * request and answer) then allocates nothing, where a buffer per tunnel fed
 * V8's external-memory accounting enough to force a full mark-compact every
 * ~60 connections (a 10 ms stall every ~60 connection setups).
 *
 * A filled buffer goes back to the pool only once the write that uses it has
 * called back, so bytes still queued for the client are never overwritten.
 * The buffer waiting for the next read goes back only after the socket has
 * closed (no read can land in it any more). Until a consumer attaches (the
 * tunnel is still being accepted), whatever arrives is copied aside and the
 * socket is paused. A pooled buffer may still hold another tunnel's bytes;
 * only the `n` bytes of each read are ever forwarded.
 */
/** Size of a read buffer for a tunnel that is not moving bulk data (Node's own read size). */
export const READ_BUFFER_BYTES = 64 * 1024;
/**
 * Size of a read buffer once a read has filled a small one (a download in
 * progress): one read(2) + write(2) pair then moves up to 1 MiB, which took
 * the proxy's CPU per GiB tunnelled from ~1.1 s to ~0.5 s on the bench VM.
 */
export const BULK_READ_BUFFER_BYTES = 1024 * 1024;
/** A read shorter than this fraction of a bulk buffer sends the tunnel back to small buffers. */
const BULK_EXIT_DIVISOR = 4;
/**
 * Free buffers the pool keeps: 64 small (4 MiB) and 8 bulk (8 MiB). A steady
 * download cycles two buffers (one being read into, one whose write is
 * finishing); buffers released beyond this are left to the GC.
 */
export const MAX_POOLED_READ_BUFFERS = 64;
export const MAX_POOLED_BULK_BUFFERS = 8;

/** The free lists of read buffers shared by every tunnel of one proxy. */
export class ReadBufferPool {
  private readonly small: Buffer[] = [];
  private readonly bulk: Buffer[] = [];

  take(bulk: boolean): Buffer {
    if (bulk) return this.bulk.pop() ?? Buffer.allocUnsafeSlow(BULK_READ_BUFFER_BYTES);
    return this.small.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  }

  give(buf: Buffer): void {
    if (buf.length === BULK_READ_BUFFER_BYTES) {
      if (this.bulk.length < MAX_POOLED_BULK_BUFFERS) this.bulk.push(buf);
    } else if (this.small.length < MAX_POOLED_READ_BUFFERS) {
      this.small.push(buf);
    }
  }

  /** Free buffers held now, small and bulk (for tests). */
  get size(): { small: number; bulk: number } {
    return { small: this.small.length, bulk: this.bulk.length };
  }
}

/**
 * Consumes `n` bytes of `buf`; must call `release(buf)` once `buf` may be
 * reused. Returns false to pause the socket (resume it with socket.resume()).
 */
export type PooledReadSink = (n: number, buf: Buffer) => boolean;

export class PooledReader {
  private readonly pool: ReadBufferPool;
  private sink: PooledReadSink | null = null;
  /** Copies of what arrived before a sink attached. */
  private early: Buffer[] = [];
  /** The buffer the socket reads into next (handed out, not yet filled). */
  private next: Buffer | null = null;
  /** Whether the next read gets a bulk buffer (the last read filled its buffer). */
  private bulk = false;

  constructor(pool: ReadBufferPool) {
    this.pool = pool;
  }

  /** The `onread` option for net.connect / new Socket. */
  readonly onread = {
    buffer: (): Buffer => {
      this.next = this.pool.take(this.bulk);
      return this.next;
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      const b = buf as Buffer;
      // Node asks for the next buffer right after this callback returns.
      this.bulk = n === b.length || (this.bulk && n * BULK_EXIT_DIVISOR >= BULK_READ_BUFFER_BYTES);
      if (this.sink !== null) return this.sink(n, b);
      this.early.push(Buffer.from(b.subarray(0, n)));
      this.release(b);
      return false;
    },
  };

  /** Hands a filled buffer back once its bytes are no longer needed. */
  readonly release = (buf: Buffer): void => {
    this.pool.give(buf);
  };

  /** Call once the socket has emitted 'close': the buffer it would have read into next goes back to the pool. */
  socketClosed(): void {
    if (this.next === null) return;
    this.pool.give(this.next);
    this.next = null;
  }

  /**
   * Attaches the consumer and returns what arrived before (copies): the
   * caller writes those first, then resumes the socket (it may be paused).
   */
  attach(sink: PooledReadSink): Buffer[] {
    this.sink = sink;
    const early = this.early;
    this.early = [];
    return early;
  }
}
