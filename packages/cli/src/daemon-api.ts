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
  /**
   * absolute output path (file) or folder (the manifest's name is appended);
   * default: the daemon's download folder + manifest name. A file the daemon
   * already holds is copied there; a pending download is retargeted there.
   */
  out?: string
  /** replace a different file where the file goes (else the get fails with ERR_DESTINATION_EXISTS, touching nothing) */
  force?: boolean
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

/** A Prometheus scrape: the text exposition and its content type. */
export interface MetricsText {
  contentType: string
  text: string
}

/** What a peer is to this node in the overlay graph; `self` is this node, `connection` a connected peer on no overlay link. */
export type OverlayKind = 'self' | 'directory-server' | 'supernode' | 'leaf' | 'neighbour' | 'peer' | 'dht' | 'connection'

export interface OverlayNode {
  /** the peer id */
  id: string
  /** the most telling of `kinds` (in the order of OverlayKind) */
  kind: OverlayKind
  kinds: OverlayKind[]
  /** a libp2p connection to it is open now */
  connected: boolean
  /** DHT contacts: the k-bucket */
  bucket?: number
  /** this node's role (self) or the peer's as its mode reported it (e.g. super, leaf) */
  role?: string
}

/** A link from this node (always the source) to a peer; one per peer and kind. */
export interface OverlayEdge {
  id: string
  source: string
  target: string
  kind: Exclude<OverlayKind, 'self'>
  bucket?: number
}

/** The overlay as this node knows it: itself, its links, and the DHT's buckets. */
export interface OverlayInfo {
  self: string
  modes: string[]
  /** e.g. super or leaf (supernode), directory-server */
  role?: string
  nodes: OverlayNode[]
  edges: OverlayEdge[]
  /** DHT routing table: contacts per bucket, fullest buckets included only */
  buckets: Array<{ bucket: number, contacts: number }>
}

/** One download the daemon is running or ran lately, for the dashboard. */
export interface DownloadInfo {
  /** unique within this daemon's run */
  id: string
  cid: string
  /** known once the manifest arrived */
  name?: string
  size?: number
  /** verified bytes on disk */
  have: number
  /** bytes fetched over the network in this run */
  fetched: number
  /** bytes per second over the last few seconds (running) or the whole run (done) */
  rate: number
  /** peers delivering chunks now (running) or that delivered (done) */
  sources: string[]
  state: 'running' | 'done' | 'failed'
  /** ms since the epoch */
  startedAt: number
  endedAt?: number
  path?: string
  error?: string
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
  /** the overlay graph around this node (the dashboard); optional for test doubles */
  overlay? (): Promise<OverlayInfo>
  /** running and recent downloads (the dashboard); optional for test doubles */
  downloads? (): Promise<{ downloads: DownloadInfo[] }>
  /** `GET /metrics`: the daemon's counters in the Prometheus text format (metrics.ts); absent = the route answers 501 */
  metrics?: () => Promise<MetricsText>
  /** resolves once shutdown has begun; the process exits after it completes */
  stop (): Promise<void>
}
