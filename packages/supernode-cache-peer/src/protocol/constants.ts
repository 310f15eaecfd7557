/**
 * /sedai/supernode/1.0.0: the third generation's overlay (KaZaA's FastTrack,
 * Skype, Winny). It extends the flooding protocol: QUERY, QUERY_HIT, BYE,
 * RELAY_REQUEST and RELAY_REPLY keep their /sedai/flood/1.0.0 encodings and
 * type numbers (1-7); the hierarchy adds HELLO, WELCOME, STATUS and INDEX (16-19).
 */
import { MAX_STREAMS_PER_CONNECTION as LINK_STREAMS_PER_CONNECTION } from '@sedai/flooding-peer'

export const SUPERNODE_PROTOCOL = '/sedai/supernode/1.0.0'
/** The capacity probe: upload bandwidth measured by sending bytes to a connected peer. */
export const PROBE_PROTOCOL = '/sedai/supernode-probe/1.0.0'

/**
 * Largest frame: an INDEX of MAX_INDEX_FILES_PER_MESSAGE worst-case files
 * (1 + 128 + 2 + 1024 + 8 = 1,163 bytes each) is 148,868 bytes; a STATUS is
 * at most ~5 KiB (16 supernode entries of ~2 KiB addresses would be more, but
 * each entry carries at most MAX_ADDRS short addresses). The links are framed
 * by the flooding package's overlay layer with its MAX_FRAME_BYTES, the same
 * 160 KiB (its RELAY_REPLY bound); this one is what our own messages must fit.
 */
export const MAX_FRAME_BYTES = 160 * 1024
/** Files in one INDEX message; a leaf's index goes in several. */
export const MAX_INDEX_FILES_PER_MESSAGE = 128
/** Supernode entries in one STATUS (like Gnutella 0.6's X-Try-Ultrapeers header, which lists ~10). */
export const MAX_STATUS_SUPERS = 16
/** Interest keywords in one STATUS, and the longest one (UTF-8 bytes). */
export const MAX_INTERESTS = 16
export const MAX_INTEREST_BYTES = 32
/**
 * Streams per connection for the overlay protocol: one link plus room for a simultaneous dial;
 * the overlay link layer's (handleLinks), shown here for docs/LIMITS.md.
 */
export const MAX_STREAMS_PER_CONNECTION = LINK_STREAMS_PER_CONNECTION

/** The probe: bytes sent, the most a receiver accepts, its frame size, and its deadline (ms). */
export const PROBE_BYTES = 512 * 1024
export const PROBE_MAX_BYTES = 4 * 1024 * 1024
export const PROBE_FRAME_BYTES = 32 * 1024
export const PROBE_TIMEOUT_MS = 15_000
