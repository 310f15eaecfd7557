import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { FramedStream, Stats, silentLogger } from '@sedai/core'
import { hitsFromReply, listDigest } from '../src/client.ts'
import { directoryConfig } from '../src/config.ts'
import { DIRECTORY_PROTOCOL, Status, decodeReply, encodeMessage } from '../src/messages.ts'
import { DirectoryServer } from '../src/server.ts'
import { DirectorySession } from '../src/session.ts'
import type { FileTuple } from '../src/messages.ts'
import type { Connection, PeerId, StreamHandler } from '@libp2p/interface'
import type { TestContext } from 'node:test'

const CIDS = ['bafyreigcl5inhxt2nwplzdhm3uapnwt3gdnw2buvnzajmnbihofqvsv6te', 'bafyreibq75ygjhapeb4vdzef7sji23fhyuzme4jsarruhvdg57eu25k7my']

/** A DirectoryServer on a stand-in node whose `handle` gives us the stream handler. */
/** Counts the writes (`send` calls) each side of a session stream makes. */
interface Writes { peer: number, server: number }

async function server (t: TestContext, repo: string, overrides: Record<string, number> = {}): Promise<{ server: DirectoryServer, connect: (peer: PeerId, writes?: Writes) => Promise<DirectorySession>, raw: (peer: PeerId) => Promise<FramedStream> }> {
  let handler: StreamHandler | undefined
  const node = { handle: async (_p: string, h: StreamHandler) => { handler = h }, unhandle: async () => {} }
  const config = directoryConfig({ heartbeatMs: 200, graceMs: 600, ...overrides }, {})
  const s = new DirectoryServer({ node: node as any, repo, config, stats: new Stats(), logger: silentLogger() })
  await s.start()
  t.after(async () => { await s.stop() })
  return {
    server: s,
    connect: async (peer, writes) => {
      const [local, remote] = await streamPair({ protocol: DIRECTORY_PROTOCOL })
      if (writes !== undefined) {
        const count = (stream: typeof local, side: keyof Writes): void => {
          const send = stream.send.bind(stream)
          stream.send = (data) => { writes[side]++; return send(data) }
        }
        count(local, 'peer')
        count(remote, 'server')
      }
      const conn = { remotePeer: peer } as unknown as Connection
      void (handler as StreamHandler)(remote, conn)
      const session = new DirectorySession(conn, local, { maxReplyFrameBytes: 1 << 22, idleTimeoutMs: 10_000 })
      t.after(() => { session.close() })
      return session
    },
    // a session stream without DirectorySession: replies as they are on the wire
    raw: async (peer) => {
      const [local, remote] = await streamPair({ protocol: DIRECTORY_PROTOCOL })
      void (handler as StreamHandler)(remote, { remotePeer: peer } as unknown as Connection)
      const framed = new FramedStream(local, { maxFrameBytes: 1 << 22, idleTimeoutMs: 10_000 })
      t.after(() => { framed.abort(new Error('test over')) })
      return framed
    }
  }
}

async function repo (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-dirsrv-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

test('register, search, lookup and browse on a session; addresses get the peer id', async (t) => {
  const { server: s, connect } = await server(t, await repo(t))
  const a = await newPeer()
  const b = await newPeer()
  const sa = await connect(a)
  const sb = await connect(b)
  const hello = await sa.request({ type: 'HELLO', addrs: ['/ip4/10.0.0.1/tcp/4001'] }, 2_000)
  assert.equal(hello.status, Status.OK)
  assert.equal(hello.known, false)
  const files: FileTuple[] = [[CIDS[0], 'ピアツーピア入門.pdf', 14], [CIDS[1], 'love song.mp3', 16]]
  assert.equal((await sa.request({ type: 'REGISTER', files, reset: true, digest: listDigest(files) }, 2_000)).added, 2)
  assert.equal((await sb.request({ type: 'REGISTER', files: [files[1]] }, 2_000)).added, 1)
  const found = hitsFromReply(await sb.request({ type: 'SEARCH', q: 'ツーピア' }, 2_000))
  assert.deepEqual(found.map(h => [h.name, h.providerCount]), [['ピアツーピア入門.pdf', 1]])
  assert.deepEqual(found[0].providers, [{ peerId: a.toString(), addrs: [`/ip4/10.0.0.1/tcp/4001/p2p/${a.toString()}`] }])
  const lookup = await sb.request({ type: 'LOOKUP', cid: CIDS[1] }, 2_000)
  assert.equal(lookup.count, 2)
  assert.equal((await sb.request({ type: 'LOOKUP', cid: 'bafyreinotthere' }, 2_000)).status, Status.NOT_FOUND)
  const browse = await sb.request({ type: 'BROWSE', peerId: a.toString() }, 2_000)
  assert.equal(browse.total, 2)
  const ping = await sa.request({ type: 'PING', digest: listDigest(files) }, 2_000)
  assert.equal(ping.known, true)
  const stats = s.stats()
  assert.equal(stats.peersOnline, 2)
  assert.equal(stats.filesIndexed, 2)
  assert.equal(stats.searchesServed, 1)
})

test('refusals: another peer id, another peer\'s address, bad entries, too many files', async (t) => {
  const { server: s, connect } = await server(t, await repo(t), { maxFilesPerPeer: 2 })
  const a = await newPeer()
  const other = await newPeer()
  const sa = await connect(a)
  const spoof = await sa.request({ type: 'REGISTER', peerId: other.toString(), files: [[CIDS[0], 'x.txt', 1]] }, 2_000)
  assert.equal(spoof.status, Status.ERROR)
  assert.match(spoof.error as string, /registers only itself/)
  const addr = await sa.request({ type: 'HELLO', addrs: [`/ip4/10.0.0.2/tcp/1/p2p/${other.toString()}`] }, 2_000)
  assert.match(addr.error as string, /belongs to another peer/)
  const partly = await sa.request({ type: 'REGISTER', files: [[CIDS[0], 'ok.txt', 1], ['nope', 'bad.txt', 1], [CIDS[1], 'a/b', 1]] }, 2_000)
  assert.equal(partly.added, 1)
  assert.deepEqual((partly.rejected as Array<[number, string]>).map(r => r[0]), [1, 2])
  const over = await sa.request({ type: 'REGISTER', files: [[CIDS[1], 'two.txt', 1], [CIDS[1], 'three.txt', 1]] }, 2_000)
  assert.equal(over.status, Status.ERROR)
  assert.match(over.error as string, /at most 2 files/)
  assert.equal(s.stats().filesIndexed, 1)
})

test('pipelined requests: each answered under its own id, several per write both ways', async (t) => {
  const { server: s, connect } = await server(t, await repo(t))
  const writes: Writes = { peer: 0, server: 0 }
  const sa = await connect(await newPeer(), writes)
  const files: FileTuple[] = [[CIDS[0], 'alpha one.txt', 1], [CIDS[1], 'beta two.txt', 2]]
  assert.equal((await sa.request({ type: 'REGISTER', files }, 2_000)).added, 2)
  writes.peer = 0
  writes.server = 0
  const queries = Array.from({ length: 20 }, (_, i) => i % 3 === 0 ? 'alpha' : i % 3 === 1 ? 'beta' : 'nothing')
  const replies = await Promise.all(queries.map(async q => await sa.request({ type: 'SEARCH', q }, 2_000)))
  const expected: Record<string, string[]> = { alpha: ['alpha one.txt'], beta: ['beta two.txt'], nothing: [] }
  for (const [i, r] of replies.entries()) {
    assert.equal(r.status, Status.OK)
    assert.deepEqual(hitsFromReply(r).map(h => h.name), expected[queries[i]], `reply ${i} answers its own query`)
  }
  // requests made in one turn go out together, replies answered in one turn too
  assert.ok(writes.peer < queries.length / 2, `${writes.peer} writes carried ${queries.length} requests`)
  assert.ok(writes.server < queries.length / 2, `${writes.server} writes carried ${queries.length} replies`)
  const stats = s.stats()
  assert.ok((stats.replies as number) > (stats.replyWrites as number))
})

test('hundreds of requests in flight on one session are all answered', async (t) => {
  const { connect } = await server(t, await repo(t), { queryRate: 0 })
  const sa = await connect(await newPeer())
  const replies = await Promise.all(Array.from({ length: 300 }, async (_, i) => await sa.request({ type: 'SEARCH', q: `w${i}` }, 5_000)))
  assert.ok(replies.every(r => r.status === Status.OK))
})

test('a flood is rate-limited and its stream throttled', async (t) => {
  const { server: s, connect } = await server(t, await repo(t), { queryRate: 10, queryBurst: 5 })
  const sa = await connect(await newPeer())
  const replies = await Promise.all(Array.from({ length: 12 }, async () => await sa.request({ type: 'SEARCH', q: 'x' }, 5_000)))
  const ok = replies.filter(r => r.status === Status.OK).length
  assert.ok(ok >= 5 && ok <= 8, `${ok} answered`)
  const limited = replies.find(r => r.status === Status.RATE_LIMITED)
  assert.ok(limited !== undefined && (limited.retryAfterMs as number) > 0)
  assert.ok((s.stats().rateLimited as number) >= 1)
})

test('a peer whose session closed expires after the grace period; a restarted server resumes a known list', async (t) => {
  const dir = await repo(t)
  const files: FileTuple[] = [[CIDS[0], 'keep.txt', 1]]
  const peer = await newPeer()
  {
    const { server: s, connect } = await server(t, dir)
    const gone = await newPeer()
    const sg = await connect(gone)
    await sg.request({ type: 'REGISTER', files: [[CIDS[1], 'gone.txt', 1]] }, 2_000)
    const sp = await connect(peer)
    await sp.request({ type: 'REGISTER', files, reset: true, digest: listDigest(files) }, 2_000)
    sg.close()
    await sleep(100)
    assert.equal(s.stats().peersKnown, 2, 'kept during the grace period')
    const deadline = Date.now() + 3_000
    while (s.stats().peersKnown !== 1 && Date.now() < deadline) {
      await sp.request({ type: 'PING' }, 2_000) // the live peer keeps itself fresh
      await sleep(100)
    }
    assert.equal(s.stats().peersKnown, 1)
    assert.equal(s.stats().expiredPeers, 1)
    await s.stop()
  }
  const { server: s2, connect } = await server(t, dir)
  assert.equal(s2.stats().filesIndexed, 1, 'the index survived the restart')
  const again = await connect(peer)
  const hello = await again.request({ type: 'HELLO', addrs: [], digest: listDigest(files) }, 2_000)
  assert.equal(hello.known, true, 'nothing to send again')
  assert.equal(s2.stats().resumedSessions, 1)
})

test('the peer tables stay within their caps: maxPeers refuses a new registrant, maxPeerStates drops idle unregistered peers first, then refuses', async (t) => {
  const { server: s, connect } = await server(t, await repo(t), { maxPeers: 2, maxPeerStates: 3, graceMs: 60_000, heartbeatMs: 20_000 })
  const file = (i: number): FileTuple[] => [[CIDS[i % 2], `file ${i}.bin`, 10 + i]]
  // two registered peers fill the index
  const [a, b, c] = [await newPeer(), await newPeer(), await newPeer()]
  const sa = await connect(a)
  const sb = await connect(b)
  assert.equal((await sa.request({ type: 'REGISTER', files: file(0) }, 2_000)).status, Status.OK)
  assert.equal((await sb.request({ type: 'REGISTER', files: file(1) }, 2_000)).status, Status.OK)
  const sc = await connect(c)
  const refused = await sc.request({ type: 'REGISTER', files: file(2) }, 2_000)
  assert.equal(refused.status, Status.ERROR)
  assert.match(String(refused.error), /indexes 2 peers at most/)
  // c may still search: a full index refuses registrants, not readers
  assert.equal((await sc.request({ type: 'SEARCH', q: 'file' }, 2_000)).status, Status.OK)
  sc.close()
  await sleep(50)
  assert.equal(s.stats().peerStates, 3)
  // a fourth peer's state takes the place of c's (no session, nothing registered) ...
  const d = await newPeer()
  const sd = await connect(d)
  assert.equal((await sd.request({ type: 'SEARCH', q: 'file' }, 2_000)).status, Status.OK)
  assert.equal(s.stats().peerStates, 3)
  assert.equal(s.stats().evictedStates, 1)
  // ... and a fifth finds a, b (registered) and d (online): refused, the others still served
  const e = await connect(await newPeer())
  const full = await e.request({ type: 'SEARCH', q: 'file' }, 2_000).catch((err: Error) => err)
  assert.ok(full instanceof Error || full.status === Status.ERROR, 'the fifth session is refused')
  assert.equal(s.stats().refusedSessions, 1)
  assert.equal(s.stats().peerStates, 3)
  assert.equal((await sa.request({ type: 'SEARCH', q: 'file' }, 2_000)).status, Status.OK)
})

/** SEARCH on a raw session stream: the reply as the server sent it. */
function wireSearch (wire: FramedStream): (q: string) => Promise<Record<string, any>> {
  let id = 0
  return async (q) => {
    await wire.write(encodeMessage({ type: 'SEARCH', id: ++id, q }))
    return decodeReply(await wire.read() as Uint8Array)
  }
}

test('SEARCH: a session is sent each peer-table entry once, again when it changes, all of them after peersReset', async (t) => {
  const dir = await repo(t)
  const { connect, raw } = await server(t, dir)
  const a = await newPeer()
  const b = await newPeer()
  const sa = await connect(a)
  const sb = await connect(b)
  await sa.request({ type: 'HELLO', addrs: ['/ip4/10.0.0.1/tcp/4001'] }, 2_000)
  await sb.request({ type: 'HELLO', addrs: ['/ip4/10.0.0.2/tcp/4001'] }, 2_000)
  await sa.request({ type: 'REGISTER', files: [[CIDS[0], 'love one.mp3', 1], [CIDS[1], 'love two.mp3', 2]] }, 2_000)
  await sb.request({ type: 'REGISTER', files: [[CIDS[1], 'love two.mp3', 2]] }, 2_000)
  const search = wireSearch(await raw(await newPeer()))
  const first = await search('love')
  assert.equal(first.hits.length, 2)
  assert.deepEqual(Object.values(first.peers).map((p: any) => p.peerId).sort(), [a.toString(), b.toString()].sort())
  assert.equal(first.peersReset, undefined)
  // the same providers again: nothing new to send
  assert.deepEqual((await search('love')).peers, {})
  assert.deepEqual((await search('two')).peers, {})
  // b goes offline: its entry changed (live: false) and is sent again, a's is not
  sb.close()
  await sleep(50)
  const after = await search('love')
  assert.deepEqual(Object.values(after.peers).map((p: any) => [p.peerId, p.live]), [[b.toString(), false]])

  // a DirectorySession gives its callers every provider, whatever the wire carried
  const sc = await connect(await newPeer())
  for (let i = 0; i < 3; i++) {
    const hits = hitsFromReply(await sc.request({ type: 'SEARCH', q: 'love' }, 2_000))
    assert.deepEqual(hits.map(h => h.providers.length), [2, 1])
    assert.deepEqual(hits[1].providers, [{ peerId: a.toString(), addrs: [`/ip4/10.0.0.1/tcp/4001/p2p/${a.toString()}`] }])
  }
})

test('SEARCH: past maxSessionPeers the server forgets what it sent and says peersReset', async (t) => {
  const { connect, raw } = await server(t, await repo(t), { maxSessionPeers: 2 })
  const peers = [await newPeer(), await newPeer(), await newPeer()]
  for (const [i, p] of peers.entries()) {
    const s = await connect(p)
    await s.request({ type: 'HELLO', addrs: [`/ip4/10.0.0.${i + 1}/tcp/4001`] }, 2_000)
    await s.request({ type: 'REGISTER', files: [[CIDS[i % 2], `night ${i}.mp3`, i]] }, 2_000)
  }
  const search = wireSearch(await raw(await newPeer()))
  const one = await search('night 0')
  assert.equal(Object.keys(one.peers).length, 1)
  assert.equal(one.peersReset, undefined)
  // three providers do not fit beside the one already sent: start over, send all three
  const all = await search('night')
  assert.equal(all.peersReset, true)
  assert.equal(Object.keys(all.peers).length, 3)
  // and a DirectorySession follows the reset
  const sc = await connect(await newPeer())
  assert.deepEqual(hitsFromReply(await sc.request({ type: 'SEARCH', q: 'night 1' }, 2_000)).map(h => h.providers.length), [1])
  assert.deepEqual(hitsFromReply(await sc.request({ type: 'SEARCH', q: 'night' }, 2_000)).map(h => h.providers.length), [1, 1, 1])
})
