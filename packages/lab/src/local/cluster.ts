import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePorts } from '@sedai/core'
import { DEFAULTS } from '../config.ts'
import { WorkerError } from '../errors.ts'
import type { ChildProcess } from 'node:child_process'
import type { Envelope, MemoryReport, PeerSpec, Reply, Request, StartedPeer } from '../messages.ts'
import type { Nodes, Placement, StartOptions } from '../nodes.ts'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))

/** One worker process and its request/reply channel. */
export class WorkerProcess {
  readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  readonly ready: Promise<void>
  private exited = false

  constructor (env: Record<string, string>) {
    this.child = fork(WORKER, [], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.ready = new Promise((resolve, reject) => {
      const onReady = (msg: Reply): void => { if (msg.id === 0) { this.child.off('message', onReady); resolve() } }
      this.child.on('message', onReady)
      this.child.once('exit', (code) => { reject(new WorkerError(`worker exited with code ${code} before it was ready`)) })
    })
    this.child.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok) p.resolve(msg.result); else p.reject(Object.assign(new WorkerError(msg.error), msg.code !== undefined ? { cause: msg.code } : {}))
    })
    this.child.on('exit', (code, signal) => {
      this.exited = true
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer)
        p.reject(new WorkerError(`worker ${this.child.pid} exited (${signal ?? code}) during request ${id}`))
      }
      this.pending.clear()
    })
  }

  get alive (): boolean { return !this.exited }

  async call<T> (req: Request, timeoutMs: number = DEFAULTS.workerCommandTimeoutMs): Promise<T> {
    // a killed worker's channel closes before its 'exit' arrives: check both
    if (this.exited || !this.child.connected) throw new WorkerError(`worker ${this.child.pid} is not running`)
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new WorkerError(`worker ${this.child.pid}: '${req.op}' got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      // with a callback a failed send rejects this call; without one Node emits it as the child's 'error' (uncaught)
      this.child.send({ id, req } satisfies Envelope, (err) => {
        if (err === null || !this.pending.has(id)) return
        this.pending.delete(id)
        clearTimeout(timer)
        reject(new WorkerError(`worker ${this.child.pid}: '${req.op}' could not be sent: ${err.message}`))
      })
    })
  }

  /**
   * SIGKILL: no goodbye to anyone, as when a host dies. Resolves once the
   * process is gone, so nothing the lab sends after a kill can reach a worker
   * that is still dying (its answer would never come).
   */
  async kill (): Promise<void> {
    if (this.exited) return
    const gone = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await gone
  }

  async close (): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>(resolve => { this.child.once('exit', () => { resolve() }) })
    await this.call({ op: 'shutdown' }, 30_000).catch(() => { void this.kill() })
    const timer = setTimeout(() => { void this.kill() }, 10_000)
    await gone
    clearTimeout(timer)
  }
}


export interface PlacedPeer extends StartedPeer {
  worker: WorkerProcess
  /** the only peer in its process: a kill is a real SIGKILL */
  solo: boolean
  spec: PeerSpec
  env: Record<string, string>
}

/**
 * Peers of one run spread over worker processes: `solo` peers get a process
 * each (so a kill fault SIGKILLs a real process), the rest are packed
 * `perProcess` to a worker.
 */
export class Cluster implements Nodes {
  readonly peers = new Map<number, PlacedPeer>()
  private readonly workers: WorkerProcess[] = []
  /** the peers' repos go under it */
  private readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  /** Ports on 127.0.0.1 picked first, so that bootstrap lists can name peers not yet up. */
  async prepare (peers: number): Promise<Placement> {
    const ports = await freePorts(peers)
    const addr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i]}`
    return {
      listen: addr,
      addr,
      repo: i => join(this.dir, `peer-${i}`),
      downloads: i => join(this.dir, `peer-${i}`, 'downloads'),
      file: p => p
    }
  }

  async start (specs: PeerSpec[], opts: StartOptions): Promise<void> {
    const solo = specs.filter(s => opts.solo?.has(s.index) === true)
    const packed = specs.filter(s => opts.solo?.has(s.index) !== true)
    const groups: Array<{ specs: PeerSpec[], solo: boolean }> = solo.map(s => ({ specs: [s], solo: true }))
    for (let i = 0; i < packed.length; i += opts.perProcess) groups.push({ specs: packed.slice(i, i + opts.perProcess), solo: false })
    await Promise.all(groups.map(async g => { await this.startGroup(g.specs, g.solo, opts.env, opts.timeoutMs) }))
  }

  private async startGroup (specs: PeerSpec[], solo: boolean, env: Record<string, string>, timeoutMs = 0): Promise<void> {
    const worker = new WorkerProcess(env)
    this.workers.push(worker)
    await worker.ready
    const started = await worker.call<StartedPeer[]>({ op: 'start', peers: specs }, Math.max(timeoutMs, DEFAULTS.workerCommandTimeoutMs + specs.length * 2000))
    for (const [i, p] of started.entries()) this.peers.set(p.index, { ...p, worker, solo, spec: specs[i], env })
  }

  get (index: number): PlacedPeer {
    const p = this.peers.get(index)
    if (p === undefined) throw new WorkerError(`no peer ${index} in this run`)
    return p
  }

  async call<T> (index: number, req: Request, timeoutMs?: number): Promise<T> {
    return await this.get(index).worker.call<T>(req, timeoutMs)
  }

  /** Kills a peer: SIGKILL of its process when it is alone there, otherwise an abrupt stop of its daemon. */
  async kill (index: number): Promise<void> {
    const p = this.get(index)
    if (p.solo) await p.worker.kill(); else await p.worker.call({ op: 'stop', index })
  }

  /** Starts a killed peer again on its repo (same identity, same port, same shares). */
  async restart (index: number): Promise<void> {
    const p = this.get(index)
    this.peers.delete(index)
    if (p.solo) {
      await this.startGroup([p.spec], true, p.env)
    } else {
      const [again] = await p.worker.call<StartedPeer[]>({ op: 'start', peers: [p.spec] })
      this.peers.set(index, { ...p, ...again })
    }
  }

  /** Every live peer's `stats`, by index. */
  async stats (): Promise<Map<number, Record<string, any>>> {
    const out = new Map<number, Record<string, any>>()
    await Promise.all(this.workers.filter(w => w.alive).map(async w => {
      const res = await w.call<Record<string, Record<string, any>>>({ op: 'stats' })
      for (const [i, s] of Object.entries(res)) out.set(Number(i), s)
    }))
    return out
  }

  /** Every live peer's overlay(), by index (the lab dashboard's graph). */
  async overlays (): Promise<Map<number, Record<string, any>>> {
    const out = new Map<number, Record<string, any>>()
    await Promise.all(this.workers.filter(w => w.alive).map(async w => {
      const res = await w.call<Record<string, Record<string, any>>>({ op: 'overlay' })
      for (const [i, o] of Object.entries(res)) out.set(Number(i), o)
    }))
    return out
  }

  /** RSS of every worker and the peers it hosts. */
  async memory (): Promise<MemoryReport[]> {
    return await Promise.all(this.workers.filter(w => w.alive).map(async w => await w.call<MemoryReport>({ op: 'memory' })))
  }

  async stop (): Promise<void> {
    await Promise.allSettled(this.workers.map(async w => { await w.close() }))
    this.workers.length = 0
    this.peers.clear()
  }
}
