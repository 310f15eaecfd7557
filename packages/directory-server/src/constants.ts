/** Protocol id of Gen 1's directory, in the form every sedai protocol uses. */
export const PROTOCOL_PREFIX = 'sedai'
export const PROTOCOL_NAME = 'directory'
/** 1.1.0: a SEARCH reply's peer table holds only entries new to the session (1.0.0 sent every entry every time) */
export const PROTOCOL_VERSION = '1.1.0'
export const DIRECTORY_PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/**
 * Peer-table entries a session remembers: the server sends an entry once per
 * session (again when it changes) and the peer keeps it. A server that has
 * sent this many forgets them all and says so (`peersReset`); a peer never
 * keeps more.
 */
export const MAX_SESSION_PEERS = 4_096
