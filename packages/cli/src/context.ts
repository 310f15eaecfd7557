import type { ArgsEnv } from './args.ts'
import type { DaemonApi } from './daemon-api.ts'
import type { Io } from './output.ts'

/** What a command runs with: its streams, cwd and env, and a way to reach the daemon. */
export interface Context extends Io, ArgsEnv {
  /** the daemon of `repo`; the CLI's is an ApiClient over the repo's api file */
  connect(repo: string): Promise<DaemonApi>
}

export interface Command {
  name: string
  /** one line: the synopsis after `sedai ` */
  usage: string
  /** one line: what it does */
  summary: string
  /** parses `argv` (the words after the command name) and runs; resolves to the exit code */
  run(argv: string[], ctx: Context): Promise<number>
}
