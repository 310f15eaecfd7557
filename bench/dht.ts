/**
 * DHT bench (issue 6): kad-dht lookup latency and hop count versus network
 * size, printed next to log2(N), and the per-node provider-record
 * distribution for a workload of BENCH_DHT_KEYS keys.
 *
 * The N nodes run spread over BENCH_DHT_PROCS child processes (kad-dht nodes
 * share one event loop per process; 100 of them in one process saturate a
 * core), each a real libp2p node from @sedai/core's createNode with the DHT
 * mode's kad-dht service (dhtService: /sedai/kad/1.0.0, k = 20, alpha = 3)
 * on 127.0.0.1. Every node dials the first node and 3 random others, then
 * looks up its own id (the Kademlia join). Keys are keyword keys
 * (CIDv1 raw, sha2-256("kw:bench-i")), each provided by one node; lookups are
 * findProviders from a random other node, timed to the first provider.
 *
 * Hops: the depth, in the chain of closer-peer replies, of the peer that
 * answered with the record (0 = the looking node already stored it, which is
 * common when k = 20 is close to N). Env: BENCH_DHT_SIZES (default
 * "16,64,256"), BENCH_DHT_PROCS (8), BENCH_DHT_KEYS (1000),
 * BENCH_DHT_LOOKUPS (100 per size), BENCH_DHT_LOOKUP_CONCURRENCY (4).
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { createNode } from '@sedai/core'
import { countProviderRecords, dhtService, findProvidersTracked, keywordCid, percentile, resolveConfig } from '@sedai/dht-peer'
import type { ChildProcess } from 'node:child_process'
import type { KadDHTComponents, SingleKadDHT } from '@libp2p/kad-dht'
import type { SedaiLibp2p } from '@sedai/core'

const SIZES = (process.env.BENCH_DHT_SIZES ?? '16,64,256').split(',').map(Number)
const PROCS = Number(process.env.BENCH_DHT_PROCS ?? 8)
const KEYS = Number(process.env.BENCH_DHT_KEYS ?? 1000)
const LOOKUPS = Number(process.env.BENCH_DHT_LOOKUPS ?? 100)
const LOOKUP_CONCURRENCY = Number(process.env.BENCH_DHT_LOOKUP_CONCURRENCY ?? 4)
const PROVIDE_CONCURRENCY = 8

interface Lookup { found: boolean, firstProviderMs?: number, hops?: number, queried: number }

async function pool<T> (items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; await fn(items[i], i) }
  }))
}

// ---------------------------------------------------------------- worker side
async function worker (): Promise<void> {
  const nodes: Array<{ node: SedaiLibp2p<{ dht: SingleKadDHT }>, components?: KadDHTComponents }> = []
  const config = resolveConfig()
  const handlers: Record<string, (args: any) => Promise<unknown>> = {
    async start ({ count }: { count: number }) {
      for (let i = 0; i < count; i++) {
        const entry: typeof nodes[number] = { node: undefined as any }
        entry.node = await createNode({
          privateKey: await generateKeyPair('Ed25519'),
          listen: ['/ip4/127.0.0.1/tcp/0'],
          services: { dht: dhtService(config, (c) => { entry.components = c }) as any }
        }) as any
        nodes.push(entry)
      }
      return nodes.map(n => n.node.getMultiaddrs()[0].toString())
    },
    async join ({ dials }: { dials: string[][] }) {
      await pool(nodes, 8, async ({ node }, i) => {
        for (const a of dials[i]) await node.dial(multiaddr(a), { signal: AbortSignal.timeout(10_000) }).catch(() => {})
      })
      await pool(nodes, 4, async ({ node }) => {
        try {
          for await (const _ of node.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(20_000) })) { /* drain */ }
        } catch {}
      })
      return nodes.map(n => n.node.services.dht.routingTable.size)
    },
    async provide ({ items }: { items: Array<[number, string]> }) {
      let placed = 0
      await pool(items, PROVIDE_CONCURRENCY, async ([i, key]) => {
        try {
          for await (const e of nodes[i].node.services.dht.provide(CID.parse(key), { signal: AbortSignal.timeout(60_000) })) {
            if (e.name === 'PEER_RESPONSE' && e.messageName === 'ADD_PROVIDER') placed++
          }
        } catch {}
      })
      return placed
    },
    async records () {
      return await Promise.all(nodes.map(async n => (await countProviderRecords(n.components as KadDHTComponents)).records))
    },
    async lookup ({ node, key }: { node: number, key: string }): Promise<Lookup> {
      const n = nodes[node].node
      const r = await findProvidersTracked(n.services.dht, CID.parse(key), { self: n.peerId, graceMs: 0, maxProviders: 1, signal: AbortSignal.timeout(30_000) })
      return { found: r.providers.length > 0, firstProviderMs: r.firstProviderMs, hops: r.hops, queried: r.queried }
    },
    async stop () {
      await Promise.all(nodes.map(async n => { await n.node.stop() }))
      return true
    }
  }
  process.on('message', (msg: any) => {
    (handlers[msg.cmd] as (a: any) => Promise<unknown>)(msg.args).then(
      result => { process.send?.({ id: msg.id, result }) },
      err => { process.send?.({ id: msg.id, error: String(err?.stack ?? err) }) }
    )
  })
  process.send?.({ ready: true })
}

// ---------------------------------------------------------------- parent side
class Worker {
  readonly child: ChildProcess
  private seq = 0
  private readonly pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  constructor () {
    this.child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SEDAI_LOG_LEVEL: 'silent' } })
    this.child.on('message', (msg: any) => {
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      if (msg.error !== undefined) p.reject(new Error(msg.error)); else p.resolve(msg.result)
    })
  }

  async call<T> (cmd: string, args: unknown = {}): Promise<T> {
    const id = ++this.seq
    return await new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.send({ id, cmd, args })
    })
  }
}

const progress = (line: string): void => { process.stderr.write(`# ${line}\n`) }
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const fmt = (x: number | undefined, d = 1): string => x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d)

async function runSize (n: number): Promise<Record<string, string>> {
  const procs = Math.max(1, Math.min(PROCS, Math.ceil(n / 8)))
  const workers = Array.from({ length: procs }, () => new Worker())
  try {
    await Promise.all(workers.map(async w => { await once(w.child, 'message') }))
    const t0 = Date.now()
    // node g lives in worker g % procs, as local index floor(g / procs)
    const counts = workers.map((_, w) => Math.floor(n / procs) + (w < n % procs ? 1 : 0))
    const addrsPer = await Promise.all(workers.map(async (w, i) => await w.call<string[]>('start', { count: counts[i] })))
    const addrs: string[] = []
    for (let g = 0; g < n; g++) addrs.push(addrsPer[g % procs][Math.floor(g / procs)])
    const dialsFor = (g: number): string[] => {
      const out = g === 0 ? [] : [addrs[0]]
      while (out.length < Math.min(4, n - 1)) {
        const r = Math.floor(Math.random() * n)
        if (r !== g && !out.includes(addrs[r])) out.push(addrs[r])
      }
      return out
    }
    const tables = (await Promise.all(workers.map(async (w, wi) => await w.call<number[]>('join', {
      dials: Array.from({ length: counts[wi] }, (_, li) => dialsFor(li * procs + wi))
    })))).flat()
    const joinMs = Date.now() - t0
    progress(`N=${n}: ${procs} processes started and joined in ${(joinMs / 1000).toFixed(1)} s`)

    // 1,000 keys, each provided by one node
    const keys = Array.from({ length: KEYS }, (_, i) => keywordCid(`bench-${i}`).toString())
    const owner = (i: number): number => (i * 7919) % n
    const t1 = Date.now()
    const placed = await Promise.all(workers.map(async (w, wi) => await w.call<number>('provide', {
      items: keys.map((k, i) => [owner(i), k] as [number, string]).filter(([g]) => g % procs === wi).map(([g, k]) => [Math.floor(g / procs), k])
    })))
    const provideMs = Date.now() - t1
    progress(`N=${n}: ${KEYS} keys provided in ${(provideMs / 1000).toFixed(1)} s`)
    const records = (await Promise.all(workers.map(async w => await w.call<number[]>('records')))).flat()

    // lookups from random non-owners
    const results: Lookup[] = []
    await pool(Array.from({ length: LOOKUPS }, (_, i) => i), LOOKUP_CONCURRENCY, async () => {
      const k = Math.floor(Math.random() * KEYS)
      let g = Math.floor(Math.random() * n)
      if (g === owner(k)) g = (g + 1) % n
      results.push(await workers[g % procs].call<Lookup>('lookup', { node: Math.floor(g / procs), key: keys[k] }))
    })
    const found = results.filter(r => r.found)
    const lat = found.map(r => r.firstProviderMs as number)
    const hops = found.map(r => r.hops as number)
    const network = found.filter(r => (r.hops ?? 0) > 0)
    const netLat = network.map(r => r.firstProviderMs as number)
    return {
      N: String(n),
      procs: String(procs),
      'log2(N)': fmt(Math.log2(n)),
      'rt mean': fmt(mean(tables)),
      'found %': fmt(100 * found.length / results.length),
      'hops mean': fmt(mean(hops), 2),
      'hops p50': fmt(percentile(hops, 50), 0),
      'hops max': fmt(Math.max(...hops), 0),
      'local %': fmt(100 * (found.length - network.length) / Math.max(1, found.length)),
      'queried mean': fmt(mean(found.map(r => r.queried))),
      'p50 ms': fmt(percentile(lat, 50)),
      'p99 ms': fmt(percentile(lat, 99)),
      'net p50 ms': fmt(percentile(netLat, 50)),
      'rec mean': fmt(mean(records)),
      'rec max': String(Math.max(...records)),
      'max/mean': fmt(Math.max(...records) / mean(records), 2),
      'rec min': String(Math.min(...records)),
      'placed/key': fmt(placed.reduce((a, b) => a + b, 0) / KEYS),
      'join s': fmt(joinMs / 1000),
      'provide s': fmt(provideMs / 1000)
    }
  } finally {
    await Promise.all(workers.map(async w => { await w.call('stop').catch(() => {}); w.child.kill() }))
  }
}

async function main (): Promise<void> {
  console.log(`DHT bench: sizes ${SIZES.join(', ')}; ${KEYS} keys; ${LOOKUPS} lookups per size (${LOOKUP_CONCURRENCY} at a time); up to ${PROCS} processes; k = 20, alpha = 3`)
  const rows: Array<Record<string, string>> = []
  for (const n of SIZES) {
    const row = await runSize(n)
    rows.push(row)
    console.log(JSON.stringify(row))
  }
  const cols = Object.keys(rows[0])
  const width = cols.map(c => Math.max(c.length, ...rows.map(r => r[c].length)))
  console.log()
  console.log(cols.map((c, i) => c.padStart(width[i])).join('  '))
  for (const r of rows) console.log(cols.map((c, i) => r[c].padStart(width[i])).join('  '))
  console.log('\nhops: depth of the answering peer in the chain of closer-peer replies (0 = the looker stored the record itself; local % of lookups);')
  console.log('p50/p99: ms to the first provider over all lookups; net p50: lookups that needed the network; rec: provider records per node (all copies; each key is stored on its k closest nodes).')
}

if (process.argv.includes('--worker')) {
  await worker()
} else {
  await main()
}
