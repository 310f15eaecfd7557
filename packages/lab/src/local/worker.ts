/**
 * A lab worker: one Node process that hosts many sedai daemons (the real
 * Daemon of @sedai/cli, with its store, transfer service and modes; no control
 * API) on 127.0.0.1, and runs the runner's commands on them. Packing peers
 * into a few processes is what lets a 2-core machine run hundreds of them.
 *
 * The generation's tunables come from this process's environment (the same
 * SEDAI_* knobs a daemon reads), set by the runner when it forks the worker.
 */
import { mkdir } from 'node:fs/promises'
import { Daemon } from '@sedai/cli'
import { silentLogger } from '@sedai/core'
import { DEFAULTS } from '../config.ts'
import type { DaemonConfig } from '@sedai/cli'
import type { Envelope, GetOutcome, MemoryReport, PeerSpec, Reply, Request, SearchOutcome, StartedPeer } from './messages.ts'

const logger = silentLogger()
const peers = new Map<number, Daemon>()
/** lab peers keep few connections (the network's maxConnections, set by the runner) and no connection monitor (its pings are most of an idle lab's CPU) */
const nodeOptions = {
  maxConnections: Number(process.env.SEDAI_LAB_MAX_CONNECTIONS ?? DEFAULTS.maxConnections),
  connectionMonitor: false,
  allowLoopback: true
}

function peer (index: number): Daemon {
  const d = peers.get(index)
  if (d === undefined) throw new Error(`peer ${index} is not running in this worker`)
  return d
}

async function startPeer (spec: PeerSpec): Promise<StartedPeer> {
  await mkdir(spec.repo, { recursive: true })
  const config: DaemonConfig = {
    repo: spec.repo,
    listen: [`/ip4/127.0.0.1/tcp/${spec.port}`],
    api: { host: '127.0.0.1', port: 0 },
    modes: spec.modes as DaemonConfig['modes'],
    bootstrap: spec.bootstrap,
    directory: spec.directory,
    faultCorrupt: 0,
    uploadRate: 0,
    role: spec.role ?? 'auto',
    interests: []
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
    // modes that answer all at once (directory, dht) have their first hit when they return
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

async function handle (req: Request): Promise<unknown> {
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
      setImmediate(() => process.exit(0))
      return null
    default:
      throw new Error(`unknown command ${(req as { op: string }).op}`)
  }
}

process.on('message', (msg: Envelope) => {
  handle(msg.req).then(
    (result) => { process.send?.({ id: msg.id, ok: true, result } satisfies Reply) },
    (err: any) => { process.send?.({ id: msg.id, ok: false, error: String(err?.message ?? err), code: err?.code } satisfies Reply) }
  )
})
// the runner gone = nothing left to do
process.on('disconnect', () => { process.exit(0) })
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies Reply)
