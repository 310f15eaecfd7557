import { createHash } from 'node:crypto'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { seededRandom } from '@sedai/core'
import type { FileSet, Workload } from './topology.ts'

/** Words the file names are made of, so names look like a share list and the keyword schemes have something to split. */
const WORDS = ['song', 'live', 'demo', 'remix', 'lecture', 'notes', 'photo', 'map', 'ピアツーピア', '音楽'] as const

export interface LabFile {
  index: number
  /** the one token that names this file alone: what a search asks for */
  token: string
  name: string
  bytes: number
}

/** The file set: the i-th file is `labfile0007-song.bin`; popularity rank = index (0 = hottest). */
export function fileSet (files: FileSet): LabFile[] {
  const width = String(files.count - 1).length
  return Array.from({ length: files.count }, (_, i) => {
    const token = `labfile${String(i).padStart(Math.max(4, width), '0')}`
    return { index: i, token, name: `${token}-${WORDS[i % WORDS.length]}.bin`, bytes: files.bytes }
  })
}

/**
 * Writes the files' bytes under `dir` (deterministic from the seed and the
 * index: a SHA-256 counter stream, so every file is distinct and a rerun
 * makes the same CIDs). Existing files of the right size are kept.
 */
export async function writeFiles (dir: string, files: LabFile[], seed: number): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const paths: string[] = []
  for (const f of files) {
    const path = join(dir, f.name)
    paths.push(path)
    const have = await stat(path).catch(() => undefined)
    if (have?.size === f.bytes) continue
    const out = Buffer.alloc(f.bytes)
    for (let off = 0, block = 0; off < f.bytes; off += 32, block++) {
      createHash('sha256').update(`sedai-lab:${seed}:${f.index}:${block}`).digest().copy(out, off)
    }
    await writeFile(path, out)
  }
  return paths
}

/**
 * A Zipf sampler over ranks 0..n-1: P(k) ~ 1 / (k+1)^s. Inverse CDF over the
 * precomputed cumulative weights (n is at most a few thousand here).
 */
export function zipfSampler (n: number, s: number, random: () => number): () => number {
  const cdf: number[] = []
  let total = 0
  for (let k = 0; k < n; k++) { total += 1 / Math.pow(k + 1, s); cdf.push(total) }
  return () => {
    const u = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid] < u) lo = mid + 1; else hi = mid
    }
    return lo
  }
}

export interface PlannedSearch {
  /** position in the run */
  seq: number
  file: number
  /** index into the run's eligible peers (those that may search and hold files) */
  searcher: number
  download: boolean
}

export interface Plan {
  /** holders[f] = indexes into the eligible peers that share file f at the start */
  holders: number[][]
  searches: PlannedSearch[]
}

/**
 * The workload of one run on `eligible` peers: who holds what, who asks for
 * what, in which order. The same seed gives every generation the same file
 * popularity sequence; the peers differ only where the network sizes do.
 */
export function plan (eligible: number, files: FileSet, workload: Workload, seed: number): Plan {
  const random = seededRandom(seed)
  const replicas = Math.min(files.replicas, eligible - 1)
  const holders = Array.from({ length: files.count }, () => {
    const chosen = new Set<number>()
    while (chosen.size < replicas) chosen.add(Math.floor(random() * eligible))
    return [...chosen].sort((a, b) => a - b)
  })
  const pick = zipfSampler(files.count, workload.zipf, seededRandom(seed + 1))
  const who = seededRandom(seed + 2)
  const every = workload.downloads === 0 ? Infinity : workload.searches / workload.downloads
  const searches: PlannedSearch[] = []
  let nextDownload = workload.downloads === 0 ? Infinity : 0
  for (let seq = 0; seq < workload.searches; seq++) {
    const file = pick()
    let searcher = Math.floor(who() * eligible)
    // a holder does not search for its own file: step to the next non-holder
    for (let tries = 0; holders[file].includes(searcher) && tries < eligible; tries++) searcher = (searcher + 1) % eligible
    const download = seq >= nextDownload
    if (download) nextDownload += every
    searches.push({ seq, file, searcher, download })
  }
  return { holders, searches }
}
