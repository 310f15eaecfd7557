/**
 * A small structure-aware mutator (after AFL's havoc stage): bit flips,
 * interesting values at random offsets (including 4-byte big-endian lengths,
 * since every sedai frame starts with one), inserts, deletes, duplicated
 * ranges, truncation and splicing with another seed. Deterministic for a
 * given seed so a failure can be replayed.
 */
export class Rng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 || 0x9e3779b9 }
  /** xorshift32 */
  next (): number {
    let x = this.state
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    this.state = x
    return x
  }

  int (n: number): number { return n <= 0 ? 0 : this.next() % n }
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff
    return out
  }
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 2, 3, 4]
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100, 0x10000, 0x400000, 0x500000, 1 << 20]

export function mutate (rng: Rng, seed: Uint8Array, corpus: Uint8Array[]): Uint8Array {
  let data: Uint8Array = Uint8Array.from(seed)
  const rounds = 1 + rng.int(4)
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(Math.max(1, data.byteLength))
    switch (rng.int(9)) {
      case 0: // bit flip
        if (data.byteLength > 0) data[at] ^= 1 << rng.int(8)
        break
      case 1: // interesting byte
        if (data.byteLength > 0) data[at] = INTERESTING_8[rng.int(INTERESTING_8.length)]
        break
      case 2: { // interesting 32-bit big-endian value (a length prefix, an index)
        if (data.byteLength >= 4) {
          const pos = rng.int(data.byteLength - 3)
          new DataView(data.buffer, data.byteOffset).setUint32(pos, INTERESTING_32[rng.int(INTERESTING_32.length)] + rng.int(3) - 1)
        }
        break
      }
      case 3: { // insert random bytes
        const ins = rng.bytes(1 + rng.int(16))
        data = concat(data.subarray(0, at), ins, data.subarray(at))
        break
      }
      case 4: // delete a range
        data = concat(data.subarray(0, at), data.subarray(at + 1 + rng.int(16)))
        break
      case 5: { // duplicate a range
        const len = 1 + rng.int(32)
        data = concat(data.subarray(0, at), data.subarray(at, at + len), data.subarray(at))
        break
      }
      case 6: // truncate
        data = data.subarray(0, rng.int(data.byteLength + 1))
        break
      case 7: { // splice with another seed
        const other = corpus[rng.int(corpus.length)]
        const cut = rng.int(other.byteLength + 1)
        data = concat(data.subarray(0, at), other.subarray(cut))
        break
      }
      default: // random byte
        if (data.byteLength > 0) data[at] = rng.int(256)
    }
  }
  return data
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.byteLength
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}
