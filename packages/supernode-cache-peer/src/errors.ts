import { SedaiError } from '@sedai/core'

/**
 * Errors of @sedai/supernode-cache-peer. Each has a stable `code`; wire
 * problems use the core's InvalidMessageError (ERR_INVALID_MESSAGE).
 */

/** A leaf has no supernode to ask (none found yet, or all gone). */
export class NoSupernodeError extends SedaiError {
  override readonly code = 'ERR_NO_SUPERNODE'
  override name = 'NoSupernodeError'
}

/** The remote refused the link (full, not a supernode, wrong role). */
export class LinkRefusedError extends SedaiError {
  override readonly code = 'ERR_LINK_REFUSED'
  override name = 'LinkRefusedError'
}

/** Bytes from upstream failed verification against the manifest; nothing was cached or passed on. */
export class CorruptUpstreamError extends SedaiError {
  override readonly code = 'ERR_CORRUPT_UPSTREAM'
  override name = 'CorruptUpstreamError'
}

/** The supernode service is not running. */
export class NotStartedError extends SedaiError {
  override readonly code = 'ERR_NOT_STARTED'
  override name = 'NotStartedError'
}
