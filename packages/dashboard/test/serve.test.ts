/**
 * The dashboard's server side behind the real control API server (with a
 * stub daemon): headers, the Host/Origin/Sec-Fetch-Site refusals, no token
 * in the page, a missing build, and the event stream.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { silentLogger } from '@sedai/core/logger'
import { startApiServer } from '../../cli/src/api-server.ts'
import { createDashboard, DASHBOARD_PATHS, DEFAULT_DIST } from '../src/index.ts'
import type { DaemonApi, OverlayInfo } from '../../cli/src/daemon-api.ts'
import type { TestContext } from 'node:test'

const PEER = '12D3KooWFake'

function stubApi (): DaemonApi {
  const overlay: OverlayInfo = {
    self: PEER,
    modes: ['flood'],
    nodes: [{ id: PEER, kind: 'self', kinds: ['self'], connected: true }, { id: 'n1', kind: 'neighbour', kinds: ['neighbour'], connected: true }],
    edges: [{ id: 'neighbour:n1', source: PEER, target: 'n1', kind: 'neighbour' }],
    buckets: []
  }
  return {
    id: async () => ({ peerId: PEER, addrs: [], modes: ['flood'] }),
    share: async () => ({ shared: [] }),
    ls: async () => ({ files: [] }),
    connect: async () => ({ peerId: PEER }),
    get: async () => { throw new Error('not here') },
    search: async () => ({ results: [] }),
    peers: async () => ({ peers: [] }),
    stats: async () => ({}),
    overlay: async () => overlay,
    downloads: async () => ({ downloads: [] }),
    stop: async () => {}
  }
}

/** A fake build: a page, a script and a stylesheet. */
async function fakeDist (t: TestContext): Promise<string> {
  const dist = await mkdtemp(join(tmpdir(), 'sedai-dash-dist-'))
  t.after(async () => { await rm(dist, { recursive: true, force: true }) })
  await writeFile(join(dist, 'index.html'), `<!doctype html><link rel="stylesheet" href="${DASHBOARD_PATHS.style}"><script type="module" src="${DASHBOARD_PATHS.script}"></script>`)
  await writeFile(join(dist, 'app.js'), 'console.log("app")')
  await writeFile(join(dist, 'style.css'), 'body {}')
  return dist
}

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, text: string }

async function setup (t: TestContext, dist?: string): Promise<{ url: string, token: string, call: (path: string, headers?: Record<string, string>, method?: string) => Promise<Reply> }> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-dash-'))
  const server = await startApiServer({ api: stubApi(), host: '127.0.0.1', port: 0, repo, logger: silentLogger(), dashboard: createDashboard({ dist: dist ?? await fakeDist(t) }) })
  t.after(async () => { await server.close(); await rm(repo, { recursive: true, force: true }) })
  const call = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> => await new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, text }) })
    })
    req.on('error', reject)
    req.end()
  })
  return { url: server.url, token: server.token, call }
}

test('the page: no token in it, strict headers, no CORS', async (t) => {
  const { token, call } = await setup(t)
  const page = await call('/')
  assert.equal(page.status, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  const csp = String(page.headers['content-security-policy'])
  assert.match(csp, /default-src 'self'/)
  assert.match(csp, /frame-ancestors 'none'/)
  assert.equal(page.headers['x-frame-options'], 'DENY')
  assert.equal(page.headers['x-content-type-options'], 'nosniff')
  assert.equal(page.headers['referrer-policy'], 'no-referrer')
  assert.equal(page.headers['cache-control'], 'no-store')
  assert.deepEqual(Object.keys(page.headers).filter(h => h.startsWith('access-control-')), [])
  // the page is served to anyone who reaches the port, so it carries no secret: the user gives the token
  assert.ok(!page.text.includes(token))
  const urls = [...page.text.matchAll(/(?:src|href|action)="([^"]*)"/g)].map(m => m[1])
  assert.ok(urls.length >= 2)
  assert.deepEqual(urls.filter(u => u.includes(token)), [])
  // no token needed for the page and its files; a query string changes nothing
  assert.equal((await call('/?x=1')).status, 200)
  const script = await call(DASHBOARD_PATHS.script)
  assert.equal(script.status, 200)
  assert.match(String(script.headers['content-type']), /^text\/javascript/)
  assert.ok(!script.text.includes(token))
  assert.equal((await call(DASHBOARD_PATHS.style)).headers['content-type'], 'text/css; charset=utf-8')
  assert.equal((await call(DASHBOARD_PATHS.favicon)).status, 204)
  // every other path still needs the token
  assert.equal((await call('/index.html')).status, 401)
  assert.equal((await call('/', {}, 'POST')).status, 401)
  assert.equal((await call('/api/v1/overlay')).status, 401)
})

test('the page is refused to a foreign Host, a foreign Origin and a cross-site fetch', async (t) => {
  const { url, call } = await setup(t)
  const port = new URL(url).port
  const refused: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { origin: `http://evil.example:${port}` },
    { origin: 'null' },
    { origin: `https://127.0.0.1:${port}` },
    { host: `evil.example:${port}` },
    { 'sec-fetch-site': 'cross-site' }
  ]
  for (const headers of refused) {
    for (const path of ['/', DASHBOARD_PATHS.script]) {
      const reply = await call(path, headers)
      assert.equal(reply.status, 403, `${path} ${JSON.stringify(headers)}`)
      assert.equal(JSON.parse(reply.text).error.code, 'ERR_FORBIDDEN')
    }
  }
  // the page's own origin, and a navigation typed into the address bar, pass
  assert.equal((await call('/', { origin: url })).status, 200)
  assert.equal((await call('/', { origin: `http://localhost:${port}` })).status, 200)
  assert.equal((await call('/', { 'sec-fetch-site': 'none' })).status, 200)
  assert.equal((await call('/', { 'sec-fetch-site': 'same-origin' })).status, 200)
})

test('without a build the page says what to run (503)', async (t) => {
  const { call } = await setup(t, join(tmpdir(), 'sedai-no-such-dist'))
  const reply = await call('/')
  assert.equal(reply.status, 503)
  assert.match(reply.text, /npm run build:dashboard/)
  assert.equal(reply.headers['x-frame-options'], 'DENY')
})

test('the event stream sends the overlay with the token, and nothing without it', async (t) => {
  const { url, token, call } = await setup(t)
  assert.equal((await call('/api/v1/events')).status, 401)
  assert.equal((await call('/api/v1/events', { authorization: `Bearer ${token}`, origin: 'http://evil.example' })).status, 403)
  const overlay = await call('/api/v1/overlay', { authorization: `Bearer ${token}` })
  assert.equal(JSON.parse(overlay.text).edges.length, 1)
  // read the stream until the four topics came, then hang up
  const events = await new Promise<string[]>((resolve, reject) => {
    const req = request(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      assert.equal(res.statusCode, 200)
      assert.match(String(res.headers['content-type']), /^text\/event-stream/)
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => {
        text += d
        const names = [...text.matchAll(/^event: (\w+)$/gm)].map(m => m[1])
        if (names.length >= 4) { req.destroy(); resolve(names) }
      })
    })
    req.on('error', reject)
    req.end()
  })
  assert.deepEqual(events.sort(), ['downloads', 'files', 'node', 'overlay'])
})

test('the built page (dist/): a sign-in form, no token, no inline script or style', async () => {
  const html = await readFile(join(DEFAULT_DIST, 'index.html'), 'utf8').catch(() => {
    throw new Error(`no build in ${DEFAULT_DIST}: run npm run build:dashboard`)
  })
  assert.match(html, /<input id="login-token"[^>]*type="password"/)
  assert.doesNotMatch(html, /sedai-token|__SEDAI/, 'no token slot: the daemon puts no secret in the page')
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file (the CSP refuses inline ones)')
  assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style (the CSP refuses it)')
  assert.ok(html.includes(`src="${DASHBOARD_PATHS.script}"`))
})
