/**
 * Reads a tunnel's upstream socket into a few reused buffers instead of the
 * fresh 64 KiB buffer Node allocates for every socket read (most of the
 * tunnel's CPU went to page faults on those). The socket is dialed with
 * `onread` (dial.ts); this object supplies its buffers and its callback.
 *
 * A filled buffer goes back to the free list only once the write that uses
 * it has called back, so bytes still queued for the client are never
 * overwritten. Until a consumer attaches (the tunnel is still being
 * accepted), whatever arrives is copied aside and the socket is paused.
 */
/** Size of one read buffer (Node's own read size). */
export const READ_BUFFER_BYTES = 64 * 1024;
/**
 * Free buffers kept for reuse per tunnel; more released than this are left to
 * the GC. A steady download cycles two buffers (one being read into, one
 * whose write is finishing), so 1 is enough, and an idle tunnel holds at most
 * 2 × READ_BUFFER_BYTES.
 */
export const MAX_FREE_READ_BUFFERS = 1;

/**
 * Consumes `n` bytes of `buf`; must call `release(buf)` once `buf` may be
 * reused. Returns false to pause the socket (resume it with socket.resume()).
 */
export type PooledReadSink = (n: number, buf: Buffer) => boolean;

export class PooledReader {
  private readonly free: Buffer[] = [];
  private sink: PooledReadSink | null = null;
  /** Copies of what arrived before a sink attached. */
  private early: Buffer[] = [];

  /** The `onread` option for net.connect / new Socket. */
  readonly onread = {
    buffer: (): Buffer => this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
    callback: (n: number, buf: Uint8Array): boolean => {
      const b = buf as Buffer;
      if (this.sink !== null) return this.sink(n, b);
      this.early.push(Buffer.from(b.subarray(0, n)));
      this.release(b);
      return false;
    },
  };

  /** Hands a buffer back for reuse. */
  readonly release = (buf: Buffer): void => {
    if (this.free.length < MAX_FREE_READ_BUFFERS) this.free.push(buf);
  };

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
