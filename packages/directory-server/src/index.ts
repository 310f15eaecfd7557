/**
 * @sedai/directory-server: Generation 1, the hybrid architecture of Napster
 * and WinMX. A central directory answers "who has what"; files move directly
 * between the peers. Two daemon modes:
 *
 *   sedai daemon --mode directory-server            the server (index in <repo>/directory.db)
 *   sedai daemon --mode directory --directory ADDR  a peer that registers with it
 *
 * `--mode directory,flood` is WinMX's hybrid: the daemon asks the modes in
 * order, and `directory` throws (fast) when its server is unreachable.
 */
export { DIRECTORY_DEFAULTS, DIRECTORY_ENV, directoryConfig } from './config.ts'
export type { DirectoryConfig } from './config.ts'
export { DIRECTORY_PROTOCOL } from './constants.ts'
export { DirectoryError, DirectoryUnavailableError, PeerLimitError, RefusedError } from './errors.ts'
export { Status, decodeReply, decodeRequest, encodeMessage } from './messages.ts'
export type { FileTuple, ProviderInfo, Reply, Request } from './messages.ts'
export { DirectoryIndex, rankKey } from './index-db.ts'
export { DirectoryServer, DIRECTORY_DB, TokenBucket } from './server.ts'
export { DirectoryClient, hitsFromReply, listDigest } from './client.ts'
export { DirectorySession } from './session.ts'
export { indexText, matchExpression, normalize } from './terms.ts'
export { directoryMode, directoryServerMode } from './modes.ts'
