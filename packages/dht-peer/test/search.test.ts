/**
 * The streamed keyword search on scripted lookups and holders: only the DHT
 * walk and the KEYWORD QUERY are replaced, through the two functions the
 * search takes.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { keywordSearch } from '../src/search.ts'
import type { KeywordSearchInit } from '../src/search.ts'
import type { LookupResult } from '../src/lookup.ts'
import type { ResultFile } from '../src/protocol/messages.ts'
import type { PeerInfo } from '@libp2p/interface'

const CID_A = 'bafyreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm'
const CID_B = 'bafyreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu'

async function holders (n: number): Promise<PeerInfo[]> {
  return await Promise.all(Array.from({ length: n }, async () => ({ id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), multiaddrs: [] })))
}

function file (cid: string, name: string): ResultFile {
  return { cid: CID.parse(cid).bytes, size: 3, name }
}

function result (providers: PeerInfo[]): LookupResult {
  return { providers, self: false, queried: 1, durationMs: 1, ended: 'converged' }
}

function base (over: Partial<KeywordSearchInit>): KeywordSearchInit {
  return {
    keywords: ['pink', 'floyd'],
    signal: new AbortController().signal,
    maxPeers: 32,
    concurrency: 8,
    localFirstMs: 250,
    lookup: async () => result([]),
    ask: async () => [],
    local: () => ({ peerId: 'self', addrs: [], files: [] }),
    ...over
  }
}

test('a holder is asked the moment a lookup names it, and its hit streams before the other lookup ends', async () => {
  const [h] = await holders(1)
  const events: string[] = []
  let releaseSlow = (): void => {}
  const r = await keywordSearch(base({
    lookup: async (kw, onProvider) => {
      if (kw === 'pink') { onProvider(h); return result([h]) }
      // the other keyword's walk is still out when the first hit arrives
      await new Promise<void>(resolve => { releaseSlow = resolve })
      events.push('slow lookup done')
      onProvider(h) // named again: not asked twice
      return result([h])
    },
    ask: async (peer, kws) => {
      events.push(`asked ${kws.join('+')}`)
      return [file(CID_A, 'Pink Floyd - Echoes.flac')]
    },
    onHit: (hit) => { events.push(`hit ${hit.name}`); releaseSlow() }
  }))
  assert.deepEqual(events, ['asked pink+floyd', 'hit Pink Floyd - Echoes.flac', 'slow lookup done'])
  assert.equal(r.asked, 1)
  assert.deepEqual(r.hits.map(x => x.cid), [CID_A])
})

test('what a holder sends is checked against the query: a name without every keyword, or a bad CID, is no hit', async () => {
  const [h1, h2] = await holders(2)
  const r = await keywordSearch(base({
    lookup: async (_kw, onProvider) => { onProvider(h1); onProvider(h2); return result([h1, h2]) },
    ask: async (peer) => peer === h1
      ? [file(CID_A, 'pink floyd.mp3'), file(CID_B, 'pink panther.mp3'), { cid: new Uint8Array([1, 2, 3]), size: 1, name: 'pink floyd fake.mp3' }]
      : [file(CID_A, 'Pink Floyd.mp3')]
  }))
  assert.deepEqual(r.hits.map(x => [x.cid, x.providers.length]), [[CID_A, 2]], 'one file, from both holders')
})

test('our own matching files are hits at once; a search where one lookup fails goes on, one where all fail throws', async () => {
  const [h] = await holders(1)
  const own = await keywordSearch(base({ local: () => ({ peerId: 'self', addrs: ['/ip4/127.0.0.1/tcp/1'], files: [file(CID_B, 'pink floyd live.ogg')] }) }))
  assert.deepEqual(own.hits.map(x => x.providers[0].peerId), ['self'])
  const half = await keywordSearch(base({
    lookup: async (kw, onProvider) => { if (kw === 'pink') throw new Error('walk failed'); onProvider(h); return result([h]) },
    ask: async () => [file(CID_A, 'pink floyd.mp3')]
  }))
  assert.equal(half.hits.length, 1)
  assert.equal(half.lookups[0], undefined)
  await assert.rejects(keywordSearch(base({ lookup: async () => { throw new Error('walk failed') } })), /walk failed/)
})

test('10,000 fake providers and holders that never answer: at most maxPeers asked, concurrency at a time, and the deadline ends the search with no fake hit', async () => {
  const real = await holders(1)
  const fakes = await holders(50)
  const named = Array.from({ length: 10_000 }, (_, i) => fakes[i % fakes.length])
  let running = 0
  let most = 0
  const timer = new AbortController()
  setTimeout(() => { timer.abort() }, 300)
  const deadline = timer.signal
  const started = performance.now()
  const r = await keywordSearch(base({
    signal: deadline,
    maxPeers: 32,
    concurrency: 8,
    lookup: async (_kw, onProvider) => { for (const p of named) onProvider(p); onProvider(real[0]); return result(fakes) },
    ask: async (_peer) => {
      running++
      most = Math.max(most, running)
      // silence: the holder never answers (the real ask has its own deadline; this one only ends with the search)
      await new Promise(resolve => deadline.addEventListener('abort', resolve, { once: true }))
      running--
      return [file(CID_A, 'pink floyd.mp3')]
    }
  }))
  const ms = performance.now() - started
  assert.ok(ms < 1500, `ended ${Math.round(ms)} ms after it started (deadline 300 ms)`)
  assert.ok(r.asked <= 32, `${r.asked} holders asked`)
  assert.equal(most, 8, 'never more than `concurrency` asks at once')
  assert.deepEqual(r.hits, [], 'answers after the deadline are not hits')
})

test('holders our own store named answer before the walk goes out; a holder that stalls holds the walk back at most localFirstMs', async () => {
  const [fast, stalled] = await holders(2)
  const events: string[] = []
  await keywordSearch(base({
    keywords: ['pink'],
    lookup: async (_kw, onProvider, afterLocal) => {
      onProvider(fast)
      await afterLocal()
      events.push('walk goes out')
      return result([fast])
    },
    ask: async () => { await new Promise(resolve => setTimeout(resolve, 30)); events.push('fast answered'); return [] }
  }))
  assert.deepEqual(events, ['fast answered', 'walk goes out'])

  const started = performance.now()
  let walkedAt = 0
  const never = new AbortController()
  await keywordSearch(base({
    keywords: ['pink'],
    signal: AbortSignal.any([never.signal]),
    localFirstMs: 100,
    lookup: async (_kw, onProvider, afterLocal) => {
      onProvider(stalled)
      await afterLocal()
      walkedAt = performance.now() - started
      never.abort() // end the search: the stalled ask would otherwise run to its own deadline
      return result([])
    },
    ask: async () => await new Promise<ResultFile[]>(resolve => never.signal.addEventListener('abort', () => { resolve([]) }))
  }))
  assert.ok(walkedAt >= 90 && walkedAt < 1000, `the walk went out ${Math.round(walkedAt)} ms after the start (localFirstMs 100)`)
})
