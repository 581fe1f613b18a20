/**
 * ULIDs for event ids (DESIGN §5: "id is unique (ULID) so upstream can
 * de-duplicate"). 48-bit millisecond time + 80 random bits from the CSPRNG,
 * Crockford base32, 26 characters, sortable. The factory is monotonic: ids
 * made in the same millisecond (or after the clock stepped back) increment the
 * random part instead of drawing new bits, so ids from one process sort in
 * emit order. No dependency; randomness is drawn from node:crypto in pools.
 */
import { randomFillSync } from 'node:crypto';

export const ULID_LENGTH = 26;
const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_BYTES = 10;
const RANDOM_POOL_BYTES = 4096;
const MAX_TIME_MS = 2 ** 48 - 1;
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export function isUlid(text: string): boolean {
  return ULID_PATTERN.test(text);
}

/** The millisecond timestamp encoded in a ULID. */
export function ulidTimeMs(id: string): number {
  if (!isUlid(id)) throw new Error(`not a ULID: ${JSON.stringify(id)}`);
  let ms = 0;
  for (let i = 0; i < TIME_CHARS; i++) ms = ms * 32 + ENCODING.indexOf(id[i]!);
  return ms;
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ENCODING[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 characters of 5 bits, most significant first.
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < RANDOM_BYTES; i++) {
    buffer = (buffer << 8) | bytes[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ENCODING[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}

export class UlidFactory {
  private lastTimeMs = -1;
  private lastTimeText = '';
  private readonly random = new Uint8Array(RANDOM_BYTES);
  private readonly pool = new Uint8Array(RANDOM_POOL_BYTES);
  private poolOffset = RANDOM_POOL_BYTES;

  /** A new id for `nowMs`; never equal to, and always sorting after, the previous one. */
  next(nowMs: number = Date.now()): string {
    if (nowMs > this.lastTimeMs) {
      this.lastTimeMs = Math.min(Math.floor(nowMs), MAX_TIME_MS);
      this.lastTimeText = encodeTime(this.lastTimeMs);
      this.fillRandom();
    } else if (!this.increment()) {
      // 2^80 ids in one millisecond: move to the next millisecond.
      this.lastTimeMs += 1;
      this.lastTimeText = encodeTime(this.lastTimeMs);
      this.fillRandom();
    }
    return this.lastTimeText + encodeRandom(this.random);
  }

  private fillRandom(): void {
    if (this.poolOffset + RANDOM_BYTES > RANDOM_POOL_BYTES) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    this.random.set(this.pool.subarray(this.poolOffset, this.poolOffset + RANDOM_BYTES));
    this.poolOffset += RANDOM_BYTES;
  }

  /** Add one to the 80-bit random part; false on overflow. */
  private increment(): boolean {
    for (let i = RANDOM_BYTES - 1; i >= 0; i--) {
      if (this.random[i] !== 0xff) {
        this.random[i]! += 1;
        return true;
      }
      this.random[i] = 0;
    }
    return false;
  }
}
