/**
 * The dashboard end to end, in real headless Chromium (the one npm installs
 * with @sparticuz/chromium, see test/helpers/chromium.ts, driven by
 * playwright-core): four flood daemons on 127.0.0.1 in a star, the
 * page opened on the hub's API address, a search with live results, a
 * download watched to completion, the overlay graph's nodes and edges, and
 * the token model (the user signs in with it; never in a URL or the page;
 * the page refused to foreign origins).
 * Saves docs/dashboard.png when it is missing or SEDAI_UPDATE_SCREENSHOT=1.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePorts } from '@sedai/core'
import { ApiClient, readApiFile } from '../../cli/src/api-client.ts'
import { DEFAULT_DIST } from '../src/index.ts'
import { launchChromium } from '../../../test/helpers/chromium.ts'
import { sha256File, writeRandomFile } from '../../../test/helpers/files.ts'
import { startDaemon, until } from '../../../test/helpers/testnet.ts'
import type { Core } from 'cytoscape'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import type { TestDaemon } from '../../../test/helpers/testnet.ts'

// what the functions given to page.evaluate see in the browser (the root tsconfig has no DOM lib)
declare const window: { sedaiDashboard?: { cy: Core, state: { downloads: Array<{ cid: string, state: string, size?: number, sources: string[] }> } } }
declare const document: {
  getElementById: (id: string) => { textContent: string | null, dataset: Record<string, string | undefined>, disabled?: boolean } | null
  documentElement: { outerHTML: string }
}

const SCREENSHOT = fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url))
/** a pinned overlay: no topping up from the host cache, so the star stays a star */
const FIXED = { SEDAI_FLOOD_MIN_NEIGHBOURS: '0', SEDAI_FLOOD_MAX_NEIGHBOURS: '8', SEDAI_LOG_LEVEL: 'warn' }
const FILE_SIZE = 3 * 1024 * 1024
const LEAVES = 3

/** A hub and LEAVES leaves, each leaf bootstrapped to the hub only. */
async function star (t: TestContext): Promise<{ hub: TestDaemon, leaves: TestDaemon[] }> {
  const [hubPort] = await freePorts(1)
  const hubAddr = `/ip4/127.0.0.1/tcp/${hubPort}`
  const hub = await startDaemon(t, { args: ['--mode', 'flood', '--listen', hubAddr], env: FIXED })
  const leaves = await Promise.all(Array.from({ length: LEAVES }, async () =>
    await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', hubAddr], env: FIXED })))
  const api = new ApiClient(await readApiFile(hub.repo), hub.repo)
  await until('the hub has every leaf as a neighbour', 60_000, async () => {
    const stats = await api.stats() as { flood?: { neighbourCount?: number } }
    return stats.flood?.neighbourCount === LEAVES ? true : undefined
  })
  return { hub, leaves }
}

/** A GET with the headers given (node's http, which sends exactly those). */
async function get (url: string, headers: Record<string, string>): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

test('dashboard in headless Chromium: node, graph, live search, download to completion, token model', async (t) => {
  assert.ok(existsSync(join(DEFAULT_DIST, 'app.js')), `the dashboard is not built (${DEFAULT_DIST}): run npm run build:dashboard`)

  const work = await mkdtemp(join(tmpdir(), 'sedai-dashboard-'))
  t.after(async () => { await rm(work, { recursive: true, force: true }) })
  const { hub, leaves } = await star(t)
  const holder = leaves[LEAVES - 1]
  const source = join(work, 'nebula-dashboard-e2e.bin')
  await writeRandomFile(source, FILE_SIZE)
  const shared = await holder.cli(['share', source])
  assert.equal(shared.code, 0, shared.stderr)
  const cid: string = shared.json.cid
  const { url, token } = await readApiFile(hub.repo)
  // what a user runs to sign in: the page's address and the token, the token not in the address
  const printed = await hub.cli(['dashboard'])
  assert.equal(printed.code, 0, printed.stderr)
  assert.deepEqual(printed.json, { url: `${url}/`, token })

  const context = await launchChromium(join(work, 'chromium-profile'), { viewport: { width: 1280, height: 1100 } })
  t.after(async () => { await context.close() })
  const page = context.pages()[0] ?? await context.newPage()
  const requests: string[] = []
  const problems: string[] = []
  context.on('request', (r) => { requests.push(r.url()) })
  page.on('pageerror', (err) => { problems.push(`page error: ${err.message}`) })
  // (the deliberate wrong sign-in below makes Chromium log its 401)
  page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().includes('401 (Unauthorized)')) problems.push(`console: ${msg.text()}`) })
  context.on('requestfailed', (r) => {
    // Chromium reports a streamed no-store response read to its end as ERR_ABORTED (microsoft/playwright#42742): answered, so fine
    r.response().then((answered) => {
      if (answered === null) problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`)
    }, () => {})
  })

  // the page carries no secret: it asks for the token; a wrong one is refused, the right one opens the app
  const response = await page.goto(`${url}/`)
  assert.equal(response?.status(), 200)
  assert.ok(!(await response?.text() ?? '').includes(token), 'the token is not in the page')
  await page.locator('#login-token').waitFor({ state: 'visible', timeout: 15_000 })
  assert.equal(await page.locator('#app').isVisible(), false)
  await page.fill('#login-token', 'not-the-token')
  await page.click('#login-button')
  await page.waitForFunction(() => (document.getElementById('login-status')?.textContent ?? '').includes('refused'), undefined, { timeout: 15_000 })
  await page.fill('#login-token', token)
  await page.click('#login-button')
  // the stream and the node panel
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'live', undefined, { timeout: 15_000 })
  await page.waitForFunction((peerId) => document.getElementById('self')?.textContent === peerId, hub.peerId, { timeout: 15_000 })
  assert.match(await page.locator('#node').innerText(), /flood/)

  // the graph: the hub and its three neighbours, one edge each
  await page.waitForFunction((n) => {
    const cy = window.sedaiDashboard?.cy
    return cy !== undefined && cy.nodes().length === n + 1 && cy.edges().length === n
  }, LEAVES, { timeout: 30_000 })
  const graph = await page.evaluate(() => {
    const cy = window.sedaiDashboard?.cy
    if (cy === undefined) throw new Error('no graph')
    return {
      nodes: cy.nodes().map(n => ({ id: n.id(), kind: n.data('kind') as string })),
      edges: cy.edges().map(e => ({ source: e.source().id(), target: e.target().id(), kind: e.data('kind') as string }))
    }
  })
  assert.deepEqual(graph.nodes.filter(n => n.kind === 'self').map(n => n.id), [hub.peerId])
  assert.deepEqual(graph.nodes.filter(n => n.kind === 'neighbour').map(n => n.id).sort(), leaves.map(l => l.peerId).sort())
  assert.ok(graph.edges.every(e => e.source === hub.peerId && e.kind === 'neighbour'), JSON.stringify(graph.edges))
  t.diagnostic(`graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges`)

  // search: the hit arrives over the streamed response
  await page.fill('#search-query', 'nebula')
  await page.click('#search-button')
  const row = page.locator(`#search-results tbody tr[data-cid="${cid}"]`)
  await row.waitFor({ timeout: 20_000 })
  assert.match(await row.innerText(), /nebula-dashboard-e2e\.bin/)

  // download: progress through the event stream until done
  await row.locator('button.download').click()
  const done = page.locator(`#downloads tbody tr[data-cid="${cid}"][data-state="done"]`)
  await done.waitFor({ timeout: 60_000 })
  const download = await page.evaluate((c) => window.sedaiDashboard?.state.downloads.find(d => d.cid === c), cid)
  assert.equal(download?.state, 'done')
  assert.equal(download?.size, FILE_SIZE)
  assert.ok(download?.sources.includes(holder.peerId), `sources ${JSON.stringify(download?.sources)} name the holder`)
  assert.match(await done.innerText(), /100%/)
  const fetched = join(hub.repo, 'files', 'nebula-dashboard-e2e.bin')
  assert.equal((await readFile(fetched)).length, FILE_SIZE)
  assert.equal(await sha256File(fetched), await sha256File(source))
  // the hub now shares it too, and the files panel shows it
  await page.locator(`#files tbody tr[data-cid="${cid}"]`).waitFor({ timeout: 10_000 })
  // the download came from a neighbour: the graph is unchanged
  assert.deepEqual(await page.evaluate(() => [window.sedaiDashboard?.cy.nodes().length, window.sedaiDashboard?.cy.edges().length]), [LEAVES + 1, LEAVES])

  // the search ends on its own (its timeout) with a count
  await page.waitForFunction(() => document.getElementById('search-button')?.disabled === false, undefined, { timeout: 20_000 })
  assert.match(await page.locator('#search-status').innerText(), /^1 result\b/)
  assert.equal(await row.locator('button.download').innerText(), 'Done')

  await page.screenshot({ path: join(work, 'dashboard.png'), fullPage: true })
  if (!existsSync(SCREENSHOT) || process.env.SEDAI_UPDATE_SCREENSHOT === '1') {
    await copyFile(join(work, 'dashboard.png'), SCREENSHOT)
    t.diagnostic(`screenshot saved to ${SCREENSHOT}`)
  }

  // a reload keeps the session (sessionStorage, this origin's only): no second sign-in
  await page.reload()
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'live', undefined, { timeout: 15_000 })
  assert.equal(await page.locator('#login').isVisible(), false)

  // the token: in no URL the browser requested, and not in the DOM (the field is cleared once accepted)
  assert.ok(requests.length > 5, `requests seen: ${requests.length}`)
  assert.deepEqual(requests.filter(u => u.includes(token)), [])
  assert.ok(!page.url().includes(token))
  assert.equal(await page.evaluate((tk) => document.documentElement.outerHTML.includes(tk), token), false)
  assert.deepEqual(problems, [])

  // a foreign origin: the page refused, with and without CORS (Origin / Sec-Fetch-Site)
  const foreign = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>elsewhere</title>') })
  await new Promise<void>((resolve) => { foreign.listen(0, '127.0.0.2', resolve) })
  t.after(() => { foreign.close() })
  const elsewhere = `http://127.0.0.2:${(foreign.address() as AddressInfo).port}/`
  const other = await context.newPage()
  await other.goto(elsewhere)
  const reads = await other.evaluate(async (target) => {
    const cors = await fetch(`${target}/`, { mode: 'cors' }).then(r => `read ${r.status}`, (err: Error) => `blocked: ${err.name}`)
    const opaque = await fetch(`${target}/`, { mode: 'no-cors' }).then(r => `${r.type} ${r.status}`, (err: Error) => `blocked: ${err.name}`)
    return { cors, opaque }
  }, url)
  assert.equal(reads.cors, 'blocked: TypeError', 'a foreign page cannot read the dashboard')
  assert.equal(reads.opaque, 'opaque 0')
  // the daemon refused both (403), whatever the browser would have let through: its log says so
  const foreignOrigin = elsewhere.slice(0, -1)
  await until('the daemon refused the foreign fetches', 10_000, async () => {
    const refusals = hub.logs().split('\n').filter(l => l.includes('refused a cross-'))
    const origin = refusals.some(l => l.includes('cross-origin') && l.includes(foreignOrigin))
    const site = refusals.some(l => l.includes('cross-site'))
    return origin && site ? true : undefined
  }, 100)
  // and straight from node: a foreign Origin, a cross-site fetch, a foreign Host
  assert.equal(await get(`${url}/`, { origin: 'http://evil.example' }), 403)
  assert.equal(await get(`${url}/`, { 'sec-fetch-site': 'cross-site' }), 403)
  assert.equal(await get(`${url}/`, { host: 'evil.example' }), 403)
  assert.equal(await get(`${url}/api/v1/events`, { origin: 'http://evil.example', authorization: `Bearer ${token}` }), 403)
  assert.equal(await get(`${url}/`, {}), 200)
  t.diagnostic(`${requests.length} requests from the dashboard, none with the token`)
})
