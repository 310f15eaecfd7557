/**
 * The lab view end to end, in real headless Chromium (the one npm installs
 * with @sparticuz/chromium, see test/helpers/chromium.ts, driven by
 * playwright-core): a tiny real lab (six flood daemons on 127.0.0.1,
 * one of them SIGKILLed partway through a paced search phase) with the
 * dashboard on; the page signed in with the lab's token shows all six nodes,
 * the overlay the daemons report (one edge per pair), the generation's kind
 * and colour, the killed node marked dead, the phases; the token in no URL;
 * a foreign Origin refused. Fails, not skips, without Chromium or the bundle.
 * Saves docs/lab-view.png when it is missing or SEDAI_UPDATE_SCREENSHOT=1.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { randomGraph } from '@sedai/flooding-peer'
import { DEFAULT_DIST } from '@sedai/dashboard'
import { startLabDashboard } from '../src/dashboard.ts'
import { runLab } from '../src/run.ts'
import { parseTopology } from '../src/topology.ts'
import { launchChromium } from '../../../test/helpers/chromium.ts'
import type { Core } from 'cytoscape'
import type { LabObserver } from '../src/observer.ts'
import type { Nodes } from '../src/nodes.ts'

// what the functions given to page.evaluate see in the browser (the root tsconfig has no DOM lib)
declare const window: { sedaiLab?: { cy: Core, state: { view?: { phase: string, faults: unknown[], searches: { done: number } } } } }
declare const document: {
  getElementById: (id: string) => { textContent: string | null, dataset: Record<string, string | undefined> } | null
  querySelector: (sel: string) => unknown
  documentElement: { outerHTML: string }
}

const SCREENSHOT = fileURLToPath(new URL('../../../docs/lab-view.png', import.meta.url))
const PEERS = 6
const DEGREE: [number, number] = [2, 3]
const SEED = 5
/** the kill comes 12 s into a 20 s paced search phase: time enough to see the whole network first */
const TOPOLOGY = {
  name: 'lab-dashboard-test',
  seed: SEED,
  peersPerProcess: PEERS,
  readyTimeoutMs: 60_000,
  files: { count: 6, bytes: 4096, replicas: 1 },
  workload: { searches: 40, downloads: 1, concurrency: 3, ratePerSecond: 2, searchTimeoutMs: 1000, getTimeoutMs: 10_000 },
  networks: [{ generation: 'flood', peers: PEERS, degree: DEGREE, faults: [{ atS: 12, kill: 'random', count: 1 }] }]
}

async function get (url: string, headers: Record<string, string>): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

const pair = (a: string, b: string): string => a < b ? `${a} ${b}` : `${b} ${a}`

test('lab view in headless Chromium: every node, the daemons\' overlay, generation colours, a kill, the token model', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(join(DEFAULT_DIST, 'lab.js')), `the lab view is not built (${DEFAULT_DIST}): run npm run build:dashboard`)

  const out = await mkdtemp(join(tmpdir(), 'sedai-lab-view-'))
  t.after(async () => { await rm(out, { recursive: true, force: true }) })
  const dash = await startLabDashboard({ host: '127.0.0.1', port: 0, out, sampleMs: 500 })
  t.after(async () => { await dash.close() })
  const { url, token } = dash

  // the test watches too: the run's handle on its peers (to ask the daemons for their overlays) and the victims
  let nodes: Nodes | undefined
  const killed: number[] = []
  const observer: LabObserver = {
    ...dash.observer,
    runStarted: (run) => { nodes = run.nodes; dash.observer.runStarted(run) },
    killed: (peers) => { killed.push(...peers); dash.observer.killed(peers) }
  }

  const context = await launchChromium(join(out, 'chromium-profile'), { viewport: { width: 1280, height: 1000 } })
  t.after(async () => { await context.close() })
  const page = context.pages()[0] ?? await context.newPage()
  const requests: string[] = []
  const problems: string[] = []
  context.on('request', (r) => { requests.push(r.url()) })
  page.on('pageerror', (err) => { problems.push(`page error: ${err.message}`) })
  page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().includes('401 (Unauthorized)')) problems.push(`console: ${msg.text()}`) })

  // sign in before the lab starts: a wrong token refused, the right one opens the view
  const response = await page.goto(`${url}/`)
  assert.equal(response?.status(), 200)
  assert.ok(!(await response?.text() ?? '').includes(token), 'the token is not in the page')
  await page.locator('#login-token').waitFor({ state: 'visible', timeout: 15_000 })
  await page.fill('#login-token', 'not-the-token')
  await page.click('#login-button')
  await page.waitForFunction(() => (document.getElementById('login-status')?.textContent ?? '').includes('refused'), undefined, { timeout: 15_000 })
  await page.fill('#login-token', token)
  await page.click('#login-button')
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'live', undefined, { timeout: 15_000 })
  assert.equal(await page.locator('#phase').innerText(), 'waiting')

  const logs: string[] = []
  const lab = runLab(parseTopology(JSON.stringify(TOPOLOGY)), { out, command: 'test', observer, log: (m) => { logs.push(m) } })
  lab.catch(() => {})

  // the whole network, before the kill: six nodes up and the generated overlay (min neighbours 0: nothing else joins it)
  const expected = randomGraph(PEERS, DEGREE[0], DEGREE[1], SEED)
  await page.waitForFunction((n) => {
    const lab = window.sedaiLab
    const cy = lab?.cy
    return cy !== undefined && lab?.state.view?.faults.length === 0 && lab.state.view.phase === 'search' &&
      cy.nodes('[state = "up"]').length === n.peers && cy.edges().length === n.edges
  }, { peers: PEERS, edges: expected.length }, { timeout: 60_000 }).catch((err: Error) => { throw new Error(`${err.message}\nlab log:\n${logs.join('\n')}`) })
  const graph = await page.evaluate(() => {
    const cy = window.sedaiLab?.cy
    if (cy === undefined) throw new Error('no graph')
    return {
      nodes: cy.nodes().map(n => ({ index: n.data('index') as number, peerId: n.data('peerId') as string, kind: n.data('kind') as string, generation: n.data('generation') as string, colour: n.style('background-color') as string })),
      edges: cy.edges().map(e => ({ source: e.source().data('peerId') as string, target: e.target().data('peerId') as string, kinds: e.data('kinds') as string })),
      faults: window.sedaiLab?.state.view?.faults.length
    }
  })
  assert.equal(graph.faults, 0, 'seen before the kill')
  assert.deepEqual(graph.nodes.map(n => n.index).sort(), [0, 1, 2, 3, 4, 5])
  // colour and kind by generation: every node a flood peer, in the flood colour
  assert.ok(graph.nodes.every(n => n.kind === 'flood' && n.generation === 'flood'), JSON.stringify(graph.nodes))
  assert.deepEqual([...new Set(graph.nodes.map(n => n.colour))], ['rgb(37,99,235)'])
  const peerIdOf = new Map(graph.nodes.map(n => [n.index, n.peerId]))
  const shown = new Set(graph.edges.map(e => pair(e.source, e.target)))
  assert.equal(shown.size, graph.edges.length, 'one edge per pair (A→B and B→A deduped)')
  assert.ok(graph.edges.every(e => e.kinds === 'neighbour'), JSON.stringify(graph.edges))
  // the overlay the lab laid out...
  assert.deepEqual([...shown].sort(), expected.map(([a, b]) => pair(peerIdOf.get(a) as string, peerIdOf.get(b) as string)).sort())
  // ...and the one the daemons report themselves
  assert.ok(nodes?.overlays !== undefined)
  const reported = new Set<string>()
  for (const o of (await nodes.overlays()).values()) for (const e of o.edges as Array<{ source: string, target: string, kind: string }>) if (e.kind === 'neighbour') reported.add(pair(e.source, e.target))
  assert.deepEqual([...shown].sort(), [...reported].sort())
  t.diagnostic(`graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges`)

  // traffic: the searches' queries show as node rates and, flood counting per neighbour, as link rates
  await page.waitForFunction(() => {
    const cy = window.sedaiLab?.cy
    return cy !== undefined && cy.nodes().some(n => n.data('msgRate') > 0) && cy.edges().some(e => (e.data('msgRate') ?? 0) > 0)
  }, undefined, { timeout: 30_000 })
  const shot = join(out, 'lab.png')
  await page.screenshot({ path: shot, fullPage: true })
  if (!existsSync(SCREENSHOT) || process.env.SEDAI_UPDATE_SCREENSHOT === '1') {
    await copyFile(shot, SCREENSHOT)
    t.diagnostic(`screenshot saved to ${SCREENSHOT}`)
  }

  // the kill: that node dead in the graph and the table, the fault listed
  await page.waitForFunction(() => (window.sedaiLab?.state.view?.faults.length ?? 0) > 0, undefined, { timeout: 60_000 })
  assert.equal(killed.length, 1)
  const victim = killed[0]
  await page.waitForFunction((v) => window.sedaiLab?.cy.getElementById(`n${v}`).data('state') === 'dead', victim, { timeout: 15_000 })
  await page.locator(`#nodes tr[data-index="${victim}"][data-state="dead"]`).waitFor({ timeout: 15_000 })
  assert.match(await page.locator('#faults').innerText(), new RegExp(`killed #${victim}\\b`))
  assert.equal(await page.evaluate(() => window.sedaiLab?.cy.nodes('[state = "dead"]').length), 1)
  // the others stop naming it once its connections close: edges to it go, or are marked dead until then
  await page.waitForFunction((v) => window.sedaiLab?.cy.getElementById(`n${v}`).connectedEdges('[!dead]').length === 0, victim, { timeout: 15_000 })

  // the run goes on to its end: searches counted, the phase shown
  const result = await lab
  assert.equal(result.failed.length, 0, JSON.stringify(result.failed))
  await page.waitForFunction(() => document.getElementById('phase')?.textContent === 'done', undefined, { timeout: 15_000 })
  assert.match(await page.locator('#searches').innerText(), /^searches 40\/40, \d+ found/)
  assert.match(await page.locator('#run').innerText(), /flood/)
  await page.screenshot({ path: join(out, 'lab-done.png'), fullPage: true })

  // the token: in no URL the browser requested, not in the address bar, not in the DOM
  assert.ok(requests.length >= 4, `requests seen: ${requests.length}`)
  assert.deepEqual(requests.filter(u => u.includes(token)), [])
  assert.ok(!page.url().includes(token))
  assert.equal(await page.evaluate((tk) => document.documentElement.outerHTML.includes(tk), token), false)
  assert.deepEqual(problems, [])

  // a foreign origin: 403, with the token or without
  assert.equal(await get(`${url}/`, { origin: 'http://evil.example' }), 403)
  assert.equal(await get(`${url}/api/v1/events`, { origin: 'http://evil.example', authorization: `Bearer ${token}` }), 403)
  assert.equal(await get(`${url}/`, { 'sec-fetch-site': 'cross-site' }), 403)
  assert.equal(await get(`${url}/`, { host: 'evil.example' }), 403)
  assert.equal(await get(`${url}/api/v1/lab`, {}), 401)
  assert.equal(await get(`${url}/api/v1/lab`, { authorization: `Bearer ${token}` }), 200)
})
