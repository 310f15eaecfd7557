/**
 * @sedai/dht-peer: the structured generation. Kademlia (kad-dht on the
 * private protocol /sedai/kad/1.0.0) finds who holds a CID, keyword keys make
 * names searchable, and the core's multi-source transfer swarms from every
 * provider found (docs/DHT.md).
 */
import { DhtPeer } from './dht-peer.ts'
import type { ModeFactory } from '@sedai/core'

export const dhtMode: ModeFactory = (init) => new DhtPeer(init)

export { DhtPeer, dhtService, countProviderRecords, PROVIDER_PREFIX } from './dht-peer.ts'
export { DEFAULTS, ENV, resolveConfig } from './config.ts'
export type { DhtConfig } from './config.ts'
export { keywords, keywordCid, matches, normalize } from './keywords.ts'
export { adaptiveSettle, findProvidersTracked, percentile } from './lookup.ts'
export type { LookupInit, LookupResult } from './lookup.ts'
export { keywordSearch } from './search.ts'
export type { KeywordSearchInit, KeywordSearchResult } from './search.ts'
export { Join } from './join.ts'
export type { JoinInit, JoinState } from './join.ts'
export { KEYWORD_PROTOCOL, MAX_INBOUND_STREAMS as KEYWORD_MAX_INBOUND_STREAMS } from './protocol/constants.ts'
export { askKeywords, serveKeywordQuery } from './protocol/keyword-protocol.ts'
export * from './errors.ts'
