/**
 * A peer's side of the directory: one session to the server, kept up by
 * ourselves. libp2p redials a kept-alive peer only a few times, so the loop
 * here dials, logs in (HELLO), registers the shared list, sends a PING every
 * heartbeat, and on any loss (connection closed, heartbeat unanswered) starts
 * over with exponential backoff capped at half a heartbeat, so a server that
 * comes back sees every peer again within two heartbeats, with no user action.
 *
 * The list is identified by a digest (SHA-256 of its sorted entries): a peer
 * whose digest the server still has (it restarted with its database, or the
 * connection only blinked) is live again with one HELLO and sends no file.
 */
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { safeFileName } from '@sedai/core'
import { DirectoryError, DirectoryUnavailableError } from './errors.ts'
import { Status } from './messages.ts'
import { DirectorySession } from './session.ts'
import type { DirectoryConfig } from './config.ts'
import type { FileTuple, ProviderInfo, Reply, SearchHitTuple } from './messages.ts'
import type { RequestBody } from './session.ts'
import type { Logger, SearchHit, SedaiLibp2p } from '@sedai/core'

export type ClientState = 'connecting' | 'online' | 'offline' | 'stopped'

export interface DirectoryClientInit {
  node: SedaiLibp2p<any>
  /** the server's multiaddr (`--directory`) */
  server: string
  config: DirectoryConfig
  logger: Logger
  /** the shared list, read at every sync */
  listFiles: () => FileTuple[]
  /** our dialable addresses; default the node's */
  addrs?: () => string[]
}

/** SHA-256 over the sorted `cid \t name \t size \n` lines, hex; names a shared list. */
export function listDigest (files: FileTuple[]): string {
  const lines = files.map(([cid, name, size]) => `${cid}\t${name}\t${size}\n`).sort()
  const hash = createHash('sha256')
  for (const line of lines) hash.update(line)
  return hash.digest('hex')
}

const keyOf = ([cid, name, size]: FileTuple): string => `${cid}\u0000${name}\u0000${size}`

/** Search hits from a SEARCH reply, providers resolved from the reply's peer table. */
export function hitsFromReply (reply: Reply): Array<SearchHit & { providerCount: number }> {
  const hits = (Array.isArray(reply.hits) ? reply.hits : []) as SearchHitTuple[]
  const peers = (typeof reply.peers === 'object' && reply.peers !== null ? reply.peers : {}) as Record<string, ProviderInfo>
  return hits.map(([cid, name, size, providerCount, rows]) => ({
    cid,
    name,
    size,
    providerCount,
    providers: (rows ?? []).map(r => peers[String(r)]).filter(p => p !== undefined && p.peerId !== '')
      .sort((a, b) => Number(b.live) - Number(a.live))
      .map(p => ({ peerId: p.peerId, addrs: p.addrs }))
  }))
}

export class DirectoryClient {
  readonly server: string
  private readonly node: SedaiLibp2p<any>
  private readonly config: DirectoryConfig
  private readonly log: Logger
  private readonly listFiles: () => FileTuple[]
  private readonly addrs: () => string[]
  private session?: DirectorySession
  private _state: ClientState = 'offline'
  private stopped = false
  private loop?: Promise<void>
  /** wakes the reconnect pause or the heartbeat wait */
  private wakeUp?: () => void
  /** callers waiting for the outcome of the next connection attempt */
  private attemptWaiters: Array<(err?: Error) => void> = []
  private lastError?: Error
  private offlineSince?: number
  /** the server's heartbeat (from HELLO), which we follow */
  private heartbeatMs: number
  private limits = { maxFilesPerPeer: Number.POSITIVE_INFINITY, maxNameBytes: 255, maxFilesPerRegister: 1000 }
  /** what the server holds for us, as of the last completed sync */
  private registered = new Map<string, FileTuple>()
  private syncedDigest?: string
  private forceFullSync = true
  private dirty = true
  /** entries the server rejected: left out of our list until they change */
  private readonly rejected = new Set<string>()
  readonly counts = { connects: 0, reconnects: 0, fullSyncs: 0, resumed: 0, incrementalSyncs: 0, heartbeats: 0, searches: 0, lookups: 0, lastRegisteredAt: undefined as string | undefined }

  constructor (init: DirectoryClientInit) {
    this.node = init.node
    this.server = init.server
    this.config = init.config
    this.log = init.logger.child({ component: 'directory' })
    this.listFiles = init.listFiles
    this.addrs = init.addrs ?? (() => init.node.getMultiaddrs().map(String))
    this.heartbeatMs = init.config.heartbeatMs
    multiaddr(init.server) // throws on a malformed address, before anything starts
  }

  get state (): ClientState {
    return this._state
  }

  /** Starts the session loop; returns at once (the first login happens in the background). */
  start (): void {
    if (this.loop !== undefined) return
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this._state = 'stopped'
    this.session?.close()
    this.wake()
    await this.loop
  }

  /** The shared list changed: sync it now. */
  sharesChanged (): void {
    this.dirty = true
    this.wake()
  }

  private wake (): void {
    const w = this.wakeUp
    this.wakeUp = undefined
    w?.()
  }

  /** Waits up to `ms` or until woken (or `until` settles). */
  private async pause (ms: number, until?: Promise<unknown>): Promise<void> {
    const ac = new AbortController()
    await Promise.race([
      sleep(ms, undefined, { signal: ac.signal }).catch(() => {}),
      new Promise<void>(resolve => { this.wakeUp = resolve }),
      ...(until !== undefined ? [until] : [])
    ])
    ac.abort()
    this.wakeUp = undefined
  }

  private settleAttempt (err?: Error): void {
    const waiters = this.attemptWaiters
    this.attemptWaiters = []
    for (const w of waiters) w(err)
  }

  private async run (): Promise<void> {
    let delay = this.config.reconnectMinMs
    while (!this.stopped) {
      let session: DirectorySession | undefined
      try {
        this._state = 'connecting'
        session = await this.login()
        delay = this.config.reconnectMinMs
        this.settleAttempt()
        await this.keepUp(session)
      } catch (err: any) {
        this.lastError = err
        this.settleAttempt(err)
        if (this.stopped) {
          // stopping: nothing to report
        } else if (err instanceof DirectoryError) {
          this.log.warn({ server: this.server, err: err.message }, 'the directory server refused this peer')
        } else {
          this.log.debug({ server: this.server, err: err.message }, 'directory session attempt failed')
        }
      }
      if (session !== undefined) {
        const reason = await Promise.race([session.closed, Promise.resolve(undefined)])
        session.close()
        if (!this.stopped) {
          this.lastError = reason ?? this.lastError
          this.log.warn({ server: this.server, err: this.lastError?.message }, 'lost the directory server; reconnecting')
        }
      }
      this.session = undefined
      if (this.stopped) break
      this.offlineSince ??= Date.now()
      this._state = 'offline'
      // full jitter below the cap keeps a crowd of peers from redialing in step
      const cap = Math.max(this.config.reconnectMinMs, Math.min(this.config.reconnectMaxMs, this.heartbeatMs / 2))
      await this.pause(delay / 2 + Math.random() * delay / 2)
      delay = Math.min(cap, delay * 2)
    }
    this._state = 'stopped'
    this.settleAttempt(new DirectoryUnavailableError('directory client stopped'))
  }

  /** Dials, opens the session, says HELLO; registers nothing yet. */
  private async login (): Promise<DirectorySession> {
    const signal = AbortSignal.timeout(this.config.dialTimeoutMs)
    const conn = await this.node.dial(multiaddr(this.server), { signal })
    const session = await DirectorySession.open(conn, {
      signal,
      maxReplyFrameBytes: this.config.maxReplyFrameBytes,
      idleTimeoutMs: this.config.graceMs
    })
    try {
      // the list the server last confirmed, or (first login of this process) the current one:
      // either way a match means the server holds exactly that list, and only changes are sent
      const files = this.currentList()
      const digest = this.syncedDigest ?? listDigest(files)
      const hello = await session.request({ type: 'HELLO', addrs: this.addrs(), digest }, this.config.requestTimeoutMs)
      if (hello.status !== Status.OK) throw new DirectoryError(`the directory server refused HELLO: ${hello.error ?? hello.status}`, hello.status)
      if (Number.isSafeInteger(hello.heartbeatMs) && (hello.heartbeatMs as number) >= 100) this.heartbeatMs = hello.heartbeatMs as number
      const limits = hello.limits as Record<string, number> | undefined
      if (limits !== undefined) {
        for (const k of ['maxFilesPerPeer', 'maxNameBytes', 'maxFilesPerRegister'] as const) {
          if (Number.isSafeInteger(limits[k]) && limits[k] > 0) this.limits[k] = limits[k]
        }
      }
      this.counts.connects++
      if (this.counts.connects > 1) this.counts.reconnects++
      if (hello.known === true) {
        // the server still has exactly this list: send nothing but what changed since
        if (this.syncedDigest === undefined) {
          this.registered = new Map(files.map(f => [keyOf(f), f]))
          this.syncedDigest = digest
        }
        this.forceFullSync = false
        this.counts.resumed++
        this.counts.lastRegisteredAt = new Date().toISOString()
        this.log.info({ server: this.server, files: this.registered.size, remotePeer: conn.remotePeer.toString() }, 'directory session resumed: the server still has our list')
      } else {
        this.forceFullSync = true
      }
      this.dirty = true
      this.session = session
      this._state = 'online'
      this.offlineSince = undefined
      return session
    } catch (err) {
      session.close()
      throw err
    }
  }

  /** Syncs, then heartbeats until the session ends. */
  private async keepUp (session: DirectorySession): Promise<void> {
    let nextPing = Date.now() + this.heartbeatMs
    let syncFailedAt = 0
    while (!this.stopped && session.isOpen) {
      const retryDue = syncFailedAt === 0 || Date.now() - syncFailedAt >= this.heartbeatMs
      if ((this.dirty || this.forceFullSync) && retryDue) {
        try {
          await this.sync(session)
          syncFailedAt = 0
        } catch (err: any) {
          if (!session.isOpen) throw err
          this.dirty = true
          syncFailedAt = Date.now()
          this.log.warn({ server: this.server, err: err.message }, 'registering with the directory failed; retrying at the next heartbeat')
        }
      }
      const wait = nextPing - Date.now()
      if (wait > 0) {
        await this.pause(wait, session.closed)
        if (Date.now() < nextPing) continue // woken: a share changed, or the session ended
      }
      nextPing = Date.now() + this.heartbeatMs
      const reply = await session.request({ type: 'PING', digest: this.syncedDigest }, Math.max(this.config.requestTimeoutMs, this.heartbeatMs))
        .catch((err: Error) => { session.abort(err); throw err })
      this.counts.heartbeats++
      if (reply.status === Status.OK && reply.known === false) {
        this.log.info({ server: this.server }, 'the directory server lost our list; registering it again')
        this.forceFullSync = true
      }
      // the list may have changed without telling us (a shared file edited on disk)
      if (!this.dirty && listDigest(this.currentList()) !== this.syncedDigest) this.dirty = true
    }
  }

  /** Our shared list as the server may take it: valid names, within the per-peer limit. */
  private currentList (): FileTuple[] {
    const out: FileTuple[] = []
    for (const f of this.listFiles()) {
      if (out.length >= this.limits.maxFilesPerPeer) break
      if (this.rejected.has(keyOf(f))) continue
      try {
        safeFileName(f[1], this.limits.maxNameBytes)
      } catch {
        continue
      }
      out.push(f)
    }
    return out
  }

  private async send (session: DirectorySession, body: RequestBody): Promise<Reply> {
    const reply = await session.request(body, Math.max(this.config.requestTimeoutMs, 30_000))
    if (reply.status === Status.RATE_LIMITED) {
      await sleep(Math.min(Number(reply.retryAfterMs) || 1000, 5_000))
      return await this.send(session, body)
    }
    if (reply.status !== Status.OK) throw new DirectoryError(`the directory server refused ${String(body.type)}: ${reply.error ?? reply.status}`, reply.status)
    for (const [i] of (Array.isArray(reply.rejected) ? reply.rejected : []) as Array<[number, string]>) {
      const files = (body as { files?: FileTuple[] }).files
      const f = files?.[i]
      if (f !== undefined) this.rejected.add(keyOf(f))
    }
    if (Array.isArray(reply.rejected) && reply.rejected.length > 0) {
      this.log.warn({ server: this.server, rejected: reply.rejected }, 'the directory server rejected some files')
    }
    return reply
  }

  /** Brings the server's copy of our list up to date: everything (full) or the difference. */
  private async sync (session: DirectorySession): Promise<void> {
    this.dirty = false
    const files = this.currentList()
    const digest = listDigest(files)
    const full = this.forceFullSync
    if (!full && digest === this.syncedDigest) return
    const batch = Math.min(this.config.registerBatch, this.limits.maxFilesPerRegister)
    const messages: RequestBody[] = []
    if (full) {
      for (let i = 0; i < files.length || i === 0; i += batch) {
        messages.push({ type: 'REGISTER', files: files.slice(i, i + batch), reset: i === 0, addrs: i === 0 ? this.addrs() : undefined })
      }
    } else {
      const current = new Map(files.map(f => [keyOf(f), f]))
      const removedCids = [...new Set([...this.registered].filter(([k]) => !current.has(k)).map(([, f]) => f[0]))]
      // an UNREGISTER drops every entry of a cid: re-add the entries of those cids we still share
      const removedSet = new Set(removedCids)
      const added = files.filter(f => !this.registered.has(keyOf(f)) || removedSet.has(f[0]))
      for (let i = 0; i < removedCids.length; i += this.config.maxUnregister) {
        messages.push({ type: 'UNREGISTER', cids: removedCids.slice(i, i + this.config.maxUnregister) })
      }
      for (let i = 0; i < added.length; i += batch) messages.push({ type: 'REGISTER', files: added.slice(i, i + batch), addrs: i === 0 ? this.addrs() : undefined })
      if (messages.length === 0) messages.push({ type: 'REGISTER', files: [] })
    }
    // the digest goes with the last message: the list is complete only then
    ;(messages[messages.length - 1] as Record<string, unknown>).digest = digest
    for (const m of messages) await this.send(session, m)
    this.registered = new Map(files.map(f => [keyOf(f), f]))
    this.syncedDigest = digest
    this.forceFullSync = false
    this.counts.lastRegisteredAt = new Date().toISOString()
    if (full) this.counts.fullSyncs++
    else this.counts.incrementalSyncs++
    this.log.info({ server: this.server, files: files.length, full, messages: messages.length }, 'registered with the directory')
  }

  /**
   * The open session, or a fast failure: when the server is not connected, one
   * immediate attempt is made (waking the reconnect loop) and its outcome is
   * awaited, at most `dialTimeoutMs`.
   */
  async ready (signal?: AbortSignal): Promise<DirectorySession> {
    if (this.session?.isOpen === true && this._state === 'online') return this.session
    if (this.stopped) throw new DirectoryUnavailableError('directory client stopped')
    const outcome = new Promise<Error | undefined>(resolve => { this.attemptWaiters.push(resolve) })
    if (this._state !== 'connecting') this.wake()
    const limit = this.config.dialTimeoutMs
    const err = await Promise.race([
      outcome,
      sleep(limit, undefined, { ref: false }).then(() => new DirectoryUnavailableError(`no answer within ${limit} ms`)),
      ...(signal !== undefined ? [new Promise<Error>(resolve => { signal.addEventListener('abort', () => { resolve(signal.reason) }, { once: true }) })] : [])
    ])
    if (err === undefined && this.session?.isOpen === true) return this.session
    throw this.unavailable(err ?? this.lastError)
  }

  private unavailable (err?: Error): DirectoryUnavailableError {
    const since = this.offlineSince !== undefined ? ` (since ${new Date(this.offlineSince).toISOString()})` : ''
    const why = err?.message !== undefined ? `: ${err.message}` : ''
    return new DirectoryUnavailableError(`directory server ${this.server} is unreachable${since}${why}; this peer re-registers by itself when it is back`)
  }

  /** One request on the session, failing fast when the server is unreachable; non-OK statuses are thrown (NOT_FOUND returned). */
  async request (body: RequestBody, opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Reply> {
    const session = await this.ready(opts.signal)
    let reply: Reply
    try {
      reply = await session.request(body, Math.min(opts.timeoutMs ?? this.config.requestTimeoutMs, this.config.requestTimeoutMs), opts.signal)
    } catch (err: any) {
      if (err instanceof DirectoryUnavailableError || err.code === 'ERR_TIMEOUT') throw this.unavailable(err)
      throw err
    }
    if (reply.status === Status.RATE_LIMITED) throw new DirectoryError(`the directory server is rate-limiting this peer: ${reply.error ?? ''} (retry in ${String(reply.retryAfterMs)} ms)`, reply.status)
    if (reply.status === Status.ERROR) throw new DirectoryError(`the directory server refused ${String(body.type)}: ${reply.error ?? 'error'}`, reply.status)
    return reply
  }

  async search (query: string, opts: { signal?: AbortSignal, timeoutMs?: number, max?: number } = {}): Promise<Array<SearchHit & { providerCount: number }>> {
    this.counts.searches++
    const reply = await this.request({ type: 'SEARCH', q: query, max: opts.max }, opts)
    return hitsFromReply(reply)
  }

  async lookup (cid: string, opts: { signal?: AbortSignal } = {}): Promise<ProviderInfo[]> {
    this.counts.lookups++
    const reply = await this.request({ type: 'LOOKUP', cid }, opts)
    if (reply.status === Status.NOT_FOUND) return []
    return ((Array.isArray(reply.providers) ? reply.providers : []) as ProviderInfo[])
  }

  async browse (peerId: string, opts: { signal?: AbortSignal, offset?: number } = {}): Promise<{ files: FileTuple[], total: number, addrs: string[] }> {
    const reply = await this.request({ type: 'BROWSE', peerId, offset: opts.offset }, opts)
    if (reply.status === Status.NOT_FOUND) return { files: [], total: 0, addrs: [] }
    return { files: reply.files as FileTuple[], total: reply.total as number, addrs: reply.addrs as string[] }
  }

  stats (): Record<string, unknown> {
    return {
      server: this.server,
      state: this._state,
      ...(this.offlineSince !== undefined ? { offlineSince: new Date(this.offlineSince).toISOString() } : {}),
      ...(this.lastError !== undefined && this._state !== 'online' ? { lastError: this.lastError.message } : {}),
      heartbeatMs: this.heartbeatMs,
      registeredFiles: this.registered.size,
      ...this.counts
    }
  }
}
