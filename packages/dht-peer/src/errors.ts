import { SedaiError } from '@sedai/core/errors'

/** A search query with no indexable keyword (e.g. only punctuation or one-letter words). */
export class NoKeywordsError extends SedaiError {
  override readonly code = 'ERR_NO_KEYWORDS'
  override name = 'NoKeywordsError'
}

/** The DHT service is not running (the mode was not started, or has stopped). */
export class DhtNotStartedError extends SedaiError {
  override readonly code = 'ERR_DHT_NOT_STARTED'
  override name = 'DhtNotStartedError'
}
