/**
 * `node bench/clustering.ts`: does Winny-style interest clustering (`--interest`,
 * packages/supernode-cache-peer, `maintain()`) shorten the path to hits?
 *
 * Real SupernodeService instances, all in this process, on the in-memory
 * network of packages/supernode-cache-peer/test/helpers/memory-net.ts (real
 * framing, codec, stores, caches; only libp2p's dial/handle replaced). Fixed
 * roles. BENCH_CL_SUPERS supernodes (minPeers 2, maxPeers 4: a sparse
 * supernode overlay), each with BENCH_CL_LEAVES leaves attached to it alone
 * (leafSupernodes 1); 4 interest groups (jazz, anime, linux, soccer) dealt to
 * the supernodes round robin in a seeded shuffled order; a supernode and its
 * leaves share its group's word. Supernode i bootstraps to a random earlier
 * supernode (seeded), then finds its other peers the protocol's own way (the
 * supernodes its bootstrap's WELCOME/STATUS list). Each leaf shares
 * BENCH_CL_FILES small files named `<word>-track-k<leaf>k<n>k.bin`.
 *
 * Four networks are built per round, each from scratch with the same seed
 * (same peer ids, bootstrap choices, groups and files):
 *  - OFF: no interests anywhere (maintain() neither prefers nor adds links);
 *  - ON: every supernode and leaf states its word (`interests: [word]`): the
 *    clustering as implemented;
 *  - IDEAL: OFF, then the intended clustering rule applied from outside by the
 *    bench (as if every supernode knew every other's interests): each
 *    supernode with room (< maxPeers) links to one of its own group with room,
 *    round after round until none can (svc.connect(.., Want.PEER));
 *  - RANDOM: OFF plus as many links as IDEAL added, between random pairs with
 *    room: the degree control, so that a shorter path from more links alone is
 *    not credited to clustering.
 * Each network settles: every leaf attached and indexed, every supernode at
 * minPeers, then until the number of supernode links has not changed for
 * BENCH_CL_STABLE_MS, at least BENCH_CL_SETTLE_MS, at most 30 s (maintenance
 * every 100 ms, keepalive 1 s); IDEAL/RANDOM settle before and after adding.
 * How the protocol links supernodes depends on timing, so one overlay is a
 * noisy sample: BENCH_CL_ROUNDS rounds (seeds SEED, SEED+1, ...) are pooled.
 *
 * Queries: a plan of BENCH_CL_QUERIES (asker leaf, file) pairs per round,
 * drawn once (seeded), the same for the four networks: a random leaf asks for one random
 * file of ITS OWN group held by a leaf of ANOTHER supernode (TTL 1 only
 * reaches the asker's own supernode, so a file at a sibling leaf would be
 * found at TTL 1 whatever the overlay). For each query:
 *  - min TTL: the smallest TTL (1, 2, ... 7) at which the search returns the
 *    file (a search per TTL, one after another; a miss waits BENCH_CL_MISS_MS;
 *    a hit ends the search 20 ms after it). Min TTL = 1 + supernode hops from
 *    the asker's supernode to the holder's. Queries never found at TTL 7 count
 *    as 8 in the mean and the percentiles (and are reported as "missed").
 *  - msgs: the QUERY messages between supernodes that one search at the
 *    default TTL (7) caused: the sum over all supernodes of the
 *    'supernode.queriesForwarded' counter delta (the leaf's own QUERY to its
 *    supernode, 1 per search, is not counted), after the flood has settled.
 *  - ring msgs: the same count summed over the searches of the expanding ring
 *    (TTL 1, 2, ... up to the min TTL): the cost of finding it that way.
 * Also printed, from the overlay itself: supernode links per supernode, the
 * share of links joining two supernodes of the same group, and the min TTL
 * predicted by breadth-first search over the overlay (a check on the
 * measurement).
 *
 * Knobs: BENCH_CL_SUPERS (24), BENCH_CL_LEAVES per supernode (2),
 * BENCH_CL_FILES per leaf (3), BENCH_CL_QUERIES per round (18),
 * BENCH_CL_ROUNDS (3), BENCH_CL_SEED (1), BENCH_CL_MISS_MS (80),
 * BENCH_CL_SETTLE_MS (2000), BENCH_CL_STABLE_MS (1000).
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { percentile, seededRandom } from '@sedai/core'
import { MemoryLab } from '../packages/supernode-cache-peer/test/helpers/memory-net.ts'
import { Want } from '../packages/supernode-cache-peer/src/protocol/messages.ts'
import type { MemoryNode } from '../packages/supernode-cache-peer/test/helpers/memory-net.ts'
import type { SupernodeConfig } from '../packages/supernode-cache-peer/src/config.ts'

const SUPERS = Number(process.env.BENCH_CL_SUPERS ?? 24)
const LEAVES = Number(process.env.BENCH_CL_LEAVES ?? 2)
const FILES = Number(process.env.BENCH_CL_FILES ?? 3)
const QUERIES = Number(process.env.BENCH_CL_QUERIES ?? 18)
const ROUNDS = Number(process.env.BENCH_CL_ROUNDS ?? 3)
const SEED = Number(process.env.BENCH_CL_SEED ?? 1)
const MISS_MS = Number(process.env.BENCH_CL_MISS_MS ?? 80)
const SETTLE_MS = Number(process.env.BENCH_CL_SETTLE_MS ?? 2000)
const STABLE_MS = Number(process.env.BENCH_CL_STABLE_MS ?? 1000)
const WORDS = ['jazz', 'anime', 'linux', 'soccer']
const MAX_TTL = 7
const MISSED = MAX_TTL + 1
const AFTER_HIT_MS = 20
/** after a search, let its flood finish before reading the counters */
const FLOOD_SETTLE_MS = 20

const CONFIG: Partial<SupernodeConfig> = {
  maintainIntervalMs: 100,
  electionIntervalMs: 100,
  keepaliveMs: 1000,
  leafSupernodes: 1,
  minPeers: 2,
  maxPeers: 4,
  retryMs: 500,
  connectTimeoutMs: 3000
}

type Variant = 'OFF' | 'ON' | 'IDEAL' | 'RANDOM'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const pct = (xs: number[], p: number): number => percentile(xs, p * 100) ?? NaN
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

function shuffle<T> (xs: T[], random: () => number): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** The layout every network shares: each supernode's group and bootstrap; leaf l belongs to supernode floor(l / LEAVES). */
function layout (SEED: number): { group: number[], superOrder: number[], bootstrapOf: Array<number | undefined>, plan: Array<{ asker: number, holder: number, file: number }>, extraOrder: Array<[number, number]> } {
  const random = seededRandom(SEED)
  const order = shuffle(Array.from({ length: SUPERS }, (_, i) => i), random)
  const group: number[] = []
  order.forEach((s, k) => { group[s] = k % WORDS.length })
  const bootstrapOf = Array.from({ length: SUPERS }, (_, i) => i === 0 ? undefined : Math.floor(random() * i))
  const plan: Array<{ asker: number, holder: number, file: number }> = []
  const leaves = SUPERS * LEAVES
  while (plan.length < QUERIES) {
    const asker = Math.floor(random() * leaves)
    const s = Math.floor(asker / LEAVES)
    const holders = Array.from({ length: leaves }, (_, l) => l).filter(l => Math.floor(l / LEAVES) !== s && group[Math.floor(l / LEAVES)] === group[s])
    if (holders.length === 0) throw new Error('no other supernode in the group: raise BENCH_CL_SUPERS')
    plan.push({ asker, holder: holders[Math.floor(random() * holders.length)], file: Math.floor(random() * FILES) })
  }
  const pairs: Array<[number, number]> = []
  for (let a = 0; a < SUPERS; a++) for (let b = a + 1; b < SUPERS; b++) pairs.push([a, b])
  return { group, superOrder: shuffle(order, random), bootstrapOf, plan, extraOrder: shuffle(pairs, random) }
}

const fileName = (word: string, leaf: number, n: number): string => `${word}-track-k${leaf}k${n}k.bin`
const queryText = (word: string, leaf: number, n: number): string => `${word} k${leaf}k${n}k`

interface Net {
  lab: MemoryLab
  supers: MemoryNode[]
  leaves: MemoryNode[]
  settleMs: number
  /** IDEAL/RANDOM: links the bench added */
  added: number
}

function peerLinks (supers: MemoryNode[]): Array<[number, number]> {
  const index = new Map(supers.map((s, i) => [s.peerId, i]))
  const out: Array<[number, number]> = []
  supers.forEach((s, i) => {
    for (const p of s.svc.info().peers as string[]) {
      const j = index.get(p)
      if (j !== undefined && i < j) out.push([i, j])
    }
  })
  return out
}

async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in ${ms} ms`)
    await sleep(50)
  }
}

/** At least SETTLE_MS, then until the number of supernode links holds still for STABLE_MS (30 s at most). */
async function settle (supers: MemoryNode[]): Promise<void> {
  const started = performance.now()
  let count = peerLinks(supers).length
  let since = performance.now()
  while (true) {
    await sleep(100)
    const now = performance.now()
    const c = peerLinks(supers).length
    if (c !== count) { count = c; since = now }
    if (now - started >= SETTLE_MS && now - since >= STABLE_MS) return
    if (now - started > 30_000) return
  }
}

async function build (variant: Variant, l: ReturnType<typeof layout>, extraLinks: number, SEED: number): Promise<Net> {
  const started = performance.now()
  // the same seed for the peer ids in every variant: the same ids, so the same tie-breaks
  const lab = await MemoryLab.create({ defaults: CONFIG, random: seededRandom(SEED * 7919 + 17), prefix: 'sedai-bench-clustering-' })
  const supers: MemoryNode[] = []
  const leaves: MemoryNode[] = []
  const interestsOf = (s: number): string[] => variant === 'ON' ? [WORDS[l.group[s]]] : []
  let extraAdded = 0
  try {
    for (let s = 0; s < SUPERS; s++) {
      const b = l.bootstrapOf[s]
      supers.push(await lab.node({ role: 'super', interests: interestsOf(s), bootstrap: b === undefined ? [] : [supers[b]] }))
      for (let k = 0; k < LEAVES; k++) {
        const leafIndex = s * LEAVES + k
        const leaf = await lab.node({ role: 'leaf', interests: interestsOf(s), bootstrap: [supers[s]] })
        leaves.push(leaf)
        for (let n = 0; n < FILES; n++) {
          const path = join(lab.root, fileName(WORDS[l.group[s]], leafIndex, n))
          await writeFile(path, randomBytes(1000))
          await leaf.store.share(path)
        }
      }
    }
    await until(() => leaves.every((leaf, i) => (leaf.svc.info().supernodes as string[]).includes(supers[Math.floor(i / LEAVES)].peerId)), 30_000, 'leaves attached')
    for (const leaf of leaves) leaf.svc.sharesChanged()
    await until(() => supers.every(s => s.svc.snapshot().leafFiles === LEAVES * FILES), 30_000, 'leaf indexes')
    // not fatal: a supernode whose known supernodes are all at maxPeers can stay below minPeers (counted in the output)
    await until(() => supers.every(s => (s.svc.info().peers as string[]).length >= CONFIG.minPeers!), 10_000, 'minPeers links').catch(() => {})
    if (variant === 'IDEAL' || variant === 'RANDOM') {
      await settle(supers)
      const linked = (a: number, b: number): boolean => (supers[a].svc.info().peers as string[]).includes(supers[b].peerId)
      const degree = (i: number): number => (supers[i].svc.info().peers as string[]).length
      const room = (i: number): boolean => degree(i) < CONFIG.maxPeers!
      const link = async (a: number, b: number): Promise<boolean> => {
        try { await supers[a].svc.connect(multiaddr(supers[b].addr), Want.PEER); return true } catch { return false }
      }
      let added = 0
      if (variant === 'IDEAL') {
        // the intended rule, done from outside: each supernode with room links to a supernode of its group with room, until none can
        let progress = true
        while (progress) {
          progress = false
          for (const a of l.superOrder) {
            if (!room(a)) continue
            const b = l.superOrder.find(b => b !== a && l.group[b] === l.group[a] && room(b) && !linked(a, b))
            if (b !== undefined && await link(a, b)) { added++; progress = true }
          }
        }
      } else {
        for (const [a, b] of l.extraOrder) {
          if (added >= extraLinks) break
          if (!linked(a, b) && room(a) && room(b) && await link(a, b)) added++
        }
      }
      extraAdded = added
    }
    await settle(supers)
    return { lab, supers, leaves, settleMs: performance.now() - started, added: extraAdded }
  } catch (err) {
    await lab.close()
    throw err
  }
}

/** Hops from supernode `from` to every supernode over the overlay's links. */
function hops (n: number, links: Array<[number, number]>, from: number): number[] {
  const adj: number[][] = Array.from({ length: n }, () => [])
  for (const [a, b] of links) { adj[a].push(b); adj[b].push(a) }
  const dist = Array<number>(n).fill(Infinity)
  dist[from] = 0
  const queue = [from]
  while (queue.length > 0) {
    const x = queue.shift()!
    for (const y of adj[x]) if (dist[y] === Infinity) { dist[y] = dist[x] + 1; queue.push(y) }
  }
  return dist
}

interface Result {
  variant: Variant
  links: number
  sameGroup: number
  degrees: number[]
  minTtl: number[]
  predicted: number[]
  foundAtDefault: boolean[]
  msgs: number[]
  ringMsgs: number[]
  throttled: number
  settleMs: number
  runMs: number
  added: number
}

function forwarded (supers: MemoryNode[]): number {
  return supers.reduce((a, s) => a + s.stats.get('supernode.queriesForwarded'), 0)
}

async function run (variant: Variant, l: ReturnType<typeof layout>, extraLinks: number, seed: number): Promise<Result> {
  const net = await build(variant, l, extraLinks, seed)
  const started = performance.now()
  try {
    const links = peerLinks(net.supers)
    const degrees = net.supers.map(s => (s.svc.info().peers as string[]).length)
    const sameGroup = links.filter(([a, b]) => l.group[a] === l.group[b]).length
    const r: Result = { variant, links: links.length, sameGroup, degrees, minTtl: [], predicted: [], foundAtDefault: [], msgs: [], ringMsgs: [], throttled: 0, settleMs: net.settleMs, runMs: 0, added: net.added }
    for (const q of l.plan) {
      const askerSuper = Math.floor(q.asker / LEAVES)
      const holderSuper = Math.floor(q.holder / LEAVES)
      const word = WORDS[l.group[holderSuper]]
      const text = queryText(word, q.holder, q.file)
      const want = fileName(word, q.holder, q.file)
      const asker = net.leaves[q.asker].svc
      const search = async (ttl: number): Promise<{ found: boolean, msgs: number }> => {
        const before = forwarded(net.supers)
        const hits = await asker.search(text, { ttl, timeoutMs: MISS_MS, afterFirstHitMs: AFTER_HIT_MS })
        await sleep(FLOOD_SETTLE_MS)
        return { found: hits.some(h => h.name === want && h.providers[0].peerId === net.leaves[q.holder].peerId), msgs: forwarded(net.supers) - before }
      }
      r.predicted.push(Math.min(MISSED, 1 + hops(SUPERS, links, askerSuper)[holderSuper]))
      let min = MISSED
      let ring = 0
      for (let ttl = 1; ttl <= MAX_TTL; ttl++) {
        const s = await search(ttl)
        ring += s.msgs
        if (s.found) { min = ttl; break }
      }
      r.minTtl.push(min)
      r.ringMsgs.push(ring)
      const full = await search(MAX_TTL)
      r.foundAtDefault.push(full.found)
      r.msgs.push(full.msgs)
    }
    r.throttled = net.supers.reduce((a, s) => a + s.stats.get('supernode.droppedThrottled') + s.stats.get('supernode.shedQueries'), 0)
    r.runMs = performance.now() - started
    return r
  } finally {
    await net.lab.close()
  }
}

async function main (): Promise<void> {
  console.log(`clustering bench: ${SUPERS} supernodes (minPeers ${CONFIG.minPeers}, maxPeers ${CONFIG.maxPeers}) x ${LEAVES} leaves, ${FILES} files per leaf, groups ${WORDS.join('/')}; ` +
    `${ROUNDS} rounds (seeds ${SEED}..${SEED + ROUNDS - 1}) x ${QUERIES} queries (a leaf asks for a file of its own group held at another supernode); in-memory SupernodeService network, one process`)
  const pooled = new Map<Variant, Result>()
  const pool = (r: Result): void => {
    const p = pooled.get(r.variant)
    if (p === undefined) { pooled.set(r.variant, r); return }
    p.links += r.links
    p.sameGroup += r.sameGroup
    p.degrees.push(...r.degrees)
    p.minTtl.push(...r.minTtl)
    p.predicted.push(...r.predicted)
    p.foundAtDefault.push(...r.foundAtDefault)
    p.msgs.push(...r.msgs)
    p.ringMsgs.push(...r.ringMsgs)
    p.throttled += r.throttled
    p.settleMs += r.settleMs
    p.runMs += r.runMs
    p.added += r.added
  }
  for (let round = 0; round < ROUNDS; round++) {
    const seed = SEED + round
    const l = layout(seed)
    const line: string[] = []
    let idealAdded = 0
    for (const variant of ['OFF', 'ON', 'IDEAL', 'RANDOM'] as Variant[]) {
      const r = await run(variant, l, idealAdded, seed)
      if (variant === 'IDEAL') idealAdded = r.added
      const below = r.degrees.filter(d => d < CONFIG.minPeers!).length
      line.push(`${variant} ${r.links} links (${r.sameGroup} same-group${below > 0 ? `, ${below} supernodes below minPeers` : ''}), min TTL ${mean(r.minTtl).toFixed(2)}`)
      pool(r)
    }
    console.log(`round ${round + 1}/${ROUNDS} (seed ${seed}): ${line.join('; ')}`)
  }
  const [off, on, ideal, random] = (['OFF', 'ON', 'IDEAL', 'RANDOM'] as Variant[]).map(v => pooled.get(v)!)
  for (const r of [off, on, ideal, random]) { r.links /= ROUNDS; r.sameGroup /= ROUNDS }
  const results = [off, on, ideal, random]
  const label = { OFF: 'OFF (no interests)', ON: 'ON (interests)', IDEAL: 'IDEAL (OFF + group links)', RANDOM: 'RANDOM (OFF + random links)' }

  const rows: string[][] = [['network', 'links', 'links/super', 'same-group', 'min TTL mean', 'p50', 'p90', 'bfs mean', 'found TTL<=2', 'TTL<=3', 'missed', 'found TTL 7', 'msgs/query TTL 7', 'ring msgs']]
  for (const r of results) {
    const n = r.minTtl.length
    const share = (f: (t: number) => boolean): string => `${Math.round(100 * r.minTtl.filter(f).length / n)}%`
    rows.push([
      label[r.variant],
      r.links.toFixed(1),
      `${mean(r.degrees).toFixed(2)} (${Math.min(...r.degrees)}-${Math.max(...r.degrees)})`,
      `${Math.round(100 * r.sameGroup / Math.max(1, r.links))}%`,
      mean(r.minTtl).toFixed(2),
      String(pct(r.minTtl, 0.5)),
      String(pct(r.minTtl, 0.9)),
      mean(r.predicted).toFixed(2),
      share(t => t <= 2),
      share(t => t <= 3),
      String(r.minTtl.filter(t => t === MISSED).length),
      `${Math.round(100 * r.foundAtDefault.filter(Boolean).length / n)}%`,
      mean(r.msgs).toFixed(1),
      mean(r.ringMsgs).toFixed(1)
    ])
  }
  const ratio = (x: number, y: number): string => y === 0 ? '-' : (x / y).toFixed(2)
  const ratioRow = (name: string, x: Result, y: Result): string[] => [
    name,
    ratio(x.links, y.links),
    ratio(mean(x.degrees), mean(y.degrees)),
    '',
    ratio(mean(x.minTtl), mean(y.minTtl)),
    ratio(pct(x.minTtl, 0.5), pct(y.minTtl, 0.5)),
    ratio(pct(x.minTtl, 0.9), pct(y.minTtl, 0.9)),
    ratio(mean(x.predicted), mean(y.predicted)),
    '', '', '', '',
    ratio(mean(x.msgs), mean(y.msgs)),
    ratio(mean(x.ringMsgs), mean(y.ringMsgs))
  ]
  rows.push(ratioRow('ratio ON/OFF', on, off), ratioRow('ratio IDEAL/OFF', ideal, off), ratioRow('ratio IDEAL/RANDOM', ideal, random))
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '))
  console.log(`group share of links by chance: ~${Math.round(100 * (SUPERS / WORDS.length - 1) / (SUPERS - 1))}% (same-group = links joining two supernodes of one group)`)
  console.log('min TTL = smallest TTL whose search returned the file (1 = the asker\'s own supernode; a file held at another supernode needs >= 2); missed = not found at TTL 7, counted as 8;')
  console.log('bfs mean = 1 + overlay hops asker\'s supernode -> holder\'s supernode, from the links as they stood; msgs = supernode-to-supernode QUERY messages of one search (TTL 7; ring: TTL 1..min TTL)')
  console.log('IDEAL = the clustering rule applied from outside (interests known to all): each supernode with room links to one of its group with room, until none can; RANDOM = as many links added between random pairs')
  for (const r of results) console.log(`${r.variant}: overlays built and settled in ${Math.round(r.settleMs / ROUNDS)} ms per round${r.variant === 'IDEAL' || r.variant === 'RANDOM' ? ` (${r.added} links added by the bench in all)` : ''}, queries in ${Math.round(r.runMs / ROUNDS)} ms per round, queries throttled or shed: ${r.throttled}`)
}

await main()
