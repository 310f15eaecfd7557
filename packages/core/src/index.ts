/**
 * @sedai/core: the transport, content store and transfer protocol that every
 * generation of sedai shares.
 */
export { DEFAULTS, REPO_FILES, defaultRepo } from './config.ts'
export * from './errors.ts'
export { createLogger, silentLogger } from './logger.ts'
export type { Logger, LoggerInit } from './logger.ts'
export { loadOrCreateIdentity } from './identity.ts'
export { createNode } from './node.ts'
export type { CreateNodeInit, SedaiLibp2p, BaseServices } from './node.ts'
export { FramedStream, readFrames, frame, FRAME_HEADER_BYTES } from './framing.ts'
export type { FramedStreamInit } from './framing.ts'
export { Stats } from './stats.ts'
export { Bitfield } from './store/bitfield.ts'
export { ContentStore } from './store/content-store.ts'
export type { SharedFile, ContentStoreInit, DownloadRecord } from './store/content-store.ts'
export { buildManifest, chunkCount, chunkHash, chunkLength, decodeManifest, encodeManifest, manifestCid, parseCid, safeFileName, sha256, verifyManifest } from './store/manifest.ts'
export type { Manifest } from './store/manifest.ts'
export { transfer, TransferService } from './transfer/transfer.ts'
export type { TransferInit, TransferComponents } from './transfer/transfer.ts'
export type { DownloadProgress, DownloadResult, Source } from './transfer/download.ts'
export { TRANSFER_PROTOCOL } from './transfer/constants.ts'
export type { Mode, ModeContext, ModeFactory, ModeInit, SearchHit, SearchOptions } from './mode.ts'
