/** /sedai/flood/1.0.0: Gnutella 0.6's descriptors over one libp2p stream per neighbour link. */
export const PROTOCOL_PREFIX = 'sedai'
export const PROTOCOL_NAME = 'flood'
export const PROTOCOL_VERSION = '1.0.0'
export const FLOOD_PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** Gnutella 0.6 descriptor ids are 16 bytes (a GUID). */
export const QUERY_ID_BYTES = 16
/** Longest query text (UTF-8 bytes); Gnutella 0.6 servents drop queries over 256 bytes of search criteria. */
export const MAX_QUERY_BYTES = 256
/** Longest peer id string (base58 Ed25519 ids are 52 characters). */
export const MAX_PEER_ID_BYTES = 128
/** Most addresses in one peer entry, and the longest binary multiaddr. */
export const MAX_ADDRS = 8
export const MAX_ADDR_BYTES = 255
/** Most peer entries in one PONG (Gnutella 0.6 pong caching answers with ~10 cached pongs). */
export const MAX_PONG_ENTRIES = 16
/** Most files in one QUERY_HIT (Gnutella's result count is one byte; we keep hits smaller). */
export const MAX_HIT_FILES = 32
/** Longest CID string and file name (UTF-8 bytes) in a hit. */
export const MAX_CID_BYTES = 128
export const MAX_NAME_BYTES = 1024
/** Longest BYE reason (UTF-8 bytes); longer text is cut. */
export const MAX_REASON_BYTES = 256
/**
 * Largest frame either side accepts: a RELAY_REPLY of RELAY_RANGE_BYTES plus its
 * 22-byte header (a full QUERY_HIT is at most
 * 17 + 1 + 128 + 1 + 8 x 257 + 1 + 32 x (1 + 128 + 2 + 1024 + 8) = 39,388 bytes).
 */
export const MAX_FRAME_BYTES = 160 * 1024
/** Streams per connection: one link, plus room for a simultaneous dial from both sides. */
export const MAX_STREAMS_PER_CONNECTION = 4
/**
 * A bootstrap address that cannot be linked yet (its peer is still starting, as in a
 * compose lab) is retried after this long (ms), growing by half each time up to the maximum
 * (both generations: overlay/dialer.ts).
 */
export const BOOTSTRAP_FIRST_RETRY_MS = 250
export const BOOTSTRAP_MAX_RETRY_MS = 5_000
export const BOOTSTRAP_BACKOFF_FACTOR = 1.5
/** After our BYE (or the remote's), the stream is aborted if the remote has not closed it within this (ms). */
export const CLOSE_GRACE_MS = 2_000
/**
 * In-band transfer (`get --in-band`): bytes per RELAY_REPLY. 128 KiB: with 32 KiB the
 * per-message cost on every hop capped a relayed transfer at ~18 MB/s (4.6x a direct
 * one through one supernode, bench/supernode.ts); 128 KiB gave 2.4x, 256 KiB no better.
 */
export const RELAY_RANGE_BYTES = 128 * 1024
/** RELAY_REQUEST's index for the manifest instead of a chunk. */
export const MANIFEST_INDEX = 0xffff_ffff
/** A relayed request unanswered for this long fails (ms). */
export const RELAY_TIMEOUT_MS = 30_000
/** Chunks one in-band download fetches at once ... */
export const RELAY_WINDOW = 4
/** ... and ranges of each chunk in flight (a whole 1 MiB chunk asked at once). */
export const RANGE_WINDOW = 8
