/**
 * An in-memory network for SupernodeService: real services, real framing,
 * codec, stores and caches; only libp2p's dial/handle are replaced. Used by
 * test/supernode.test.ts and by bench/clustering.ts (many nodes in one process).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ContentStore, Stats, silentLogger } from '@sedai/core'
import { ChunkCache } from '../../src/cache/cache.ts'
import { resolveConfig } from '../../src/config.ts'
import { SupernodeService } from '../../src/protocol/supernode.ts'
import type { SupernodeComponents } from '../../src/protocol/supernode.ts'
import type { SupernodeConfig } from '../../src/config.ts'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A peer id good enough for the in-memory net (only toString is used); `random` makes it repeatable. */
export function fakePeerId (random?: () => number): PeerId {
  const bytes = random === undefined ? [...randomBytes(44)] : Array.from({ length: 44 }, () => Math.floor(random() * 256))
  const id = '12D3KooW' + bytes.map(b => B58[b % 58]).join('')
  return { toString: () => id } as unknown as PeerId
}

function targetId (target: PeerId | Multiaddr | Multiaddr[]): string {
  const t = Array.isArray(target) ? target[0] : target
  const s = t.toString()
  return /\/p2p\/([^/]+)$/.exec(s)?.[1] ?? s
}

/** Peers that dial each other by /p2p/ address or peer id; handlers kept per (peer, protocol); each stream is a streamPair. */
export class MemoryNet {
  readonly handlers = new Map<string, StreamHandler>()
  readonly peers = new Map<string, PeerId>()

  /** A stream from `from` to `to`'s handler of `protocol` (the remote sees `from` as its remote peer). */
  async open (from: PeerId, to: string, protocol: string): Promise<Stream> {
    const handler = this.handlers.get(`${to} ${protocol}`)
    if (handler === undefined) throw new Error(`protocol ${protocol} not supported by ${to}`)
    const [local, far] = await streamPair({ protocol })
    void handler(far, { remotePeer: from } as unknown as Connection)
    return local
  }

  components (peerId: PeerId, port: number): SupernodeComponents {
    const self = peerId.toString()
    this.peers.set(self, peerId)
    return {
      peerId,
      handle: async (protocol, h) => { this.handlers.set(`${self} ${protocol}`, h) },
      unhandle: async (protocol) => { this.handlers.delete(`${self} ${protocol}`) },
      getMultiaddrs: () => [multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${self}`)],
      getPeers: () => [],
      dial: async (target) => {
        const remoteId = targetId(target)
        const remote = this.peers.get(remoteId)
        if (remote === undefined) throw new Error(`no peer ${remoteId}`)
        return {
          remotePeer: remote,
          newStream: async (protocol: string) => await this.open(peerId, remoteId, protocol)
        } as unknown as Connection
      },
      dialProtocol: async (target, protocols) => {
        const protocol = Array.isArray(protocols) ? protocols[0] : protocols
        return await this.open(peerId, targetId(target), protocol)
      }
    }
  }
}

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
