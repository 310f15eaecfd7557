/**
 * DHT bench (issue 6): kad-dht lookup latency and hop count versus network
 * size, printed next to log2(N), and the per-node provider-record
 * distribution for a workload of BENCH_DHT_KEYS keys.
 *
 * The N nodes run spread over child processes of BENCH_DHT_NODES_PER_PROC
 * (16) nodes, at most BENCH_DHT_PROCS (16) (kad-dht nodes share one event
 * loop per process; 100 of them in one process saturate a core and lookups
 * take seconds), each a real libp2p node from @sedai/core's createNode with
 * the DHT mode's kad-dht service (dhtService: /sedai/kad/1.0.0, k = 20,
 * alpha = 3) on 127.0.0.1. Upkeep that is no part of a lookup is off (see
 * quiet()): kad-dht's routing-table refresh, libp2p's connection monitor, the
 * periodic self-lookup; and kad-dht's ping of every new routing-table contact,
 * which dialled every node to every other (see trustContacts()). Every node
 * dials 3 random others, then looks up its own id once (the Kademlia join).
 * Keys are keyword keys (CIDv1 raw, sha2-256("kw:bench-i")), each provided
 * by one node (BENCH_DHT_PROVIDE_CONCURRENCY, 16, in flight over all
 * processes); lookups are findProviders from a random other node, one at a
 * time, timed to the first provider and to the first hit (the provider asked
 * over the keyword protocol the moment it is named, as a search does).
 *
 * Hops: the depth, in the chain of closer-peer replies, of the peer that
 * answered with the record (0 = the looking node already stored it, which is
 * common when k = 20 is close to N). Env: BENCH_DHT_SIZES (default
 * "16,64,256"), BENCH_DHT_KEYS (500), BENCH_DHT_KEYS_AT (per-size cap, e.g.
 * "256:300"), BENCH_DHT_LOOKUPS (100 per size), BENCH_DHT_LOOKUP_CONCURRENCY
 * (1), BENCH_DHT_NODES_PER_PROC (16), BENCH_DHT_PROCS (16),
 * BENCH_DHT_PROVIDE_CONCURRENCY (16), BENCH_DHT_MAX_CONNECTIONS (0 = no cap),
 * BENCH_DHT_CONTACT_PINGS (0; 1 = kad-dht's contact pings, as in the daemon).
 * Alone: `node bench/index.ts dht` (`npm run bench -- dht`).
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { createNode } from '@sedai/core'
import { KEYWORD_PROTOCOL, askKeywords, countProviderRecords, dhtService, findProvidersTracked, keywordCid, percentile, resolveConfig, serveKeywordQuery } from '@sedai/dht-peer'
import type { ChildProcess } from 'node:child_process'
import type { KadDHTComponents, SingleKadDHT } from '@libp2p/kad-dht'
import type { SedaiLibp2p } from '@sedai/core'
import type { PeerInfo } from '@libp2p/interface'

const SIZES = (process.env.BENCH_DHT_SIZES ?? '16,64,256').split(',').map(Number)
const PROCS = Number(process.env.BENCH_DHT_PROCS ?? 16)
/** Nodes per process: kad-dht nodes share one event loop per process, and a crowded loop adds its queueing to every RPC. */
const NODES_PER_PROC = Number(process.env.BENCH_DHT_NODES_PER_PROC ?? 16)
/** 500, not 1,000: each provide is ~50 RPCs at N = 256 and the 2-core machine does ~150 a second, so 1,000 keys alone took > 10 min there. */
const KEYS = Number(process.env.BENCH_DHT_KEYS ?? 500)
const LOOKUPS = Number(process.env.BENCH_DHT_LOOKUPS ?? 100)
/** 1: a lookup alone, so its latency is the DHT's and not the queue behind the other lookups. */
const LOOKUP_CONCURRENCY = Number(process.env.BENCH_DHT_LOOKUP_CONCURRENCY ?? 1)
/** Pause between the provides and the lookups (ms). */
const SETTLE_MS = 3000
/** How often the provide phase reports how far it got (ms). */
const PROGRESS_MS = 60_000
/** Peers each node dials to join. */
const JOIN_DIALS = 3
/** Keys per size: BENCH_DHT_KEYS, capped per size by BENCH_DHT_KEYS_AT (e.g. "256:500"). */
const KEYS_AT = new Map((process.env.BENCH_DHT_KEYS_AT ?? '').split(',').filter(x => x.includes(':')).map(x => x.split(':').map(Number) as [number, number]))
const keysFor = (n: number): number => Math.min(KEYS, KEYS_AT.get(n) ?? KEYS)
/** Provides in flight over all processes (the CPU, not the network, is the limit on 2 cores). */
const PROVIDE_CONCURRENCY = Number(process.env.BENCH_DHT_PROVIDE_CONCURRENCY ?? 16)
/**
 * Open connections per node; 0 (default) = @sedai/core's 300, which on
 * loopback is never enforced (see quiet()). A cap closes the surplus, but a
 * provide asks the k closest nodes to a random key, so a closed connection is
 * soon dialled again: at N = 64 a cap of 32 made the join 2.2x and the provides
 * 1.6x slower, and at N = 256 a cap of 64 was still providing after 11 min
 * where no cap took 9.4 min (a noisy machine; see docs/DHT.md).
 */
const MAX_CONNECTIONS = Number(process.env.BENCH_DHT_MAX_CONNECTIONS ?? 0)
/** 0 (default): routing-table contacts are not pinged (see trustContacts); 1 = kad-dht's pings, as in the daemon. */
const NO_CONTACT_PINGS = (process.env.BENCH_DHT_CONTACT_PINGS ?? '0') !== '1'

interface Lookup { found: boolean, firstProviderMs?: number, firstHitMs?: number, hops?: number, queried: number }

async function pool<T> (items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; await fn(items[i], i) }
  }))
}

// ---------------------------------------------------------------- worker side
/**
 * Quiets a bench node's background work that is not part of a lookup, so the
 * CPU goes to the measured operations (256 nodes on 2 cores otherwise spend it
 * on upkeep): kad-dht's routing-table refresh (at start and every 5 min, one
 * lookup per bucket, up to 7 per node; kad-dht has no option for it) and
 * libp2p's connection monitor (a ping stream on every connection every 10 s,
 * ~15,000 connection ends at N = 256; a ping that times out under load aborts
 * the connection and forces a redial). Called before start. kad-dht's own
 * self-lookup timer is pushed out by the config (BENCH_CONFIG); the join runs it
 * once, explicitly.
 */
function quiet (node: SedaiLibp2p<{ dht: SingleKadDHT }>): void {
  const dht = node.services.dht as any
  dht.routingTableRefresh.refreshTable = () => {}
  const monitor = (node as any).components.connectionMonitor
  if (monitor !== undefined) monitor.start = () => {}
  // libp2p never prunes a connection whose remote address is on the allow
  // list, and @sedai/core allow-lists loopback (so local peers pass the
  // per-host inbound limits); on 127.0.0.1 that made maxConnections a no-op.
  // An empty list for the pruner alone: inbound connections are still
  // accepted, and the surplus over maxConnections is closed.
  const pruner = (node as any).components.connectionManager?.connectionPruner
  if (pruner !== undefined && MAX_CONNECTIONS > 0) pruner.allow = []
}

/**
 * kad-dht pings every new contact before it enters the routing table, and a
 * ping needs a connection: every closer peer named in any reply gets dialled,
 * and with kad-dht's prefixLength 6 (up to 64 buckets of k) the table has room
 * for all of N = 256, so every node ends up dialling every other (a Noise
 * handshake and an identify each). In a bench no node leaves, so every such
 * ping would succeed: the contact is taken as verified without it, except our
 * own id (replies to a self-lookup name the asker, which a ping would reject,
 * as it cannot dial itself). Called after start (the bucket trie is made there).
 */
function trustContacts (node: SedaiLibp2p<{ dht: SingleKadDHT }>): void {
  const kb = (node.services.dht as any).routingTable?.kb
  if (kb !== undefined) kb.verify = async (contact: { peerId: { equals: (p: unknown) => boolean } }) => !contact.peerId.equals(node.peerId)
}

/** Distinct other peers in a node's routing table (kad-dht's size can count a peer twice when two adds split one bucket at once). */
function tablePeers (node: SedaiLibp2p<{ dht: SingleKadDHT }>): number {
  const kb = (node.services.dht as any).routingTable?.kb
  if (kb === undefined) return node.services.dht.routingTable.size
  const ids = new Set<string>()
  for (const p of kb.toIterable()) if (!p.peerId.equals(node.peerId)) ids.add(p.peerId.toString())
  return ids.size
}

/** The daemon's kad-dht settings, except that no timer fires during a bench run. */
const BENCH_CONFIG = { querySelfIntervalMs: 3600_000, initialQuerySelfIntervalMs: 3600_000 }
/** Self-lookups run at once per process during the join. */
const JOIN_CONCURRENCY = 2
const JOIN_LOOKUP_TIMEOUT_MS = 30_000

async function worker (): Promise<void> {
  // each node's files, by keyword: the owner of key i holds bench-i.dat and answers the keyword query for it
  const nodes: Array<{ node: SedaiLibp2p<{ dht: SingleKadDHT }>, components?: KadDHTComponents, files: Map<string, { cid: Uint8Array, size: number, name: string }> }> = []
  const config = resolveConfig(BENCH_CONFIG)
  const handlers: Record<string, (args: any) => Promise<unknown>> = {
    async start ({ count }: { count: number }) {
      for (let i = 0; i < count; i++) {
        const entry: typeof nodes[number] = { node: undefined as any, files: new Map() }
        entry.node = await createNode({
          privateKey: await generateKeyPair('Ed25519'),
          listen: ['/ip4/127.0.0.1/tcp/0'],
          start: false,
          ...(MAX_CONNECTIONS > 0 ? { maxConnections: MAX_CONNECTIONS } : {}),
          services: { dht: dhtService(config, (c) => { entry.components = c }) as any }
        }) as any
        quiet(entry.node)
        await entry.node.start()
        await entry.node.handle(KEYWORD_PROTOCOL, (stream) => {
          serveKeywordQuery(stream, { match: (kws) => kws.flatMap(k => entry.files.get(k) ?? []) }).catch(() => {})
        })
        if (NO_CONTACT_PINGS) trustContacts(entry.node)
        nodes.push(entry)
      }
      return nodes.map(n => n.node.getMultiaddrs()[0].toString())
    },
    async join ({ dials }: { dials: string[][] }) {
      await pool(nodes, 4, async ({ node }, i) => {
        for (const a of dials[i]) await node.dial(multiaddr(a), { signal: AbortSignal.timeout(30_000) }).catch(() => {})
      })
      return true
    },
    async lookupSelf () {
      // the Kademlia join: one lookup of our own id, kad-dht's own self-query
      // (other queries wait for its first run), with a longer deadline than its 5 s
      await pool(nodes, JOIN_CONCURRENCY, async ({ node }) => {
        const querySelf = (node.services.dht as any).querySelf
        // kad-dht gives its first self-query no deadline (it waits for a first routing-table peer for ever): 30 s here
        const timer = setTimeout(() => querySelf.controller?.abort(), JOIN_LOOKUP_TIMEOUT_MS)
        await querySelf.querySelf().catch(() => {})
        clearTimeout(timer)
      })
      return nodes.map(n => tablePeers(n.node))
    },
    async provide ({ items, concurrency }: { items: Array<[number, string, string]>, concurrency: number }) {
      let placed = 0
      await pool(items, concurrency, async ([i, key, keyword]) => {
        nodes[i].files.set(keyword, { cid: CID.parse(key).bytes, size: 1, name: `${keyword}.dat` })
        try {
          for await (const e of nodes[i].node.services.dht.provide(CID.parse(key), { signal: AbortSignal.timeout(60_000) })) {
            if (e.name === 'PEER_RESPONSE' && e.messageName === 'ADD_PROVIDER') placed++
          }
        } catch {}
        process.send?.({ provided: 1 })
      })
      return placed
    },
    async records () {
      return await Promise.all(nodes.map(async n => ({ records: (await countProviderRecords(n.components as KadDHTComponents)).records, rt: tablePeers(n.node), conns: n.node.getConnections().length })))
    },
    async lookup ({ node, key, keyword }: { node: number, key: string, keyword: string }): Promise<Lookup> {
      const n = nodes[node].node
      const started = performance.now()
      let firstHitMs: number | undefined
      let asking: Promise<void> | undefined
      // as the daemon's search does: the first provider is asked for its matching files the moment it is named
      const ask = async (provider: PeerInfo): Promise<void> => {
        if (provider.multiaddrs.length > 0) await n.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs })
        const stream = await n.dialProtocol(provider.id, KEYWORD_PROTOCOL, { signal: AbortSignal.timeout(10_000), negotiateFully: false })
        const files = await askKeywords(stream, [keyword])
        if (files.length > 0) firstHitMs = performance.now() - started
      }
      const r = await findProvidersTracked(n.services.dht, CID.parse(key), {
        self: n.peerId,
        maxProviders: 1,
        signal: AbortSignal.timeout(30_000),
        onProvider: (p) => { asking ??= ask(p).catch(() => {}) }
      })
      await asking
      return { found: r.providers.length > 0, firstProviderMs: r.firstProviderMs, firstHitMs, hops: r.hops, queried: r.queried }
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
  // a normal exit on the parent's kill, so --cpu-prof and the like can write their files
  process.on('SIGTERM', () => { process.exit(0) })
  process.send?.({ ready: true })
}

// ---------------------------------------------------------------- parent side
class Worker {
  readonly child: ChildProcess
  private seq = 0
  private readonly pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  /** provides finished in this worker (at N = 256 they take minutes; the parent reports them as they go) */
  provided = 0
  constructor () {
    this.child = fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SEDAI_LOG_LEVEL: 'silent' } })
    this.child.on('message', (msg: any) => {
      if (msg.provided !== undefined) { this.provided += msg.provided; return }
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
  const procs = Math.max(1, Math.min(PROCS, Math.ceil(n / NODES_PER_PROC)))
  const workers = Array.from({ length: procs }, () => new Worker())
  try {
    await Promise.all(workers.map(async w => { await once(w.child, 'message') }))
    const t0 = Date.now()
    // node g lives in worker g % procs, as local index floor(g / procs)
    const counts = workers.map((_, w) => Math.floor(n / procs) + (w < n % procs ? 1 : 0))
    const addrsPer = await Promise.all(workers.map(async (w, i) => await w.call<string[]>('start', { count: counts[i] })))
    const addrs: string[] = []
    for (let g = 0; g < n; g++) addrs.push(addrsPer[g % procs][Math.floor(g / procs)])
    // every node dials 3 random others (a random 3-out graph is connected; no hub that all 255 dial), then looks itself up
    const dialsFor = (g: number): string[] => {
      const out: string[] = []
      while (out.length < Math.min(JOIN_DIALS, n - 1)) {
        const r = Math.floor(Math.random() * n)
        if (r !== g && !out.includes(addrs[r])) out.push(addrs[r])
      }
      return out
    }
    await Promise.all(workers.map(async (w, wi) => await w.call('join', {
      dials: Array.from({ length: counts[wi] }, (_, li) => dialsFor(li * procs + wi))
    })))
    const dialMs = Date.now() - t0
    const tables = (await Promise.all(workers.map(async w => await w.call<number[]>('lookupSelf')))).flat()
    const joinMs = Date.now() - t0
    progress(`N=${n}: ${procs} processes; nodes started and dialled in ${(dialMs / 1000).toFixed(1)} s, self-lookups done at ${(joinMs / 1000).toFixed(1)} s`)

    // KEYS keys (fewer at a size when BENCH_DHT_KEYS_AT says so), each provided by one node
    const nKeys = keysFor(n)
    const keys = Array.from({ length: nKeys }, (_, i) => keywordCid(`bench-${i}`).toString())
    const owner = (i: number): number => (i * 7919) % n
    const t1 = Date.now()
    const ticker = setInterval(() => {
      progress(`N=${n}: ${workers.reduce((a, w) => a + w.provided, 0)} of ${nKeys} keys provided at ${((Date.now() - t1) / 1000).toFixed(0)} s`)
    }, PROGRESS_MS)
    let placed: number[]
    try {
      placed = await Promise.all(workers.map(async (w, wi) => await w.call<number>('provide', {
        items: keys.map((k, i) => [owner(i), k, `bench-${i}`] as [number, string, string]).filter(([g]) => g % procs === wi).map(([g, k, kw]) => [Math.floor(g / procs), k, kw]),
        concurrency: Math.max(1, Math.round(PROVIDE_CONCURRENCY / procs))
      })))
    } finally {
      clearInterval(ticker)
    }
    const provideMs = Date.now() - t1
    progress(`N=${n}: ${nKeys} keys provided in ${(provideMs / 1000).toFixed(1)} s`)
    const stored = (await Promise.all(workers.map(async w => await w.call<Array<{ records: number, rt: number, conns: number }>>('records')))).flat()
    const records = stored.map(x => x.records)
    progress(`N=${n}: open connections per node mean ${fmt(mean(stored.map(x => x.conns)))}, max ${Math.max(...stored.map(x => x.conns))}`)

    // lookups from random non-owners, once the routing-table updates queued by the provides have run
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    const results: Lookup[] = []
    await pool(Array.from({ length: LOOKUPS }, (_, i) => i), LOOKUP_CONCURRENCY, async () => {
      const k = Math.floor(Math.random() * nKeys)
      let g = Math.floor(Math.random() * n)
      if (g === owner(k)) g = (g + 1) % n
      results.push(await workers[g % procs].call<Lookup>('lookup', { node: Math.floor(g / procs), key: keys[k], keyword: `bench-${k}` }))
    })
    const found = results.filter(r => r.found)
    const lat = found.map(r => r.firstProviderMs as number)
    const hops = found.map(r => r.hops as number)
    const network = found.filter(r => (r.hops ?? 0) > 0)
    const netLat = network.map(r => r.firstProviderMs as number)
    const hitLat = results.filter(r => r.firstHitMs !== undefined).map(r => r.firstHitMs as number)
    return {
      N: String(n),
      procs: String(procs),
      'log2(N)': fmt(Math.log2(n)),
      'rt join': fmt(mean(tables)),
      'rt min': String(Math.min(...stored.map(x => x.rt))),
      'rt mean': fmt(mean(stored.map(x => x.rt))),
      'conn mean': fmt(mean(stored.map(x => x.conns))),
      'found %': fmt(100 * found.length / results.length),
      'hops mean': fmt(mean(hops), 2),
      'hops p50': fmt(percentile(hops, 50), 0),
      'hops max': fmt(Math.max(...hops), 0),
      'local %': fmt(100 * (found.length - network.length) / Math.max(1, found.length)),
      'queried mean': fmt(mean(found.map(r => r.queried))),
      'p50 ms': fmt(percentile(lat, 50)),
      'p99 ms': fmt(percentile(lat, 99)),
      'net p50 ms': fmt(percentile(netLat, 50)),
      'hit %': fmt(100 * hitLat.length / results.length),
      'hit p50 ms': fmt(percentile(hitLat, 50)),
      'hit p99 ms': fmt(percentile(hitLat, 99)),
      'rec mean': fmt(mean(records)),
      'rec max': String(Math.max(...records)),
      'max/mean': fmt(Math.max(...records) / mean(records), 2),
      'rec min': String(Math.min(...records)),
      'keys': String(nKeys),
      'placed/key': fmt(placed.reduce((a, b) => a + b, 0) / nKeys),
      'join s': fmt(joinMs / 1000),
      'provide s': fmt(provideMs / 1000)
    }
  } finally {
    await Promise.all(workers.map(async w => { await w.call('stop').catch(() => {}); w.child.kill() }))
  }
}

async function main (): Promise<void> {
  console.log(`DHT bench: sizes ${SIZES.join(', ')}; ${SIZES.map(n => `${keysFor(n)} keys at N = ${n}`).join(', ')}; ${LOOKUPS} lookups per size (${LOOKUP_CONCURRENCY} at a time); ${NODES_PER_PROC} nodes per process, up to ${PROCS} processes; k = 20, alpha = 3`)
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
  console.log('p50/p99: ms to the first provider over all lookups; net p50: lookups that needed the network; hit: ms to the first hit (the first provider asked over')
  console.log('/sedai/dht-keywords/1.0.0 the moment it is named, as a search does, and answering with the file); rec: provider records per node (all copies; each key is stored on its k closest nodes).')
}

if (process.argv.includes('--worker')) {
  await worker()
} else {
  await main()
}
