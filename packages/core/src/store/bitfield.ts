import { InvalidMessageError } from '../errors.ts'

/**
 * Which chunks of a file are present: one bit per chunk, most significant bit
 * of byte 0 is chunk 0, as in BitTorrent's bitfield message (BEP 3). Spare bits
 * in the last byte are zero.
 */
export class Bitfield {
  /** number of chunks */
  readonly length: number
  private readonly bytes: Uint8Array
  private present = 0

  /** `bytes` (copied) must be exactly ceil(length / 8) long with spare bits clear. */
  constructor (length: number, bytes?: Uint8Array) {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`bitfield length must be a non-negative integer, got ${length}`)
    }
    this.length = length
    const size = Math.ceil(length / 8)
    if (bytes === undefined) {
      this.bytes = new Uint8Array(size)
      return
    }
    if (bytes.byteLength !== size) {
      throw new InvalidMessageError(`bitfield of ${length} bits must be ${size} bytes, got ${bytes.byteLength}`)
    }
    // BEP 3: spare bits set is an error (a peer that sends them is dropped)
    if (length % 8 !== 0 && (bytes[size - 1] & (0xff >> (length % 8))) !== 0) {
      throw new InvalidMessageError('bitfield has spare bits set')
    }
    this.bytes = Uint8Array.from(bytes)
    for (const b of this.bytes) this.present += popcount(b)
  }

  /** A bitfield with every bit set. */
  static full (length: number): Bitfield {
    const b = new Bitfield(length)
    for (let i = 0; i < length; i++) b.set(i)
    return b
  }

  get (i: number): boolean {
    this.check(i)
    return (this.bytes[i >> 3] & (0x80 >> (i & 7))) !== 0
  }

  /** Set bit `i`; true if it was clear. */
  set (i: number): boolean {
    if (this.get(i)) return false
    this.bytes[i >> 3] |= 0x80 >> (i & 7)
    this.present++
    return true
  }

  /** Clear bit `i`; true if it was set. */
  clear (i: number): boolean {
    if (!this.get(i)) return false
    this.bytes[i >> 3] &= ~(0x80 >> (i & 7))
    this.present--
    return true
  }

  /** How many bits are set. */
  count (): number {
    return this.present
  }

  isComplete (): boolean {
    return this.present === this.length
  }

  /** First clear bit at or after `from`, or -1 if there is none. */
  nextMissing (from = 0): number {
    for (let i = Math.max(0, from); i < this.length; i++) {
      // skip whole bytes of present chunks
      if ((i & 7) === 0 && this.bytes[i >> 3] === 0xff) {
        i += 7
        continue
      }
      if (!this.get(i)) return i
    }
    return -1
  }

  /** A copy of the bytes, for the wire or the database. */
  toBytes (): Uint8Array {
    return Uint8Array.from(this.bytes)
  }

  private check (i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`bit ${i} out of range [0, ${this.length})`)
    }
  }
}

function popcount (b: number): number {
  let n = 0
  for (; b !== 0; b &= b - 1) n++
  return n
}
