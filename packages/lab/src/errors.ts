/** Errors of @sedai/lab, each with a stable `code`. */
export class LabError extends Error {
  readonly code: string = 'ERR_LAB'
  override name = 'LabError'
}

/** A topology file that does not parse or breaks a rule (field, range, count). */
export class InvalidTopologyError extends LabError {
  override readonly code = 'ERR_INVALID_TOPOLOGY'
  override name = 'InvalidTopologyError'
}

/** A worker process died, or did not answer a command within its deadline. */
export class WorkerError extends LabError {
  override readonly code = 'ERR_LAB_WORKER'
  override name = 'WorkerError'
}

/** A network did not become ready (overlay formed, shares indexed) within its deadline. */
export class NotReadyError extends LabError {
  override readonly code = 'ERR_LAB_NOT_READY'
  override name = 'NotReadyError'
}
