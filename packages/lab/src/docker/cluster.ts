/**
 * The docker runner: each peer of a run is one docker-compose service (its
 * own container, network namespace and IP on a bridge network of the run's
 * own project), running the lab agent (agent.ts) with the run's SEDAI_* knobs.
 * Peers reach each other by service name (/dns4/p<i>/tcp/4001); the runner
 * reaches each agent on a port published on 127.0.0.1. A kill is
 * `docker kill -s KILL` (the host dies), a restart `docker start` of the same
 * container (same repo, identity and name; the conditions are applied again,
 * as the network namespace is new).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { basename, join } from 'node:path'
import { DEFAULTS } from '../config.ts'
import { DockerError, WorkerError } from '../errors.ts'
import { applyConditions, containerIp, cutOff, reconnect } from './conditions.ts'
import { compose, publishedPort, run } from './docker.ts'
import { LineDecoder, encodeLine } from './wire.ts'
import type { Socket } from 'node:net'
import type { MemoryReport, PeerSpec, Reply, Request, StartedPeer } from '../messages.ts'
import type { Nodes, Placement, StartOptions } from '../nodes.ts'
import type { Conditions } from '../topology.ts'
import type { ConditionsMethod } from './conditions.ts'

const AGENT = '/app/packages/lab/src/docker/agent.ts'
const FILES = '/lab/files'
const LISTEN_PORT = 4001
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The runner's connection to one container's agent. */
export class AgentClient {
  private readonly socket: Socket
  private readonly token: string
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  private closed = false
  readonly name: string

  private constructor (socket: Socket, token: string, name: string) {
    this.socket = socket
    this.token = token
    this.name = name
    const decoder = new LineDecoder(DEFAULTS.agentMaxLineBytes)
    socket.on('data', (chunk: Buffer) => {
      let msgs: unknown[]
      try {
        msgs = decoder.push(chunk)
      } catch (err: any) {
        this.fail(`${name}: ${err.message}`)
        return
      }
      for (const m of msgs as Reply[]) {
        const p = this.pending.get(m.id)
        if (p === undefined) continue
        this.pending.delete(m.id)
        clearTimeout(p.timer)
        if (m.ok) p.resolve(m.result); else p.reject(Object.assign(new WorkerError(m.error), m.code !== undefined ? { cause: m.code } : {}))
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => { this.fail(`${name}: the agent's connection closed`) })
  }

  /** Connects to 127.0.0.1:`port`, retrying while the container's agent is not listening yet. */
  static async connect (port: number, token: string, name: string, timeoutMs: number): Promise<AgentClient> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1')
          s.once('connect', () => { s.off('error', reject); resolve(s) })
          s.once('error', reject)
        })
        const client = new AgentClient(socket, token, name)
        // docker's port proxy accepts before the agent listens: a memory call proves the agent answers
        await client.call({ op: 'memory' }, 5000)
        return client
      } catch (err: any) {
        if (Date.now() > deadline) throw new WorkerError(`${name}: the lab agent did not answer within ${timeoutMs} ms (${err.message})`)
        await sleep(300)
      }
    }
  }

  get alive (): boolean { return !this.closed }

  async call<T> (req: Request, timeoutMs: number = DEFAULTS.workerCommandTimeoutMs): Promise<T> {
    if (this.closed) throw new WorkerError(`${this.name}: the agent is not connected`)
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new WorkerError(`${this.name}: '${req.op}' got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.socket.write(encodeLine({ id, token: this.token, req }))
    })
  }

  private fail (why: string): void {
    this.closed = true
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new WorkerError(why)) }
    this.pending.clear()
    this.socket.destroy()
  }

  close (): void { this.fail(`${this.name}: closed by the runner`) }
}

export interface DockerClusterInit {
  /** the run's scratch folder: compose.yml goes there */
  dir: string
  /** the shared files, mounted read-only at /lab/files in every container */
  filesDir: string
  image: string
  conditions?: Conditions
  log: (msg: string) => void
}

interface PlacedContainer { spec: PeerSpec, client: AgentClient, started: StartedPeer }

/** One compose project per run; see the file's comment. */
export class DockerCluster implements Nodes {
  private readonly init: DockerClusterInit
  readonly project = `sedai-lab-${randomBytes(4).toString('hex')}`
  private readonly token = randomBytes(24).toString('base64url')
  private readonly composeFile: string
  private readonly specs = new Map<number, PeerSpec>()
  private readonly peers = new Map<number, PlacedContainer>()
  private env: Record<string, string> = {}
  private up = false
  /** how the conditions were applied (the same on every container) */
  conditionsMethod?: ConditionsMethod

  constructor (init: DockerClusterInit) {
    this.init = init
    this.composeFile = join(init.dir, 'compose.yml')
  }

  private container (i: number): string { return `${this.project}-p${i}` }

  async prepare (_peers: number): Promise<Placement> {
    await mkdir(this.init.dir, { recursive: true })
    await run('docker', ['image', 'inspect', this.init.image], 30_000).catch(() => {
      throw new DockerError(`no image ${this.init.image}: build it with 'npm run lab:image' (or pass --image)`)
    })
    return {
      listen: () => `/ip4/0.0.0.0/tcp/${LISTEN_PORT}`,
      addr: i => `/dns4/p${i}/tcp/${LISTEN_PORT}`,
      repo: () => '/data',
      downloads: () => '/data/downloads',
      file: p => `${FILES}/${basename(p)}`
    }
  }

  /** The compose file of every service so far (JSON is YAML: both compose versions read it). */
  private composeText (): string {
    const services: Record<string, unknown> = {}
    for (const i of [...this.specs.keys()].sort((a, b) => a - b)) {
      services[`p${i}`] = {
        image: this.init.image,
        container_name: this.container(i),
        entrypoint: ['node', AGENT],
        environment: { ...this.env, SEDAI_LAB_TOKEN: this.token, SEDAI_LAB_AGENT_PORT: String(DEFAULTS.agentPort) },
        volumes: [`${this.init.filesDir}:${FILES}:ro`],
        // the agent obeys anyone with the token: published on the host's loopback only
        ports: [`127.0.0.1::${DEFAULTS.agentPort}`],
        networks: ['lab'],
        stop_grace_period: '10s'
      }
    }
    const doc = { version: '2.4', services, networks: { lab: {} } }
    return `# written by sedai lab (docker runner) for project ${this.project}: one service per peer, each\n# running the lab agent. It holds the run's token; the runner removes it with the project.\n${JSON.stringify(doc, null, 2)}\n`
  }

  private async compose (args: string[]): Promise<string> {
    const [cmd, ...pre] = await compose()
    return await run(cmd, [...pre, '-p', this.project, '-f', this.composeFile, ...args])
  }

  async start (specs: PeerSpec[], opts: StartOptions): Promise<void> {
    if (specs.length === 0) return
    for (const s of specs) this.specs.set(s.index, s)
    this.env = opts.env
    await writeFile(this.composeFile, this.composeText(), { mode: 0o600 })
    this.up = true
    const t = performance.now()
    await this.compose(['up', '-d', '--no-build', ...specs.map(s => `p${s.index}`)])
    this.init.log(`${specs.length} containers created and started in ${Math.round(performance.now() - t)} ms`)
    await Promise.all(specs.map(async s => { await this.attach(s, opts.timeoutMs) }))
  }

  /** Conditions on the container's eth0, the agent connected, the daemon started. */
  private async attach (spec: PeerSpec, timeoutMs: number = DEFAULTS.agentConnectTimeoutMs): Promise<void> {
    const name = this.container(spec.index)
    if (this.init.conditions !== undefined) {
      const { method, shown } = await applyConditions(name, this.init.conditions)
      if (this.conditionsMethod === undefined) this.init.log(`conditions on ${name} (${method}): ${shown}`)
      this.conditionsMethod = method
    }
    const port = await publishedPort(name, DEFAULTS.agentPort)
    const client = await AgentClient.connect(port, this.token, name, Math.max(timeoutMs, DEFAULTS.agentConnectTimeoutMs))
    const [started] = await client.call<StartedPeer[]>({ op: 'start', peers: [spec] }, DEFAULTS.workerCommandTimeoutMs)
    this.peers.set(spec.index, { spec, client, started })
  }

  private get (index: number): PlacedContainer {
    const p = this.peers.get(index)
    if (p === undefined) throw new WorkerError(`no running peer ${index} in this run`)
    return p
  }

  async call<T> (index: number, req: Request, timeoutMs?: number): Promise<T> {
    return await this.get(index).client.call<T>(req, timeoutMs)
  }

  async kill (index: number): Promise<void> {
    const p = this.get(index)
    this.peers.delete(index)
    await run('docker', ['kill', '-s', 'KILL', this.container(index)], 60_000)
    p.client.close()
  }

  async restart (index: number): Promise<void> {
    const spec = this.specs.get(index)
    if (spec === undefined) throw new WorkerError(`no peer ${index} in this run`)
    await run('docker', ['start', this.container(index)], 120_000)
    await this.attach(spec)
  }

  async stats (): Promise<Map<number, Record<string, any>>> {
    const out = new Map<number, Record<string, any>>()
    await Promise.all([...this.peers.values()].filter(p => p.client.alive).map(async p => {
      const res = await p.client.call<Record<string, Record<string, any>>>({ op: 'stats' })
      for (const [i, s] of Object.entries(res)) out.set(Number(i), s)
    }))
    return out
  }

  /** Every live peer's overlay(), by index (the lab dashboard's graph). */
  async overlays (): Promise<Map<number, Record<string, any>>> {
    const out = new Map<number, Record<string, any>>()
    await Promise.all([...this.peers.values()].filter(p => p.client.alive).map(async p => {
      const res = await p.client.call<Record<string, Record<string, any>>>({ op: 'overlay' })
      for (const [i, o] of Object.entries(res)) out.set(Number(i), o)
    }))
    return out
  }

  async memory (): Promise<MemoryReport[]> {
    return await Promise.all([...this.peers.values()].filter(p => p.client.alive).map(async p => await p.client.call<MemoryReport>({ op: 'memory' })))
  }

  private cut: number[] = []

  async partition (a: number[], b: number[]): Promise<void> {
    const ips = new Map<number, string>()
    await Promise.all([...a, ...b].map(async i => { ips.set(i, await containerIp(this.container(i))) }))
    const t = performance.now()
    await Promise.all([
      ...a.map(async i => { await cutOff(this.container(i), b.map(j => ips.get(j) as string)) }),
      ...b.map(async i => { await cutOff(this.container(i), a.map(j => ips.get(j) as string)) })
    ])
    this.cut = [...a, ...b]
    this.init.log(`partition in place in ${Math.round(performance.now() - t)} ms`)
  }

  async heal (): Promise<void> {
    await Promise.all(this.cut.map(async i => { await reconnect(this.container(i)) }))
    this.cut = []
  }

  async stop (): Promise<void> {
    for (const p of this.peers.values()) p.client.close()
    this.peers.clear()
    if (!this.up) return
    const t = performance.now()
    await this.compose(['down', '-v', '--remove-orphans', '-t', '5']).then(
      () => { this.init.log(`project ${this.project} removed in ${Math.round(performance.now() - t)} ms`) },
      (err: Error) => { this.init.log(`warning: ${err.message}`) })
  }
}
