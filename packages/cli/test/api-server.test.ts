import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { DEFAULTS } from '@sedai/core/config'
import { NotFoundError } from '@sedai/core/errors'
import { silentLogger } from '@sedai/core/logger'
import { startApiServer } from '../src/api-server.ts'
import { API_LIMITS } from '../src/api-common.ts'
import type { ApiServer } from '../src/api-server.ts'
import type { DaemonApi, GetProgress, GetResult } from '../src/daemon-api.ts'

const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

interface Fake extends DaemonApi {
  /** the signals the fake `get` saw aborted */
  aborted: string[]
  stopped: number
}

/** A DaemonApi returning fixed data; a few magic inputs make it fail. */
function fakeApi (): Fake {
  const fake: Fake = {
    aborted: [],
    stopped: 0,
    id: async () => ({ peerId: '12D3KooWFake', addrs: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFake'], modes: ['flood'] }),
    share: async (path) => ({ cid: CID, name: basename(path), size: 3, path }),
    ls: async () => ({ files: [{ cid: CID, name: 'a.txt', size: 3, path: '/x/a.txt' }] }),
    connect: async (multiaddr) => ({ peerId: multiaddr.split('/').at(-1) ?? '' }),
    search: async (req) => {
      if (req.query === 'missing') {
        throw new NotFoundError('nothing matches "missing"')
      }
      if (req.query === 'crash') {
        throw new Error('boom\n    at secret (/home/me/secret.ts:1:1)')
      }
      return { results: [{ cid: CID, name: req.query, size: 3, providers: ['12D3KooWFake'] }] }
    },
    peers: async () => ({ peers: [] }),
    stats: async () => ({ uptimeMs: 1 }),
    stop: async () => { fake.stopped++ },
    get: async (req, onProgress, signal) => {
      if (req.cid === 'missing') {
        throw new NotFoundError(`no source has ${req.cid}`)
      }
      if (req.cid === 'hang') {
        onProgress(progress(0))
        await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve() }) })
        fake.aborted.push(req.cid)
        throw new Error('aborted')
      }
      // a burst of 100 updates: the server must thin them out
      for (let i = 1; i <= 100; i++) {
        onProgress(progress(i))
      }
      await sleep(250)
      const result: GetResult = { cid: req.cid, path: req.out ?? '/downloads/a.txt', size: 100, sources: ['12D3KooWFake'], fetched: 100, resumed: 0, badPeers: [] }
      return result
    }
  }
  return fake
}

function progress (have: number): GetProgress {
  return { cid: CID, name: 'a.txt', size: 100, have, fetched: have, sources: ['12D3KooWFake'] }
}

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

interface Call {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** token; null = no Authorization header */
  token?: string | null
}

async function setup (t: TestContext): Promise<{ server: ApiServer, api: Fake, repo: string, port: number, call: (c: Call) => Promise<Reply> }> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-api-'))
  const api = fakeApi()
  const server = await startApiServer({ api, host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  t.after(async () => {
    await server.close()
    await rm(repo, { recursive: true, force: true })
  })
  const port = Number(new URL(server.url).port)
  const call = async (c: Call): Promise<Reply> => await send(port, {
    ...c,
    headers: {
      host: `127.0.0.1:${port}`,
      ...(c.token === null ? {} : { authorization: `Bearer ${c.token ?? server.token}` }),
      ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...c.headers
    }
  })
  return { server, api, repo, port, call }
}

/** One request with exactly these headers (fetch() would not let us set Host). */
async function send (port: number, c: Call): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: c.method ?? 'GET', path: c.path, headers: c.headers, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    // the server may close early (413); the reply is what counts
    req.on('error', (err) => { reject(err) })
    req.end(c.body)
  })
}

test('a request without a token gets 401', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ path: '/api/v1/id', token: null })
  assert.equal(reply.status, 401)
  assert.equal(reply.json.error.code, 'ERR_UNAUTHORIZED')
  assert.match(String(reply.headers['www-authenticate']), /^Bearer/)
})

test('a request with a wrong token gets 401', async (t) => {
  const { call, server } = await setup(t)
  assert.equal((await call({ path: '/api/v1/id', token: 'x' + server.token.slice(1) })).status, 401)
  assert.equal((await call({ path: '/api/v1/id', token: server.token + 'x' })).status, 401)
  assert.equal((await call({ path: '/api/v1/id', headers: { authorization: server.token } })).status, 401)
})

test('the right token and Host get the answer', async (t) => {
  const { call, port } = await setup(t)
  const reply = await call({ path: '/api/v1/id' })
  assert.equal(reply.status, 200)
  assert.match(String(reply.headers['content-type']), /^application\/json/)
  assert.equal(reply.json.peerId, '12D3KooWFake')
  // localhost names the same server
  assert.equal((await call({ path: '/api/v1/id', headers: { host: `localhost:${port}` } })).status, 200)
})

test('a foreign Host gets 403 even with the token (DNS rebinding)', async (t) => {
  const { call, port } = await setup(t)
  for (const host of [`evil.example:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`, `127.0.0.1:${port}.evil.example`]) {
    const reply = await call({ path: '/api/v1/id', headers: { host } })
    assert.equal(reply.status, 403, host)
    assert.equal(reply.json.error.code, 'ERR_FORBIDDEN')
  }
})

test('a foreign Origin gets 403, the same origin passes', async (t) => {
  const { call, port } = await setup(t)
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `https://127.0.0.1:${port}`]) {
    assert.equal((await call({ path: '/api/v1/id', headers: { origin } })).status, 403, origin)
  }
  assert.equal((await call({ path: '/api/v1/id', headers: { origin: `http://127.0.0.1:${port}` } })).status, 200)
})

test('mutating routes accept POST only, read routes GET only', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ path: '/api/v1/share' })
  assert.equal(reply.status, 405)
  assert.equal(reply.headers.allow, 'POST')
  assert.equal(reply.json.error.code, 'ERR_METHOD_NOT_ALLOWED')
  const del = await call({ method: 'DELETE', path: '/api/v1/stop' })
  assert.equal(del.status, 405)
  const post = await call({ method: 'POST', path: '/api/v1/id', body: '{}' })
  assert.equal(post.status, 405)
  assert.equal(post.headers.allow, 'GET')
})

test('unknown routes get 404', async (t) => {
  const { call } = await setup(t)
  for (const path of ['/api/v1/nope', '/api/v1/', '/', '/api/v2/id', '/api/v1/constructor', '/api/v1/__proto__']) {
    const reply = await call({ path })
    assert.equal(reply.status, 404, path)
    assert.equal(reply.json.error.code, 'ERR_UNKNOWN_ROUTE')
  }
})

test('a body over 64 KiB gets 413', async (t) => {
  const { call } = await setup(t)
  const body = JSON.stringify({ path: '/' + 'a'.repeat(70 * 1024) })
  const reply = await call({ method: 'POST', path: '/api/v1/share', body })
  assert.equal(reply.status, 413)
  assert.equal(reply.json.error.code, 'ERR_BODY_TOO_LARGE')
  // chunked, without a content-length up front
  const chunked = await call({ method: 'POST', path: '/api/v1/share', body, headers: { 'transfer-encoding': 'chunked' } })
  assert.equal(chunked.status, 413)
})

test('bad JSON gets 400', async (t) => {
  const { call } = await setup(t)
  for (const body of ['{"path":', 'not json', '', '[]', 'null', '"/tmp/a"']) {
    const reply = await call({ method: 'POST', path: '/api/v1/share', body })
    assert.equal(reply.status, 400, body)
    assert.equal(reply.json.error.code, 'ERR_INVALID_JSON')
  }
})

test('a body that is not application/json gets 415', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ method: 'POST', path: '/api/v1/share', body: '{"path":"/tmp/a"}', headers: { 'content-type': 'text/plain' } })
  assert.equal(reply.status, 415)
})

test('wrong field types and values get 400', async (t) => {
  const { call } = await setup(t)
  const cases: Array<[string, unknown]> = [
    ['share', { path: 5 }],
    ['share', {}],
    ['share', { path: 'relative/a.txt' }],
    ['share', { path: '/tmp/a', extra: 1 }],
    ['connect', { multiaddr: ['/ip4/127.0.0.1/tcp/1'] }],
    ['connect', { multiaddr: 'ip4/127.0.0.1' }],
    ['get', { cid: 1 }],
    ['get', { cid: CID, out: 'relative' }],
    ['get', { cid: CID, from: '/ip4/127.0.0.1/tcp/1' }],
    ['get', { cid: CID, from: [1] }],
    ['get', { cid: CID, from: Array.from({ length: 65 }, () => '/ip4/127.0.0.1/tcp/1') }],
    ['get', { cid: CID, timeoutMs: -1 }],
    ['get', { cid: CID, timeoutMs: 1.5 }],
    ['get', { cid: CID, timeoutMs: '100' }],
    ['get', { cid: CID, inBand: 'yes' }],
    ['get', { cid: CID, inBand: true, from: ['/ip4/127.0.0.1/tcp/1'] }],
    ['search', { query: '' }],
    ['search', { query: '   ' }],
    ['search', { query: 'x', timeoutMs: null }],
    ['stop', { now: true }]
  ]
  for (const [route, body] of cases) {
    const reply = await call({ method: 'POST', path: `/api/v1/${route}`, body: JSON.stringify(body) })
    assert.equal(reply.status, 400, `${route} ${JSON.stringify(body)}`)
    assert.equal(reply.json.error.code, 'ERR_INVALID_REQUEST')
  }
  // the limits themselves are fine
  const ok = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'two words', timeoutMs: 1000 }) })
  assert.equal(ok.status, 200)
  assert.equal(ok.json.results[0].name, 'two words')
  const from = Array.from({ length: 64 }, () => '/ip4/127.0.0.1/tcp/1')
  const get = await call({ method: 'POST', path: '/api/v1/get', body: JSON.stringify({ cid: CID, from, timeoutMs: 2_147_483_647 }) })
  assert.equal(get.status, 200)
  assert.ok('result' in JSON.parse(get.text.trimEnd().split('\n').at(-1) ?? ''))
})

test('the api file holds url and token with mode 0600 and goes away on close', async (t) => {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-api-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  const server = await startApiServer({ api: fakeApi(), host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  t.after(async () => { await server.close() })
  const file = join(repo, 'api')
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { url: server.url, token: server.token })
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.match(server.token, /^[A-Za-z0-9_-]{43}$/)
  await server.close()
  await assert.rejects(stat(file), { code: 'ENOENT' })
  await server.close() // idempotent
})

test('close leaves an api file that another daemon wrote since', async (t) => {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-api-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  const server = await startApiServer({ api: fakeApi(), host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  t.after(async () => { await server.close() })
  const other = JSON.stringify({ url: 'http://127.0.0.1:1', token: 'other' })
  await writeFile(join(repo, 'api'), other)
  await server.close()
  assert.equal(await readFile(join(repo, 'api'), 'utf8'), other)
})

test('the server refuses a non-loopback host', async () => {
  const started = startApiServer({ api: fakeApi(), host: '0.0.0.0', port: 0, repo: tmpdir(), logger: silentLogger() })
  await assert.rejects(started.then(async (server) => { await server.close() }), { code: 'ERR_INVALID_OPTION' })
})

test('get streams throttled progress, then the result', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ method: 'POST', path: '/api/v1/get', body: JSON.stringify({ cid: CID, out: '/tmp/out.txt', from: ['/ip4/127.0.0.1/tcp/1'] }) })
  assert.equal(reply.status, 200)
  assert.match(String(reply.headers['content-type']), /^application\/x-ndjson/)
  const lines = reply.text.trimEnd().split('\n').map((line) => JSON.parse(line))
  const progress = lines.slice(0, -1)
  assert.ok(progress.length >= 1, 'at least one progress line')
  // 100 updates in one burst, then 250 ms: the first goes out at once, the latest after 100 ms
  assert.ok(progress.length <= 3, `throttled, got ${progress.length} progress lines`)
  for (const line of progress) {
    assert.deepEqual(Object.keys(line), ['progress'])
  }
  assert.equal(progress.at(-1).progress.have, 100, 'the latest progress wins')
  assert.deepEqual(lines.at(-1), { result: { cid: CID, path: '/tmp/out.txt', size: 100, sources: ['12D3KooWFake'], fetched: 100, resumed: 0, badPeers: [] } })
})

test('a get that fails ends the stream with the error line', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ method: 'POST', path: '/api/v1/get', body: JSON.stringify({ cid: 'missing' }) })
  assert.equal(reply.status, 200)
  const lines = reply.text.trimEnd().split('\n').map((line) => JSON.parse(line))
  assert.deepEqual(lines.at(-1), { error: { code: 'ERR_NOT_FOUND', message: 'no source has missing' } })
})

test('a client that goes away aborts its get', async (t) => {
  const { server, api } = await setup(t)
  const port = Number(new URL(server.url).port)
  await new Promise<void>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/v1/get',
      agent: false,
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }
    }, (res) => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', () => {})
    req.end(JSON.stringify({ cid: 'hang' }))
    setTimeout(() => { reject(new Error('no progress line')) }, 2000).unref()
  })
  for (let i = 0; i < 100 && api.aborted.length === 0; i++) {
    await sleep(10)
  }
  assert.deepEqual(api.aborted, ['hang'])
})

test('ERR_NOT_FOUND maps to 404 with the error document', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'missing' }) })
  assert.equal(reply.status, 404)
  assert.deepEqual(reply.json, { error: { code: 'ERR_NOT_FOUND', message: 'nothing matches "missing"' } })
})

test('an unexpected error is a 500 without a stack trace', async (t) => {
  const { call } = await setup(t)
  const reply = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'crash' }) })
  assert.equal(reply.status, 500)
  assert.deepEqual(reply.json, { error: { code: 'ERR_INTERNAL', message: 'boom' } })
  assert.doesNotMatch(reply.text, /secret/)
})

test('the other routes answer with the daemon data', async (t) => {
  const { call, api } = await setup(t)
  assert.deepEqual((await call({ method: 'POST', path: '/api/v1/share', body: JSON.stringify({ path: '/tmp/b.txt' }) })).json,
    { cid: CID, name: 'b.txt', size: 3, path: '/tmp/b.txt' })
  assert.equal((await call({ path: '/api/v1/ls' })).json.files.length, 1)
  assert.deepEqual((await call({ method: 'POST', path: '/api/v1/connect', body: JSON.stringify({ multiaddr: '/ip4/127.0.0.1/tcp/1/p2p/QmX' }) })).json,
    { peerId: 'QmX' })
  assert.deepEqual((await call({ path: '/api/v1/peers' })).json, { peers: [] })
  assert.deepEqual((await call({ path: '/api/v1/stats' })).json, { uptimeMs: 1 })
  assert.deepEqual((await call({ path: '/api/v1/id?x=1' })).json.modes, ['flood'])
  assert.deepEqual((await call({ method: 'POST', path: '/api/v1/stop', body: '{}' })).json, { ok: true })
  assert.equal(api.stopped, 1)
})

test('search with "stream": true: a plain document when nothing streams, a 4xx before the first hit, "stream" must be a boolean', async (t) => {
  const { call } = await setup(t)
  const plain = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'two words', stream: true }) })
  assert.equal(plain.status, 200)
  assert.equal(plain.json.results[0].name, 'two words')
  const missing = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'missing', stream: true }) })
  assert.equal(missing.status, 404)
  const bad = await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'x', stream: 'yes' }) })
  assert.equal(bad.status, 400)
  assert.equal(bad.json.error.code, 'ERR_INVALID_REQUEST')
})

test('no answer carries an access-control-* header, preflight (OPTIONS) and errors included', async (t) => {
  const { call, port } = await setup(t)
  const routes = ['id', 'ls', 'peers', 'stats', 'share', 'connect', 'search', 'stop', 'get', 'nope']
  const origins = [undefined, 'http://evil.example', `http://127.0.0.1:${port}`, 'null']
  const statuses = new Map<number, number>()
  let answers = 0
  let acHeaders = 0
  const check = (what: string, reply: Reply): void => {
    answers++
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1)
    const found = Object.keys(reply.headers).filter((h) => h.toLowerCase().startsWith('access-control-'))
    acHeaders += found.length
    assert.deepEqual(found, [], `${what} answered ${reply.status} with ${found.join(', ')}`)
  }
  for (const route of routes) {
    for (const origin of origins) {
      for (const token of [undefined, null]) {
        const headers: Record<string, string> = origin === undefined ? {} : { origin }
        // a browser's preflight: no credentials, asks for a method and headers
        check(`OPTIONS ${route}`, await call({ method: 'OPTIONS', path: `/api/v1/${route}`, token, headers: { ...headers, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } }))
        check(`GET ${route}`, await call({ path: `/api/v1/${route}`, token, headers }))
        const body = route === 'search' ? { query: 'x' } : route === 'get' ? { cid: CID } : route === 'share' ? { path: '/tmp/a' } : route === 'connect' ? { multiaddr: '/ip4/127.0.0.1/tcp/1/p2p/QmX' } : {}
        check(`POST ${route}`, await call({ method: 'POST', path: `/api/v1/${route}`, token, headers, body: JSON.stringify(body) }))
      }
    }
  }
  check('413', await call({ method: 'POST', path: '/api/v1/share', body: ' '.repeat(API_LIMITS.maxBodyBytes + 1) }))
  check('415', await call({ method: 'POST', path: '/api/v1/share', body: '{}', headers: { 'content-type': 'text/plain' } }))
  check('streamed search', await call({ method: 'POST', path: '/api/v1/search', body: JSON.stringify({ query: 'x', stream: true }) }))
  const summary = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status} x${n}`).join(', ')
  t.diagnostic(`${answers} answers (${summary}); access-control-* headers: ${acHeaders}`)
  assert.ok(statuses.get(200) !== undefined && statuses.get(401) !== undefined && statuses.get(403) !== undefined && statuses.get(405) !== undefined, 'successes and every refusal were seen')
  assert.equal(acHeaders, 0)
})

test('control API checklist: loopback only, Host, Origin, token, methods, body cap, paths (figures)', async (t) => {
  const rows: string[] = []
  const row = (what: string, got: string | number): void => { rows.push(`${what} -> ${got}`) }

  // binding: the default is loopback, and every non-loopback host is refused,
  // with or without a token (there is no option to open the API to a network)
  assert.match(DEFAULTS.api, /^127\.0\.0\.1:\d+$/)
  row('default --api', DEFAULTS.api)
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '127.0.0.1.nip.io']) {
    const started = startApiServer({ api: fakeApi(), host, port: 0, repo: tmpdir(), logger: silentLogger() })
    await assert.rejects(started.then(async (server) => { await server.close() }), { code: 'ERR_INVALID_OPTION' }, host)
    row(`bind ${host}`, 'ERR_INVALID_OPTION')
  }
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost']) {
    const repo = await mkdtemp(join(tmpdir(), 'sedai-api-'))
    const server = await startApiServer({ api: fakeApi(), host, port: 0, repo, logger: silentLogger() })
    row(`bind ${host}`, new URL(server.url).hostname)
    await server.close()
    await rm(repo, { recursive: true, force: true })
  }

  const { call, port, server } = await setup(t)
  const status = async (what: string, c: Call, expected: number): Promise<void> => {
    const reply = await call(c)
    row(what, reply.status)
    assert.equal(reply.status, expected, what)
  }
  await status('right token and Host', { path: '/api/v1/id' }, 200)
  await status('no token', { path: '/api/v1/id', token: null }, 401)
  await status('wrong token', { path: '/api/v1/id', token: server.token.slice(0, -1) + (server.token.endsWith('A') ? 'B' : 'A') }, 401)
  await status('foreign Host (token right)', { path: '/api/v1/id', headers: { host: `evil.example:${port}` } }, 403)
  await status('foreign Origin (token right)', { path: '/api/v1/id', headers: { origin: 'http://evil.example' } }, 403)
  for (const route of ['share', 'connect', 'search', 'get', 'stop']) {
    await status(`GET ${route}`, { path: `/api/v1/${route}` }, 405)
  }
  // the cap is on the bytes read: JSON whitespace pads a valid body to exactly the limit
  const body = (n: number): string => { const b = JSON.stringify({ path: '/tmp/a' }); return b + ' '.repeat(n - b.length) }
  await status(`body of ${API_LIMITS.maxBodyBytes} bytes`, { method: 'POST', path: '/api/v1/share', body: body(API_LIMITS.maxBodyBytes) }, 200)
  await status(`body of ${API_LIMITS.maxBodyBytes + 1} bytes`, { method: 'POST', path: '/api/v1/share', body: body(API_LIMITS.maxBodyBytes + 1) }, 413)
  await status(`chunked body of ${API_LIMITS.maxBodyBytes + 1} bytes`, { method: 'POST', path: '/api/v1/share', body: body(API_LIMITS.maxBodyBytes + 1), headers: { 'transfer-encoding': 'chunked' } }, 413)
  // get's folder is the caller's own choice (it holds the token), but it must be absolute and NUL-free;
  // file names from the network are checked by the manifest decoder (test/hostile-transfer.test.ts)
  for (const out of ['../../x', 'x', '/tmp/a\0b', '']) {
    await status(`get out=${JSON.stringify(out)}`, { method: 'POST', path: '/api/v1/get', body: JSON.stringify({ cid: CID, out }) }, 400)
  }
  await status('share path="../../x"', { method: 'POST', path: '/api/v1/share', body: JSON.stringify({ path: '../../x' }) }, 400)
  t.diagnostic(rows.join('; '))
})
