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
export { findProvidersTracked, percentile } from './lookup.ts'
export type { LookupInit, LookupResult } from './lookup.ts'
export { KEYWORD_PROTOCOL } from './protocol/constants.ts'
export * from './errors.ts'
