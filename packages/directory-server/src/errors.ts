/**
 * Errors of @sedai/directory-server, each with a stable `code` (tests and the
 * control API rely on it); the message is for people.
 */
import { SedaiError } from '@sedai/core/errors'

/** The directory server cannot be reached (down, refusing, or not answering in time). */
export class DirectoryUnavailableError extends SedaiError {
  override readonly code = 'ERR_DIRECTORY_UNAVAILABLE'
  override name = 'DirectoryUnavailableError'
}

/** The directory server answered with an error status. */
export class DirectoryError extends SedaiError {
  override readonly code: string = 'ERR_DIRECTORY'
  override name = 'DirectoryError'
  readonly status: number
  constructor (message: string, status: number) {
    super(message)
    this.status = status
  }
}

/** A peer would pass its `maxFilesPerPeer`. */
export class PeerLimitError extends SedaiError {
  override readonly code = 'ERR_PEER_LIMIT'
  override name = 'PeerLimitError'
}

/** A request the server refuses on purpose (another peer's id or address). */
export class RefusedError extends SedaiError {
  override readonly code = 'ERR_REFUSED'
  override name = 'RefusedError'
}
