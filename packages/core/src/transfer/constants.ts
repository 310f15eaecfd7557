import { DEFAULTS } from '../config.ts'

export const PROTOCOL_PREFIX = 'sedai'
export const PROTOCOL_NAME = 'transfer'
export const PROTOCOL_VERSION = '1.0.0'
export const TRANSFER_PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** Longest binary CID accepted in OPEN (a CIDv1 sha2-256 is 36 bytes). */
export const MAX_CID_BYTES = 128
/** Longest error text carried in a reply (UTF-8 bytes); longer text is cut. */
export const MAX_ERROR_TEXT_BYTES = 256
/** Requests are tiny: a frame from a requester is at most this many bytes. */
export const MAX_REQUEST_FRAME_BYTES = 2 + MAX_CID_BYTES
/** Replies carry a manifest or a chunk: the larger of the two, plus headers. */
export const MAX_REPLY_FRAME_BYTES = Math.max(DEFAULTS.maxManifestBytes, DEFAULTS.maxChunkSize) + 16
/** A window larger than this is refused by the server side (it reads ahead at most this many). */
export const MAX_WINDOW = 64
/** Chunk reads a server keeps in flight per stream, so disk and network overlap. */
export const SERVER_READ_AHEAD = 4
