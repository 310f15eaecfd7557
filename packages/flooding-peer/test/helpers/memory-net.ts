/**
 * The in-memory network both overlay generations' tests run on (the flooding
 * tests, the supernode tests and their MemoryLab, test/overlay-rules.test.ts,
 * bench/clustering.ts): real services, real framing and codecs; only
 * libp2p's dial/handle are replaced. Each stream is a streamPair.
 */
import { randomBytes } from 'node:crypto'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { OverlayComponents } from '../../src/overlay/components.ts'
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

/** What a node on the net gets: an overlay service's components, plus what the supernode's role needs. */
export interface MemoryComponents extends OverlayComponents {
  dialProtocol: (target: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }) => Promise<Stream>
  getPeers: () => PeerId[]
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

  /** A node listening at /ip4/127.0.0.1/tcp/`port` (an address only: nothing listens). */
  components (peerId: PeerId, port: number): MemoryComponents {
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
