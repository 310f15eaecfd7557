/**
 * The lab view (`sedai lab run T.json --dashboard [HOST:]PORT`): while a lab
 * runs, a page on a loopback address draws every node of the current network,
 * its overlay links and live rates, and the faults as they happen.
 *
 * The same rules as a daemon's control API (packages/cli/src/api-server.ts,
 * docs/DASHBOARD.md): loopback only; the Host header must name this server
 * (DNS rebinding); a foreign Origin or `Sec-Fetch-Site: cross-site` is refused;
 * no CORS headers; every /api/v1 route needs `Authorization: Bearer <token>`,
 * a random token per lab run that the lab prints and writes to
 * `<out>/dashboard.json` (mode 0600). The page carries no secret: the user
 * pastes the token, which the page keeps in sessionStorage and never puts in
 * a URL.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { formatHostPort, isLoopbackHost } from '@sedai/cli'
import { DASHBOARD_HEADERS, DEFAULT_DIST } from '@sedai/dashboard'
import { DEFAULTS } from './config.ts'
import { LabDashboardError } from './errors.ts'
import type { PeerSpec } from './messages.ts'
import type { Nodes } from './nodes.ts'
import type { LabObserver, LabPhase } from './observer.ts'
import type { RunSpec } from './topology.ts'

/** Where the lab view lives: the page at `/`, its files next to the node dashboard's under `/dashboard/`. */
export const LAB_PATHS = {
  page: '/',
  script: '/dashboard/lab.js',
  style: '/dashboard/style.css',
  favicon: '/favicon.ico',
  /** who the token opens (the page's sign-in check), as the daemon's GET /api/v1/id */
  id: '/api/v1/id',
  /** the current snapshot (LabView) */
  view: '/api/v1/lab',
  /** server-sent events: `lab` (a LabView) at once and at every sample that changed it */
  events: '/api/v1/events'
} as const

/** What a node is in the lab view: its generation and, where the generation has them, its role. */
export type LabNodeKind = 'directory-server' | 'directory' | 'flood' | 'supernode' | 'leaf' | 'dht'

export interface LabNode {
  /** the peer's index in the run */
  index: number
  /** undefined until its first stats sample */
  peerId?: string
  generation: RunSpec['generation']
  kind: LabNodeKind
  /** starting: no stats yet; up: in the last sample; dead: killed by a fault (and not restarted) */
  state: 'starting' | 'up' | 'dead'
  /**
   * messages per second, in and out, over every protocol the daemon counts
   * (`messages.*` of `sedai stats`), between the last two samples; DHT nodes
   * add two per peer their own lookups queried (kad-dht's RPCs are not in
   * `messages`; the ones a node serves are not counted)
   */
  msgRate: number
  /** bytes per second on the wire, in and out, of those messages (`bytes.*`) */
  byteRate: number
  /** messages counted since the peer started */
  messages: number
  connections?: number
}

export interface LabEdge {
  /** the two peer ids, sorted, joined by a space */
  id: string
  source: string
  target: string
  /** the overlay kinds either end reports for the link (neighbour, supernode, leaf, peer, directory-server, dht) */
  kinds: string[]
  /**
   * flood only: QUERY messages per second over this link, both ways (each
   * end's per-neighbour `queriesIn`); other generations count per node, not
   * per link, so their edges have none
   */
  msgRate?: number
  /** one end is dead */
  dead: boolean
}

export interface LabView {
  run?: { id: string, generation: RunSpec['generation'], peers: number, number: number }
  phase: LabPhase | 'waiting'
  searches: { done: number, ok: number, total: number }
  /** atMs: since the search phase began */
  faults: Array<{ kind: 'kill' | 'restart', peers: number[], atMs: number }>
  nodes: LabNode[]
  edges: LabEdge[]
  /** ms since the epoch of the last sample */
  sampledAt?: number
}

export interface LabDashboardInit {
  /** a loopback address: 127.x.x.x, ::1 or localhost */
  host: string
  /** 0 = any free port */
  port: number
  /** the run's --out folder: dashboard.json (url and token, mode 0600) goes there */
  out: string
  /** the built front end; default the node dashboard's dist/ */
  dist?: string
  /** ms between samples; default DEFAULTS.dashboardSampleMs */
  sampleMs?: number
  log?: (msg: string) => void
}

export interface LabDashboard {
  url: string
  token: string
  /** the file with url and token */
  file: string
  /** hand it to runLab / runNetwork */
  observer: LabObserver
  /** the latest snapshot */
  view: () => LabView
  /** stop sampling and listening, end the streams, remove the file; idempotent */
  close: () => Promise<void>
}

/** `--dashboard [HOST:]PORT`: the host defaults to 127.0.0.1; only loopback addresses pass. */
export function parseDashboardAddress (value: string): { host: string, port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(value.trim())
  if (m === null) throw new LabDashboardError(`--dashboard wants [HOST:]PORT, not '${value}'`)
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[(.*)\]$/, '$1')
  const port = Number(m[2])
  if (port > 65_535) throw new LabDashboardError(`--dashboard: invalid port ${port}`)
  if (!isLoopbackHost(host)) throw new LabDashboardError(`--dashboard must be a loopback address (127.x.x.x, ::1, localhost), not ${host}: the lab's daemons are not for the network to see`)
  return { host, port }
}

class HttpError extends Error {
  readonly status: number
  readonly code: string
  constructor (status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** the API's answers carry the page's headers too (no-store, nosniff, CORP same-origin, no CORS) */
const API_HEADERS = DASHBOARD_HEADERS

/** Sum of the numeric leaves under obj (a counter subtree of `sedai stats`). */
function total (v: unknown): number {
  if (typeof v === 'number') return v
  if (typeof v === 'object' && v !== null) return Object.values(v).reduce<number>((a, x) => a + total(x), 0)
  return 0
}

function kindOf (spec: PeerSpec, generation: RunSpec['generation']): LabNodeKind {
  if (spec.modes.includes('directory-server')) return 'directory-server'
  if (generation === 'supernode') return spec.role === 'leaf' ? 'leaf' : 'supernode'
  return generation
}

/**
 * The lab view's state and sampler: the observer the experiment calls, and
 * every `sampleMs` each live peer's stats and overlay, turned into a LabView.
 */
class LabModel {
  private readonly sampleMs: number
  private run?: { spec: RunSpec, nodes: Nodes, peers: PeerSpec[], number: number }
  private runs = 0
  private phase: LabView['phase'] = 'waiting'
  private searches = { done: 0, ok: 0, total: 0 }
  private faults: LabView['faults'] = []
  private started = 0
  private readonly dead = new Set<number>()
  private nodes = new Map<number, LabNode>()
  private edges: LabEdge[] = []
  private sampledAt?: number
  /** per peer: its message and byte totals at the last sample, and when */
  private last = new Map<number, { at: number, messages: number, bytes: number }>()
  /** flood: per link (edge id), the QUERY count both ends had reported at the last sample */
  private lastLinks = new Map<string, { at: number, queries: number }>()
  private timer?: NodeJS.Timeout
  private sampling = false
  private readonly onChange: (view: LabView) => void

  constructor (sampleMs: number, onChange: (view: LabView) => void) {
    this.sampleMs = sampleMs
    this.onChange = onChange
  }

  readonly observer: LabObserver = {
    runStarted: ({ spec, nodes, peers, searches }) => {
      this.stopTimer()
      this.run = { spec, nodes, peers, number: ++this.runs }
      this.phase = 'setup'
      this.searches = { done: 0, ok: 0, total: searches }
      this.faults = []
      this.started = performance.now()
      this.dead.clear()
      this.last.clear()
      this.lastLinks.clear()
      this.edges = []
      this.sampledAt = undefined
      this.nodes = new Map(peers.map(p => [p.index, { index: p.index, generation: spec.generation, kind: kindOf(p, spec.generation), state: 'starting', msgRate: 0, byteRate: 0, messages: 0 }]))
      this.changed()
      this.timer = setInterval(() => { void this.sample() }, this.sampleMs)
      this.timer.unref()
    },
    phase: (phase) => {
      // fault times count from the start of the search phase, as in results.json (FaultRecord.atMs)
      if (phase === 'search') this.started = performance.now()
      this.phase = phase
      this.changed()
    },
    search: ({ ok }) => { this.searches.done++; if (ok) this.searches.ok++; this.changed() },
    killed: (peers) => {
      for (const i of peers) {
        this.dead.add(i)
        const n = this.nodes.get(i)
        if (n !== undefined) { n.state = 'dead'; n.msgRate = 0; n.byteRate = 0 }
        this.last.delete(i)
      }
      this.faults.push({ kind: 'kill', peers, atMs: Math.round(performance.now() - this.started) })
      this.markDeadEdges()
      this.changed()
    },
    restarted: (peers) => {
      for (const i of peers) {
        this.dead.delete(i)
        const n = this.nodes.get(i)
        if (n !== undefined) n.state = 'starting'
      }
      this.faults.push({ kind: 'restart', peers, atMs: Math.round(performance.now() - this.started) })
      this.markDeadEdges()
      this.changed()
    },
    runEnded: () => {
      // the peers stop next: no sample may reach them any more
      this.stopTimer()
      this.run = undefined
      this.phase = 'done'
      this.changed()
    }
  }

  stop (): void { this.stopTimer() }

  private stopTimer (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private markDeadEdges (): void {
    const deadIds = new Set([...this.nodes.values()].filter(n => n.state === 'dead' && n.peerId !== undefined).map(n => n.peerId as string))
    for (const e of this.edges) e.dead = deadIds.has(e.source) || deadIds.has(e.target)
  }

  view (): LabView {
    // the run on show: the current one, or the last one once it is over
    const run = this.lastRun
    return {
      ...(run !== undefined ? { run } : {}),
      phase: this.phase,
      searches: { ...this.searches },
      faults: this.faults.map(f => ({ ...f, peers: [...f.peers] })),
      nodes: [...this.nodes.values()].map(n => ({ ...n })),
      edges: this.edges.map(e => ({ ...e, kinds: [...e.kinds] })),
      ...(this.sampledAt !== undefined ? { sampledAt: this.sampledAt } : {})
    }
  }

  private lastRun?: LabView['run']

  private changed (): void {
    if (this.run !== undefined) this.lastRun = { id: this.run.spec.id, generation: this.run.spec.generation, peers: this.run.spec.peers, number: this.run.number }
    this.onChange(this.view())
  }

  /** One sample: every live peer's stats and overlay; a sample still running when the next is due makes that one skip. */
  private async sample (): Promise<void> {
    const run = this.run
    if (run === undefined || this.sampling) return
    this.sampling = true
    try {
      const [stats, overlays] = await Promise.all([
        run.nodes.stats(),
        // an agent from an older image knows no 'overlay' command: nodes and rates without links, rather than nothing
        (run.nodes.overlays?.() ?? Promise.resolve(new Map<number, Record<string, any>>())).catch(() => new Map<number, Record<string, any>>())
      ])
      // the run ended (or the next began) while the sample was out
      if (this.run !== run) return
      this.apply(run, stats, overlays)
      this.changed()
    } catch {
      // a worker that died or stopped mid-sample: the next sample tells
    } finally {
      this.sampling = false
    }
  }

  private apply (run: NonNullable<LabModel['run']>, stats: Map<number, Record<string, any>>, overlays: Map<number, Record<string, any>>): void {
    const now = performance.now()
    this.sampledAt = Date.now()
    const byPeerId = new Map<string, LabNode>()
    for (const node of this.nodes.values()) {
      const s = stats.get(node.index)
      if (s !== undefined && !this.dead.has(node.index)) {
        if (typeof s.peerId === 'string') node.peerId = s.peerId
        // kad-dht's RPCs are not in `messages`: a DHT node's own lookups count a request and a reply per peer queried (as messageCount)
        const messages = total(s.messages) + (run.spec.generation === 'dht' ? 2 * total(s.dht?.lookups?.queriedTotal) : 0)
        const bytes = total(s.bytes)
        const prev = this.last.get(node.index)
        const dt = prev === undefined ? 0 : (now - prev.at) / 1000
        // a restarted peer counts from zero again: no negative rates
        node.msgRate = dt > 0 ? Math.max(0, messages - prev!.messages) / dt : 0
        node.byteRate = dt > 0 ? Math.max(0, bytes - prev!.bytes) / dt : 0
        node.messages = messages
        node.connections = typeof s.connections === 'number' ? s.connections : undefined
        node.state = 'up'
        this.last.set(node.index, { at: now, messages, bytes })
        // a supernode network's roles can change by election (role auto); the overlay says what the peer is now
        const role = overlays.get(node.index)?.role
        if (run.spec.generation === 'supernode' && (role === 'super' || role === 'leaf')) node.kind = role === 'super' ? 'supernode' : 'leaf'
      } else if (this.dead.has(node.index)) {
        node.state = 'dead'
      }
      if (node.peerId !== undefined) byPeerId.set(node.peerId, node)
    }

    // the links: every live peer's own (overlay() names this node's links only), one edge per pair of lab peers
    const edges = new Map<string, LabEdge>()
    for (const [index, overlay] of overlays) {
      if (this.dead.has(index)) continue
      for (const e of (overlay.edges ?? []) as Array<{ source: string, target: string, kind: string }>) {
        // plain connections (a download's source, a dial in progress) are not the overlay
        if (e.kind === 'connection') continue
        if (!byPeerId.has(e.source) || !byPeerId.has(e.target) || e.source === e.target) continue
        const [a, b] = e.source < e.target ? [e.source, e.target] : [e.target, e.source]
        const id = `${a} ${b}`
        const edge = edges.get(id) ?? { id, source: a, target: b, kinds: [], dead: false }
        if (!edge.kinds.includes(e.kind)) edge.kinds.push(e.kind)
        edges.set(id, edge)
      }
    }

    // directory: a client's overlay names its server only when --directory has a /p2p/ part, which the lab's
    // addresses lack; a client online at the server (its stats say so) is linked to it
    if (run.spec.generation === 'directory') {
      const server = [...this.nodes.values()].find(n => n.kind === 'directory-server' && n.peerId !== undefined)
      for (const node of this.nodes.values()) {
        if (server === undefined || node.kind !== 'directory' || node.peerId === undefined || this.dead.has(node.index)) continue
        if (stats.get(node.index)?.directory?.state !== 'online') continue
        const [a, b] = node.peerId < (server.peerId as string) ? [node.peerId, server.peerId as string] : [server.peerId as string, node.peerId]
        const id = `${a} ${b}`
        const edge = edges.get(id) ?? { id, source: a, target: b, kinds: [], dead: false }
        if (!edge.kinds.includes('directory-server')) edge.kinds.push('directory-server')
        edges.set(id, edge)
      }
    }

    // flood: each end counts the QUERY messages it received from each neighbour (queriesIn); the two ends' sum is the link's traffic
    if (run.spec.generation === 'flood') {
      const queries = new Map<string, number>()
      for (const node of this.nodes.values()) {
        const s = stats.get(node.index)
        if (s === undefined || node.peerId === undefined || this.dead.has(node.index)) continue
        for (const n of (s.flood?.neighbours ?? []) as Array<{ peerId?: string, queriesIn?: number }>) {
          if (typeof n.peerId !== 'string' || typeof n.queriesIn !== 'number') continue
          const [a, b] = node.peerId < n.peerId ? [node.peerId, n.peerId] : [n.peerId, node.peerId]
          const id = `${a} ${b}`
          queries.set(id, (queries.get(id) ?? 0) + n.queriesIn)
        }
      }
      const seen = new Map<string, { at: number, queries: number }>()
      for (const [id, count] of queries) {
        const prev = this.lastLinks.get(id)
        const edge = edges.get(id)
        if (edge !== undefined) {
          const dt = prev === undefined ? 0 : (now - prev.at) / 1000
          edge.msgRate = dt > 0 ? Math.max(0, count - prev!.queries) / dt : 0
        }
        seen.set(id, { at: now, queries: count })
      }
      this.lastLinks = seen
    }
    this.edges = [...edges.values()].sort((x, y) => x.id.localeCompare(y.id))
    this.markDeadEdges()
  }
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** Starts the lab view's server on a loopback address and writes `<out>/dashboard.json` (mode 0600). */
export async function startLabDashboard (init: LabDashboardInit): Promise<LabDashboard> {
  if (!isLoopbackHost(init.host)) throw new LabDashboardError(`the lab dashboard must listen on a loopback address, not ${init.host}`)
  if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65_535) throw new LabDashboardError(`invalid dashboard port ${init.port}`)
  const dist = init.dist ?? DEFAULT_DIST
  const log = init.log ?? (() => {})
  const token = randomBytes(32).toString('base64url')
  const expectedAuth = digest(`Bearer ${token}`)
  let allowedHosts = new Set<string>()
  const streams = new Set<ServerResponse>()
  let latest = ''

  const model = new LabModel(init.sampleMs ?? DEFAULTS.dashboardSampleMs, (view) => {
    const json = JSON.stringify(view)
    // a sample that changed nothing is not sent
    if (json === latest) return
    latest = json
    for (const res of streams) res.write(`event: lab\ndata: ${json}\n\n`)
  })

  /** Refuses a foreign Host (DNS rebinding), a foreign Origin, and what a browser marks as a cross-site request (as api-server.ts). */
  function checkOrigin (req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase()
    if (!allowedHosts.has(host)) throw new HttpError(403, 'ERR_FORBIDDEN', 'Host header does not name this dashboard')
    const origin = req.headers.origin
    if (origin !== undefined && !(origin.toLowerCase().startsWith('http://') && allowedHosts.has(origin.slice(7).toLowerCase()))) {
      log(`dashboard: refused a cross-origin request from ${origin}`)
      throw new HttpError(403, 'ERR_FORBIDDEN', 'cross-origin requests are not allowed')
    }
    if (req.headers['sec-fetch-site'] === 'cross-site') {
      log('dashboard: refused a cross-site request')
      throw new HttpError(403, 'ERR_FORBIDDEN', 'cross-site requests are not allowed')
    }
  }

  function checkAccess (req: IncomingMessage): void {
    const auth = req.headers.authorization
    if (auth === undefined || !timingSafeEqual(digest(auth), expectedAuth)) {
      throw new HttpError(401, 'ERR_UNAUTHORIZED', `missing or wrong bearer token (sedai lab printed it; it is in ${DEFAULTS.dashboardFile} in the run's --out folder)`)
    }
  }

  const files = new Map<string, { file: string, type: string }>([
    [LAB_PATHS.page, { file: 'lab.html', type: 'text/html; charset=utf-8' }],
    [LAB_PATHS.script, { file: 'lab.js', type: 'text/javascript; charset=utf-8' }],
    [LAB_PATHS.style, { file: 'style.css', type: 'text/css; charset=utf-8' }]
  ])
  const cache = new Map<string, Buffer>()

  async function serveFile (path: string, res: ServerResponse): Promise<void> {
    if (path === LAB_PATHS.favicon) { send(res, 204, 'text/plain; charset=utf-8', ''); return }
    const f = files.get(path) as { file: string, type: string }
    let body = cache.get(f.file)
    if (body === undefined) {
      try {
        body = await readFile(join(dist, f.file))
      } catch (err: any) {
        send(res, 503, 'text/plain; charset=utf-8', `sedai: the lab view is not built (${err.code ?? err.message} in ${dist}): run \`npm run build:dashboard\` in the sedai checkout\n`)
        return
      }
      cache.set(f.file, body)
    }
    send(res, 200, f.type, body)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = (req.url ?? '').split('?')[0]
    try {
      checkOrigin(req)
      if (method === 'GET' && (files.has(path) || path === LAB_PATHS.favicon)) {
        // static files without a secret (the user gives the page the token): Host and Origin checks, no token
        await serveFile(path, res)
        return
      }
      checkAccess(req)
      if (method !== 'GET') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'the lab dashboard accepts GET only')
      if (path === LAB_PATHS.id) {
        sendJson(res, 200, { lab: true, url })
      } else if (path === LAB_PATHS.view) {
        sendJson(res, 200, model.view())
      } else if (path === LAB_PATHS.events) {
        if (streams.size >= DEFAULTS.dashboardMaxStreams) throw new HttpError(503, 'ERR_BUSY', `at most ${DEFAULTS.dashboardMaxStreams} event streams at once`)
        res.writeHead(200, { ...API_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
        res.write(`event: lab\ndata: ${JSON.stringify(model.view())}\n\n`)
        streams.add(res)
        const keepAlive = setInterval(() => { res.write(': keep-alive\n\n') }, DEFAULTS.dashboardKeepAliveMs)
        res.on('close', () => { clearInterval(keepAlive); streams.delete(res) })
      } else {
        throw new HttpError(404, 'ERR_UNKNOWN_ROUTE', `no such route: ${method} ${path}`)
      }
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      sendJson(res, err.status, { error: { code: err.code, message: err.message } },
        err.status === 401 ? { 'www-authenticate': 'Bearer realm="sedai-lab"' } : {})
    }
  }

  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch(() => { res.destroy() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => { reject(new LabDashboardError(`the lab dashboard cannot listen on ${formatHostPort(init.host, init.port)}: ${err.message}`)) })
    server.listen({ host: init.host, port: init.port }, () => { resolve() })
  })
  const address = server.address() as AddressInfo
  const own = formatHostPort(address.address, address.port)
  allowedHosts = new Set([own.toLowerCase()])
  if (address.address === '127.0.0.1' || address.address === '::1') allowedHosts.add(`localhost:${address.port}`)
  const url = `http://${own}`
  const file = join(init.out, DEFAULTS.dashboardFile)
  try {
    await writePrivate(file, JSON.stringify({ url: `${url}/`, token }) + '\n')
  } catch (err) {
    server.close()
    throw err
  }

  let closing: Promise<void> | undefined
  return {
    url,
    token,
    file,
    observer: model.observer,
    view: () => model.view(),
    close: async () => {
      closing ??= (async () => {
        model.stop()
        await rm(file, { force: true })
        for (const res of streams) res.end()
        streams.clear()
        const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
        server.closeAllConnections()
        await closed
      })()
      await closing
    }
  }
}

function send (res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { ...DASHBOARD_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...API_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Atomically (a private temp file, then rename), mode 0600: the token is for who can read the --out folder. */
async function writePrivate (file: string, text: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true })
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' })
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}
