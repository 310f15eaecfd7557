/**
 * The link rules both overlay generations share (packages/flooding-peer/src/overlay/),
 * each test run against the flooding service and the supernode service alike:
 * the duplicate-link tie-break, the bootstrap backoff, and the ban of a
 * neighbour that floods queries. In-memory stream pairs (the overlays'
 * MemoryNet, packages/flooding-peer/test/helpers/memory-net.ts, under the
 * supernode package's MemoryLab), real services.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { FramedStream, Stats, silentLogger } from '@sedai/core'
import { ByeCode, FLOOD_PROTOCOL, FloodService, MAX_FRAME_BYTES, MessageType, decodeMessage, encodePing, encodeQuery, resolveConfig } from '@sedai/flooding-peer'
import { Role, SUPERNODE_PROTOCOL, SuperType, Want, encodeHello, decodeMessage as decodeSuper } from '@sedai/supernode-cache-peer'
import { MemoryLab, fakePeerId } from '../packages/supernode-cache-peer/test/helpers/memory-net.ts'
import type { FloodConfig, Neighbour } from '@sedai/flooding-peer'
import type { SupernodeConfig } from '@sedai/supernode-cache-peer'
import type { SupernodeComponents } from '../packages/supernode-cache-peer/src/protocol/supernode.ts'
import type { PeerId } from '@libp2p/interface'
import type { TestContext } from 'node:test'

type Dial = SupernodeComponents['dial']

/** The config both generations take (the overlay layer's knobs have the same names in both). */
type Knobs = Partial<FloodConfig> & Partial<SupernodeConfig>

interface OverlayNode {
  peerId: string
  addr: string
  stats: Stats
  /** links to `other` (supernode: as supernode peers) */
  connect: (other: OverlayNode) => Promise<string>
  /** the neighbour of a link to `peer` that has finished its handshake */
  upLink: (peer: string) => Neighbour | undefined
  banned: () => string[]
}

interface Generation {
  name: 'flood' | 'supernode'
  /** counters are `${stats}.x` */
  stats: string
  /** a started node; `wrapDial` sees every dial it makes */
  node: (t: TestContext, lab: MemoryLab, knobs: Knobs, opts?: { bootstrap?: string[], wrapDial?: (dial: Dial) => Dial }) => Promise<OverlayNode>
  /** a hand-made link from `id` to `to`, through its handshake: QUERYs on it are handled */
  rogue: (lab: MemoryLab, id: PeerId, to: OverlayNode) => Promise<FramedStream>
}

/** Components of the next node MemoryLab makes, with its dial wrapped. */
function hookDial (lab: MemoryLab, wrapDial?: (dial: Dial) => Dial): void {
  if (wrapDial === undefined) return
  const components = lab.net.components.bind(lab.net)
  lab.net.components = (peerId, port) => {
    lab.net.components = components
    const c = components(peerId, port)
    return { ...c, dial: wrapDial(c.dial) }
  }
}

let port = 6000
const GENERATIONS: Generation[] = [
  {
    name: 'flood',
    stats: 'flood',
    node: async (t, lab, knobs, opts = {}) => {
      hookDial(lab, opts.wrapDial)
      const peerId = fakePeerId()
      const p = port++
      const stats = new Stats()
      const svc = new FloodService(lab.net.components(peerId, p), {
        config: resolveConfig({ minNeighbours: 0, maintainIntervalMs: 50, ...knobs as Partial<FloodConfig> }),
        stats,
        logger: silentLogger(),
        files: () => [],
        bootstrap: opts.bootstrap
      })
      await svc.start()
      t.after(async () => { await svc.stop() })
      const addr = `/ip4/127.0.0.1/tcp/${p}/p2p/${peerId.toString()}`
      return {
        peerId: peerId.toString(),
        addr,
        stats,
        connect: async other => await svc.connect(multiaddr(other.addr)),
        upLink: peer => (svc as any).links.get(peer),
        banned: () => svc.snapshot().banned as string[]
      }
    },
    rogue: async (lab, id, to) => {
      const framed = new FramedStream(await lab.net.open(id, to.peerId, FLOOD_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
      await framed.write(encodePing(1))
      return framed
    }
  },
  {
    name: 'supernode',
    stats: 'supernode',
    node: async (t, lab, knobs, opts = {}) => {
      hookDial(lab, opts.wrapDial)
      const node = await lab.node({ role: 'super', config: { minPeers: 0, ...knobs as Partial<SupernodeConfig> }, bootstrapAddrs: opts.bootstrap })
      return {
        peerId: node.peerId,
        addr: node.addr,
        stats: node.stats,
        connect: async other => await node.svc.connect(multiaddr(other.addr), Want.PEER),
        upLink: peer => {
          const link = (node.svc as any).links.get(peer)
          return link !== undefined && link.kind !== 'pending' ? link.neighbour : undefined
        },
        banned: () => node.svc.snapshot().banned as string[]
      }
    },
    rogue: async (lab, id, to) => {
      const framed = new FramedStream(await lab.net.open(id, to.peerId, SUPERNODE_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
      const status = { role: Role.LEAF, score: 0.1, leaves: 0, maxLeaves: 0, entry: { peerId: id.toString(), addrs: ['/ip4/127.0.0.1/tcp/1'] }, interests: [], supers: [] }
      await framed.write(encodeHello(Want.LEAF, status))
      const welcome = decodeSuper(await framed.read() as Uint8Array)
      assert.equal(welcome.type, SuperType.WELCOME)
      return framed
    }
  }
]

async function lab (t: TestContext): Promise<MemoryLab> {
  const l = await MemoryLab.create({ defaults: { maintainIntervalMs: 50, electionIntervalMs: 50, connectTimeoutMs: 3000 }, prefix: 'sedai-overlay-rules-' })
  t.after(async () => { await l.close() })
  return l
}

async function until (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(10)
  }
}

/** Reads until BYE; its code. */
async function byeCode (framed: FramedStream): Promise<number | undefined> {
  for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
    const m = decodeMessage(f)
    if (m.type === MessageType.BYE) return m.code
  }
  return undefined
}

for (const gen of GENERATIONS) {
  test(`${gen.name}: two peers dialling each other at once keep one link, the one the smaller peer id dialled`, async (t) => {
    const l = await lab(t)
    // both dials resolve together: each side passes its "already linked?" check before either stream exists
    let release!: () => void
    const both = new Promise<void>(resolve => { release = resolve })
    let waiting = 0
    const together = (dial: Dial): Dial => async (target, options) => {
      if (++waiting === 2) release()
      await both
      return await dial(target, options)
    }
    const a = await gen.node(t, l, {}, { wrapDial: together })
    const b = await gen.node(t, l, {}, { wrapDial: together })
    await Promise.allSettled([a.connect(b), b.connect(a)])
    await until(() => a.upLink(b.peerId) !== undefined && b.upLink(a.peerId) !== undefined)
    await sleep(200) // the losing link's BYE DUPLICATE has crossed
    const [small, large] = a.peerId < b.peerId ? [a, b] : [b, a]
    assert.equal(small.upLink(large.peerId)?.outbound, true, 'the smaller id keeps the link it dialled')
    assert.equal(large.upLink(small.peerId)?.outbound, false, 'the larger id keeps the same link, inbound')
    assert.ok(!small.upLink(large.peerId)?.isClosing && !large.upLink(small.peerId)?.isClosing, 'and it is up')
  })

  test(`${gen.name}: a bootstrap peer that is not there is retried after 250 ms, then half as long again each time`, async (t) => {
    const l = await lab(t)
    const attempts: number[] = []
    const counted = (dial: Dial): Dial => async (target, options) => {
      attempts.push(performance.now())
      return await dial(target, options)
    }
    await gen.node(t, l, { maintainIntervalMs: 10, electionIntervalMs: 10, minPeers: 1 }, { bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${fakePeerId().toString()}`], wrapDial: counted })
    await until(() => attempts.length >= 5, 6000)
    const gaps = attempts.slice(1, 5).map((at, i) => at - attempts[i])
    for (const [i, expected] of [250, 375, 562.5, 843.75].entries()) {
      assert.ok(gaps[i] >= expected - 1 && gaps[i] < expected + 250, `retry ${i + 1} after ${Math.round(gaps[i])} ms, expected ${expected}`)
    }
  })

  test(`${gen.name}: a neighbour flooding queries is dropped with BYE FLOODING and banned; its next link gets BYE BANNED`, async (t) => {
    const l = await lab(t)
    const a = await gen.node(t, l, { queryRatePerSec: 1, queryBurst: 2, maxThrottledPerWindow: 3 })
    const hostile = fakePeerId()
    const framed = await gen.rogue(l, hostile, a)
    for (let i = 0; i < 10; i++) await framed.write(encodeQuery({ id: randomBytes(16), ttl: 3, hops: 0, text: 'spam' }))
    assert.equal(await byeCode(framed), ByeCode.FLOODING)
    assert.equal(a.stats.get(`${gen.stats}.neighboursDroppedForFlooding`), 1)
    assert.deepEqual(a.banned(), [hostile.toString()])
    const again = new FramedStream(await l.net.open(hostile, a.peerId, gen.name === 'flood' ? FLOOD_PROTOCOL : SUPERNODE_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
    assert.equal(await byeCode(again), ByeCode.BANNED)
    assert.equal(a.stats.get(`${gen.stats}.refused.BANNED`), 1)
  })
}
