/**
 * @sedai/cli: the `sedai` command (bin/sedai.js) and, for programs that embed
 * daemons (the lab runs many in one process), the daemon itself.
 */
export { Daemon } from './daemon.ts'
export type { DaemonConfig, DaemonExtras } from './daemon.ts'
export type { GetRequest, GetResult, SearchRequest, SearchResponse, SearchResult } from './daemon-api.ts'
export { main } from './bin.ts'
export { formatHostPort, isLoopbackHost } from './api-common.ts'
