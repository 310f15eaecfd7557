/**
 * @sedai/flooding-peer: Gnutella 0.6's pure, unstructured overlay
 * (`sedai daemon --mode flood`). The forwarding rules (seen cache, TTL
 * clamping, duplicate suppression, reverse-path routing) are exported for
 * the supernode generation to reuse among supernodes, with the overlay
 * link layer (src/overlay/) both generations' services run on.
 */
export { floodMode, FloodMode } from './mode.ts'
export { DEFAULTS, ENV_KNOBS, resolveConfig } from './config.ts'
export type { FloodConfig } from './config.ts'
export * from './errors.ts'
export { FloodService, matches } from './protocol/flood.ts'
export type { FloodComponents, FloodInit, FloodSearchOptions, LocalFile, RelayStore } from './protocol/flood.ts'
export { downloadInBand, fetchWhole } from './in-band.ts'
export type { InBandInit, RangeFetch } from './in-band.ts'
export * from './protocol/constants.ts'
export {
  BYE_NAMES, ByeCode, MessageType, MESSAGE_NAMES, RelayStatus, decodeMessage, encodeBye, encodePing, encodePong, encodeQuery, encodeQueryHit,
  encodeRelayReply, encodeRelayRequest, idHex
} from './protocol/messages.ts'
/** the codec's building blocks, for protocols that extend this one (the supernode generation) */
export { Reader, Writer, checkPeerId, readEntry, readFile, utf8, writeEntry, writeFile } from './protocol/messages.ts'
export type { Bye, HitFile, Message, PeerEntry, Ping, Pong, Query, QueryHit, RelayReply, RelayRequest } from './protocol/messages.ts'
export { QueryRouter, clampTtl } from './router.ts'
export type { HitDecision, QueryDecision, QueryRouterInit } from './router.ts'
export { LOCAL, SeenCache } from './seen-cache.ts'
export type { SeenEntry } from './seen-cache.ts'
export { HostCache, Neighbour } from './neighbours.ts'
export type { Admission, NeighbourInit, Outgoing } from './neighbours.ts'
/** the overlay link layer both generations run on (docs/ARCHITECTURE.md, "The overlay link layer") */
export { BanList } from './overlay/bans.ts'
export { count, ownEntry } from './overlay/components.ts'
export type { OverlayComponents, OverlayContext } from './overlay/components.ts'
export { Backoff, BOOTSTRAP_BACKOFF, BootstrapDialer } from './overlay/dialer.ts'
export type { BackoffPolicy, BootstrapDialerInit } from './overlay/dialer.ts'
export { LinkTable, STOP_GRACE_MS, handleLinks, newLinkWins, openNeighbour, tickEvery, untilLinkUp } from './overlay/links.ts'
export type { LinkConfig } from './overlay/links.ts'
export { QueryFlood, queryText } from './overlay/query-flood.ts'
export type { QueryFloodConfig, QueryFloodInit, QueryPolicy, SearchOptions } from './overlay/query-flood.ts'
export { readLink } from './overlay/read-loop.ts'
export type { ReadLoopInit } from './overlay/read-loop.ts'
export { RelayClient } from './overlay/relay-client.ts'
export type { RangeRequest } from './overlay/relay-client.ts'
export { distances, line, neighboursOf, randomGraph, rng } from './topology.ts'
export type { Edge } from './topology.ts'
