export const PROTOCOL_PREFIX = 'sedai'
export const PROTOCOL_NAME = 'dht-keywords'
export const PROTOCOL_VERSION = '1.0.0'
/** Ask a peer found under a keyword key which of its files match the query. */
export const KEYWORD_PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** Most keywords in one QUERY. */
export const MAX_QUERY_KEYWORDS = 16
/** Longest keyword, UTF-8 bytes (64 characters of up to 4 bytes each). */
export const MAX_KEYWORD_BYTES = 256
/** Most files in one RESULT; a peer with more matches sends the first ones. */
export const MAX_RESULTS = 100
/** Longest binary CID in a RESULT (a sedai manifest CID is 36 bytes). */
export const MAX_CID_BYTES = 128
/** Longest file name in a RESULT, UTF-8 bytes (the manifest's own limit). */
export const MAX_NAME_BYTES = 1024
/** Longest error text in a reply, UTF-8 bytes; longer text is cut. */
export const MAX_ERROR_TEXT_BYTES = 256
/** Largest QUERY frame. */
export const MAX_QUERY_FRAME_BYTES = 2 + MAX_QUERY_KEYWORDS * (1 + MAX_KEYWORD_BYTES)
/** Largest RESULT frame. */
export const MAX_RESULT_FRAME_BYTES = 4 + MAX_RESULTS * (1 + MAX_CID_BYTES + 8 + 2 + MAX_NAME_BYTES)
/** The whole exchange (QUERY, RESULT) must finish within this (ms). */
export const QUERY_TIMEOUT_MS = 5_000
/** Inbound keyword streams one connection may open at once. */
export const MAX_INBOUND_STREAMS = 8
/** Outbound keyword streams to one peer at once. */
export const MAX_OUTBOUND_STREAMS = 8
