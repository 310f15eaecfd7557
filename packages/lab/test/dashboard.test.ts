/**
 * The lab view's server side (src/dashboard.ts) without a lab: a fake run
 * (stats and overlays made up) fed through the observer, and the HTTP rules:
 * the page without a token, the API only with it, foreign Host/Origin/site
 * refused, the page's security headers, no CORS, the token file 0600.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { DASHBOARD_HEADERS } from '@sedai/dashboard'
import { DEFAULTS } from '../src/config.ts'
import { LabDashboardError } from '../src/errors.ts'
import { parseDashboardAddress, startLabDashboard } from '../src/dashboard.ts'
import type { LabView } from '../src/dashboard.ts'
import type { Nodes } from '../src/nodes.ts'
import type { RunSpec } from '../src/topology.ts'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function get (url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('--dashboard takes loopback [HOST:]PORT only', () => {
  assert.deepEqual(parseDashboardAddress('8090'), { host: '127.0.0.1', port: 8090 })
  assert.deepEqual(parseDashboardAddress('localhost:0'), { host: 'localhost', port: 0 })
  assert.deepEqual(parseDashboardAddress('[::1]:5090'), { host: '::1', port: 5090 })
  for (const bad of ['0.0.0.0:8090', '192.168.1.2:80', 'example.com:80', 'x', '127.0.0.1:99999']) {
    assert.throws(() => parseDashboardAddress(bad), (err: any) => err instanceof LabDashboardError && err.code === 'ERR_LAB_DASHBOARD', bad)
  }
})

test('lab dashboard server: token, Host/Origin checks, headers, and a view built from stats and overlays', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sedai-lab-dashboard-'))
  t.after(async () => { await rm(out, { recursive: true, force: true }) })
  await assert.rejects(startLabDashboard({ host: '0.0.0.0', port: 0, out }), { code: 'ERR_LAB_DASHBOARD' })
  const dash = await startLabDashboard({ host: '127.0.0.1', port: 0, out, sampleMs: 40 })
  t.after(async () => { await dash.close() })
  const auth = { authorization: `Bearer ${dash.token}` }

  // the token file: url and token, the owner's only
  const file = join(out, DEFAULTS.dashboardFile)
  assert.equal(dash.file, file)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { url: `${dash.url}/`, token: dash.token })

  // the page: no token needed, none in it, the dashboard's headers, no CORS
  const page = await get(`${dash.url}/`)
  assert.equal(page.status, 200)
  assert.match(page.body, /lab\.js/)
  assert.ok(!page.body.includes(dash.token))
  for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) assert.equal(page.headers[k], v, k)
  assert.equal((await get(`${dash.url}/dashboard/lab.js`)).status, 200)
  assert.equal((await get(`${dash.url}/favicon.ico`)).status, 204)

  // the API: 401 without the token or with a wrong one, 200 with it
  const none = await get(`${dash.url}/api/v1/lab`)
  assert.equal(none.status, 401)
  assert.equal(JSON.parse(none.body).error.code, 'ERR_UNAUTHORIZED')
  assert.equal((await get(`${dash.url}/api/v1/events`)).status, 401)
  assert.equal((await get(`${dash.url}/api/v1/lab`, { authorization: 'Bearer nope' })).status, 401)
  const ok = await get(`${dash.url}/api/v1/lab`, auth)
  assert.equal(ok.status, 200)
  for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) assert.equal(ok.headers[k], v, k)
  assert.equal((JSON.parse(ok.body) as LabView).phase, 'waiting')
  assert.equal((await get(`${dash.url}/api/v1/nothing`, auth)).status, 404)

  // foreign Host (DNS rebinding), Origin, cross-site: 403 even with the token
  const foreign: Array<Record<string, string>> = [{ host: 'evil.example' }, { origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }]
  for (const bad of foreign) {
    assert.equal((await get(`${dash.url}/`, bad)).status, 403, JSON.stringify(bad))
    const api = await get(`${dash.url}/api/v1/lab`, { ...auth, ...bad })
    assert.equal(api.status, 403, JSON.stringify(bad))
    assert.equal(Object.keys(api.headers).filter(h => h.startsWith('access-control-')).length, 0)
  }
  // its own origin passes
  assert.equal((await get(`${dash.url}/api/v1/lab`, { ...auth, origin: dash.url })).status, 200)

  // a fake flood run of three peers in a line, 0 - 1 - 2: each reports its own links (as overlay() does)
  const ids = ['peerA', 'peerB', 'peerC']
  const links: Record<number, number[]> = { 0: [1], 1: [0, 2], 2: [1] }
  let tick = 0
  const dead = new Set<number>()
  const live = (): number[] => [0, 1, 2].filter(i => !dead.has(i))
  const nodes = {
    stats: async () => new Map(live().map(i => [i, {
      peerId: ids[i],
      connections: links[i].length,
      messages: { flood: { out: { QUERY: 10 * tick * (i + 1) }, in: { QUERY: tick } } },
      bytes: { flood: { out: { QUERY: 100 * tick } } },
      // every link carries 5 queries each way per tick
      flood: { neighbours: links[i].map(j => ({ peerId: ids[j], queriesIn: 5 * tick })) }
    }])),
    overlays: async () => new Map(live().map(i => [i, {
      self: ids[i],
      edges: [...links[i].map(j => ({ source: ids[i], target: ids[j], kind: 'neighbour' })), { source: ids[i], target: 'outsider', kind: 'connection' }]
    }]))
  } as unknown as Nodes
  const spec = { id: 'flood-3', generation: 'flood', peers: 3 } as unknown as RunSpec
  dash.observer.runStarted({ spec, nodes, peers: [0, 1, 2].map(index => ({ index, listen: '', repo: '', modes: ['flood'], bootstrap: [] })), searches: 4 })
  dash.observer.phase('search')
  const ticker = setInterval(() => { tick++ }, 20)
  t.after(() => { clearInterval(ticker) })
  let view = dash.view()
  for (let i = 0; i < 100 && !(view.edges.length === 2 && view.edges.every(e => (e.msgRate ?? 0) > 0)); i++) { await sleep(30); view = dash.view() }
  assert.deepEqual(view.nodes.map(n => [n.peerId, n.kind, n.state]), [['peerA', 'flood', 'up'], ['peerB', 'flood', 'up'], ['peerC', 'flood', 'up']])
  // A→B and B→A are one edge; the plain connection to a non-lab peer is none
  assert.deepEqual(view.edges.map(e => [e.source, e.target, e.kinds]), [['peerA', 'peerB', ['neighbour']], ['peerB', 'peerC', ['neighbour']]])
  assert.ok(view.nodes.every(n => n.msgRate > 0 && n.byteRate > 0), JSON.stringify(view.nodes))
  assert.ok(view.nodes[2].msgRate > view.nodes[0].msgRate, 'peer 2 sends three times what peer 0 does')
  dash.observer.search({ ok: true })
  dash.observer.search({ ok: false })

  // a kill: the node is dead, its links too, until the others stop naming it
  dead.add(2)
  dash.observer.killed([2])
  view = dash.view()
  assert.equal(view.nodes[2].state, 'dead')
  assert.deepEqual(view.faults.map(f => [f.kind, f.peers]), [['kill', [2]]])
  assert.deepEqual(view.searches, { done: 2, ok: 1, total: 4 })
  assert.equal(view.edges.find(e => e.target === 'peerC')?.dead, true)
  await sleep(200)
  assert.equal(dash.view().nodes[2].state, 'dead', 'a sample does not revive it')

  // the event stream sends the view
  const events = await new Promise<string>((resolve, reject) => {
    const req = request(`${dash.url}/api/v1/events`, { headers: auth }, (res) => {
      assert.equal(res.statusCode, 200)
      assert.match(String(res.headers['content-type']), /text\/event-stream/)
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c; if (text.includes('\n\n')) { req.destroy(); resolve(text) } })
    })
    req.on('error', reject)
    req.end()
  })
  assert.match(events, /^event: lab\ndata: \{/)
  assert.equal((JSON.parse(events.split('data: ')[1]) as LabView).run?.id, 'flood-3')

  dash.observer.runEnded()
  assert.equal(dash.view().phase, 'done')
  await dash.close()
  await assert.rejects(stat(file), { code: 'ENOENT' }, 'the token file goes with the server')
})

test('lab view of a directory network: kinds by role, clients online at the server linked to it, rates per node only', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sedai-lab-dashboard-'))
  t.after(async () => { await rm(out, { recursive: true, force: true }) })
  const dash = await startLabDashboard({ host: '127.0.0.1', port: 0, out, sampleMs: 30 })
  t.after(async () => { await dash.close() })
  const ids = ['server', 'clientA', 'clientB']
  const nodes = {
    stats: async () => new Map([
      [0, { peerId: ids[0], 'directory-server': { peersOnline: 1 } }],
      [1, { peerId: ids[1], directory: { state: 'online' } }],
      [2, { peerId: ids[2], directory: { state: 'connecting' } }]
    ]),
    // the lab's --directory addresses carry no /p2p/ part: the clients' overlays do not name the server
    overlays: async () => new Map([[0, { self: ids[0], edges: [] }], [1, { self: ids[1], edges: [] }], [2, { self: ids[2], edges: [] }]])
  } as unknown as Nodes
  const spec = { id: 'directory-3', generation: 'directory', peers: 3 } as unknown as RunSpec
  dash.observer.runStarted({ spec, nodes, searches: 0, peers: [
    { index: 0, listen: '', repo: '', modes: ['directory-server'], bootstrap: [] },
    { index: 1, listen: '', repo: '', modes: ['directory'], bootstrap: [], directory: '/ip4/127.0.0.1/tcp/1' },
    { index: 2, listen: '', repo: '', modes: ['directory'], bootstrap: [], directory: '/ip4/127.0.0.1/tcp/1' }
  ] })
  let view = dash.view()
  for (let i = 0; i < 100 && view.edges.length === 0; i++) { await sleep(20); view = dash.view() }
  assert.deepEqual(view.nodes.map(n => n.kind), ['directory-server', 'directory', 'directory'])
  assert.deepEqual(view.edges.map(e => [e.source, e.target, e.kinds, e.msgRate]), [['clientA', 'server', ['directory-server'], undefined]])
  dash.observer.killed([0])
  assert.equal(dash.view().edges[0].dead, true, 'a dead server takes its links down with it')
  dash.observer.runEnded()
})
