/**
 * What the daemon offers to its control API. The HTTP layer (api-server.ts)
 * only translates between this interface and JSON; the daemon (daemon.ts)
 * implements it. Errors are thrown as SedaiError subclasses (with `code`).
 */

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
}

export interface GetProgress {
  cid: string
  name: string
  size: number
  /** bytes verified and written so far (including bytes already present from an earlier run) */
  have: number
  /** bytes fetched over the network in this run */
  fetched: number
  /** peers currently delivering chunks */
  sources: string[]
}

export interface GetResult {
  cid: string
  path: string
  size: number
  /** peer ids that delivered at least one verified chunk */
  sources: string[]
  /** bytes fetched over the network in this run (a resumed download fetches less than size) */
  fetched: number
  /** bytes that were already verified on disk when this run started */
  resumed: number
  /** peers dropped for sending chunks that failed verification */
  badPeers: string[]
}

export interface SearchRequest {
  query: string
  timeoutMs?: number
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
  search (req: SearchRequest): Promise<SearchResponse>
  peers (): Promise<{ peers: PeerInfo[] }>
  stats (): Promise<Record<string, unknown>>
  /** resolves once shutdown has begun; the process exits after it completes */
  stop (): Promise<void>
}
