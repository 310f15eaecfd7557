/**
 * The lab view (`sedai lab run T.json --dashboard [HOST:]PORT`): every node of
 * the network the lab is running, its links and rates, the faults as they
 * happen, kept live by the lab's event stream. The token model is the node
 * dashboard's (main.ts, docs/DASHBOARD.md): the user pastes the token, kept in
 * sessionStorage, sent only in the Authorization header.
 */
import type { ApiClient } from './api.ts'
import { setStatus, signIn } from './signin.ts'
import { byId, el, rate, shortId } from './dom.ts'
import { LAB_LABELS, LabGraph } from './lab-graph.ts'
import type { LabNodeKind, LabView } from './types.ts'

/** sessionStorage key of the lab's token (per origin: the lab's port, not a daemon's) */
const TOKEN_KEY = 'sedai-lab-token'
const RECONNECT_MS = 2_000
/** rows of the nodes table; a big network is summarised past them */
const MAX_NODE_ROWS = 300

interface LabState {
  view?: LabView
  /** events received, by name (tests wait on these) */
  events: Record<string, number>
}

declare global {
  interface Window {
    /** for tests and the curious: the graph and the latest view */
    sedaiLab?: { cy: LabGraph['cy'], state: LabState }
  }
}


const state: LabState = { events: {} }
let client: ApiClient
let graph: LabGraph


function render (view: LabView): void {
  byId('run').textContent = view.run === undefined ? 'no run yet' : `run ${view.run.number}: ${view.run.id}`
  const phase = byId('phase')
  phase.textContent = view.phase
  phase.dataset.phase = view.phase
  const s = view.searches
  byId('searches').textContent = s.total === 0 ? '' : `searches ${s.done}/${s.total}, ${s.ok} found${s.done > 0 ? ` (${Math.round(s.ok * 100 / s.done)}%)` : ''}`
  graph.update(view)

  const up = view.nodes.filter(n => n.state === 'up').length
  const dead = view.nodes.filter(n => n.state === 'dead').length
  const msgs = view.nodes.reduce((a, n) => a + n.msgRate, 0)
  byId('graph-summary').textContent = `${view.nodes.length} nodes (${up} up${dead > 0 ? `, ${dead} dead` : ''}), ${view.edges.length} links, ${msgs.toFixed(0)} msg/s in all`
  const counts = new Map<LabNodeKind, number>()
  for (const n of view.nodes) counts.set(n.kind, (counts.get(n.kind) ?? 0) + 1)
  const legend = [...counts].map(([kind, n]) => el('li', { class: kind === 'supernode' || kind === 'leaf' ? `lab-${kind}` : kind }, `${LAB_LABELS[kind]} (${n})`))
  if (dead > 0) legend.push(el('li', { class: 'dead' }, `killed (${dead})`))
  byId('legend').replaceChildren(...legend)
  byId('faults').replaceChildren(...view.faults.map(f =>
    el('li', {}, `${(f.atMs / 1000).toFixed(1)} s into the search phase: ${f.kind === 'kill' ? 'killed' : 'restarted'} ${f.peers.map(p => `#${p}`).join(', ')}`)))

  const body = byId('nodes').querySelector('tbody') as HTMLElement
  const rows = view.nodes.slice(0, MAX_NODE_ROWS).map(n => el('tr', { 'data-index': String(n.index), 'data-state': n.state, 'data-kind': n.kind },
    el('td', {}, n.index),
    el('td', { class: 'mono', title: n.peerId ?? '' }, n.peerId === undefined ? '-' : shortId(n.peerId)),
    el('td', {}, LAB_LABELS[n.kind]),
    el('td', {}, n.state),
    el('td', {}, n.msgRate.toFixed(1)),
    el('td', {}, rate(Math.round(n.byteRate))),
    el('td', {}, n.connections ?? '-')))
  if (view.nodes.length > MAX_NODE_ROWS) rows.push(el('tr', {}, el('td', { colspan: '7', class: 'note' }, `and ${view.nodes.length - MAX_NODE_ROWS} more`)))
  body.replaceChildren(...rows)
}

/** Follows GET /events for as long as the page is open, reconnecting after a break (the lab between runs, or gone). */
async function follow (): Promise<void> {
  while (true) {
    const controller = new AbortController()
    try {
      await client.events(() => { setStatus('live', 'live') }, (name, data) => {
        state.events[name] = (state.events[name] ?? 0) + 1
        if (name === 'lab') { state.view = data as LabView; render(state.view) }
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
  client = await signIn(TOKEN_KEY, 'the lab refused this token (each `sedai lab run` makes a new one)')
  byId('app').hidden = false
  graph = new LabGraph(byId('graph'))
  window.sedaiLab = { cy: graph.cy, state }
  void follow()
}

void start()
