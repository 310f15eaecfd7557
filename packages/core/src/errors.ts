/**
 * Errors of @sedai/core. Each has a stable `code` that tests and the control
 * API rely on; the message is for people.
 */
export class SedaiError extends Error {
  readonly code: string = 'ERR_SEDAI'
  override name = 'SedaiError'
}

/** A frame or message on the wire broke the codec's rules (size, type, count). */
export class InvalidMessageError extends SedaiError {
  override readonly code: string = 'ERR_INVALID_MESSAGE'
  override name = 'InvalidMessageError'
}

/** A length prefix announced more bytes than the protocol allows. */
export class FrameTooLargeError extends InvalidMessageError {
  override readonly code = 'ERR_FRAME_TOO_LARGE'
  override name = 'FrameTooLargeError'
}

/** The stream ended in the middle of a frame. */
export class TruncatedFrameError extends InvalidMessageError {
  override readonly code = 'ERR_TRUNCATED_FRAME'
  override name = 'TruncatedFrameError'
}

/** A stream or operation ran past its deadline. */
export class TimeoutError extends SedaiError {
  override readonly code = 'ERR_TIMEOUT'
  override name = 'TimeoutError'
}

/** Manifest bytes that do not decode, or break a limit. */
export class InvalidManifestError extends SedaiError {
  override readonly code = 'ERR_INVALID_MANIFEST'
  override name = 'InvalidManifestError'
}

/** A string that is not a CID this project understands. */
export class InvalidCidError extends SedaiError {
  override readonly code = 'ERR_INVALID_CID'
  override name = 'InvalidCidError'
}

/** Bytes whose hash is not the one the manifest (or CID) promises. */
export class HashMismatchError extends SedaiError {
  override readonly code = 'ERR_HASH_MISMATCH'
  override name = 'HashMismatchError'
}

/** A shared file changed on disk since it was hashed; it is not served. */
export class ContentChangedError extends SedaiError {
  override readonly code = 'ERR_CONTENT_CHANGED'
  override name = 'ContentChangedError'
}

/** Content that no source (local or remote) has. */
export class NotFoundError extends SedaiError {
  override readonly code = 'ERR_NOT_FOUND'
  override name = 'NotFoundError'
}

/** A path that cannot be shared (missing, not a regular file, too large). */
export class InvalidPathError extends SedaiError {
  override readonly code = 'ERR_INVALID_PATH'
  override name = 'InvalidPathError'
}

/** A file the user did not ask to replace is where a download or copy would go. */
export class DestinationExistsError extends SedaiError {
  override readonly code = 'ERR_DESTINATION_EXISTS'
  override name = 'DestinationExistsError'
}

/** A remote peer answered with an ERROR status. */
export class RemoteError extends SedaiError {
  override readonly code = 'ERR_REMOTE'
  override name = 'RemoteError'
}

/** A download ran out of sources before every chunk verified. */
export class DownloadFailedError extends SedaiError {
  override readonly code = 'ERR_DOWNLOAD_FAILED'
  override name = 'DownloadFailedError'
}

/** Options that do not make sense (a usage error, exit code 2 in the CLI). */
export class InvalidOptionError extends SedaiError {
  override readonly code = 'ERR_INVALID_OPTION'
  override name = 'InvalidOptionError'
}

/** Every search mode of the daemon failed (e.g. the directory server is down and nothing to fall back to). */
export class SearchFailedError extends SedaiError {
  override readonly code = 'ERR_SEARCH_FAILED'
  override name = 'SearchFailedError'
}
