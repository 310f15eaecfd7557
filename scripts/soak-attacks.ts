/**
 * The hostile side of the soak (scripts/soak.ts): raw libp2p nodes in the
 * soak process that speak sedai's protocols badly on purpose. Each attack
 * runs as its own loop at a modest, steady rate (the soak is about staying
 * healthy for a long time under mixed pressure, not about peak load), and
 * counts what it did and how the daemons answered.
 *
 *   fuzz      mutated frames (test/fuzz/mutator.ts over the golden fixtures)
 *             on /sedai/directory, /sedai/flood and /sedai/transfer
 *   oversized a length prefix above the protocol's frame limit: the daemon
 *             must close the stream at once
 *   withheld  a prefix announcing bytes that never come: the daemon must
 *             reap the stream at its idle deadline
 *   idle      a pool of streams opened and left silent (refilled as the
 *             daemons reap them)
 *   churn     dial, complete Noise + yamux, hang up, in a loop
 *   search    bursts of pipelined directory SEARCH as fast as the server reads
 *             them (it throttles per peer)
 *   query     bursts of flood QUERY at several times the per-neighbour limit,
 *             from a fresh identity each burst (the daemon bans the last one)
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import { createNode, frame, TRANSFER_PROTOCOL } from '@sedai/core'
import type { SedaiLibp2p } from '@sedai/core'
import type { Stream } from '@libp2p/interface'
import { DIRECTORY_PROTOCOL } from '../packages/directory-server/src/constants.ts'
import { DIRECTORY_DEFAULTS } from '../packages/directory-server/src/config.ts'
import { FLOOD_PROTOCOL, MAX_FRAME_BYTES as FLOOD_MAX_FRAME_BYTES } from '../packages/flooding-peer/src/protocol/constants.ts'
import { encodeQuery } from '../packages/flooding-peer/src/protocol/messages.ts'
import { MAX_REQUEST_FRAME_BYTES } from '../packages/core/src/transfer/constants.ts'
import { encodeChunkRequest, encodeOpen } from '../packages/core/src/transfer/messages.ts'
import { mutate, Rng } from '../test/fuzz/mutator.ts'

/** Where each attack aims: multiaddr strings ending in /p2p/<id>. */
export interface AttackTargets {
  /** directory servers (directory fuzz, SEARCH floods, idle sessions) */
  directory: string[]
  /** flooding peers (flood fuzz, QUERY floods, idle links) */
  flood: string[]
  /** any daemon (transfer fuzz, idle transfer streams) */
  transfer: string[]
  /** connection churn */
  churn: string[]
}

export interface AttackInit {
  targets: AttackTargets
  /** CIDs (strings) and search words of files really shared now, so mutations start from valid requests */
  live: () => { cids: string[], words: string[] }
  seed?: number
  /** attack kinds left out (to find which one hurts): any of ATTACK_KINDS */
  skip?: string[]
}

export const ATTACK_KINDS = ['fuzz', 'prefix', 'idle', 'churn', 'search', 'query'] as const

/** Everything counted; the soak prints these and fails when a kind never ran. */
export interface AttackCounts {
  fuzzStreams: number
  fuzzFrames: number
  fuzzReplyBytes: number
  /** fuzz streams the daemon closed or reset before we did (an invalid frame ends a session) */
  fuzzClosedByDaemon: number
  oversized: number
  /** ... of which the daemon closed within OVERSIZED_DEADLINE_MS */
  oversizedClosed: number
  /** the oversized-prefix streams left open: which protocol, which daemon, and whether our write went out */
  oversizedOpen: string[]
  withheld: number
  /** ... of which the daemon reaped before WITHHELD_HOLD_MS; `withheldOpen` were still held when we gave up or the soak ended */
  withheldReaped: number
  withheldGaveUp: number
  /** slowest reaping seen (ms) */
  withheldReapMaxMs: number
  /** idle streams that stayed open (over 2 s), refused (ended by the daemon within 2 s, or not opened at all), and reaped later by the daemon */
  idleOpened: number
  idleRefused: number
  idleReaped: number
  churnConnections: number
  churnFailures: number
  searchBursts: number
  searchSent: number
  searchOk: number
  searchRateLimited: number
  searchOther: number
  queryBursts: number
  queriesSent: number
  /** bursts that ended with the daemon's BYE FLOODING (code 3): the ban worked */
  queryBans: number
  /** attack steps that failed on our side (dial refused, stream reset while opening ...) */
  errors: number
}

/** The daemon must close a stream with an oversized prefix within this (ms). */
export const OVERSIZED_DEADLINE_MS = 5_000
/** A withheld frame is held this long at most (ms): above every daemon idle deadline (transfer 30 s, flood 45 s, directory 60 s). */
export const WITHHELD_HOLD_MS = 75_000
/** Idle streams kept open at once, spread over the targets, and the most opened per 5 s turn. */
export const IDLE_POOL = 48
export const IDLE_BATCH = 12

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.trim(), 'hex'))
const json = (path: string): any => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'))

// the golden messages the daemons' own tests use: mutations of them reach past the first checks
const TRANSFER_SEEDS = Object.values(json('../packages/core/test/fixtures/transfer-messages.json') as Record<string, string>).map(hex)
const FLOOD_SEEDS = Object.values(json('../packages/flooding-peer/test/fixtures/flood-messages.json') as Record<string, string>).map(hex)
const DIRECTORY_SEEDS = (json('../packages/directory-server/test/fixtures/directory-messages.json') as Array<{ text: string, request: boolean }>)
  .filter(m => m.request).map(m => new TextEncoder().encode(m.text))

/** Streams we closed or reset ourselves: their end is not the daemon's doing. */
const endedByUs = new WeakSet<Stream>()

function abort (stream: Stream, why: string): void {
  endedByUs.add(stream)
  stream.abort(new Error(why))
}

async function close (stream: Stream): Promise<void> {
  endedByUs.add(stream)
  await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => { stream.abort(new Error('close timed out')) })
}

interface Probe {
  /** set when the daemon ended its side (close, reset, or end of its writes) */
  endedAt?: number
  bytes: number
  ended: Promise<void>
}

/** Watches a stream: counts what the daemon sends, notes when it ends its side. */
function probe (stream: Stream, onFrame?: (body: Uint8Array) => void): Probe {
  let resolve!: () => void
  const p: Probe = { bytes: 0, ended: new Promise(r => { resolve = r }) }
  const buffer = new Uint8ArrayList()
  const end = (): void => {
    if (p.endedAt !== undefined || endedByUs.has(stream)) return
    p.endedAt = performance.now()
    resolve()
  }
  stream.addEventListener('message', (ev: any) => {
    const data = ev.data as Uint8Array | { byteLength: number, subarray: () => Uint8Array }
    p.bytes += data.byteLength
    if (onFrame === undefined) return
    buffer.append(data instanceof Uint8Array ? data : data.subarray())
    while (buffer.byteLength >= 4) {
      const n = buffer.getUint32(0)
      if (buffer.byteLength < 4 + n) break
      const body = buffer.subarray(4, 4 + n)
      buffer.consume(4 + n)
      onFrame(body)
    }
  })
  stream.addEventListener('remoteCloseWrite', end)
  stream.addEventListener('close', end)
  // a stream the daemon refused (over a per-connection stream limit) can be
  // reset before we get to listen: its 'close' event has been and gone
  if (stream.status !== 'open' || stream.readStatus === 'closing' || stream.readStatus === 'closed') end()
  return p
}

/** Writes whole bytes (sedai's frame() builds a Uint8ArrayList of another copy of the package: flattened here). */
async function send (stream: Stream, data: Uint8Array | { subarray: () => Uint8Array }): Promise<void> {
  if (!stream.send(data instanceof Uint8Array ? data : data.subarray())) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
}

function pick<T> (rng: Rng, list: T[]): T {
  return list[rng.int(list.length)]
}

const WORDS = ['soak', 'alpha', 'bin', 'music', 'photo', 'movie', 'dat', 'report', 'ピア', 'the', 'a']

export class Attacks {
  readonly counts: AttackCounts = {
    fuzzStreams: 0, fuzzFrames: 0, fuzzReplyBytes: 0, fuzzClosedByDaemon: 0,
    oversized: 0, oversizedClosed: 0, oversizedOpen: [],
    withheld: 0, withheldReaped: 0, withheldGaveUp: 0, withheldReapMaxMs: 0,
    idleOpened: 0, idleRefused: 0, idleReaped: 0,
    churnConnections: 0, churnFailures: 0,
    searchBursts: 0, searchSent: 0, searchOk: 0, searchRateLimited: 0, searchOther: 0,
    queryBursts: 0, queriesSent: 0, queryBans: 0,
    errors: 0
  }

  /** distinct error messages of our own failed steps, for the report */
  readonly errorKinds = new Map<string, number>()
  private readonly init: AttackInit
  private readonly rng: Rng
  private running = false
  private readonly loops: Array<Promise<void>> = []
  private readonly nodes = new Set<SedaiLibp2p>()
  private readonly streams = new Set<Stream>()
  private readonly withheldPending = new Set<Promise<void>>()
  private stopped!: () => void
  /** settles when stop() begins: held streams let go then */
  private readonly stopping = new Promise<void>(resolve => { this.stopped = resolve })

  constructor (init: AttackInit) {
    this.init = init
    this.rng = new Rng(init.seed ?? (Date.now() & 0x7fffffff))
  }

  private async node (): Promise<SedaiLibp2p> {
    // no listen address: an attacker is only ever the dialer
    const n = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    this.nodes.add(n)
    return n
  }

  private async dropNode (n: SedaiLibp2p): Promise<void> {
    this.nodes.delete(n)
    try { await n.stop() } catch {}
  }

  private failed (err: any): void {
    this.counts.errors++
    const kind = String(err?.message ?? err).replace(/[0-9a-zA-Z]{40,}/g, '…').slice(0, 120)
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1)
  }

  private async open (n: SedaiLibp2p, addr: string, protocol: string): Promise<Stream> {
    const conn = await n.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
    const stream = await conn.newStream(protocol, { signal: AbortSignal.timeout(10_000) })
    this.streams.add(stream)
    stream.addEventListener('close', () => { this.streams.delete(stream) })
    return stream
  }

  /** A loop running `step` every `everyMs` (steps never overlap) until stop(), its first step after `delayMs`. */
  private every (everyMs: number, step: () => Promise<void>, delayMs = 0): void {
    this.loops.push((async () => {
      await Promise.race([sleep(delayMs), this.stopping])
      while (this.running) {
        const started = performance.now()
        try { await step() } catch (err) { this.failed(err) }
        const left = everyMs - (performance.now() - started)
        if (left > 0 && this.running) await sleep(left)
      }
    })())
  }

  async start (): Promise<void> {
    this.running = true
    const [fuzzer, idler, churner, searcher] = await Promise.all([this.node(), this.node(), this.node(), this.node()])
    // staggered starts: the soak measures the daemons under steady pressure, not one spike of everything at once
    const on = (kind: string): boolean => !(this.init.skip ?? []).includes(kind)
    if (on('fuzz')) this.every(300, async () => { await this.fuzz(fuzzer) })
    if (on('prefix')) this.every(2_500, async () => { await this.prefix(fuzzer) }, 1_000)
    if (on('idle')) this.every(5_000, async () => { await this.idle(idler) }, 2_000)
    if (on('churn')) this.every(200, async () => { await this.churn(churner) }, 3_000)
    if (on('search')) this.every(15_000, async () => { await this.searchFlood(searcher) }, 5_000)
    if (on('query')) this.every(15_000, async () => { await this.queryFlood() }, 10_000)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopped()
    await Promise.race([Promise.allSettled(this.loops), sleep(20_000)])
    for (const s of this.streams) abort(s, 'soak over')
    await Promise.race([Promise.allSettled(this.withheldPending), sleep(2_000)])
    await Promise.allSettled([...this.nodes].map(async n => { await this.dropNode(n) }))
  }

  // ---- fuzz ------------------------------------------------------------------

  private seeds (protocol: string): { seeds: Uint8Array[], max: number } {
    const { cids, words } = this.init.live()
    const word = (): string => words.length > 0 && this.rng.int(2) === 0 ? pick(this.rng, words) : pick(this.rng, WORDS)
    if (protocol === DIRECTORY_PROTOCOL) {
      const extra = [
        new TextEncoder().encode(JSON.stringify({ type: 'SEARCH', id: this.rng.int(1e6), q: word(), max: 100 })),
        ...(cids.length > 0 ? [new TextEncoder().encode(JSON.stringify({ type: 'LOOKUP', id: 7, cid: pick(this.rng, cids) }))] : [])
      ]
      return { seeds: [...DIRECTORY_SEEDS, ...extra], max: DIRECTORY_DEFAULTS.maxRequestFrameBytes }
    }
    if (protocol === FLOOD_PROTOCOL) {
      return { seeds: [...FLOOD_SEEDS, encodeQuery({ id: randomBytes(16), ttl: 3, hops: 0, text: word() })], max: FLOOD_MAX_FRAME_BYTES }
    }
    const opens = cids.length > 0 ? [concat(encodeOpen({ cid: CID.parse(pick(this.rng, cids)).bytes, wantManifest: this.rng.int(2) === 0 }))] : []
    return { seeds: [...TRANSFER_SEEDS, ...opens, concat(encodeChunkRequest(this.rng.int(4)))], max: MAX_REQUEST_FRAME_BYTES }
  }

  private target (): { addr: string, protocol: string } {
    const { directory, flood, transfer } = this.init.targets
    const choices = [
      ...directory.map(addr => ({ addr, protocol: DIRECTORY_PROTOCOL })),
      ...flood.map(addr => ({ addr, protocol: FLOOD_PROTOCOL })),
      ...transfer.map(addr => ({ addr, protocol: TRANSFER_PROTOCOL }))
    ]
    return pick(this.rng, choices)
  }

  /** One stream of 1-20 mutated frames (a fifth with the length prefix itself mutated). */
  private async fuzz (n: SedaiLibp2p): Promise<void> {
    const { addr, protocol } = this.target()
    const { seeds } = this.seeds(protocol)
    const stream = await this.open(n, addr, protocol)
    this.counts.fuzzStreams++
    const watch = probe(stream)
    // transfer opens must come first to reach the chunk path: start with a valid one half the time
    const frames = 1 + this.rng.int(20)
    try {
      for (let i = 0; i < frames && watch.endedAt === undefined; i++) {
        const body = i === 0 && this.rng.int(2) === 0 ? seeds[seeds.length - 2] ?? seeds[0] : mutate(this.rng, pick(this.rng, seeds), seeds)
        const wire = this.rng.int(5) === 0 ? mutate(this.rng, frame(body).subarray(), seeds) : frame(body)
        await send(stream, wire)
        this.counts.fuzzFrames++
      }
      await Promise.race([watch.ended, sleep(300)])
    } catch {
      // the daemon ended the stream while we wrote: that is an answer, not our failure
    } finally {
      this.counts.fuzzReplyBytes += watch.bytes
      if (watch.endedAt !== undefined) this.counts.fuzzClosedByDaemon++
      if (this.rng.int(3) === 0) abort(stream, 'fuzz: abort'); else await close(stream)
    }
  }

  // ---- length prefixes -------------------------------------------------------

  /** Alternately an oversized prefix (must be closed at once) and a withheld frame (must be reaped at the idle deadline). */
  private async prefix (n: SedaiLibp2p): Promise<void> {
    const { addr, protocol } = this.target()
    const { max } = this.seeds(protocol)
    const stream = await this.open(n, addr, protocol)
    const watch = probe(stream)
    const started = performance.now()
    const header = new Uint8Array(4)
    if ((this.counts.oversized + this.counts.withheld) % 2 === 0) {
      this.counts.oversized++
      new DataView(header.buffer).setUint32(0, this.rng.int(2) === 0 ? 0xffffffff : max + 1)
      let wrote = 'sent'
      await send(stream, new Uint8ArrayList(header, randomBytes(16))).catch((err: Error) => { wrote = `send failed: ${err.message}` })
      await Promise.race([watch.ended, sleep(OVERSIZED_DEADLINE_MS)])
      if (watch.endedAt !== undefined) this.counts.oversizedClosed++
      else this.counts.oversizedOpen.push(`${protocol} to ${addr}: ${wrote}, stream ${stream.status}/${stream.readStatus}/${stream.writeStatus}, prefix ${new DataView(header.buffer).getUint32(0)}`)
      abort(stream, 'oversized: done')
      return
    }
    this.counts.withheld++
    // a frame within the limit, of which only the first bytes ever come
    new DataView(header.buffer).setUint32(0, Math.min(max, 100))
    await send(stream, new Uint8ArrayList(header, randomBytes(10))).catch(() => {})
    // held in the background: the loop goes on meanwhile
    const held = (async () => {
      await Promise.race([watch.ended, sleep(WITHHELD_HOLD_MS), this.stopping])
      if (watch.endedAt !== undefined) {
        this.counts.withheldReaped++
        this.counts.withheldReapMaxMs = Math.max(this.counts.withheldReapMaxMs, Math.round(watch.endedAt - started))
      } else if (this.running) {
        this.counts.withheldGaveUp++
      } else {
        this.withheldOpenAtEnd++
      }
      abort(stream, 'withheld: done')
    })()
    this.withheldPending.add(held)
    void held.finally(() => this.withheldPending.delete(held))
  }

  /** Withheld streams still within their hold when the soak ended (neither reaped nor given up on). */
  withheldOpenAtEnd = 0

  // ---- idle streams ----------------------------------------------------------

  private idleOpen = 0
  private idleNext = 0

  /** Refills the pool of silent streams: transfer streams to every daemon target, directory sessions, flood links. */
  private async idle (n: SedaiLibp2p): Promise<void> {
    const { directory, flood, transfer } = this.init.targets
    const slots = [
      ...transfer.map(addr => ({ addr, protocol: TRANSFER_PROTOCOL })),
      ...directory.map(addr => ({ addr, protocol: DIRECTORY_PROTOCOL })),
      ...flood.map(addr => ({ addr, protocol: FLOOD_PROTOCOL }))
    ]
    // at most IDLE_BATCH per turn: the pool fills (and refills) over several turns rather than in one burst
    for (let i = 0; this.idleOpen < IDLE_POOL && this.running && i < IDLE_BATCH; i++) {
      const { addr, protocol } = slots[this.idleNext++ % slots.length]
      let stream: Stream
      try {
        stream = await this.open(n, addr, protocol)
      } catch {
        // over the daemon's per-connection stream limit (or it is busy): refused is the right answer
        this.counts.idleRefused++
        continue
      }
      this.idleOpen++
      const opened = performance.now()
      const watch = probe(stream)
      void watch.ended.then(() => {
        this.idleOpen--
        // a stream ended within 2 s was refused (over the per-connection limit, a duplicate flood link), not reaped
        if (this.running) {
          if ((watch.endedAt ?? 0) - opened < 2_000) this.counts.idleRefused++
          else this.counts.idleReaped++
        }
        abort(stream, 'idle: ended')
      })
      // counted once it has stayed open a moment: the refusals above are not "opened"
      void Promise.race([watch.ended, sleep(2_000)]).then(() => { if (watch.endedAt === undefined || watch.endedAt - opened >= 2_000) this.counts.idleOpened++ })
    }
  }

  // ---- connection churn ------------------------------------------------------

  private async churn (n: SedaiLibp2p): Promise<void> {
    const addr = pick(this.rng, this.init.targets.churn)
    try {
      const conn = await n.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
      this.counts.churnConnections++
      // half hang up politely, half just drop the connection
      if (this.rng.int(2) === 0) await conn.close({ signal: AbortSignal.timeout(2_000) }).catch(() => { conn.abort(new Error('churn')) })
      else conn.abort(new Error('churn'))
    } catch {
      this.counts.churnFailures++
    }
  }

  // ---- SEARCH / QUERY floods -------------------------------------------------

  /** 4 s of pipelined SEARCH on one session, at most 64 unanswered; the server's throttle decides the pace. */
  private async searchFlood (n: SedaiLibp2p): Promise<void> {
    const addr = pick(this.rng, this.init.targets.directory)
    const stream = await this.open(n, addr, DIRECTORY_PROTOCOL)
    this.counts.searchBursts++
    let outstanding = 0
    let wake: (() => void) | undefined
    const watch = probe(stream, (body) => {
      outstanding--
      wake?.()
      try {
        const reply = JSON.parse(new TextDecoder().decode(body))
        if (reply.status === 0) this.counts.searchOk++
        else if (reply.status === 3) this.counts.searchRateLimited++
        else this.counts.searchOther++
      } catch { this.counts.searchOther++ }
    })
    const { words } = this.init.live()
    const until = performance.now() + 4_000
    try {
      for (let id = 1; performance.now() < until && watch.endedAt === undefined && this.running; id++) {
        if (outstanding >= 64) {
          await Promise.race([new Promise<void>(r => { wake = r }), sleep(250)])
          continue
        }
        const q = words.length > 0 && id % 3 === 0 ? pick(this.rng, words) : `${pick(this.rng, WORDS)} ${this.rng.int(1000)}`
        await send(stream, frame(new TextEncoder().encode(JSON.stringify({ type: 'SEARCH', id, q }))))
        outstanding++
        this.counts.searchSent++
      }
      await Promise.race([watch.ended, sleep(1_000)])
    } finally {
      abort(stream, 'search flood: done')
    }
  }

  /**
   * 4 s of flood QUERY at up to ~600/s (twelve times the per-neighbour limit)
   * from a new identity: the daemon throttles, and bans the link once more
   * than 500 are dropped within 5 s (so only a sender above ~150/s is banned).
   */
  private async queryFlood (): Promise<void> {
    const n = await this.node()
    try {
      const addr = pick(this.rng, this.init.targets.flood)
      const stream = await this.open(n, addr, FLOOD_PROTOCOL)
      this.counts.queryBursts++
      let banned = false
      const watch = probe(stream, (body) => {
        // BYE [5][code]: 3 = FLOODING
        if (body[0] === 5 && body[1] === 3) banned = true
      })
      const { words } = this.init.live()
      const until = performance.now() + 4_000
      try {
        while (performance.now() < until && watch.endedAt === undefined && this.running) {
          // 60 queries per send: one yamux/Noise frame for many, so this process keeps up the rate on a busy machine
          const batch = new Uint8ArrayList()
          for (let i = 0; i < 60; i++) {
            const text = words.length > 0 && this.rng.int(4) === 0 ? pick(this.rng, words) : `${pick(this.rng, WORDS)}${this.rng.int(1e6)}`
            batch.append(frame(encodeQuery({ id: randomBytes(16), ttl: 3, hops: 0, text })).subarray())
          }
          await send(stream, batch)
          this.counts.queriesSent += 60
          await sleep(100)
        }
        await Promise.race([watch.ended, sleep(2_000)])
      } catch {
        // the daemon cut the link mid-burst: the BYE (if any) was counted
      } finally {
        if (banned) this.counts.queryBans++
        abort(stream, 'query flood: done')
      }
    } finally {
      await this.dropNode(n)
    }
  }
}

function concat (parts: Uint8Array[]): Uint8Array {
  return new Uint8ArrayList(...parts).subarray()
}
