/**
 * @sedai/supernode-cache-peer: the third generation (KaZaA, Skype, Winny,
 * Freenet): supernodes and leaves elected by capacity, queries among
 * supernodes only (the flooding package's rules), in-band transfer along the
 * query path with an encrypted cache on every supernode of the path.
 */
export { supernodeMode, SupernodeMode, CACHE_DIR } from './mode.ts'
export { DEFAULTS, ENV_KNOBS, resolveConfig } from './config.ts'
export type { SupernodeConfig } from './config.ts'
export * from './errors.ts'
export { capacityScore, leafCapacity, localCapacity } from './capacity.ts'
export type { CapacityInputs } from './capacity.ts'
export { elect } from './election.ts'
export type { ElectionResult, ElectionView, RoleName } from './election.ts'
export { SupernodeService } from './protocol/supernode.ts'
export type { SupernodeComponents, SupernodeInit, SupernodeSearchOptions } from './protocol/supernode.ts'
export { measureUpload, serveProbe } from './protocol/probe.ts'
export * from './protocol/constants.ts'
export { MESSAGE_NAMES, ROLE_NAMES, Role, SuperType, WELCOME_NAMES, Want, Welcome, decodeMessage, encodeHello, encodeIndex, encodeStatus, encodeWelcome } from './protocol/messages.ts'
export type { Hello, IndexMsg, Message, Status, StatusMsg, SuperEntry, SuperMessage, WelcomeMsg } from './protocol/messages.ts'
export { ChunkCache } from './cache/cache.ts'
