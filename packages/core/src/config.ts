import { homedir } from 'node:os'
import { join } from 'node:path'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Every tunable of @sedai/core, in one place. Docs (docs/CONFIGURATION.md,
 * docs/PROTOCOLS.md) point here instead of repeating the numbers.
 */
export const DEFAULTS = {
  /**
   * Chunk size in bytes: 1 MiB. BitTorrent v2 uses 16 KiB blocks inside >= 16 KiB
   * pieces (BEP 52) and clients pick 256 KiB - 4 MiB pieces; 1 MiB keeps a 1 GiB
   * manifest at 32 KiB of hashes, a request per MiB (few round trips, big frames
   * for the Noise/yamux pipe) and a resume granularity of 1 MiB.
   */
  chunkSize: 1 * MiB,
  /** Largest chunk size accepted in a foreign manifest (bytes). */
  maxChunkSize: 4 * MiB,
  /** Smallest chunk size accepted in a foreign manifest (bytes). */
  minChunkSize: 16 * KiB,
  /** Most chunks one manifest may list: 131,072 x 32 B = 4 MiB of hashes (128 GiB at 1 MiB chunks). */
  maxChunks: 131_072,
  /** Longest file name in a manifest, in UTF-8 bytes. */
  maxNameBytes: 1024,
  /** Largest encoded manifest (bytes): the hashes plus name and fields. */
  maxManifestBytes: 4 * MiB + 8 * KiB,

  /** Chunk requests kept in flight per source peer (the per-peer window). */
  windowPerPeer: 8,
  /** A transfer stream with no frame for this long is aborted (ms). */
  streamIdleTimeoutMs: 30_000,
  /** Fetching a manifest from one peer must finish within this (ms). */
  manifestTimeoutMs: 10_000,
  /** A chunk request unanswered for this long fails that peer (ms). */
  chunkTimeoutMs: 30_000,
  /**
   * Chunks failing verification after which a download drops the source that
   * sent them (a reply out of order drops it at once). 1: every chunk comes
   * whole from one peer, so the blame is certain, an honest seeder re-hashes
   * each chunk before it sends it and Noise authenticates every byte in
   * transit; an honest peer cannot send a bad chunk. libtorrent likewise bans
   * at once a peer that alone sent a failed piece; it tolerates a few only
   * where several peers share a piece and the liar is unknown.
   */
  maxBadChunksPerPeer: 1,
  /** Deadline of `search` when the caller gives none (ms). */
  searchTimeoutMs: 5_000,
  /** Overall deadline of `get` when the caller gives none (ms). */
  getTimeoutMs: 10 * 60_000,

  /** Upload cap over all transfer streams (bytes/s); 0 = unlimited. */
  uploadRate: 0,

  /** Inbound transfer streams one connection may open at once. */
  maxInboundTransferStreams: 32,
  /** Outbound transfer streams to one peer at once. */
  maxOutboundTransferStreams: 32,

  /** libp2p: most open connections. */
  maxConnections: 300,
  /** libp2p: inbound connections still upgrading (Noise, yamux) at once (libp2p default 10). */
  maxIncomingPendingConnections: 32,
  /** libp2p: inbound connections per second per remote host (libp2p default 5). */
  inboundConnectionThreshold: 50,
  /**
   * Loopback peers bypass the per-host limits above: every local lab peer dials
   * from 127.0.0.1, and a remote host cannot originate from loopback.
   */
  allowLoopback: true,
  /**
   * libp2p's connection monitor pings every peer every 10 s and drops a
   * connection whose ping is late; its default floor of 5 s cut healthy
   * connections on a starved 2-core lab machine running dozens of daemons.
   * A dead peer still goes at once (TCP closes), and every sedai stream has
   * its own deadline, so the floor is raised (ms).
   */
  connectionPingTimeoutMs: 20_000,
  /** libp2p: dial timeout (ms). */
  dialTimeoutMs: 10_000,

  /**
   * `--mdns`: how often a daemon asks the LAN who is there (ms); @libp2p/mdns's
   * own default. A daemon also answers others' questions at once, so two
   * daemons find each other as soon as the second one starts.
   */
  mdnsIntervalMs: 10_000,
  /**
   * The mDNS service name daemons ask for and answer: sedai's own, not
   * libp2p's `_p2p._udp.local`, so that only sedai daemons are found and
   * dialled (other libp2p nodes do not speak sedai's DHT protocol anyway).
   */
  mdnsServiceTag: '_sedai._udp.local',

  /** Default listen address. */
  listen: ['/ip4/0.0.0.0/tcp/4001'],
  /** Default control API address (HOST:PORT, port 0 = any free port). */
  api: '127.0.0.1:5080'
} as const

/** The repo folder: `--repo`, else `$SEDAI_REPO`, else `~/.sedai`. */
export function defaultRepo (env: NodeJS.ProcessEnv = process.env): string {
  return env.SEDAI_REPO !== undefined && env.SEDAI_REPO !== '' ? env.SEDAI_REPO : join(homedir(), '.sedai')
}

/** File names inside the repo folder. */
export const REPO_FILES = {
  identity: 'identity.key',
  database: 'sedai.db',
  api: 'api',
  downloads: 'downloads'
} as const
