import type { Logger } from './logger.ts'
import type { SedaiLibp2p } from './node.ts'
import type { Stats } from './stats.ts'
import type { ContentStore } from './store/content-store.ts'
import type { DownloadProgress, DownloadResult, Source } from './transfer/download.ts'
import type { Manifest } from './store/manifest.ts'
import type { Destination } from './store/place.ts'
import type { TransferService } from './transfer/transfer.ts'

/**
 * A generation plugs into the daemon as a Mode: `sedai daemon --mode NAME`.
 * The daemon builds the modes named on the command line, lets them add libp2p
 * services before the node starts (kad-dht needs that), starts them with a
 * ModeContext, and routes `search`, source-finding for `get`, `stats` and `id`
 * through them. Each mode lives in its own package.
 */

/** What a started mode may use. */
export interface ModeContext {
  node: SedaiLibp2p<any>
  store: ContentStore
  transfer: TransferService
  /** the daemon's counters; a mode counts under its own prefix (e.g. 'flood.queriesForwarded') */
  stats: Stats
  logger: Logger
  repo: string
  /** peers given with --bootstrap */
  bootstrap: string[]
  /** the directory server given with --directory */
  directory?: string
  /** every mode the daemon runs, in --mode order */
  modes: string[]
}

/** One search result: a file and the peers that hold it. */
export interface SearchHit {
  cid: string
  name: string
  size: number
  providers: Array<{ peerId: string, addrs: string[] }>
}

export interface SearchOptions {
  /** the caller's deadline (ms) */
  timeoutMs: number
  signal: AbortSignal
  /** TTL for modes that flood; undefined = the mode's default */
  ttl?: number
  /** results as they arrive, for modes that stream them (flooding) */
  onHit?: (hit: SearchHit) => void
}

export interface Mode {
  /** the --mode name */
  readonly name: string
  /** libp2p services this mode adds, keyed by service name; created with the node */
  services?: () => Record<string, (components: any) => unknown>
  start: (ctx: ModeContext) => Promise<void>
  stop: () => Promise<void>
  /** answers `sedai search`; throws when the mode cannot search now (e.g. its server is down) */
  search?: (query: string, opts: SearchOptions) => Promise<SearchHit[]>
  /** sources for `sedai get CID` without --from */
  findProviders?: (cid: string, opts: { signal: AbortSignal }) => Promise<Source[]>
  /**
   * `sedai get --in-band`: the file fetched along the overlay path, every hop
   * relaying (flooding modes); the bytes are verified end to end as in a direct get.
   */
  getInBand?: (cid: string, opts: InBandGetOptions) => Promise<DownloadResult>
  /** the set of shared files changed (share, unshare, completed download) */
  sharesChanged?: () => void
  /** counters and state for `sedai stats`, under the mode's name */
  stats?: () => Record<string, unknown>
  /** state for `sedai id` (e.g. role and capacity score) */
  info?: () => Record<string, unknown>
  /** what this mode knows of a connected peer, for `sedai peers` (e.g. its role and score) */
  peerInfo?: (peerId: string) => Record<string, unknown> | undefined
  /**
   * This node's links in the mode's overlay, for the dashboard's graph (modes
   * without it are drawn from `info` and `peerInfo`): e.g. the DHT's routing
   * table contacts with their buckets.
   */
  overlay?: () => OverlayLink[]
  /**
   * `get` without --from goes in-band through this mode (the supernode
   * generation: the transfer follows the query path so the path can cache).
   */
  readonly inBandDefault?: boolean
}

/** One link of this node in a mode's overlay: a peer and what it is to this node. */
export interface OverlayLink {
  peerId: string
  /** the peer's place: a flood neighbour, a supernode or leaf, a plain peer, the directory server, a DHT contact */
  kind: 'neighbour' | 'supernode' | 'leaf' | 'peer' | 'directory-server' | 'dht'
  /** DHT contacts: the k-bucket, as the length of the prefix the peer's Kademlia id shares with ours (0-255) */
  bucket?: number
}

/** What a mode's factory gets: the daemon's parsed options. */
export interface ModeInit {
  logger: Logger
  repo: string
  bootstrap: string[]
  directory?: string
  modes: string[]
  /** the daemon's upload cap (bytes/s, 0 = none): modes that serve bytes themselves obey it too */
  uploadRate?: number
  /** fault injection: the fraction of served chunks corrupted on purpose (tests and labs) */
  faultCorrupt?: number
  /** `--role auto|super|leaf` (the supernode generation) */
  role?: string
  /** `--interest WORD`: interest keywords (the supernode generation's clustering) */
  interests?: string[]
}

export type ModeFactory = (init: ModeInit) => Mode | Promise<Mode>

/** What an in-band `get` is given by the daemon. */
export interface InBandGetOptions {
  signal: AbortSignal
  onProgress?: (p: DownloadProgress) => void
  /** where the file goes (and whether it may replace a file there), once the manifest is known */
  resolveDest: (m: Manifest) => Promise<string | Destination>
}
