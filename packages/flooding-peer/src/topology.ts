import { seededRandom } from '@sedai/core'

/**
 * Overlay shapes for tests and the bench: undirected graphs on peers 0..n-1
 * as edge lists (each edge once, [a, b] with a < b).
 */
export type Edge = [number, number]

/** The seeded PRNG the topologies are built with (re-exported from core), so a failing topology can be rebuilt. */
export const rng = seededRandom

export function line (n: number): Edge[] {
  return Array.from({ length: n - 1 }, (_, i) => [i, i + 1] as Edge)
}

/**
 * A connected random graph whose degrees lie in [minDegree, maxDegree]: a ring
 * (so it is connected and has cycles), then random chords until every peer
 * has at least minDegree neighbours.
 */
export function randomGraph (n: number, minDegree: number, maxDegree: number, seed: number): Edge[] {
  if (n < minDegree + 1 || minDegree < 2 || maxDegree < minDegree) throw new Error('impossible degrees')
  const random = rng(seed)
  for (let attempt = 0; attempt < 100; attempt++) {
    const adj = Array.from({ length: n }, () => new Set<number>())
    const add = (a: number, b: number): void => { adj[a].add(b); adj[b].add(a) }
    for (let i = 0; i < n; i++) add(i, (i + 1) % n)
    let stuck = 0
    while (adj.some(s => s.size < minDegree) && stuck < 1000) {
      const low = adj.map((s, i) => [s.size, i]).filter(([d]) => d < minDegree).map(([, i]) => i)
      const a = low[Math.floor(random() * low.length)]
      const b = Math.floor(random() * n)
      if (a === b || adj[a].has(b) || adj[b].size >= maxDegree) { stuck++; continue }
      add(a, b)
    }
    if (adj.every(s => s.size >= minDegree && s.size <= maxDegree)) return edgesOf(adj)
  }
  throw new Error('could not build the graph')
}

function edgesOf (adj: Array<Set<number>>): Edge[] {
  const edges: Edge[] = []
  for (const [a, s] of adj.entries()) for (const b of s) if (a < b) edges.push([a, b])
  return edges
}

export function neighboursOf (n: number, edges: Edge[]): number[][] {
  const adj = Array.from({ length: n }, () => [] as number[])
  for (const [a, b] of edges) { adj[a].push(b); adj[b].push(a) }
  return adj
}

/** Hop distances from `from` (breadth-first); -1 = unreachable. */
export function distances (n: number, edges: Edge[], from: number): number[] {
  const adj = neighboursOf(n, edges)
  const dist = new Array<number>(n).fill(-1)
  dist[from] = 0
  const queue = [from]
  while (queue.length > 0) {
    const u = queue.shift() as number
    for (const v of adj[u]) if (dist[v] < 0) { dist[v] = dist[u] + 1; queue.push(v) }
  }
  return dist
}
