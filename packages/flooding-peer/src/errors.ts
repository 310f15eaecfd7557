import { SedaiError } from '@sedai/core'

/**
 * Errors of @sedai/flooding-peer. Each has a stable `code`; wire problems use
 * the core's InvalidMessageError (ERR_INVALID_MESSAGE).
 */

/** A search or provider lookup was asked of a peer with no overlay neighbour. */
export class NoNeighboursError extends SedaiError {
  override readonly code = 'ERR_NO_NEIGHBOURS'
  override name = 'NoNeighboursError'
}

/** The remote closed the link with BYE (full, duplicate, flooding, shutdown, protocol error). */
export class LinkClosedError extends SedaiError {
  override readonly code = 'ERR_LINK_CLOSED'
  override name = 'LinkClosedError'
}

/** The flooding service is not running. */
export class NotStartedError extends SedaiError {
  override readonly code = 'ERR_NOT_STARTED'
  override name = 'NotStartedError'
}
