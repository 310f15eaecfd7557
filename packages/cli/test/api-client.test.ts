import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { NotFoundError } from '@sedai/core/errors'
import { silentLogger } from '@sedai/core/logger'
import { ApiClient, readApiFile } from '../src/api-client.ts'
import { startApiServer } from '../src/api-server.ts'
import { main } from '../src/bin.ts'
import type { Context } from '../src/context.ts'
import type { DaemonApi, GetProgress, SearchResult } from '../src/daemon-api.ts'

const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

async function tempRepo (t: TestContext): Promise<string> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-client-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  return repo
}

function cliContext (tty = false): Context & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return {
    out,
    err,
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text), isTTY: tty, columns: 100 },
    cwd: '/work/here',
    env: {},
    connect: async (repo) => await ApiClient.fromRepo(repo)
  }
}

function progress (have: number): GetProgress {
  return { cid: CID, name: 'a.txt', size: 4_000_000, have, fetched: have, sources: ['12D3KooWA', '12D3KooWB'] }
}

const fakeApi: DaemonApi = {
  id: async () => ({ peerId: '12D3KooWFake', addrs: [], modes: [] }),
  share: async (path) => ({ cid: CID, name: 'a.txt', size: 4_000_000, path }),
  ls: async () => ({ files: [] }),
  connect: async () => ({ peerId: '12D3KooWA' }),
  search: async (req) => { throw new NotFoundError(`nothing matches "${req.query}"`) },
  peers: async () => ({ peers: [] }),
  stats: async () => ({}),
  stop: async () => {},
  get: async (req, onProgress) => {
    if (req.cid !== CID) {
      throw new NotFoundError(`no source has ${req.cid}`)
    }
    onProgress(progress(1_000_000))
    await sleep(120)
    onProgress(progress(3_000_000))
    await sleep(120)
    return { cid: CID, path: req.out ?? '/dl/a.txt', size: 4_000_000, sources: ['12D3KooWA'], fetched: 4_000_000, resumed: 0, badPeers: [] }
  }
}

async function serve (t: TestContext): Promise<string> {
  const repo = await tempRepo(t)
  const server = await startApiServer({ api: fakeApi, host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  t.after(async () => { await server.close() })
  return repo
}

test('a repo without an api file: a clear error, exit 1', async (t) => {
  const repo = await tempRepo(t)
  await assert.rejects(ApiClient.fromRepo(repo), {
    code: 'ERR_NO_DAEMON',
    message: `no daemon running (no api file in ${repo}); start one with 'sedai daemon'`
  })
  const ctx = cliContext()
  assert.equal(await main(['ls', '--repo', repo], ctx), 1)
  assert.deepEqual(ctx.err, [`error: no daemon running (no api file in ${repo}); start one with 'sedai daemon'\n`])
  assert.deepEqual(ctx.out, [])

  const json = cliContext()
  assert.equal(await main(['id', '--repo', repo, '--json'], json), 1)
  assert.equal(JSON.parse(json.out.join('')).error.code, 'ERR_NO_DAEMON')
})

test('a stale api file (nothing listening): no daemon running', async (t) => {
  const repo = await tempRepo(t)
  const probe = createServer()
  await new Promise<void>((resolve) => { probe.listen(0, '127.0.0.1', resolve) })
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => { probe.close(() => { resolve() }) })
  await writeFile(join(repo, 'api'), JSON.stringify({ url: `http://127.0.0.1:${port}`, token: 't' }))
  const client = await ApiClient.fromRepo(repo)
  await assert.rejects(client.id(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_NO_DAEMON')
    assert.match(err.message, /^no daemon running \(nothing listens at http:\/\/127\.0\.0\.1:\d+, stale api file in .*\); start one with 'sedai daemon'$/)
    return true
  })
})

test('a garbled api file is reported', async (t) => {
  const repo = await tempRepo(t)
  await writeFile(join(repo, 'api'), '{"url": 5}')
  await assert.rejects(readApiFile(repo), { code: 'ERR_API_FILE' })
})

test('the client talks to the server: answers, errors with code, get progress', async (t) => {
  const repo = await serve(t)
  const client = await ApiClient.fromRepo(repo)
  assert.equal((await client.id()).peerId, '12D3KooWFake')
  await assert.rejects(client.search({ query: 'x' }), { name: 'ApiError', code: 'ERR_NOT_FOUND', message: 'nothing matches "x"', status: 404 })
  const seen: GetProgress[] = []
  const result = await client.get({ cid: CID, out: '/tmp/a.txt' }, (p) => { seen.push(p) })
  assert.equal(result.path, '/tmp/a.txt')
  assert.deepEqual(seen.map((p) => p.have), [1_000_000, 3_000_000])
  await assert.rejects(client.get({ cid: 'other' }, () => {}), { code: 'ERR_NOT_FOUND', message: 'no source has other' })
  // a bad request is the server's 400, passed on
  await assert.rejects(client.share('relative'), { code: 'ERR_INVALID_REQUEST', status: 400 })
})

test('sedai get prints the path, JSON with --json, a progress bar only on a TTY', async (t) => {
  const repo = await serve(t)

  const plain = cliContext(false)
  assert.equal(await main(['get', CID, '--repo', repo, '-o', 'a.txt'], plain), 0)
  assert.deepEqual(plain.out, ['/work/here/a.txt\n'])
  assert.deepEqual(plain.err, [], 'no progress when stderr is not a TTY')

  const json = cliContext(false)
  assert.equal(await main(['get', CID, '--repo', repo, '--json'], json), 0)
  assert.equal(JSON.parse(json.out.join('')).fetched, 4_000_000)

  const tty = cliContext(true)
  assert.equal(await main(['get', CID, '--repo', repo], tty), 0)
  const drawn = tty.err.join('')
  assert.match(drawn, / 25%/)
  assert.match(drawn, / 75%/)
  assert.match(drawn, /\d+\.\d MB\/s/)
  assert.match(drawn, /2 sources/)
  assert.ok(drawn.endsWith('\r\x1b[2K'), 'the bar is cleared before the result')

  const failed = cliContext(false)
  assert.equal(await main(['get', 'other', '--repo', repo], failed), 1)
  assert.deepEqual(failed.err, ['error: no source has other\n'])
})

test('sedai share sends an absolute path and prints cid, name, size', async (t) => {
  const repo = await serve(t)
  const ctx = cliContext()
  assert.equal(await main(['share', 'docs/a.txt', '--repo', repo, '--json'], ctx), 0)
  assert.equal(JSON.parse(ctx.out.join('')).path, '/work/here/docs/a.txt')
  const human = cliContext()
  assert.equal(await main(['share', 'a.txt', '--repo', repo], human), 0)
  assert.equal(human.out.join(''), `${CID}  a.txt  3.8 MiB\n`)
})

test('search streams hits (NDJSON) to onResult, then the response; errors after the first hit arrive as the last line', async (t) => {
  const repo = await tempRepo(t)
  const hit = (name: string): SearchResult => ({ cid: CID, name, size: 3, providers: ['12D3KooWA'] })
  const api: DaemonApi = {
    ...fakeApi,
    search: async (req, onResult) => {
      if (req.query === 'none') {
        return { results: [] }
      }
      onResult?.(hit('first.txt'))
      await sleep(50)
      onResult?.(hit('second.txt'))
      if (req.query === 'dies') {
        throw new NotFoundError('the mode went away')
      }
      return { results: [hit('first.txt'), hit('second.txt')], note: 'two' }
    }
  }
  const server = await startApiServer({ api, host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  t.after(async () => { await server.close() })
  const client = await ApiClient.fromRepo(repo)

  const streamed: string[] = []
  const response = await client.search({ query: 'jazz', ttl: 3 }, (r) => { streamed.push(r.name) })
  assert.deepEqual(streamed, ['first.txt', 'second.txt'])
  assert.deepEqual(response, { results: [hit('first.txt'), hit('second.txt')], note: 'two' })
  assert.deepEqual(await client.search({ query: 'none' }, () => { assert.fail('no hit expected') }), { results: [] })
  const late: string[] = []
  await assert.rejects(client.search({ query: 'dies' }, (r) => { late.push(r.name) }), { code: 'ERR_NOT_FOUND', message: 'the mode went away' })
  assert.equal(late.length, 2)
  assert.equal((await client.search({ query: 'plain' })).results.length, 2, 'without onResult: one document')

  // the CLI prints hits as they arrive; --json stays one document
  const ctx = cliContext()
  assert.equal(await main(['search', 'jazz', '--repo', repo], ctx), 0)
  const text = ctx.out.join('')
  assert.match(text, /^hit: first\.txt {2}3 B {2}bafk\S+ {2}from 12D3KooWA\nhit: second\.txt/)
  assert.match(text, /note: two\n$/)
  const json = cliContext()
  assert.equal(await main(['search', 'jazz', '--repo', repo, '--json'], json), 0)
  assert.deepEqual(JSON.parse(json.out.join('')), { results: [hit('first.txt'), hit('second.txt')], note: 'two' })
})
