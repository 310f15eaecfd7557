/**
 * `sedai daemon --mdns` with the default mode, no --bootstrap: two daemons
 * on one LAN find each other, and one searches and fetches the other's file
 * through the DHT. On the host there is no multicast (it would leave the
 * machine), so a fake LAN stands in for mDNS inside this process; the docker
 * lab runs the real one between containers (scripts/compose-lab.sh, step 5).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { peerDiscoverySymbol } from '@libp2p/interface'
import { silentLogger } from '@sedai/core'
import { parseDaemonArgs } from '../src/args.ts'
import { Daemon } from '../src/daemon.ts'
import { sha256File, writeRandomFile } from '../../../test/helpers/files.ts'
import type { LanDiscoveryInit } from '@sedai/core'
import type { PeerDiscovery } from '@libp2p/interface'

type Components = Parameters<NonNullable<LanDiscoveryInit['discovery']>>[0]

/**
 * A LAN in one process: every member answers the others' questions every
 * `everyMs` with its addresses, as mDNS answers with a TXT record per address.
 */
class FakeLan {
  readonly everyMs: number
  private readonly members = new Set<Member>()
  constructor (everyMs: number) { this.everyMs = everyMs }
  discovery (): NonNullable<LanDiscoveryInit['discovery']> {
    return (components) => new Member(this, components) as unknown as PeerDiscovery
  }

  join (m: Member): void { this.members.add(m) }
  leave (m: Member): void { this.members.delete(m) }
  others (m: Member): Member[] { return [...this.members].filter(o => o !== m) }
}

class Member extends EventTarget {
  readonly [peerDiscoverySymbol] = this
  readonly components: Components
  private readonly lan: FakeLan
  private timer?: NodeJS.Timeout
  constructor (lan: FakeLan, components: Components) {
    super()
    this.lan = lan
    this.components = components
  }

  async start (): Promise<void> {
    this.lan.join(this)
    this.timer = setInterval(() => {
      for (const other of this.lan.others(this)) {
        const multiaddrs = other.components.addressManager.getAddresses().map(ma => ma.decapsulateCode(421))
        this.dispatchEvent(new CustomEvent('peer', { detail: { id: other.components.peerId, multiaddrs } }))
      }
    }, this.lan.everyMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.lan.leave(this)
  }
}

test('default mode + --mdns, no --bootstrap: two daemons on one LAN find each other; one searches and gets the other\'s file', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-lan-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const lan = new FakeLan(200)
  const start = async (name: string): Promise<Daemon> => {
    // what `sedai daemon --mdns` parses: no --mode, no --bootstrap
    const { json: _json, ...config } = parseDaemonArgs(['--repo', join(dir, name), '--listen', '/ip4/127.0.0.1/tcp/0', '--mdns'])
    assert.deepEqual(config.modes, ['dht'])
    assert.deepEqual(config.bootstrap, [])
    assert.equal(config.mdns, true)
    const daemon = new Daemon(config, silentLogger(), { api: false, node: { mdns: { discovery: lan.discovery() } } })
    t.after(async () => { await daemon.shutdown('test') })
    await daemon.start(silentLogger())
    return daemon
  }
  const a = await start('a')
  const b = await start('b')
  const idA = (await a.id()).peerId

  const file = join(dir, 'lan-party-playlist.bin')
  await writeRandomFile(file, 3 * 1024 * 1024 + 5)
  const shared = await a.share(file) as { cid: string }

  // A provides in the background once it has joined the DHT through B: search until B sees it
  const deadline = Date.now() + 90_000
  let results: Array<{ cid: string, providers: string[] }> = []
  while (Date.now() < deadline) {
    results = (await b.search({ query: 'playlist', timeoutMs: 3_000 })).results
    if (results.some(r => r.cid === shared.cid)) break
    await sleep(250)
  }
  assert.deepEqual(results.map(r => ({ cid: r.cid, providers: r.providers })), [{ cid: shared.cid, providers: [idA] }])
  const stats = await b.stats() as { mdns: { found: number }, dht: { routingTable: number } }
  assert.equal(stats.mdns.found, 1)

  const out = join(dir, 'got.bin')
  const got = await b.get({ cid: shared.cid, out }, () => {}, new AbortController().signal)
  assert.deepEqual(got.sources, [idA])
  assert.equal(await sha256File(out), await sha256File(file))
})
