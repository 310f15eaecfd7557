/**
 * A small seeded PRNG (mulberry32): topologies, generated workloads and
 * benchmarks that must come out the same on every run, and a failing case
 * that can be rebuilt from its seed. Not for anything secret.
 */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
