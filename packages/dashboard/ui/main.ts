/**
 * The dashboard page: the node, the overlay graph, search, downloads and
 * shared files, kept live by the daemon's event stream.
 */
import type { ApiClient } from './api.ts'
import { setStatus, signIn } from './signin.ts'
import { byId, bytes, el, rate, shortId } from './dom.ts'
import { KIND_LABELS, OverlayGraph } from './graph.ts'
import type { DownloadInfo, IdInfo, OverlayInfo, OverlayKind, SearchResult, SharedFile } from './types.ts'

/** sessionStorage key of the API token (per origin: another port's page cannot read it) */
const TOKEN_KEY = 'sedai-api-token'
const SEARCH_TIMEOUT_MS = 5_000
const RECONNECT_MS = 2_000
/** rows of the shared files table; a big share is summarised past them */
const MAX_FILE_ROWS = 500

interface DashboardState {
  node?: IdInfo
  files: SharedFile[]
  overlay?: OverlayInfo
  downloads: DownloadInfo[]
  results: Map<string, SearchResult>
  /** downloads this page started, by CID: the result rows show them */
  started: Map<string, { state: 'running' | 'done' | 'failed', error?: string }>
  /** events received, by name (tests wait on these) */
  events: Record<string, number>
}

declare global {
  interface Window {
    /** for tests and the curious: the graph and the latest state */
    sedaiDashboard?: { cy: OverlayGraph['cy'], state: DashboardState }
  }
}


const state: DashboardState = { files: [], downloads: [], results: new Map(), started: new Map(), events: {} }
let client: ApiClient
let graph: OverlayGraph


function renderNode (id: IdInfo): void {
  byId('self').textContent = id.peerId
  const dl = byId('node')
  dl.replaceChildren()
  const row = (k: string, v: string | Node): void => { dl.append(el('dt', {}, k), el('dd', {}, v)) }
  row('peer id', el('span', { class: 'mono' }, id.peerId))
  row('modes', id.modes.join(', ') || 'none (transfer only)')
  const role = state.overlay?.role
  if (role !== undefined) row('role', role)
  for (const mode of id.modes) {
    const info = id[mode]
    if (typeof info !== 'object' || info === null) continue
    const parts: string[] = []
    for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
      if (Array.isArray(v)) parts.push(`${k}: ${v.length}`)
      else if (v !== undefined && v !== null && typeof v !== 'object') parts.push(`${k}: ${String(v)}`)
    }
    if (parts.length > 0) row(mode, parts.join(' · '))
  }
  row('addresses', el('span', { class: 'mono' }, id.addrs.join('\n')))
  row('API', location.origin)
}

function renderFiles (files: SharedFile[]): void {
  byId('files-count').textContent = `(${files.length})`
  const body = byId('files').querySelector('tbody') as HTMLElement
  const rows = files.slice(0, MAX_FILE_ROWS).map(f => el('tr', { 'data-cid': f.cid }, el('td', { title: f.path }, f.name), el('td', {}, bytes(f.size)), el('td', { class: 'cid' }, f.cid)))
  if (files.length > MAX_FILE_ROWS) rows.push(el('tr', {}, el('td', { colspan: '3', class: 'note' }, `and ${files.length - MAX_FILE_ROWS} more (sedai ls lists them all)`)))
  body.replaceChildren(...rows)
}

function renderOverlay (overlay: OverlayInfo): void {
  graph.update(overlay)
  const counts = new Map<OverlayKind, number>()
  for (const n of overlay.nodes) counts.set(n.kind, (counts.get(n.kind) ?? 0) + 1)
  byId('graph-summary').textContent = `${overlay.nodes.length} nodes, ${overlay.edges.length} links`
  byId('legend').replaceChildren(...[...counts].map(([kind, n]) => el('li', { class: kind }, `${KIND_LABELS[kind]} (${n})`)))
  byId('buckets').textContent = overlay.buckets.length === 0
    ? ''
    : `DHT buckets (shared prefix bits: contacts): ${overlay.buckets.map(b => `${b.bucket}: ${b.contacts}`).join(', ')}`
  if (state.node !== undefined) renderNode(state.node)
}

function renderDownloads (downloads: DownloadInfo[]): void {
  const body = byId('downloads').querySelector('tbody') as HTMLElement
  body.replaceChildren(...downloads.map(d => {
    const bar = el('progress', { max: String(Math.max(d.size ?? 1, 1)), value: String(d.have) })
    const pct = d.size !== undefined && d.size > 0 ? `${Math.floor(d.have * 100 / d.size)}%` : ''
    const from = el('td', { class: 'mono', title: d.sources.join('\n') }, d.sources.map(shortId).join(', ') || '-')
    return el('tr', { 'data-cid': d.cid, 'data-state': d.state, 'data-id': d.id },
      el('td', { title: d.path ?? d.cid }, d.name ?? shortId(d.cid)),
      el('td', {}, bar, ' ', pct),
      el('td', {}, d.state === 'failed' ? '-' : rate(d.rate)),
      from,
      el('td', { class: `state-${d.state}`, title: d.error ?? '' }, d.state === 'failed' ? `failed: ${d.error ?? ''}` : d.state))
  }))
}

function renderResults (): void {
  const body = byId('search-results').querySelector('tbody') as HTMLElement
  body.replaceChildren(...[...state.results.values()].map(r => {
    const started = state.started.get(r.cid)
    const button = el('button', { type: 'button', class: 'download', 'data-cid': r.cid },
      started === undefined ? 'Download' : started.state === 'running' ? 'Downloading' : started.state === 'done' ? 'Done' : 'Retry')
    button.disabled = started !== undefined && started.state !== 'failed'
    if (started?.error !== undefined) button.title = started.error
    button.addEventListener('click', () => { startDownload(r) })
    return el('tr', { 'data-cid': r.cid },
      el('td', { title: r.cid }, r.name),
      el('td', {}, bytes(r.size)),
      el('td', { class: 'mono', title: r.providers.join('\n') }, String(r.providers.length)),
      el('td', {}, button))
  }))
}

function addResult (hit: SearchResult): void {
  const known = state.results.get(hit.cid)
  if (known === undefined) state.results.set(hit.cid, { ...hit, providers: [...hit.providers] })
  else for (const p of hit.providers) if (!known.providers.includes(p)) known.providers.push(p)
  renderResults()
}

async function search (query: string): Promise<void> {
  const status = byId('search-status')
  const button = byId<HTMLButtonElement>('search-button')
  state.results.clear()
  renderResults()
  status.className = 'note'
  status.textContent = `searching for "${query}"…`
  button.disabled = true
  try {
    await client.lines('search', { query, stream: true, timeoutMs: SEARCH_TIMEOUT_MS }, (line) => {
      if (line.hit !== undefined) {
        addResult(line.hit)
        status.textContent = `${state.results.size} result${state.results.size === 1 ? '' : 's'} so far; still listening for "${query}"…`
      }
      else if (line.result !== undefined || line.results !== undefined) {
        const response = line.result ?? line
        for (const r of response.results as SearchResult[]) addResult(r)
        status.textContent = `${state.results.size} result${state.results.size === 1 ? '' : 's'}${response.note !== undefined ? ` (${response.note})` : ''}`
      } else if (line.error !== undefined) {
        throw new Error(`${line.error.code}: ${line.error.message}`)
      }
    })
  } catch (err) {
    status.className = 'note error'
    status.textContent = (err as Error).message
  } finally {
    button.disabled = false
  }
}

/** Starts a download; its progress shows through the event stream. The request stays open until it ends (closing the page cancels it). */
function startDownload (result: SearchResult): void {
  const mark = (s: 'running' | 'done' | 'failed', error?: string): void => {
    state.started.set(result.cid, error === undefined ? { state: s } : { state: s, error })
    renderResults()
  }
  mark('running')
  client.lines('get', { cid: result.cid }, (line) => {
    if (line.error !== undefined) throw new Error(`${line.error.code}: ${line.error.message}`)
    if (line.result !== undefined) mark('done')
  }).catch((err: Error) => { mark('failed', err.message) })
}

async function share (path: string): Promise<void> {
  const status = byId('share-status')
  status.className = 'note'
  status.textContent = 'sharing…'
  try {
    const answer = await client.json<SharedFile | { shared: SharedFile[] }>('share', { path })
    const files = 'shared' in answer ? answer.shared : [answer]
    status.textContent = `shared ${files.length} file${files.length === 1 ? '' : 's'}`
  } catch (err) {
    status.className = 'note error'
    status.textContent = (err as Error).message
  }
}

/** Follows GET /events for as long as the page is open, reconnecting after a break. */
async function follow (): Promise<void> {
  while (true) {
    const controller = new AbortController()
    try {
      await client.events(() => { setStatus('live', 'live') }, (name, data) => {
        state.events[name] = (state.events[name] ?? 0) + 1
        if (name === 'node') { state.node = data as IdInfo; renderNode(state.node) }
        if (name === 'files') { state.files = (data as { files: SharedFile[] }).files; renderFiles(state.files) }
        if (name === 'overlay') { state.overlay = data as OverlayInfo; renderOverlay(state.overlay) }
        if (name === 'downloads') { state.downloads = (data as { downloads: DownloadInfo[] }).downloads; renderDownloads(state.downloads) }
      }, controller.signal)
      setStatus('reconnecting', 'connecting')
    } catch (err) {
      setStatus(`disconnected: ${(err as Error).message}`, 'error')
    }
    await new Promise(resolve => setTimeout(resolve, RECONNECT_MS))
  }
}

async function start (): Promise<void> {
  setStatus('sign in', 'connecting')
  client = await signIn(TOKEN_KEY, 'the daemon refused this token (it changes at every daemon start)')
  byId('app').hidden = false
  graph = new OverlayGraph(byId('graph'))
  window.sedaiDashboard = { cy: graph.cy, state }
  byId<HTMLFormElement>('search-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const query = byId<HTMLInputElement>('search-query').value.trim()
    if (query !== '') void search(query)
  })
  byId<HTMLFormElement>('share-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const path = byId<HTMLInputElement>('share-path').value.trim()
    if (path !== '') void share(path)
  })
  void follow()
}

void start()
