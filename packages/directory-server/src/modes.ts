/**
 * The two daemon modes of Gen 1 (the plugin contract is ModeFactory in
 * @sedai/core): the server, and a peer that registers with it.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionError } from '@sedai/core/errors'
import { DirectoryClient } from './client.ts'
import { directoryConfig } from './config.ts'
import { DirectoryServer } from './server.ts'
import type { Mode, ModeFactory, SearchHit, SedaiLibp2p, Source } from '@sedai/core'
import type { PeerId } from '@libp2p/interface'

/** Providers `get` dials at once when the server names more. */
const MAX_SOURCES = 16

/** `--mode directory-server`: runs the directory on this daemon. */
export const directoryServerMode: ModeFactory = () => {
  const config = directoryConfig()
  let server: DirectoryServer | undefined
  const mode: Mode = {
    name: 'directory-server',
    async start (ctx) {
      server = new DirectoryServer({ node: ctx.node, repo: ctx.repo, config, stats: ctx.stats, logger: ctx.logger })
      await server.start()
    },
    async stop () {
      await server?.stop()
    },
    // `sedai search` on the server itself reads its own index
    async search (query) {
      if (server === undefined) throw new Error('directory server not started')
      return server.localSearch(query)
    },
    stats: () => server?.stats() ?? {},
    info: () => server?.info() ?? {}
  }
  return mode
}

/** `--mode directory --directory MULTIADDR`: registers with a directory server and searches through it. */
export const directoryMode: ModeFactory = (init) => {
  if (init.directory === undefined || init.directory === '') {
    throw new InvalidOptionError("mode 'directory' needs --directory MULTIADDR (the directory server's address)")
  }
  try {
    multiaddr(init.directory)
  } catch (err: any) {
    throw new InvalidOptionError(`--directory: '${init.directory}' is not a multiaddr (${err.message})`)
  }
  const server = init.directory
  const config = directoryConfig()
  let client: DirectoryClient | undefined
  let node: SedaiLibp2p<any> | undefined
  let self = ''
  const started = (): DirectoryClient => {
    if (client === undefined) throw new Error('directory mode not started')
    return client
  }
  return {
    name: 'directory',
    async start (ctx) {
      self = ctx.node.peerId.toString()
      client = new DirectoryClient({
        node: ctx.node,
        server,
        config,
        logger: ctx.logger,
        listFiles: () => ctx.store.list().map(f => [f.cid, f.name, f.size])
      })
      client.start()
      node = ctx.node
    },
    async stop () {
      await client?.stop()
    },
    async search (query, opts) {
      const hits = await started().search(query, { signal: opts.signal, timeoutMs: opts.timeoutMs })
      const out: SearchHit[] = hits.map(h => ({ cid: h.cid, name: h.name, size: h.size, providers: h.providers }))
      for (const hit of out) opts.onHit?.(hit)
      return out
    },
    /**
     * The providers the server names, dialed now (each on all its addresses, in
     * parallel): the download starts with connections that work, and libp2p
     * reuses them.
     */
    async findProviders (cid, opts) {
      const providers = (await started().lookup(cid, { signal: opts.signal })).filter(p => p.peerId !== self).slice(0, MAX_SOURCES)
      const dialer = node
      if (dialer === undefined) return []
      const dialed = await Promise.allSettled(providers.map(async p => {
        const addrs = p.addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
        const conn = await dialer.dial(addrs, { signal: AbortSignal.any([opts.signal, AbortSignal.timeout(config.dialTimeoutMs * 2)]) })
        return conn.remotePeer
      }))
      const sources: Source[] = dialed.filter((r): r is PromiseFulfilledResult<PeerId> => r.status === 'fulfilled').map(r => r.value)
      return sources
    },
    sharesChanged () {
      client?.sharesChanged()
    },
    stats: () => client?.stats() ?? {},
    info: () => ({ role: 'peer', server, state: client?.state })
  }
}
