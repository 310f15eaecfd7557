import { dirname } from 'node:path'
import { randomGraph, neighboursOf } from '@sedai/flooding-peer'
import { percentile, seededRandom } from '@sedai/core'
import { DEFAULTS } from './config.ts'
import { NotReadyError } from './errors.ts'
import { Cluster } from './local/cluster.ts'
import { DockerCluster } from './docker/cluster.ts'
import { plan } from './workload.ts'
import type { GetOutcome, MemoryReport, PeerSpec, SearchOutcome } from './messages.ts'
import type { Nodes, Placement } from './nodes.ts'
import type { LabObserver } from './observer.ts'
import { isPartition } from './topology.ts'
import type { Fault, RunSpec, Topology } from './topology.ts'
import type { LabFile } from './workload.ts'

export interface SearchRecord {
  seq: number
  /** ms since the search phase began */
  atMs: number
  file: number
  ok: boolean
  firstHitMs?: number
  ms: number
  providers: number
  /** before the first fault, while nodes are down (or the network is cut), after the restart (or the heal) */
  phase: 'normal' | 'down' | 'restarted'
  /** a holder of the file was up (and, in a partition, on the searcher's side) when the search began; absent in older results */
  reachable?: boolean
  error?: string
}

export interface DownloadRecord { file: number, ok: boolean, ms: number, bytes: number, sources: number, error?: string }

/** A fault as it happened: `peers` killed, or cut off by a partition; `restartedAtMs` is the restart or the heal. */
export interface FaultRecord { kill?: string, partition?: number, peers: number[], atMs: number, restartedAtMs?: number, recoveredAtMs?: number }

export interface RunSummary {
  successRate: number
  /** query traffic of the search phase over all nodes, per search (see messageCount) */
  messagesPerQuery: number
  firstHitP50Ms?: number
  firstHitP95Ms?: number
  downloadSuccess: number
  downloadP50Ms?: number
  /** bytes served by the busiest node over the mean over all nodes that could serve */
  busiestMaxOverMean?: number
  /** the busiest node's share of all bytes served */
  busiestShare?: number
  /** DHT: mean hops of lookups that found a provider, mean peers queried per lookup */
  hopsMean?: number
  queriedMean?: number
  successByPhase: Partial<Record<SearchRecord['phase'], number>>
  /** success of the searches whose file had a reachable holder (SearchRecord.reachable), by phase */
  reachableSuccessByPhase?: Partial<Record<SearchRecord['phase'], number>>
  /** success of the searches with a reachable holder that began workload.settleMs or more after the last fault event (kill, cut, restart or heal), and how many there were */
  settledSuccess?: number
  settledSearches?: number
  /** query traffic per search within each phase (a storm after a fault shows here) */
  messagesPerQueryByPhase?: Partial<Record<SearchRecord['phase'], number>>
  /** ms from the restart to the first successful search after it */
  recoveryMs?: number
  /** libp2p connections per peer at the end of the search phase (mean); absent in older results */
  connectionsPerPeer?: number
  /** peak of (worker RSS summed) / peers, sampled when the network is ready and after each phase */
  rssPerPeerMB: number
  setupMs: number
  /** flood and supernode: queries shed or dropped by full send queues or throttling during the search phase (0 = every copy went out) */
  queriesDropped?: number
}

export interface RunResult {
  spec: RunSpec
  /** where the peers ran (results written before the docker runner existed have none: local) */
  runner?: Runner
  /** docker runner with conditions: 'netem', or 'iptables+tbf' on a kernel without sch_netem */
  conditionsMethod?: string
  summary: RunSummary
  searches: SearchRecord[]
  downloads: DownloadRecord[]
  faults: FaultRecord[]
  memory: MemoryReport[]
}

/** Sum of the numeric leaves under `obj[path...]`; missing = 0. */
function counter (obj: any, ...path: string[]): number {
  let v = obj
  for (const p of path) v = v?.[p]
  if (typeof v === 'number') return v
  if (typeof v === 'object' && v !== null) return Object.values(v).reduce<number>((a, x) => a + counter(x), 0)
  return 0
}

/**
 * The query traffic a node's counters show, in messages. Each generation
 * counts what its searches put on the wire, maintenance (pings, heartbeats,
 * index uploads) excluded:
 * - directory: SEARCH requests and replies at the server;
 * - flood and supernode: QUERY and QUERY_HIT messages sent (each crosses one link);
 * - dht: kad-dht RPCs (each queried peer is one request and one reply) plus
 *   the keyword protocol's messages.
 */
export function messageCount (generation: RunSpec['generation'], s: Record<string, any>): number {
  switch (generation) {
    case 'directory':
      return counter(s, 'messages', 'directory', 'in', 'SEARCH') + counter(s, 'messages', 'directory', 'out', 'SEARCH')
    case 'flood':
      return counter(s, 'messages', 'flood', 'out', 'QUERY') + counter(s, 'messages', 'flood', 'out', 'QUERY_HIT')
    case 'supernode':
      return counter(s, 'messages', 'supernode', 'out', 'QUERY') + counter(s, 'messages', 'supernode', 'out', 'QUERY_HIT')
    case 'dht':
      return 2 * counter(s, 'dht', 'lookups', 'queriedTotal') + counter(s, 'messages', 'dhtKeywords', 'out')
  }
}

/** Bytes a node served to others: direct transfers plus, in Gen 3, in-band relays from its store or cache. */
export function bytesServed (s: Record<string, any>): number {
  return counter(s, 'transfer', 'bytesServed') + counter(s, 'supernode', 'bytesServed', 'origin') + counter(s, 'supernode', 'bytesServed', 'cache')
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Layout {
  specs: PeerSpec[]
  /** peers that hold files and search */
  eligible: number[]
  env: Record<string, string>
  solo: Set<number>
  /** flood: each peer's overlay degree */
  degree?: number[]
  supernodes: number[]
}

/** Who runs what, who bootstraps to whom, and the generation's knobs. */
function layout (spec: RunSpec, place: Placement, seed: number): Layout {
  const n = spec.peers
  const addr = place.addr
  const base = (i: number): PeerSpec => ({ index: i, listen: place.listen(i), repo: place.repo(i), modes: [spec.generation], bootstrap: [] })
  const all = Array.from({ length: n }, (_, i) => i)
  switch (spec.generation) {
    case 'directory': {
      const specs = all.map(i => i === 0
        ? { ...base(0), modes: ['directory-server'] }
        : { ...base(i), directory: addr(0) })
      // heartbeat 2 s and grace 6 s: a lab run lasts a minute, not an evening
      return { specs, eligible: all.slice(1), env: { SEDAI_DIRECTORY_HEARTBEAT_MS: '2000', SEDAI_DIRECTORY_GRACE_MS: '6000', SEDAI_DIRECTORY_QUERY_RATE: '1000' }, solo: new Set([0]), supernodes: [] }
    }
    case 'flood': {
      const edges = randomGraph(n, spec.degree[0], spec.degree[1], seed)
      const specs = all.map(base)
      for (const [a, b] of edges) specs[b].bootstrap.push(addr(a))
      const env: Record<string, string> = {
        // the overlay is the generated graph: no top-up from the host cache (unless the network repairs itself)
        ...(spec.repair ? {} : { SEDAI_FLOOD_MIN_NEIGHBOURS: '0' }),
        SEDAI_FLOOD_MAX_NEIGHBOURS: '32',
        SEDAI_FLOOD_QUERY_RATE: '1000',
        SEDAI_FLOOD_QUERY_BURST: '1000'
      }
      if (spec.ttl !== undefined) env.SEDAI_FLOOD_TTL = String(spec.ttl)
      return { specs, eligible: all, env, solo: new Set(), degree: neighboursOf(n, edges).map(x => x.length), supernodes: [] }
    }
    case 'supernode': {
      const supers = all.slice(0, spec.supernodes)
      const specs = all.map(i => i < spec.supernodes
        ? { ...base(i), role: 'super' as const, bootstrap: i === 0 ? [] : [addr(0)] }
        : { ...base(i), role: 'leaf' as const, bootstrap: [addr(i % spec.supernodes)] })
      const env: Record<string, string> = { SEDAI_SUPERNODE_CACHE_PROBABILITY: spec.cache ? '1' : '0' }
      if (spec.ttl !== undefined) env.SEDAI_SUPERNODE_TTL = String(spec.ttl)
      return { specs, eligible: all.slice(spec.supernodes), env, solo: new Set(), supernodes: supers }
    }
    case 'dht': {
      const random = seededRandom(seed)
      const specs = all.map(base)
      for (let i = 1; i < n; i++) {
        const targets = new Set<number>()
        while (targets.size < Math.min(i, DEFAULTS.dhtJoinDials)) targets.add(Math.floor(random() * i))
        specs[i].bootstrap = [...targets].map(addr)
      }
      // peer 0 dials the next ones too: where peers start in any order (the docker runner starts them at once), a
      // later peer may find its bootstrap peers elsewhere and never dial peer 0, which would then stay alone; the
      // DHT's join retries its bootstrap list until its routing table has someone
      specs[0].bootstrap = Array.from({ length: Math.min(n - 1, DEFAULTS.dhtJoinDials) }, (_, k) => addr(k + 1))
      // no routing-table refresh and one self-lookup (the join) instead of one a minute: the lab's DHT does its
      // lookups for the workload, and on two cores hundreds of nodes' upkeep would be most of the CPU
      return { specs, eligible: all, env: { SEDAI_DHT_TABLE_REFRESH: '0', SEDAI_DHT_QUERY_SELF_INTERVAL_MS: '3600000' }, solo: new Set(), supernodes: [] }
    }
  }
}

/** Whether a network is ready for the workload, from every peer's stats. */
function ready (spec: RunSpec, l: Layout, stats: Map<number, Record<string, any>>, shares: Map<number, number>): string | undefined {
  for (const p of l.specs) {
    const s = stats.get(p.index)
    if (s === undefined) return `peer ${p.index} has no stats`
    switch (spec.generation) {
      case 'directory':
        if (p.index === 0) continue
        if (s.directory?.state !== 'online') return `peer ${p.index} is ${s.directory?.state} at the directory`
        if ((s.directory?.registeredFiles ?? 0) < (shares.get(p.index) ?? 0)) return `peer ${p.index} has not registered its files`
        break
      case 'flood':
        if ((s.flood?.neighbours?.length ?? 0) < (l.degree?.[p.index] ?? 0)) return `peer ${p.index} has ${s.flood?.neighbours?.length ?? 0} of ${l.degree?.[p.index]} overlay links`
        break
      case 'supernode':
        if (p.role === 'leaf' && (s.supernode?.supernodes?.length ?? 0) === 0) return `leaf ${p.index} is not attached`
        if (p.role === 'super' && l.supernodes.length > 1 && (s.supernode?.peers?.length ?? 0) === 0) return `supernode ${p.index} has no supernode peers`
        break
      case 'dht':
        if ((s.dht?.routingTableSize ?? 0) === 0) return `peer ${p.index} has an empty routing table`
        // a node whose self lookup failed has a peer or two and answers searches with nothing: it must have joined
        if (s.dht?.joined !== true) return `peer ${p.index} has not joined the DHT (${s.dht?.attempts ?? 0} self lookups)`
        if ((shares.get(p.index) ?? 0) > 0 && ((s.dht?.providing?.notYetPlaced ?? 1) > 0 || (s.dht?.providing?.queued ?? 1) > 0)) return `peer ${p.index} is still providing`
        break
    }
  }
  if (spec.generation === 'supernode') {
    // every shared file is in some supernode's leaf index
    const indexed = sum(l.supernodes.map(i => Number(stats.get(i)?.supernode?.leafFiles ?? 0)))
    const shared = sum([...shares.values()])
    if (indexed < shared) return `supernodes index ${indexed} of ${shared} shared files`
  }
  return undefined
}

export interface RunOptions {
  topology: Topology
  files: LabFile[]
  paths: string[]
  /** scratch folder for the peers' repos (loopback) or the compose file (docker) */
  dir: string
  /** where the peers run: worker processes on 127.0.0.1, or one container each (docker-compose) */
  runner: Runner
  /** docker: the image of every container */
  image?: string
  log: (msg: string) => void
  /** watches the run as it goes (the lab dashboard); none by default */
  observer?: LabObserver
}

export const RUNNERS = ['local', 'docker'] as const
export type Runner = typeof RUNNERS[number]

/** Runs one network: start, share, wait until ready, search (with faults), download, measure, stop. */
export async function runNetwork (spec: RunSpec, opts: RunOptions): Promise<RunResult> {
  const { topology, files, paths } = opts
  const seed = topology.seed
  const t0 = performance.now()
  const cluster: Nodes = opts.runner === 'docker'
    ? new DockerCluster({ dir: opts.dir, filesDir: dirname(paths[0]), image: opts.image ?? DEFAULTS.dockerImage, conditions: spec.conditions, log: opts.log })
    : new Cluster(opts.dir)
  const searches: SearchRecord[] = []
  const downloads: DownloadRecord[] = []
  const faults: FaultRecord[] = []
  try {
    const place = await cluster.prepare(spec.peers)
    const l = layout(spec, place, seed)
    // random kill victims are drawn now, so each can have a process of its own and its kill be a real SIGKILL
    const drawVictims = seededRandom(seed + 3)
    const victimsOf = new Map<Fault, number[]>()
    for (const f of spec.faults) {
      if (isPartition(f) || f.kill !== 'random') continue
      const picked = pickRandom(l.eligible.filter(i => ![...victimsOf.values()].some(v => v.includes(i))), f.count, drawVictims)
      victimsOf.set(f, picked)
      for (const v of picked) l.solo.add(v)
    }
    const work = plan(l.eligible.length, topology.files, topology.workload, seed)
    opts.observer?.runStarted({ spec, nodes: cluster, peers: l.specs, searches: work.searches.length })
    // the seeds of the overlay first (the server, the first supernodes), then everyone
    const first = spec.generation === 'directory' ? [0] : spec.generation === 'supernode' ? l.supernodes : []
    const firstSet = new Set(first)
    // idle connections closed on request: libp2p never prunes loopback connections (the lab allow-lists them), so a
    // large DHT network otherwise keeps every peer a lookup or a contact ping touched, nearly a full mesh
    const env = {
      ...l.env,
      SEDAI_LAB_MAX_CONNECTIONS: String(spec.maxConnections),
      ...(spec.idleConnectionMs > 0 ? { SEDAI_LAB_IDLE_CONNECTION_MS: String(spec.idleConnectionMs) } : {}),
      ...(spec.contactPings ? {} : { SEDAI_DHT_CONTACT_PINGS: '0' })
    }
    const startOpts = { perProcess: topology.peersPerProcess, env, solo: l.solo, timeoutMs: topology.readyTimeoutMs }
    await cluster.start(l.specs.filter(s => firstSet.has(s.index)), startOpts)
    await cluster.start(l.specs.filter(s => !firstSet.has(s.index)), startOpts)
    opts.log(`${spec.id}: ${spec.peers} peers up in ${Math.round(performance.now() - t0)} ms`)

    const shares = new Map<number, number>()
    const byPeer = new Map<number, number[]>()
    for (const [f, holders] of work.holders.entries()) {
      for (const h of holders) {
        const peer = l.eligible[h]
        byPeer.set(peer, [...(byPeer.get(peer) ?? []), f])
      }
    }
    const cids: string[] = new Array(files.length)
    await Promise.all([...byPeer].map(async ([peer, fs]) => {
      const got = await cluster.call<string[]>(peer, { op: 'share', index: peer, paths: fs.map(f => place.file(paths[f])) })
      for (const [i, f] of fs.entries()) cids[f] = got[i]
      shares.set(peer, fs.length)
    }))

    const deadline = Date.now() + topology.readyTimeoutMs
    let why: string | undefined = 'not checked'
    while (why !== undefined) {
      why = ready(spec, l, await cluster.stats(), shares)
      if (why === undefined) break
      if (Date.now() > deadline) throw new NotReadyError(`${spec.id} not ready after ${topology.readyTimeoutMs} ms: ${why}`)
      await sleep(500)
    }
    const setupMs = performance.now() - t0
    opts.log(`${spec.id}: ready in ${Math.round(setupMs)} ms`)

    // memory is sampled at the end of each phase; the report gives the peak
    const perPeerMB = (m: MemoryReport[]): number => sum(m.map(x => x.rss)) / Math.max(1, sum(m.map(x => x.peers))) / 1024 / 1024
    let peakPerPeerMB = perPeerMB(await cluster.memory())

    // ---- search phase
    opts.observer?.phase('search')
    const before = await cluster.stats()
    const down = new Set<number>()
    const carried = new Map<number, number>()
    const pending = spec.faults.map(f => ({ f, done: false, restarted: false, rec: undefined as FaultRecord | undefined }))
    const random = seededRandom(seed + 3)
    const started = performance.now()
    const total = work.searches.length
    let next = 0
    // query traffic per phase: every peer's counters at each phase change (peers killed within a phase drop out of it)
    let mark = before
    let markPhase: SearchRecord['phase'] = 'normal'
    const phaseMessages: Partial<Record<SearchRecord['phase'], number>> = {}
    const closePhase = async (): Promise<void> => {
      const now = await cluster.stats()
      const delta = sum([...now.entries()].filter(([i]) => mark.has(i)).map(([i, st]) => messageCount(spec.generation, st) - messageCount(spec.generation, mark.get(i) ?? {})))
      phaseMessages[markPhase] = (phaseMessages[markPhase] ?? 0) + delta
      mark = now
    }
    /** a fault's moment has come: a fraction of the searches, or seconds into the phase */
    const due = (seq: number, fraction: number | undefined, seconds: number | undefined): boolean =>
      seconds !== undefined ? performance.now() - started >= seconds * 1000 : fraction !== undefined && seq >= fraction * total
    /** partition: the side cut off from the rest, while it is cut */
    let cutOff: Set<number> | undefined
    const applyFaults = async (seq: number): Promise<void> => {
      for (const p of pending) {
        if (!p.done && due(seq, p.f.at, p.f.atS)) {
          p.done = true
          await closePhase()
          if (isPartition(p.f)) {
            const live = l.specs.map(x => x.index).filter(i => !down.has(i))
            const side = pickRandom(live, Math.max(1, Math.round(p.f.partition * live.length)), random)
            await (cluster.partition as NonNullable<Nodes['partition']>)(live.filter(i => !side.includes(i)), side)
            cutOff = new Set(side)
            p.rec = { partition: p.f.partition, peers: side, atMs: performance.now() - started }
            opts.log(`${spec.id}: partitioned peers ${side.join(', ')} from the other ${live.length - side.length} before search ${seq}`)
          } else {
            const f = p.f
            const victims = f.kill === 'server' ? [0] : f.kill === 'supernode' ? [l.supernodes[0]] : (victimsOf.get(f) ?? []).filter(i => !down.has(i))
            for (const v of victims) {
              // a restarted node counts from zero again: keep what it had counted up to the kill
              const last = (await cluster.call<Record<number, Record<string, any>>>(v, { op: 'stats', indexes: [v] }).catch(() => ({})) as Record<number, Record<string, any>>)[v]
              if (last !== undefined) carried.set(v, (carried.get(v) ?? 0) + messageCount(spec.generation, last) - messageCount(spec.generation, before.get(v) ?? {}))
              before.delete(v)
              down.add(v)
              await cluster.kill(v)
            }
            opts.observer?.killed(victims)
            p.rec = { kill: f.kill, peers: victims, atMs: performance.now() - started }
            opts.log(`${spec.id}: killed ${f.kill} (peers ${victims.join(', ')}) before search ${seq}`)
          }
          faults.push(p.rec)
          markPhase = phaseOf()
        }
        const [back, backS] = isPartition(p.f) ? [p.f.healAt, p.f.healAtS] : [p.f.restartAt, p.f.restartAtS]
        if (p.done && !p.restarted && (back !== undefined || backS !== undefined) && due(seq, back, backS) && p.rec !== undefined) {
          p.restarted = true
          await closePhase()
          if (isPartition(p.f)) {
            await (cluster.heal as NonNullable<Nodes['heal']>)()
            cutOff = undefined
            opts.log(`${spec.id}: partition healed before search ${seq}`)
          } else {
            for (const v of p.rec.peers) { await cluster.restart(v); down.delete(v) }
            opts.observer?.restarted(p.rec.peers)
            opts.log(`${spec.id}: restarted ${p.rec.peers.join(', ')} before search ${seq}`)
          }
          p.rec.restartedAtMs = performance.now() - started
          markPhase = phaseOf()
        }
      }
    }
    /** a holder of the file is up (and, during a partition, on the searcher's side) */
    const reachable = (file: number, searcher: number): boolean => work.holders[file].some(h => {
      const holder = l.eligible[h]
      return !down.has(holder) && (cutOff === undefined || cutOff.has(holder) === cutOff.has(searcher))
    })
    const phaseOf = (): SearchRecord['phase'] => pending.some(p => p.done && !p.restarted) ? 'down' : pending.some(p => p.restarted) ? 'restarted' : 'normal'
    let faultLock = Promise.resolve()
    await Promise.all(Array.from({ length: topology.workload.concurrency }, async () => {
      while (next < total) {
        const s = work.searches[next++]
        // a paced workload starts search k at k / rate seconds (so faults given in seconds land where meant)
        const rate = topology.workload.ratePerSecond
        if (rate > 0) await sleep(Math.max(0, started + s.seq * 1000 / rate - performance.now()))
        faultLock = faultLock.then(async () => { await applyFaults(s.seq) })
        await faultLock
        let searcher = l.eligible[s.searcher]
        for (let k = 1; down.has(searcher) && k < l.eligible.length; k++) searcher = l.eligible[(s.searcher + k) % l.eligible.length]
        const phase = phaseOf()
        const atMs = performance.now() - started
        const live = reachable(s.file, searcher)
        const r = await cluster.call<SearchOutcome>(searcher, { op: 'search', index: searcher, query: files[s.file].token, ttl: spec.ttl, timeoutMs: topology.workload.searchTimeoutMs })
          .catch((err: Error): SearchOutcome => ({ hits: [], ms: 0, error: err.message }))
        const hit = r.hits.find(h => h.cid === cids[s.file])
        opts.observer?.search({ ok: hit !== undefined })
        searches.push({ seq: s.seq, atMs, file: s.file, reachable: live, ok: hit !== undefined, firstHitMs: hit !== undefined ? r.firstHitMs : undefined, ms: r.ms, providers: hit?.providers ?? 0, phase, ...(r.error !== undefined ? { error: r.error } : {}) })
      }
    }))
    await faultLock
    for (const p of pending.filter(x => !x.done)) opts.log(`${spec.id}: a fault never fired (${JSON.stringify(p.f)}): the search phase ended ${Math.round((performance.now() - started) / 1000)} s in; pace the workload (workload.ratePerSecond) or move the fault`)
    searches.sort((a, b) => a.seq - b.seq)
    await closePhase()
    const after = mark
    peakPerPeerMB = Math.max(peakPerPeerMB, perPeerMB(await cluster.memory()))
    for (const rec of faults) {
      if (rec.restartedAtMs === undefined) continue
      const firstOk = searches.find(s => s.ok && s.atMs >= (rec.restartedAtMs as number))
      if (firstOk !== undefined) rec.recoveredAtMs = firstOk.atMs + firstOk.ms
    }

    // ---- download phase: one at a time, so later downloads can use what earlier ones left (caches, new holders)
    opts.observer?.phase('download')
    const servedBefore = await cluster.stats()
    for (const s of work.searches.filter(x => x.download)) {
      let who = l.eligible[s.searcher]
      for (let k = 1; down.has(who) && k < l.eligible.length; k++) who = l.eligible[(s.searcher + k) % l.eligible.length]
      const r = await cluster.call<GetOutcome>(who, { op: 'get', index: who, cid: cids[s.file], out: place.downloads(who), timeoutMs: topology.workload.getTimeoutMs }, topology.workload.getTimeoutMs + 10_000)
        .catch((err: Error): GetOutcome => ({ ms: 0, bytes: 0, sources: [], error: err.message }))
      downloads.push({ file: s.file, ok: r.error === undefined, ms: r.ms, bytes: r.bytes, sources: r.sources.length, ...(r.error !== undefined ? { error: r.error } : {}) })
    }
    const servedAfter = await cluster.stats()
    const memory = await cluster.memory()
    peakPerPeerMB = Math.max(peakPerPeerMB, perPeerMB(memory))

    // ---- summary
    const msgs = sum([...after.entries()].map(([i, s]) => messageCount(spec.generation, s) - messageCount(spec.generation, before.get(i) ?? {}))) +
      sum([...carried.values()])
    const served = l.specs.filter(p => servedAfter.has(p.index)).map(p => bytesServed(servedAfter.get(p.index) ?? {}) - bytesServed(servedBefore.get(p.index) ?? {}))
    const servedTotal = sum(served)
    const firstHits = searches.filter(s => s.firstHitMs !== undefined).map(s => s.firstHitMs as number)
    const okDownloads = downloads.filter(d => d.ok)
    const rate = (rs: SearchRecord[]): number => rs.length === 0 ? NaN : rs.filter(s => s.ok).length / rs.length
    const successByPhase: RunSummary['successByPhase'] = {}
    const reachableSuccessByPhase: RunSummary['successByPhase'] = {}
    const messagesPerQueryByPhase: RunSummary['successByPhase'] = {}
    for (const phase of ['normal', 'down', 'restarted'] as const) {
      const rs = searches.filter(s => s.phase === phase)
      if (rs.length > 0) successByPhase[phase] = rate(rs)
      const live = rs.filter(s => s.reachable === true)
      if (live.length > 0) reachableSuccessByPhase[phase] = rate(live)
      if (rs.length > 0 && phaseMessages[phase] !== undefined) messagesPerQueryByPhase[phase] = (phaseMessages[phase] as number) / rs.length
    }
    const dhtDelta = (key: string): number => sum([...after.entries()].map(([i, s]) => counter(s, 'dht', 'lookups', key) - counter(before.get(i) ?? {}, 'dht', 'lookups', key)))
    const restarted = faults.find(f => f.recoveredAtMs !== undefined)
    // searches with a reachable holder that started settleMs or more after the last fault event (a kill or cut, or a restart or heal)
    const lastBack = Math.max(-Infinity, ...faults.map(f => f.restartedAtMs ?? f.atMs))
    const settled = searches.filter(x => x.reachable === true && x.atMs >= lastBack + topology.workload.settleMs)
    const overlay = spec.generation === 'flood' || spec.generation === 'supernode' ? spec.generation : undefined
    const drops = (st: Record<string, any>): number => overlay === undefined ? 0 : ['shedQueries', 'droppedQueueFull', 'droppedThrottled'].reduce((a, k) => a + counter(st, overlay, k), 0)
    const summary: RunSummary = {
      successRate: rate(searches),
      messagesPerQuery: msgs / Math.max(1, searches.length),
      firstHitP50Ms: percentile(firstHits, 50),
      firstHitP95Ms: percentile(firstHits, 95),
      downloadSuccess: downloads.length === 0 ? NaN : okDownloads.length / downloads.length,
      downloadP50Ms: percentile(okDownloads.map(d => d.ms), 50),
      ...(servedTotal > 0 ? { busiestMaxOverMean: Math.max(...served) / (servedTotal / served.length), busiestShare: Math.max(...served) / servedTotal } : {}),
      ...(spec.generation === 'dht' && dhtDelta('found') > 0 ? { hopsMean: dhtDelta('hopsTotal') / dhtDelta('found'), queriedMean: dhtDelta('queriedTotal') / Math.max(1, dhtDelta('lookups')) } : {}),
      successByPhase,
      ...(faults.length > 0 ? { reachableSuccessByPhase, messagesPerQueryByPhase } : {}),
      ...(Number.isFinite(lastBack) && settled.length > 0 ? { settledSuccess: rate(settled), settledSearches: settled.length } : {}),
      ...(restarted !== undefined ? { recoveryMs: (restarted.recoveredAtMs as number) - (restarted.restartedAtMs as number) } : {}),
      connectionsPerPeer: after.size === 0 ? undefined : sum([...after.values()].map(st => Number(st.connections ?? 0))) / after.size,
      rssPerPeerMB: peakPerPeerMB,
      setupMs,
      ...(overlay !== undefined ? { queriesDropped: sum([...after.entries()].map(([i, st]) => drops(st) - drops(before.get(i) ?? {}))) } : {})
    }
    opts.log(`${spec.id}: success ${(summary.successRate * 100).toFixed(0)}%, ${summary.messagesPerQuery.toFixed(1)} msgs/query, downloads ${okDownloads.length}/${downloads.length}`)
    const conditionsMethod = cluster instanceof DockerCluster ? cluster.conditionsMethod : undefined
    return { spec, runner: opts.runner, ...(conditionsMethod !== undefined ? { conditionsMethod } : {}), summary, searches, downloads, faults, memory }
  } finally {
    opts.observer?.runEnded()
    await cluster.stop()
  }
}

function pickRandom (xs: number[], n: number, random: () => number): number[] {
  const pool = [...xs]
  const out: number[] = []
  while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0])
  return out
}
