/**
 * Every tunable of @sedai/lab in one place; a topology file overrides the
 * per-run ones (docs/LAB.md, "Topology files").
 */
export const DEFAULTS = {
  /** Peers per worker process. 50 keeps a worker's event loop responsive on a 2-core machine with full daemons (store, transfer, mode). */
  peersPerProcess: 50,
  /** Seed of every random choice (placement, overlay, popularity, searchers). */
  seed: 1,
  /** Files in the shared set. */
  files: 30,
  /** Bytes per file (a 64 KiB file is one chunk: the lab measures discovery, not throughput). */
  fileBytes: 64 * 1024,
  /** Distinct peers that hold each file at the start. */
  replicas: 1,
  /** Searches per run. */
  searches: 60,
  /** Downloads per run (each after a successful search, spread evenly). */
  downloads: 20,
  /** Zipf exponent of file popularity (s = 1: the k-th file is asked k times less often than the first). */
  zipf: 1,
  /** Searches in flight at once. */
  concurrency: 4,
  /** A search's deadline (ms); flooding waits this long for hits. */
  searchTimeoutMs: 3000,
  /** After a restart or heal, searches that start this long after it count as settled (ms): the hardening issue's "within 30 s". */
  settleMs: 30_000,
  /** A download's deadline (ms). */
  getTimeoutMs: 30_000,
  /** How long a network may take to become ready (ms). */
  readyTimeoutMs: 180_000,
  /** Flooding overlay degree range (Gnutella 0.6 clients keep 3-8 ultrapeer links; the bench uses 3-5). */
  floodDegree: [3, 5] as [number, number],
  /** Supernodes in a supernode network when the file gives none: one per 8 peers, at least 2. */
  supernodeShare: 8,
  /** Peers each DHT node dials to join (then a self-lookup). */
  dhtJoinDials: 3,
  /** libp2p connection cap per lab peer: a lab peer needs its overlay links, not 300. */
  maxConnections: 64,
  /** A worker command's deadline (ms), on top of the command's own. */
  workerCommandTimeoutMs: 120_000,
  /** Largest topology file (bytes) and most runs one file may expand to. */
  maxTopologyBytes: 256 * 1024,
  maxRuns: 64,
  /** Most peers in one run. */
  maxPeers: 2000,
  /** docker runner: the image of every container (scripts/lab-image.sh builds it; SEDAI_IMAGE or --image overrides) */
  dockerImage: 'sedai:dev',
  /** docker runner: the port the lab agent listens on inside each container (published on 127.0.0.1 only) */
  agentPort: 7070,
  /** Largest agent message, either way (a line of JSON): stats of one peer are a few KiB. */
  agentMaxLineBytes: 4 * 1024 * 1024,
  /** Requests one agent connection may have in flight. */
  agentMaxInFlight: 256,
  /** How long a new container's agent may take to accept the runner (ms): a container under the vfs storage driver starts slowly. */
  agentConnectTimeoutMs: 180_000,
  /** A docker or docker-compose command's deadline (ms). */
  dockerCommandTimeoutMs: 300_000,
  /** `--dashboard`: how often the lab view samples every peer's stats and overlay (ms); rates are per this interval */
  dashboardSampleMs: 1000,
  /** `--dashboard`: a comment on an idle event stream this often (ms), so proxies and the browser keep it open */
  dashboardKeepAliveMs: 15_000,
  /** `--dashboard`: the file in the run's --out folder (mode 0600) with the page's address and token */
  dashboardFile: 'dashboard.json',
  /** `--dashboard`: event streams open at once (a tab each) */
  dashboardMaxStreams: 16
} as const
