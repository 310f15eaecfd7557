/**
 * Resource limits on the wire, against real `sedai` daemons on 127.0.0.1: a
 * list field of 10^6 elements, 10,000 streams on one connection and 2,000
 * connection attempts in 10 s. Each test checks that the daemon's tables stay
 * under their caps (docs/RELIABILITY.md "Limits") and that an honest peer is
 * still answered meanwhile, and prints its figures (t.diagnostic).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULTS, FramedStream, TRANSFER_PROTOCOL, createNode } from '@sedai/core'
import { DIRECTORY_DEFAULTS, DIRECTORY_PROTOCOL, Status, decodeReply } from '@sedai/directory-server'
import { FLOOD_PROTOCOL } from '../packages/flooding-peer/src/protocol/constants.ts'
import { startDaemon, until } from './helpers/testnet.ts'
import { writeRandomFile } from './helpers/files.ts'
import type { TestDaemon } from './helpers/testnet.ts'
import type { Stream } from '@libp2p/interface'
import type { TestContext } from 'node:test'

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-limits-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** GET on a daemon's control API from this process (cheaper than a CLI process while polling). */
async function stats (d: TestDaemon): Promise<any> {
  const { url, token } = JSON.parse(await readFile(join(d.repo, 'api'), 'utf8'))
  const res = await fetch(`${url}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) })
  return await res.json()
}

/** An attacker: a plain libp2p node of this process (loopback allow-listed on its side only). */
async function attacker (t: TestContext): Promise<Awaited<ReturnType<typeof createNode>>> {
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [], connectionMonitor: false })
  t.after(async () => { await node.stop() })
  return node
}

/** A daemon's TCP port on 127.0.0.1. */
const tcpPort = (d: TestDaemon): number => Number(/\/tcp\/(\d+)/.exec(d.addrs[0])?.[1])

test('a list field of 10^6 elements: refused by the frame limit, a dense one within it by the count limit; the server keeps answering', async (t) => {
  const dir = await workdir(t)
  const server = await startDaemon(t, { args: ['--mode', 'directory-server'] })
  const serverAddr = server.addrs[0]
  const peer = await startDaemon(t, { args: ['--mode', 'directory', '--directory', serverAddr] })
  const src = join(dir, 'honest list.bin')
  await writeRandomFile(src, 4096)
  assert.equal((await peer.cli(['share', src])).code, 0)

  const a = await attacker(t)
  const conn = await a.dial(multiaddr(serverAddr))
  const session = async (): Promise<FramedStream> => new FramedStream(await conn.newStream(DIRECTORY_PROTOCOL), { maxFrameBytes: DIRECTORY_DEFAULTS.maxReplyFrameBytes, idleTimeoutMs: 10_000 })
  const rssBefore = (await stats(server)).process.rssBytes

  // 10^6 elements: "[0,0,...]" is 2 MB, four times the request frame limit
  const million = new TextEncoder().encode(`{"type":"REGISTER","id":7,"files":[${new Array(1_000_000).fill('0').join(',')}]}`)
  assert.ok(million.byteLength > DIRECTORY_DEFAULTS.maxRequestFrameBytes)
  const s1 = await session()
  await s1.write(million).catch(() => {})
  const r1 = decodeReply(await s1.read() as Uint8Array)
  assert.equal(r1.status, Status.ERROR)
  assert.match(String(r1.error), /frame/i)
  assert.equal(await s1.read().catch(() => undefined), undefined, 'the session is closed after an oversized frame')

  // as many elements as fit the frame limit: each refused by the per-message count limit, never indexed
  const per = Math.floor((DIRECTORY_DEFAULTS.maxRequestFrameBytes - 64) / 2)
  const dense = new TextEncoder().encode(`{"type":"REGISTER","id":8,"files":[${new Array(per).fill('0').join(',')}]}`)
  const unregister = new TextEncoder().encode(`{"type":"UNREGISTER","id":9,"cids":[${new Array(per).fill('0').join(',')}]}`)
  const s2 = await session()
  for (const body of [dense, unregister]) {
    await s2.write(body)
    const r = decodeReply(await s2.read() as Uint8Array)
    assert.equal(r.status, Status.ERROR)
    assert.match(String(r.error), /at most|too many/i)
  }
  // the same session still gets answers: a bad message costs an ERROR, not the session
  await s2.write(new TextEncoder().encode('{"type":"SEARCH","id":10,"q":"honest"}'))
  const found = decodeReply(await s2.read() as Uint8Array)
  assert.equal(found.status, Status.OK)

  // the honest peer is answered, and nothing of the attack was indexed
  const search = await peer.cli(['search', 'honest'])
  assert.equal(search.code, 0, search.stderr)
  const after = await stats(server)
  const dirStats = after['directory-server']
  assert.equal(dirStats.peersKnown, 1, 'only the honest peer is indexed')
  assert.ok(dirStats.invalidMessages >= 3, `invalid messages counted: ${dirStats.invalidMessages}`)
  const grewMiB = (after.process.rssBytes - rssBefore) / 2 ** 20
  t.diagnostic(`10^6-element REGISTER (${(million.byteLength / 2 ** 20).toFixed(1)} MiB): refused by the ${DIRECTORY_DEFAULTS.maxRequestFrameBytes / 1024} KiB frame limit; ${per}-element REGISTER and UNREGISTER: refused by the count limits (${DIRECTORY_DEFAULTS.maxFilesPerRegister} / ${DIRECTORY_DEFAULTS.maxUnregister}); server RSS ${grewMiB >= 0 ? '+' : ''}${grewMiB.toFixed(1)} MiB`)
  assert.ok(grewMiB < 64, `server RSS grew by ${grewMiB.toFixed(1)} MiB`)
})

test('10,000 streams on one connection: open streams stay within the muxer and protocol caps, an honest neighbour still searches and downloads', async (t) => {
  const dir = await workdir(t)
  const target = await startDaemon(t, { args: ['--mode', 'flood'] })
  const honest = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', target.addrs[0]] })
  const src = join(dir, 'streams target.bin')
  await writeRandomFile(src, 1024 * 1024)
  const shared = await target.cli(['share', src])
  assert.equal(shared.code, 0, shared.stderr)
  await until('the honest peer links to the target', 20_000, async () => ((await stats(honest)).flood?.neighbourCount ?? 0) >= 1 ? true : undefined)
  const baseline = (await stats(target)).streams as number

  const a = await attacker(t)
  const conn = await a.dial(multiaddr(target.addrs[0]))
  // transfer and flood streams that never say a word, and streams for a protocol nobody serves
  const protocols = [TRANSFER_PROTOCOL, FLOOD_PROTOCOL, '/sedai/nothing/1.0.0']
  const held: Stream[] = []
  let opened = 0
  let refused = 0
  let peak = 0
  let next = 0
  const ATTEMPTS = 10_000
  const sampler = setInterval(() => {
    stats(target).then(s => { peak = Math.max(peak, s.streams) }, () => {})
  }, 250)
  t.after(() => { clearInterval(sampler) })
  const started = performance.now()
  // the honest neighbour's search and download run while the streams pile up
  const honestWork = (async () => {
    await sleep(500)
    const search = await honest.cli(['search', 'streams', '--timeout-ms', '10000'])
    const get = await honest.cli(['get', shared.json.cid, '--output', join(dir, 'got.bin')], { timeoutMs: 60_000 })
    return { search, get }
  })()
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < ATTEMPTS) {
      const protocol = protocols[next++ % protocols.length]
      try {
        held.push(await conn.newStream(protocol, { signal: AbortSignal.timeout(10_000) }))
        opened++
      } catch {
        refused++
      }
      if (conn.status !== 'open') break
    }
  }))
  const tookS = (performance.now() - started) / 1000
  const { search, get } = await honestWork
  const during = await stats(target)
  peak = Math.max(peak, during.streams)
  const stillOpen = held.filter(s => s.status === 'open').length
  clearInterval(sampler)
  t.diagnostic(`${ATTEMPTS} stream attempts in ${tookS.toFixed(1)} s: ${opened} opened, ${refused} refused; ${stillOpen} still open at the end; target's open streams peak ${peak} (baseline ${baseline}); honest search ${search.code === 0 ? 'ok' : 'FAILED'}, get ${get.code === 0 ? 'ok' : 'FAILED'}`)
  assert.equal(search.code, 0, search.stderr)
  assert.ok((search.json.results ?? search.json.hits ?? []).length >= 1 || search.stdout.includes(shared.json.cid), 'the honest search found the file')
  assert.equal(get.code, 0, get.stderr)
  // per connection: transfer + flood inbound limits; streams still negotiating are bounded by yamux's 1,000
  const cap = DEFAULTS.maxInboundTransferStreams + 4 + 1_000 + baseline
  assert.ok(peak <= cap, `open streams peaked at ${peak}, above ${cap}`)
  assert.ok(refused > 0, 'streams beyond the caps are refused')
  assert.ok(stillOpen <= DEFAULTS.maxInboundTransferStreams + 4, `${stillOpen} attacker streams accepted, above the protocol caps`)
  // the attacker leaves: the target's streams go back to what the honest link needs
  await conn.close().catch(() => { conn.abort(new Error('done')) })
  await until('the target drops the attacker\'s streams', 20_000, async () => ((await stats(target)).streams <= baseline + 2 ? true : undefined))
})

test('2,000 connection attempts in 10 s with loopback limited like any host: connections stay under the caps, an honest linked peer still searches', async (t) => {
  const dir = await workdir(t)
  const target = await startDaemon(t, { args: ['--mode', 'flood', '--limit-loopback'] })
  const honest = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', target.addrs[0]] })
  const src = join(dir, 'connections target.bin')
  await writeRandomFile(src, 64 * 1024)
  assert.equal((await target.cli(['share', src])).code, 0)
  await until('the honest peer links to the target', 20_000, async () => ((await stats(honest)).flood?.neighbourCount ?? 0) >= 1 ? true : undefined)

  const port = tcpPort(target)
  let closedByTarget = 0
  let heldOpen = 0
  let peakConnections = 0
  const sockets: Array<ReturnType<typeof connect>> = []
  const sampler = setInterval(() => {
    stats(target).then(s => { peakConnections = Math.max(peakConnections, s.connections) }, () => {})
  }, 250)
  t.after(() => { clearInterval(sampler); for (const s of sockets) s.destroy() })
  const started = performance.now()
  // 200 attempts a second for 10 s: a third stay silent (a handshake withheld),
  // a third send garbage, a third connect and leave at once
  const honestSearches: number[] = []
  const honestWork = (async () => {
    for (let i = 0; i < 4; i++) {
      await sleep(2_000)
      honestSearches.push((await honest.cli(['search', 'connections', '--timeout-ms', '10000'])).code ?? -1)
    }
  })()
  for (let i = 0; i < 2_000; i++) {
    const s = connect({ host: '127.0.0.1', port })
    sockets.push(s)
    s.on('error', () => {})
    const opened = performance.now()
    s.on('close', () => { if (performance.now() - opened < 9_000) closedByTarget++ })
    if (i % 3 === 1) s.once('connect', () => { s.write(Buffer.alloc(64, 0xff)) })
    if (i % 3 === 2) s.once('connect', () => { s.end() })
    if (i % 20 === 19) await sleep(Math.max(0, started + (i + 1) * 5 - performance.now()))
  }
  const sentS = (performance.now() - started) / 1000
  await honestWork
  await sleep(1_000)
  heldOpen = sockets.filter(s => !s.destroyed && s.readyState === 'open').length
  clearInterval(sampler)
  const end = await stats(target)
  peakConnections = Math.max(peakConnections, end.connections)
  t.diagnostic(`2000 TCP attempts in ${sentS.toFixed(1)} s: ${closedByTarget} closed by the target within 9 s, ${heldOpen} still open after ${((performance.now() - started) / 1000).toFixed(1)} s; target's libp2p connections peak ${peakConnections} (cap ${DEFAULTS.maxConnections}); honest searches: ${honestSearches.join(', ')} (exit codes)`)
  assert.ok(peakConnections <= DEFAULTS.maxConnections, `connections peaked at ${peakConnections}`)
  assert.ok(heldOpen <= DEFAULTS.maxIncomingPendingConnections, `${heldOpen} silent sockets still held, above the ${DEFAULTS.maxIncomingPendingConnections} pending upgrades allowed`)
  assert.deepEqual(honestSearches, [0, 0, 0, 0], 'every honest search answered during the attack')
  for (const s of sockets) s.destroy()
  // a new honest connection gets in once the attempts stop (the per-host rate window is one second)
  await sleep(1_500)
  const late = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', target.addrs[0]] })
  await until('a new honest peer links to the target after the attack', 20_000, async () => ((await stats(late)).flood?.neighbourCount ?? 0) >= 1 ? true : undefined)
})
