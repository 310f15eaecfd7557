/**
 * `node bench/flood.ts`: the cost of flooding. 100 flooding peers (libp2p
 * nodes with the /sedai/flood/1.0.0 service, all in this process, on
 * loopback) in a random overlay of degree 3-5; for TTL 1..7, queries from
 * random peers for a file held by one other random peer. Prints, per TTL:
 * search success, peers reached, QUERY messages per query against the number
 * of overlay links, and the latency to the first hit.
 *
 * BENCH_FLOOD_PEERS (100), BENCH_FLOOD_QUERIES per TTL (20), BENCH_FLOOD_SEED (1).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Stats, createNode, manifestCid, percentile, silentLogger } from '@sedai/core'
import { FloodService, LOCAL, distances, neighboursOf, randomGraph, resolveConfig, rng } from '@sedai/flooding-peer'
import type { LocalFile } from '@sedai/flooding-peer'

const PEERS = Number(process.env.BENCH_FLOOD_PEERS ?? 100)
const QUERIES = Number(process.env.BENCH_FLOOD_QUERIES ?? 20)
const SEED = Number(process.env.BENCH_FLOOD_SEED ?? 1)
const MISS_TIMEOUT_MS = 1000
/** after the first hit, wait this long, then let the flood settle before counting its messages */
const AFTER_HIT_MS = 50
const SETTLE_MS = 150

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const pct = (xs: number[], p: number): number => percentile(xs, p * 100) ?? NaN
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

async function main (): Promise<void> {
  const edges = randomGraph(PEERS, 3, 5, SEED)
  const degree = neighboursOf(PEERS, edges).map(a => a.length)
  const random = rng(SEED + 1)
  const setupStarted = performance.now()
  const peers = await Promise.all(Array.from({ length: PEERS }, async (_, i) => {
    const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const cid = (await manifestCid(new TextEncoder().encode(`bench file ${i}`))).toString()
    const files: LocalFile[] = [{ cid, name: `bench-file-${i}.bin`, size: 1000 + i }]
    const service = new FloodService(node as any, {
      config: resolveConfig({ minNeighbours: 0, maxNeighbours: 8 }),
      stats: new Stats(),
      logger: silentLogger(),
      files: () => files
    })
    await service.start()
    return { node, service }
  }))
  try {
    // the higher end of each link dials the lower, a few links at a time
    for (let i = 0; i < edges.length; i += 16) {
      await Promise.all(edges.slice(i, i + 16).map(async ([a, b]) => {
        await peers[b].service.connect(peers[a].node.getMultiaddrs()[0])
      }))
    }
    const deadline = Date.now() + 30_000
    while (!peers.every((p, i) => p.service.neighbours().length === degree[i])) {
      if (Date.now() > deadline) throw new Error('the overlay did not form')
      await sleep(50)
    }
    const diameter = Math.max(...Array.from({ length: PEERS }, (_, i) => Math.max(...distances(PEERS, edges, i))))
    console.log(`flood bench: ${PEERS} peers in one process, ${edges.length} links (degree 3-5, seed ${SEED}, diameter ${diameter}), ${QUERIES} queries per TTL; overlay up in ${Math.round(performance.now() - setupStarted)} ms`)

    const rows: string[][] = [['TTL', 'success', 'reached', 'msgs/query', 'max', 'links', 'max/link/dir', 'both ways', 'first hit p50', 'p95']]
    let worst = 0
    let ttl7p50 = NaN
    for (let ttl = 1; ttl <= 7; ttl++) {
      const found: boolean[] = []
      const msgs: number[] = []
      const reached: number[] = []
      const latency: number[] = []
      let maxPerDirLink = 0
      let bothWays = 0
      for (let q = 0; q < QUERIES; q++) {
        const from = Math.floor(random() * PEERS)
        let target = Math.floor(random() * (PEERS - 1))
        if (target >= from) target++
        const origin = peers[from].service
        const started = performance.now()
        let first: number | undefined
        const hits = await origin.search(`bench-file-${target}.bin`, {
          ttl,
          timeoutMs: MISS_TIMEOUT_MS,
          afterFirstHitMs: AFTER_HIT_MS,
          onHit: () => { first ??= performance.now() - started }
        })
        await sleep(SETTLE_MS)
        const [id] = origin.router.seen.recent(8).filter(([, e]) => e.from === LOCAL).map(([k]) => k).slice(-1)
        const crossings = new Map<string, number>()
        let sent = 0
        let seenBy = 0
        for (const p of peers) {
          const e = p.service.router.seen.get(id)
          if (e === undefined) continue
          seenBy++
          for (const [to, n] of e.sentTo) {
            if (n === 0) continue
            sent += n
            maxPerDirLink = Math.max(maxPerDirLink, n)
            const me = p.node.peerId.toString()
            const key = me < to ? `${me}|${to}` : `${to}|${me}`
            crossings.set(key, (crossings.get(key) ?? 0) + n)
          }
        }
        bothWays += [...crossings.values()].filter(n => n > 1).length
        found.push(hits.length > 0)
        if (first !== undefined) latency.push(first)
        msgs.push(sent)
        reached.push(seenBy - 1)
      }
      worst = Math.max(worst, ...msgs)
      if (ttl === 7) ttl7p50 = pct(latency, 0.5)
      rows.push([
        String(ttl),
        `${Math.round(100 * found.filter(Boolean).length / found.length)}%`,
        mean(reached).toFixed(1),
        mean(msgs).toFixed(1),
        String(Math.max(...msgs)),
        String(edges.length),
        String(maxPerDirLink),
        (bothWays / QUERIES).toFixed(1),
        latency.length > 0 ? `${pct(latency, 0.5).toFixed(1)} ms` : '-',
        latency.length > 0 ? `${pct(latency, 0.95).toFixed(1)} ms` : '-'
      ])
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
    for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '))
    console.log('reached = peers other than the origin that saw the query; max/link/dir = most copies of one query id sent over one link in one direction;')
    console.log('both ways = links per query crossed in both directions (two copies in flight at once, which deduplication cannot prevent)')
    console.log(`messages per query: worst ${worst} vs ${edges.length} links -> ${worst <= edges.length ? 'within' : 'ABOVE'} the number of links (target: within); at most 2 x links - (peers - 1) = ${2 * edges.length - (PEERS - 1)} by construction`)
    console.log(`first hit at TTL 7: p50 ${ttl7p50.toFixed(1)} ms (target < 200 ms on loopback) -> ${ttl7p50 < 200 ? 'met' : 'MISSED'}`)
  } finally {
    await Promise.all(peers.map(async p => { await p.service.stop(); await p.node.stop() }))
  }
}

await main()
