import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ContentStore, NotFoundError, Stats, silentLogger } from '@sedai/core'
import { ChunkCache } from '../src/cache/cache.ts'
import { resolveConfig } from '../src/config.ts'
import { PathRelay } from '../src/protocol/relay.ts'

const cid = 'bafyreihoxdfaya7bqsqhdns3qpv4qv7uj5x7sj43qiktr76qrxbh5acwxm'

test('a relayed request that comes back over the link it left by is refused at once, not awaited', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-relay-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new ContentStore({ repo: join(dir, 'repo'), logger: silentLogger() })
  await store.start()
  t.after(async () => { await store.stop() })
  const cache = await ChunkCache.open({ dir: join(dir, 'cache') })
  t.after(async () => { await cache.close() })
  const asked: string[] = []
  let release!: (err: Error) => void
  const relay = new PathRelay({
    self: 'S',
    config: resolveConfig(),
    stats: new Stats(),
    logger: silentLogger(),
    store,
    cache,
    faultCorrupt: 0,
    role: () => 'super',
    // upstream (toward the responder, via link 'B') answers only when released
    request: async (target) => {
      asked.push(target)
      return await new Promise((_resolve, reject) => { release = reject })
    },
    nextHop: () => 'B'
  })
  const first = relay.fetchRange({ target: 'R', cid, index: 0, offset: 0, length: 1024 }, 'A')
  first.catch(() => {})
  await new Promise(resolve => setImmediate(resolve))
  const loop = relay.fetchRange({ target: 'R', cid, index: 0, offset: 0, length: 1024 }, 'B')
  await assert.rejects(loop, (err: any) => err instanceof NotFoundError && /relay loop/.test(err.message))
  assert.deepEqual(asked, ['R'], 'one upstream fetch, none for the looping request')
  release(new Error('done'))
  await assert.rejects(first)
})
