/**
 * The overlay graph: cytoscape draws what GET /events says this node knows
 * (itself in the middle, then its directory server and supernodes, its
 * neighbours, leaves and peers, its DHT contacts in one ring per k-bucket,
 * nearer buckets inside, and plain connections outermost).
 */
import cytoscape from 'cytoscape'
import type { Core, ElementDefinition } from 'cytoscape'
import { shortId } from './dom.ts'
import type { OverlayInfo, OverlayKind, OverlayNode } from './types.ts'

export const KIND_COLOURS: Record<OverlayKind, string> = {
  self: '#111827',
  'directory-server': '#b91c1c',
  supernode: '#7c3aed',
  leaf: '#a78bfa',
  neighbour: '#2563eb',
  peer: '#0891b2',
  dht: '#059669',
  connection: '#9ca3af'
}

export const KIND_LABELS: Record<OverlayKind, string> = {
  self: 'this node',
  'directory-server': 'directory server',
  supernode: 'supernode',
  leaf: 'leaf',
  neighbour: 'flood neighbour',
  peer: 'peer',
  dht: 'DHT contact',
  connection: 'connection only'
}

/** The layout zooms to fit, but not beyond this. */
const MAX_FIT_ZOOM = 1.8

/** Ring of a node in the concentric layout: higher is nearer the middle. */
function ring (node: OverlayNode): number {
  switch (node.kind) {
    case 'self': return 1000
    case 'directory-server': return 900
    case 'supernode': return 800
    case 'neighbour': case 'leaf': case 'peer': return 700
    // one ring per bucket, the nearest (longest shared prefix) inside
    case 'dht': return 100 + Math.min(node.bucket ?? 0, 255)
    default: return 10
  }
}

export class OverlayGraph {
  readonly cy: Core
  private membership = ''

  constructor (container: HTMLElement) {
    this.cy = cytoscape({
      container,
      wheelSensitivity: 0.2,
      minZoom: 0.2,
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
            width: 22,
            height: 22
          }
        },
        { selector: 'node[kind = "self"]', style: { width: 34, height: 34, 'font-weight': 'bold' } },
        { selector: 'node[?offline]', style: { opacity: 0.5 } },
        {
          selector: 'edge',
          style: { width: 2, 'line-color': 'data(colour)', 'curve-style': 'bezier', opacity: 0.8 }
        },
        { selector: 'edge[kind = "dht"]', style: { width: 1, 'line-style': 'dashed' } },
        { selector: 'edge[kind = "connection"]', style: { width: 1, 'line-style': 'dotted' } }
      ]
    })
  }

  update (overlay: OverlayInfo): void {
    const elements: ElementDefinition[] = [
      ...overlay.nodes.map(n => ({
        group: 'nodes' as const,
        data: {
          id: n.id,
          kind: n.kind,
          kinds: n.kinds.join(' '),
          colour: KIND_COLOURS[n.kind],
          label: n.kind === 'self' ? `this node ${shortId(n.id)}` : `${shortId(n.id)}${n.bucket !== undefined ? ` b${n.bucket}` : ''}${n.role !== undefined ? ` (${n.role})` : ''}`,
          ring: ring(n),
          offline: !n.connected
        }
      })),
      ...overlay.edges.map(e => ({
        group: 'edges' as const,
        data: { id: e.id, source: e.source, target: e.target, kind: e.kind, colour: KIND_COLOURS[e.kind] }
      }))
    ]
    const cy = this.cy
    const wanted = new Set(elements.map(e => e.data.id as string))
    cy.batch(() => {
      cy.elements().filter(e => !wanted.has(e.id())).remove()
      for (const def of elements) {
        const existing = cy.getElementById(def.data.id as string)
        if (existing.empty()) cy.add(def)
        else existing.data(def.data)
      }
    })
    // lay out again only when nodes or edges came or went: a stable picture otherwise
    const membership = [...wanted].sort().join(' ')
    if (membership !== this.membership) {
      this.membership = membership
      cy.layout({
        name: 'concentric',
        concentric: (node: any) => node.data('ring'),
        levelWidth: () => 1,
        minNodeSpacing: 50,
        animate: false,
        padding: 30
      } as any).run()
      // a handful of nodes would otherwise fill the box at triple size
      if (cy.zoom() > MAX_FIT_ZOOM) {
        cy.zoom(MAX_FIT_ZOOM)
        cy.center()
      }
    }
  }
}
