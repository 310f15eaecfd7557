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

/** A docker or docker-compose command failed (no daemon, no image, a container that will not start). */
export class DockerError extends LabError {
  override readonly code = 'ERR_LAB_DOCKER'
  override name = 'DockerError'
}

/** Network conditions this host cannot apply (e.g. delay on a kernel without sch_netem), or a runner that cannot apply any. */
export class ConditionsError extends LabError {
  override readonly code = 'ERR_LAB_CONDITIONS'
  override name = 'ConditionsError'
}

/** A message on the runner-agent link that breaks its framing or limits, or a wrong token. */
export class AgentProtocolError extends LabError {
  override readonly code = 'ERR_LAB_AGENT_PROTOCOL'
  override name = 'AgentProtocolError'
}

/** The lab dashboard cannot serve: a non-loopback address, a bad `--dashboard` value, a port in use. */
export class LabDashboardError extends LabError {
  override readonly code = 'ERR_LAB_DASHBOARD'
  override name = 'LabDashboardError'
}
