/**
 * The lab view's graph: every node of the running network (cytoscape),
 * coloured by generation and role, sized by its message rate; edges from the
 * daemons' overlays, as wide as their traffic where a link's traffic is known
 * (flood); killed nodes grey with a dashed border.
 */
import cytoscape from 'cytoscape'
import type { Core, ElementDefinition } from 'cytoscape'
import type { LabNode, LabNodeKind, LabView } from './types.ts'

export const LAB_COLOURS: Record<LabNodeKind, string> = {
  'directory-server': '#7f1d1d',
  directory: '#ef4444',
  flood: '#2563eb',
  supernode: '#6d28d9',
  leaf: '#c4b5fd',
  dht: '#059669'
}

export const LAB_LABELS: Record<LabNodeKind, string> = {
  'directory-server': 'directory server',
  directory: 'directory client',
  flood: 'flood peer',
  supernode: 'supernode',
  leaf: 'leaf',
  dht: 'DHT peer'
}

const DEAD = '#d1d5db'
/** beyond this many nodes the force layout costs more than it shows: a circle */
const FORCE_LAYOUT_MAX = 150
const MAX_FIT_ZOOM = 1.8

/** The node's id in the graph: its index, known before its peer id. */
export function nodeId (index: number): string {
  return `n${index}`
}

/** 16 px idle, growing with the log of its message rate (a flood storm would otherwise fill the box). */
function nodeSize (n: LabNode): number {
  const base = n.kind === 'directory-server' || n.kind === 'supernode' ? 24 : 16
  return Math.round(base + Math.min(34, 7 * Math.log2(1 + n.msgRate)))
}

function rateText (r: number): string {
  return r >= 10 ? r.toFixed(0) : r.toFixed(1)
}

export class LabGraph {
  readonly cy: Core
  private nodesKey = ''
  private seenEdges = new Set<string>()
  private runKey = ''

  constructor (container: HTMLElement) {
    this.cy = cytoscape({
      container,
      wheelSensitivity: 0.2,
      minZoom: 0.1,
      maxZoom: 3,
      style: [
        {
          selector: 'node',
          style: {
            'background-color': 'data(colour)',
            label: 'data(label)',
            'font-size': 10,
            color: '#374151',
            'text-valign': 'bottom',
            'text-margin-y': 4,
            'text-background-color': '#fbfcfd',
            'text-background-opacity': 0.85,
            'text-background-padding': '2px',
            width: 'data(size)',
            height: 'data(size)',
            'border-width': 0
          }
        },
        { selector: 'node[kind = "directory-server"]', style: { shape: 'diamond' } },
        { selector: 'node[kind = "supernode"]', style: { shape: 'hexagon' } },
        { selector: 'node[state = "starting"]', style: { opacity: 0.45 } },
        { selector: 'node[state = "dead"]', style: { 'background-color': DEAD, 'border-width': 2, 'border-style': 'dashed', 'border-color': '#6b7280', color: '#9ca3af' } },
        { selector: 'edge', style: { width: 'data(width)', 'line-color': 'data(colour)', 'curve-style': 'bezier', opacity: 0.75 } },
        { selector: 'edge[?dead]', style: { 'line-color': DEAD, 'line-style': 'dashed', opacity: 0.6 } }
      ]
    })
  }

  update (view: LabView): void {
    const cy = this.cy
    const runKey = `${view.run?.number ?? 0} ${view.run?.id ?? ''}`
    if (runKey !== this.runKey) {
      // a new run: a new network
      this.runKey = runKey
      this.seenEdges.clear()
      this.nodesKey = ''
      cy.elements().remove()
    }
    const byPeer = new Map<string, LabNode>()
    for (const n of view.nodes) if (n.peerId !== undefined) byPeer.set(n.peerId, n)
    const elements: ElementDefinition[] = view.nodes.map(n => ({
      group: 'nodes' as const,
      data: {
        id: nodeId(n.index),
        index: n.index,
        peerId: n.peerId ?? '',
        kind: n.kind,
        generation: n.generation,
        state: n.state,
        colour: LAB_COLOURS[n.kind],
        size: n.state === 'dead' ? 16 : nodeSize(n),
        msgRate: n.msgRate,
        label: n.state === 'dead' ? `#${n.index} dead` : `#${n.index} ${rateText(n.msgRate)} msg/s`
      }
    }))
    for (const e of view.edges) {
      const a = byPeer.get(e.source)
      const b = byPeer.get(e.target)
      if (a === undefined || b === undefined) continue
      elements.push({
        group: 'edges' as const,
        data: {
          id: e.id,
          source: nodeId(a.index),
          target: nodeId(b.index),
          kinds: e.kinds.join(' '),
          dead: e.dead,
          msgRate: e.msgRate ?? null,
          colour: LAB_COLOURS[a.kind === 'directory-server' || a.kind === 'supernode' ? a.kind : b.kind],
          width: e.msgRate === undefined ? 1.5 : 1 + Math.min(10, 2 * Math.log2(1 + e.msgRate))
        }
      })
    }
    const wanted = new Set(elements.map(e => e.data.id as string))
    let relayout = false
    cy.batch(() => {
      cy.elements().filter(e => !wanted.has(e.id())).remove()
      for (const def of elements) {
        const existing = cy.getElementById(def.data.id as string)
        if (existing.empty()) cy.add(def)
        else existing.data(def.data)
        // a link never seen in this run moves the picture; one that went (a kill) does not
        if (def.group === 'edges' && !this.seenEdges.has(def.data.id as string)) {
          this.seenEdges.add(def.data.id as string)
          relayout = true
        }
      }
    })
    const nodesKey = view.nodes.map(n => n.index).join(' ')
    const fresh = nodesKey !== this.nodesKey
    if (fresh) this.nodesKey = nodesKey
    if (fresh || relayout) this.layout(view, fresh)
  }

  /** `fresh`: a new set of nodes, all added at one spot: spread them at random first; otherwise start from where they are */
  private layout (view: LabView, fresh: boolean): void {
    const cy = this.cy
    const hub = view.run?.generation === 'directory' || view.run?.generation === 'supernode'
    const options: Record<string, unknown> = hub
      // the server or the supernodes in the middle, their clients or leaves around
      ? { name: 'concentric', concentric: (n: any) => (n.data('kind') === 'directory-server' || n.data('kind') === 'supernode' ? 2 : 1), levelWidth: () => 1, minNodeSpacing: 30 }
      // a DHT's routing tables make a dense mesh that a force layout only knots: a ring, as Kademlia is drawn
      : view.nodes.length <= FORCE_LAYOUT_MAX && view.run?.generation !== 'dht'
        ? { name: 'cose', randomize: fresh, nodeRepulsion: () => 200_000, idealEdgeLength: () => 80, numIter: 500 }
        : { name: 'circle' }
    cy.layout({ ...options, animate: false, padding: 30 } as any).run()
    if (cy.zoom() > MAX_FIT_ZOOM) { cy.zoom(MAX_FIT_ZOOM); cy.center() }
  }
}
