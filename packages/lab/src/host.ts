/**
 * What a lab process does with the runner's commands: it hosts sedai daemons
 * (the real Daemon of @sedai/cli, with its store, transfer service and modes;
 * no control API) and runs share/search/get/stats on them. A loopback worker
 * hosts many (local/worker.ts, over Node's IPC channel); a container's agent
 * hosts one (docker/agent.ts, over TCP). Both read the generation's tunables
 * from the process environment (the same SEDAI_* knobs a daemon reads).
 */
import { mkdir } from 'node:fs/promises'
import { Daemon } from '@sedai/cli'
import { silentLogger } from '@sedai/core'
import { DEFAULTS } from './config.ts'
import type { DaemonConfig } from '@sedai/cli'
import type { GetOutcome, MemoryReport, PeerSpec, Request, SearchOutcome, StartedPeer } from './messages.ts'

const logger = silentLogger()
const peers = new Map<number, Daemon>()
/** lab peers keep few connections (the network's maxConnections, set by the runner) and no connection monitor (its pings are most of an idle lab's CPU) */
const nodeOptions = {
  maxConnections: Number(process.env.SEDAI_LAB_MAX_CONNECTIONS ?? DEFAULTS.maxConnections),
  connectionMonitor: false,
  allowLoopback: true,
  // a network's idleConnectionMs (experiment.ts): see CreateNodeInit.idleConnectionMs
  ...(process.env.SEDAI_LAB_IDLE_CONNECTION_MS !== undefined ? { idleConnectionMs: Number(process.env.SEDAI_LAB_IDLE_CONNECTION_MS) } : {})
}

function peer (index: number): Daemon {
  const d = peers.get(index)
  if (d === undefined) throw new Error(`peer ${index} is not running in this process`)
  return d
}

async function startPeer (spec: PeerSpec): Promise<StartedPeer> {
  if (peers.has(spec.index)) throw new Error(`peer ${spec.index} is already running in this process`)
  await mkdir(spec.repo, { recursive: true })
  const config: DaemonConfig = {
    repo: spec.repo,
    listen: [spec.listen],
    api: { host: '127.0.0.1', port: 0 },
    modes: spec.modes as DaemonConfig['modes'],
    bootstrap: spec.bootstrap,
    directory: spec.directory,
    faultCorrupt: 0,
    uploadRate: 0,
    role: spec.role ?? 'auto',
    interests: [],
    limitLoopback: false,
    mdns: false
  }
  const daemon = new Daemon(config, logger, { api: false, node: nodeOptions })
  try {
    await daemon.start(logger)
  } catch (err) {
    await daemon.shutdown('start failed').catch(() => {})
    throw err
  }
  peers.set(spec.index, daemon)
  const id = await daemon.id()
  return { index: spec.index, peerId: id.peerId, addrs: id.addrs }
}

async function search (index: number, query: string, ttl: number | undefined, timeoutMs: number): Promise<SearchOutcome> {
  const started = performance.now()
  let firstHitMs: number | undefined
  try {
    const res = await peer(index).search({ query, timeoutMs, ...(ttl !== undefined ? { ttl } : {}) }, () => {
      firstHitMs ??= performance.now() - started
    })
    const ms = performance.now() - started
    // a mode that answers all at once (directory) has its first hit when it returns
    if (res.results.length > 0) firstHitMs ??= ms
    return { hits: res.results.map(r => ({ cid: r.cid, providers: r.providers.length })), firstHitMs, ms }
  } catch (err: any) {
    return { hits: [], ms: performance.now() - started, error: err.message }
  }
}

async function get (index: number, cid: string, out: string, timeoutMs: number): Promise<GetOutcome> {
  const started = performance.now()
  try {
    await mkdir(out, { recursive: true })
    const res = await peer(index).get({ cid, out, timeoutMs }, () => {}, AbortSignal.timeout(timeoutMs))
    return { ms: performance.now() - started, bytes: res.fetched, sources: res.sources }
  } catch (err: any) {
    return { ms: performance.now() - started, bytes: 0, sources: [], error: err.message }
  }
}

/** Runs one command of the runner; 'shutdown' stops every daemon (the caller then exits). */
export async function handle (req: Request): Promise<unknown> {
  switch (req.op) {
    case 'start':
      // one at a time: dozens of daemons opening stores and listeners at once only queue behind each other
      return await (async () => { const out: StartedPeer[] = []; for (const spec of req.peers) out.push(await startPeer(spec)); return out })()
    case 'share': {
      const d = peer(req.index)
      const cids: string[] = []
      for (const path of req.paths) cids.push(((await d.share(path)) as { cid: string }).cid)
      return cids
    }
    case 'search':
      return await search(req.index, req.query, req.ttl, req.timeoutMs)
    case 'get':
      return await get(req.index, req.cid, req.out, req.timeoutMs)
    case 'stats': {
      const out: Record<number, Record<string, unknown>> = {}
      for (const i of req.indexes ?? [...peers.keys()]) {
        const d = peers.get(i)
        if (d !== undefined) out[i] = await d.stats()
      }
      return out
    }
    case 'overlay': {
      const out: Record<number, unknown> = {}
      for (const i of req.indexes ?? [...peers.keys()]) {
        const d = peers.get(i)
        if (d !== undefined) out[i] = await d.overlay()
      }
      return out
    }
    case 'stop': {
      const d = peers.get(req.index)
      peers.delete(req.index)
      await d?.shutdown('lab stop')
      return null
    }
    case 'memory': {
      const m = process.memoryUsage()
      return { rss: m.rss, heapUsed: m.heapUsed, peers: peers.size } satisfies MemoryReport
    }
    case 'shutdown':
      await Promise.allSettled([...peers.values()].map(async d => { await d.shutdown('lab shutdown') }))
      peers.clear()
      return null
    default:
      throw new Error(`unknown command ${(req as { op: string }).op}`)
  }
}
