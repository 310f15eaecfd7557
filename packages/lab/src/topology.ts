import { DEFAULTS } from './config.ts'
import { InvalidTopologyError } from './errors.ts'

/**
 * A topology file (JSON) declares the shared file set, the workload and the
 * networks to compare. Every array-valued network field is a sweep: the
 * network runs once per value (per combination), each run a fresh network
 * on the same files and the same workload. docs/LAB.md describes the format.
 */
export const GENERATIONS = ['directory', 'flood', 'supernode', 'dht'] as const
export type Generation = typeof GENERATIONS[number]

export const FAULT_TARGETS = ['server', 'supernode', 'random'] as const
export type FaultTarget = typeof FAULT_TARGETS[number]

export interface KillFault {
  /** when, as a fraction of the run's searches (0.5 = after half of them); or atS */
  at?: number
  /** when, in seconds into the search phase */
  atS?: number
  kill: FaultTarget
  /** nodes killed (random only) */
  count: number
  /** restart the killed nodes at this fraction (with at) or second (restartAtS, with atS); none = they stay down */
  restartAt?: number
  restartAtS?: number
}

/**
 * A network partition (docker runner): a random `partition` share of the
 * peers is cut off from the rest (every packet between the two sides is
 * dropped, no reset: TCP connections stall as after a link failure), healed
 * at `healAt`.
 */
export interface PartitionFault {
  at?: number
  atS?: number
  partition: number
  healAt?: number
  healAtS?: number
}

export type Fault = KillFault | PartitionFault

export const isPartition = (f: Fault): f is PartitionFault => 'partition' in f

/**
 * Network conditions on every container's interface (docker runner only):
 * `tc netem` delay/jitter/loss, a rate limit. 0 = not set. Each container
 * shapes what it sends, so a round trip crosses two shaped links: RTT grows
 * by 2 × delayMs and a message is lost with probability lossPct per direction.
 */
export interface Conditions { delayMs: number, jitterMs: number, lossPct: number, rateKbit: number }

export interface FileSet { count: number, bytes: number, replicas: number }

export interface Workload {
  searches: number
  downloads: number
  zipf: number
  concurrency: number
  searchTimeoutMs: number
  getTimeoutMs: number
  /** searches started per second at most (0 = as fast as `concurrency` allows): a paced phase lasts searches / rate seconds */
  ratePerSecond: number
  /** after a restart or heal, searches that start this long after it count as "settled" (ms) */
  settleMs: number
}

/** One network to run: a single point of a sweep. */
export interface RunSpec {
  /** e.g. 'flood N=64 TTL=3' */
  id: string
  /** the network's label in the file (default: its generation) */
  label: string
  generation: Generation
  peers: number
  /** flood and supernode */
  ttl?: number
  /** flood: overlay degree range */
  degree: [number, number]
  /** supernode: how many run --role super */
  supernodes: number
  /** supernode: path caching on (the default) or off */
  cache: boolean
  /** libp2p connection cap per peer */
  maxConnections: number
  faults: Fault[]
  /** docker runner: delay, loss, rate limit on every container */
  conditions?: Conditions
  /** flood: peers top their links back up to the daemon's minimum from their host cache (as Gnutella servents do); off = the overlay stays the generated graph */
  repair: boolean
  /** close connections idle this long (ms; 0 = never), KEEP_ALIVE peers excepted: core's idle reaper */
  idleConnectionMs: number
  /** dht: kad-dht pings each new routing-table contact first (true, the daemon's way); false takes contacts as live, for large labs where no node leaves (dht-peer DEFAULTS.contactPings) */
  contactPings: boolean
}

export interface Topology {
  name: string
  /** where the peers run unless the command line says otherwise: 'local' (loopback processes) or 'docker' (a container each) */
  runner: 'local' | 'docker'
  seed: number
  peersPerProcess: number
  /** how long a network may take to start and become ready (ms) */
  readyTimeoutMs: number
  files: FileSet
  workload: Workload
  runs: RunSpec[]
}

const NETWORK_FIELDS = new Set(['generation', 'label', 'peers', 'ttl', 'degree', 'supernodes', 'cache', 'maxConnections', 'faults', 'conditions', 'repair', 'idleConnectionMs', 'contactPings'])
const TOP_FIELDS = new Set(['name', 'runner', 'seed', 'peersPerProcess', 'readyTimeoutMs', 'files', 'workload', 'networks', 'description'])

function fail (path: string, msg: string): never {
  throw new InvalidTopologyError(`${path}: ${msg}`)
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function int (v: unknown, path: string, min: number, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be a whole number in ${min}..${max}`)
  return v
}

function num (v: unknown, path: string, min: number, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `must be a number in ${min}..${max}`)
  return v
}

function unknownFields (obj: Record<string, unknown>, allowed: Set<string>, path: string): void {
  for (const k of Object.keys(obj)) if (!allowed.has(k)) fail(`${path}.${k}`, `unknown field (allowed: ${[...allowed].join(', ')})`)
}

/** A field that may be one value or a sweep (an array of 1..16 values). */
function sweep<T> (v: unknown, path: string, one: (x: unknown, p: string) => T, fallback: T): T[] {
  if (v === undefined) return [fallback]
  if (!Array.isArray(v)) return [one(v, path)]
  if (v.length === 0 || v.length > 16) fail(path, 'a sweep lists 1..16 values')
  return v.map((x, i) => one(x, `${path}[${i}]`))
}

/**
 * A fault's moments: fractions of the search phase (`at`, and `restartAt` or
 * `healAt`), or seconds into it (`atS`, `restartAtS`, `healAtS`; with a paced
 * workload, `workload.ratePerSecond`, so that the phase lasts long enough).
 */
function parseWhen (v: Record<string, unknown>, path: string, back: 'restartAt' | 'healAt'): { at?: number, atS?: number, back?: number, backS?: number } {
  const backS = `${back}S`
  if ((v.at === undefined) === (v.atS === undefined)) fail(path, 'needs exactly one of at (a fraction of the searches) and atS (seconds)')
  if (v.at !== undefined) {
    if (v[backS] !== undefined) fail(`${path}.${backS}`, `goes with atS; with at, use ${back}`)
    const at = num(v.at, `${path}.at`, 0, 1)
    const b = v[back] === undefined ? undefined : num(v[back], `${path}.${back}`, 0, 1)
    if (b !== undefined && b <= at) fail(`${path}.${back}`, 'must come after at')
    return { at, ...(b !== undefined ? { back: b } : {}) }
  }
  if (v[back] !== undefined) fail(`${path}.${back}`, `goes with at; with atS, use ${backS}`)
  const atS = num(v.atS, `${path}.atS`, 0, 3600)
  const b = v[backS] === undefined ? undefined : num(v[backS], `${path}.${backS}`, 0, 3600)
  if (b !== undefined && b <= atS) fail(`${path}.${backS}`, 'must come after atS')
  return { atS, ...(b !== undefined ? { backS: b } : {}) }
}

function parseFault (v: unknown, path: string): Fault {
  if (!isObject(v)) fail(path, 'must be an object like { "at": 0.5, "kill": "server", "restartAt": 0.75 } or { "atS": 20, "partition": 0.5, "healAtS": 80 }')
  if (v.partition !== undefined) {
    unknownFields(v, new Set(['at', 'atS', 'partition', 'healAt', 'healAtS']), path)
    const w = parseWhen(v, path, 'healAt')
    const partition = num(v.partition, `${path}.partition`, 0.01, 0.99)
    return { ...(w.at !== undefined ? { at: w.at } : { atS: w.atS }), partition, ...(w.back !== undefined ? { healAt: w.back } : {}), ...(w.backS !== undefined ? { healAtS: w.backS } : {}) }
  }
  unknownFields(v, new Set(['at', 'atS', 'kill', 'count', 'restartAt', 'restartAtS']), path)
  const w = parseWhen(v, path, 'restartAt')
  if (typeof v.kill !== 'string' || !(FAULT_TARGETS as readonly string[]).includes(v.kill)) fail(`${path}.kill`, `must be one of ${FAULT_TARGETS.join(', ')}`)
  return { ...(w.at !== undefined ? { at: w.at } : { atS: w.atS }), kill: v.kill as FaultTarget, count: int(v.count, `${path}.count`, 1, 1000, 1), ...(w.back !== undefined ? { restartAt: w.back } : {}), ...(w.backS !== undefined ? { restartAtS: w.backS } : {}) }
}

function parseConditions (v: unknown, path: string): Conditions {
  if (!isObject(v)) fail(path, 'must be an object like { "delayMs": 50, "lossPct": 1 }')
  unknownFields(v, new Set(['delayMs', 'jitterMs', 'lossPct', 'rateKbit']), path)
  const delayMs = int(v.delayMs, `${path}.delayMs`, 0, 10_000, 0)
  const c: Conditions = {
    delayMs,
    jitterMs: int(v.jitterMs, `${path}.jitterMs`, 0, delayMs, 0),
    lossPct: num(v.lossPct, `${path}.lossPct`, 0, 100, 0),
    // tbf's smallest useful rate: below ~8 kbit/s one MTU-sized packet takes longer than its latency bound
    rateKbit: int(v.rateKbit, `${path}.rateKbit`, 0, 10_000_000, 0)
  }
  if (c.rateKbit !== 0 && c.rateKbit < 8) fail(`${path}.rateKbit`, 'must be 0 (no limit) or at least 8')
  if (c.delayMs === 0 && c.lossPct === 0 && c.rateKbit === 0) fail(path, 'sets nothing (give delayMs, lossPct or rateKbit)')
  return c
}

/** The conditions as a run id shows them, e.g. 'delay=50ms loss=1%'. */
export function conditionsLabel (c: Conditions): string {
  const parts: string[] = []
  if (c.delayMs > 0) parts.push(`delay=${c.delayMs}${c.jitterMs > 0 ? `±${c.jitterMs}` : ''}ms`)
  if (c.lossPct > 0) parts.push(`loss=${c.lossPct}%`)
  if (c.rateKbit > 0) parts.push(`rate=${c.rateKbit}kbit`)
  return parts.join(' ')
}

/** Parses and checks a topology file's text; every problem is an InvalidTopologyError naming the field. */
export function parseTopology (text: string): Topology {
  if (Buffer.byteLength(text) > DEFAULTS.maxTopologyBytes) fail('topology', `larger than ${DEFAULTS.maxTopologyBytes} bytes`)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err: any) {
    fail('topology', `not JSON: ${err.message}`)
  }
  if (!isObject(doc)) fail('topology', 'must be a JSON object')
  unknownFields(doc, TOP_FIELDS, 'topology')
  if (typeof doc.name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(doc.name)) fail('name', 'must be 1..64 characters of A-Z a-z 0-9 . _ -')
  if (doc.runner !== undefined && doc.runner !== 'local' && doc.runner !== 'docker') fail('runner', "must be 'local' or 'docker'")
  const runner = (doc.runner ?? 'local') as Topology['runner']
  const seed = int(doc.seed, 'seed', 0, 2 ** 31, DEFAULTS.seed)
  const peersPerProcess = int(doc.peersPerProcess, 'peersPerProcess', 1, 500, DEFAULTS.peersPerProcess)
  const readyTimeoutMs = int(doc.readyTimeoutMs, 'readyTimeoutMs', 1000, 3600_000, DEFAULTS.readyTimeoutMs)

  const f = doc.files ?? {}
  if (!isObject(f)) fail('files', 'must be an object')
  unknownFields(f, new Set(['count', 'bytes', 'replicas']), 'files')
  const files: FileSet = {
    count: int(f.count, 'files.count', 1, 10_000, DEFAULTS.files),
    bytes: int(f.bytes, 'files.bytes', 1, 64 * 1024 * 1024, DEFAULTS.fileBytes),
    replicas: int(f.replicas, 'files.replicas', 1, 100, DEFAULTS.replicas)
  }

  const w = doc.workload ?? {}
  if (!isObject(w)) fail('workload', 'must be an object')
  unknownFields(w, new Set(['searches', 'downloads', 'zipf', 'concurrency', 'searchTimeoutMs', 'getTimeoutMs', 'ratePerSecond', 'settleMs']), 'workload')
  const workload: Workload = {
    searches: int(w.searches, 'workload.searches', 1, 100_000, DEFAULTS.searches),
    downloads: int(w.downloads, 'workload.downloads', 0, 100_000, DEFAULTS.downloads),
    zipf: num(w.zipf, 'workload.zipf', 0, 5, DEFAULTS.zipf),
    concurrency: int(w.concurrency, 'workload.concurrency', 1, 64, DEFAULTS.concurrency),
    searchTimeoutMs: int(w.searchTimeoutMs, 'workload.searchTimeoutMs', 100, 120_000, DEFAULTS.searchTimeoutMs),
    getTimeoutMs: int(w.getTimeoutMs, 'workload.getTimeoutMs', 1000, 600_000, DEFAULTS.getTimeoutMs),
    ratePerSecond: num(w.ratePerSecond, 'workload.ratePerSecond', 0, 1000, 0),
    settleMs: int(w.settleMs, 'workload.settleMs', 0, 600_000, DEFAULTS.settleMs)
  }
  if (workload.downloads > workload.searches) fail('workload.downloads', 'cannot exceed workload.searches (a download follows a search)')

  if (!Array.isArray(doc.networks) || doc.networks.length === 0 || doc.networks.length > 32) fail('networks', 'must list 1..32 networks')
  const runs: RunSpec[] = []
  for (const [i, n] of doc.networks.entries()) {
    const path = `networks[${i}]`
    if (!isObject(n)) fail(path, 'must be an object')
    unknownFields(n, NETWORK_FIELDS, path)
    if (typeof n.generation !== 'string' || !(GENERATIONS as readonly string[]).includes(n.generation)) fail(`${path}.generation`, `must be one of ${GENERATIONS.join(', ')}`)
    const generation = n.generation as Generation
    const label = n.label === undefined ? generation : (typeof n.label === 'string' && /^[A-Za-z0-9._ -]{1,40}$/.test(n.label) ? n.label : fail(`${path}.label`, 'must be 1..40 characters of A-Z a-z 0-9 . _ - space'))
    // at least two peers that hold files and search (a holder never searches for its own file): the directory adds its server, the supernode network its supernodes
    const minPeers = generation === 'directory' ? 3 : generation === 'flood' ? 4 : generation === 'supernode' ? 4 : 2
    if (n.peers === undefined) fail(`${path}.peers`, 'is required')
    const peerCounts = sweep(n.peers, `${path}.peers`, (x, p) => int(x, p, minPeers, DEFAULTS.maxPeers), 0)
    const ttls = generation === 'flood' || generation === 'supernode'
      ? sweep<number | undefined>(n.ttl, `${path}.ttl`, (x, p) => int(x, p, 1, 16), undefined)
      : (n.ttl === undefined ? [undefined] : fail(`${path}.ttl`, `only flood and supernode networks have a TTL`))
    let degree: [number, number] = [...DEFAULTS.floodDegree]
    if (n.degree !== undefined) {
      if (generation !== 'flood') fail(`${path}.degree`, 'only flood networks have a degree')
      if (!Array.isArray(n.degree) || n.degree.length !== 2) fail(`${path}.degree`, 'must be [min, max]')
      degree = [int(n.degree[0], `${path}.degree[0]`, 2, 32), int(n.degree[1], `${path}.degree[1]`, 2, 32)]
      if (degree[1] < degree[0]) fail(`${path}.degree`, 'max is below min')
    }
    const caches = generation === 'supernode'
      ? sweep(n.cache, `${path}.cache`, (x, p) => typeof x === 'boolean' ? x : fail(p, 'must be true or false'), true)
      : (n.cache === undefined ? [true] : fail(`${path}.cache`, 'only supernode networks cache'))
    const maxConnections = int(n.maxConnections, `${path}.maxConnections`, 4, 1000, DEFAULTS.maxConnections)
    if (n.repair !== undefined && (generation !== 'flood' || typeof n.repair !== 'boolean')) fail(`${path}.repair`, 'is true or false, for flood networks only')
    const repair = n.repair === true
    const idleConnectionMs = int(n.idleConnectionMs, `${path}.idleConnectionMs`, 0, 3600_000, 0)
    if (n.contactPings !== undefined && (generation !== 'dht' || typeof n.contactPings !== 'boolean')) fail(`${path}.contactPings`, 'is true or false, for dht networks only')
    const contactPings = n.contactPings !== false
    if (n.supernodes !== undefined && generation !== 'supernode') fail(`${path}.supernodes`, 'only supernode networks have supernodes')
    if (n.faults !== undefined && (!Array.isArray(n.faults) || n.faults.length > 8)) fail(`${path}.faults`, 'must list 0..8 faults')
    const faults = ((n.faults ?? []) as unknown[]).map((x, j) => parseFault(x, `${path}.faults[${j}]`))
    for (const [j, fault] of faults.entries()) {
      if (isPartition(fault)) continue
      if (fault.kill === 'server' && generation !== 'directory') fail(`${path}.faults[${j}].kill`, "'server' needs a directory network")
      if (fault.kill === 'supernode' && generation !== 'supernode') fail(`${path}.faults[${j}].kill`, "'supernode' needs a supernode network")
    }
    const conds = sweep<Conditions | undefined>(n.conditions, `${path}.conditions`, parseConditions, undefined)
    for (const peers of peerCounts) {
      if (generation === 'flood' && peers <= degree[0]) fail(`${path}.peers`, `a flood network of degree ${degree[0]}+ needs more than ${degree[0]} peers`)
      const supernodes = generation === 'supernode'
        ? int(n.supernodes, `${path}.supernodes`, 1, peers - 2, Math.max(2, Math.min(peers - 2, Math.round(peers / DEFAULTS.supernodeShare))))
        : 0
      for (const ttl of ttls) {
        for (const cache of caches) {
          for (const conditions of conds) {
            const parts = [label, `N=${peers}`]
            if (ttl !== undefined) parts.push(`TTL=${ttl}`)
            if (generation === 'supernode' && caches.length > 1) parts.push(cache ? 'cache on' : 'cache off')
            if (conditions !== undefined) parts.push(conditionsLabel(conditions))
            runs.push({ id: parts.join(' '), label, generation, peers, ...(ttl !== undefined ? { ttl } : {}), degree, supernodes, cache, maxConnections, faults, repair, idleConnectionMs, contactPings, ...(conditions !== undefined ? { conditions } : {}) })
          }
        }
      }
    }
  }
  if (runs.length > DEFAULTS.maxRuns) fail('networks', `expand to ${runs.length} runs; at most ${DEFAULTS.maxRuns}`)
  const ids = new Set<string>()
  for (const r of runs) {
    if (ids.has(r.id)) fail('networks', `two runs are both '${r.id}' (give one a label)`)
    ids.add(r.id)
  }
  return { name: doc.name, runner, seed, peersPerProcess, readyTimeoutMs, files, workload, runs }
}
