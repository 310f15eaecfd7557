/**
 * A lab of SupernodeService nodes on the overlays' in-memory network
 * (packages/flooding-peer/test/helpers/memory-net.ts): real services, real
 * framing, codec, stores and caches; only libp2p's dial/handle are replaced.
 * Used by test/supernode.test.ts and by bench/clustering.ts (many nodes in one process).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContentStore, Stats, silentLogger } from '@sedai/core'
import { MemoryNet, fakePeerId } from '../../../flooding-peer/test/helpers/memory-net.ts'
import { ChunkCache } from '../../src/cache/cache.ts'
import { resolveConfig } from '../../src/config.ts'
import { SupernodeService } from '../../src/protocol/supernode.ts'
import type { SupernodeConfig } from '../../src/config.ts'

export { MemoryNet, fakePeerId } from '../../../flooding-peer/test/helpers/memory-net.ts'

export interface MemoryNode {
  svc: SupernodeService
  stats: Stats
  store: ContentStore
  cache: ChunkCache
  peerId: string
  addr: string
}

export interface MemoryNodeOptions {
  role: 'super' | 'leaf'
  bootstrap?: MemoryNode[]
  /** bootstrap addresses besides the nodes (one that is not on the net is dialled in vain) */
  bootstrapAddrs?: string[]
  config?: Partial<SupernodeConfig>
  interests?: string[]
  faultCorrupt?: number
}

/** A temp root, an in-memory net and a factory of started nodes; `close` stops them all and removes the root. */
export class MemoryLab {
  readonly root: string
  readonly net = new MemoryNet()
  readonly nodes: MemoryNode[] = []
  private readonly defaults: Partial<SupernodeConfig>
  private readonly random?: () => number
  private port = 4000

  private constructor (root: string, defaults: Partial<SupernodeConfig>, random?: () => number) {
    this.root = root
    this.defaults = defaults
    this.random = random
  }

  /** `defaults` apply to every node (a node's own `config` on top); `random` makes the peer ids repeatable. */
  static async create (opts: { defaults?: Partial<SupernodeConfig>, random?: () => number, prefix?: string } = {}): Promise<MemoryLab> {
    const root = await mkdtemp(join(tmpdir(), opts.prefix ?? 'sedai-supernode-mem-'))
    return new MemoryLab(root, opts.defaults ?? {}, opts.random)
  }

  async node (o: MemoryNodeOptions): Promise<MemoryNode> {
    const i = this.nodes.length
    const peerId = fakePeerId(this.random)
    const p = this.port++
    const store = new ContentStore({ repo: join(this.root, `n${i}`, 'repo'), chunkSize: 16 * 1024, logger: silentLogger() })
    await store.start()
    const cache = await ChunkCache.open({ dir: join(this.root, `n${i}`, 'cache') })
    const stats = new Stats()
    const svc = new SupernodeService(this.net.components(peerId, p), {
      config: resolveConfig({ ...this.defaults, ...o.config }),
      stats,
      logger: silentLogger(),
      store,
      cache,
      role: o.role,
      interests: o.interests ?? [],
      bootstrap: [...(o.bootstrap ?? []).map(b => b.addr), ...(o.bootstrapAddrs ?? [])],
      uploadRate: 0,
      faultCorrupt: o.faultCorrupt ?? 0
    })
    const n: MemoryNode = { svc, stats, store, cache, peerId: peerId.toString(), addr: `/ip4/127.0.0.1/tcp/${p}/p2p/${peerId.toString()}` }
    this.nodes.push(n)
    await svc.start()
    return n
  }

  async close (): Promise<void> {
    await Promise.allSettled(this.nodes.map(async n => { await n.svc.stop() }))
    await Promise.allSettled(this.nodes.map(async n => { await n.cache.close() }))
    await Promise.allSettled(this.nodes.map(async n => { await n.store.stop() }))
    await rm(this.root, { recursive: true, force: true })
  }
}
