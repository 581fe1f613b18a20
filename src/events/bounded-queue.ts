/**
 * A fixed-capacity FIFO on a ring buffer. Every queue between a producer and
 * disk or network in the event pipeline is one of these, so memory is bounded
 * and a full queue is a counted drop, never a wait.
 */
export class BoundedQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** false (and nothing stored) when full. */
  push(item: T): boolean {
    if (this.size === this.capacity) return false;
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return true;
  }

  /** Stores the item, overwriting (and returning) the oldest one when full. */
  pushEvicting(item: T): T | undefined {
    if (this.size < this.capacity) {
      this.push(item);
      return undefined;
    }
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    return evicted;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return item;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** The newest `limit` items, oldest first. */
  last(limit: number): T[] {
    const n = Math.max(0, Math.min(limit, this.size));
    const out: T[] = [];
    for (let i = this.size - n; i < this.size; i++) out.push(this.items[(this.head + i) % this.capacity] as T);
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.size = 0;
  }
}
