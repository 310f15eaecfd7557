/**
 * What the daemon offers to its control API. The HTTP layer (api-server.ts)
 * only translates between this interface and JSON; the daemon (daemon.ts)
 * implements it. Errors are thrown as SedaiError subclasses (with `code`).
 */
import type { DownloadProgress, DownloadResult } from '@sedai/core'

export interface IdInfo {
  peerId: string
  /** dialable multiaddrs, each ending in /p2p/<peerId> */
  addrs: string[]
  modes: string[]
}

export interface SharedFileInfo {
  cid: string
  name: string
  size: number
  path: string
}

export interface GetRequest {
  cid: string
  /** absolute output path (file) or folder; default: the daemon's download folder + manifest name */
  out?: string
  /** multiaddrs of peers to fetch from; default: whatever sources the daemon's modes find */
  from?: string[]
  /** overall deadline in ms */
  timeoutMs?: number
  /** fetch along the overlay path, every hop relaying (flooding modes; not with `from`) */
  inBand?: boolean
}

/** progress of a download, as the core's downloader reports it */
export type GetProgress = DownloadProgress

/** a finished download; `fetched` < `size` when it resumed (`resumed` bytes were on disk) */
export type GetResult = Omit<DownloadResult, 'name'>

export interface SearchRequest {
  query: string
  timeoutMs?: number
  /** TTL for flooding modes (Gnutella: default 7, hard cap 10) */
  ttl?: number
}

export interface SearchResult {
  cid: string
  name: string
  size: number
  providers: string[]
}

export interface SearchResponse {
  results: SearchResult[]
  note?: string
}

export interface PeerInfo {
  peerId: string
  addrs: string[]
  modes: string[]
}

export interface DaemonApi {
  id (): Promise<IdInfo>
  /** a file: one SharedFileInfo; a folder: every file in it */
  share (path: string): Promise<SharedFileInfo | { shared: SharedFileInfo[] }>
  ls (): Promise<{ files: SharedFileInfo[] }>
  connect (multiaddr: string): Promise<{ peerId: string }>
  get (req: GetRequest, onProgress: (p: GetProgress) => void, signal: AbortSignal): Promise<GetResult>
  /** `onResult` receives results as they arrive, for modes that stream them */
  search (req: SearchRequest, onResult?: (r: SearchResult) => void): Promise<SearchResponse>
  peers (): Promise<{ peers: PeerInfo[] }>
  stats (): Promise<Record<string, unknown>>
  /** resolves once shutdown has begun; the process exits after it completes */
  stop (): Promise<void>
}
