import { parseArgs } from 'node:util'
import { COMMON_OPTIONS, commonArgs, expectPositionals, usageErrors } from '../args.ts'
import type { ArgsEnv, CommonArgs } from '../args.ts'

/** The arguments of a command that takes only --repo and --json. */
export function parseNoArgs (command: string, argv: string[], at: ArgsEnv): CommonArgs {
  const { values, positionals } = usageErrors(command, () => parseArgs({
    args: argv, options: COMMON_OPTIONS, strict: true, allowPositionals: true
  }))
  expectPositionals(command, positionals, [])
  return commonArgs(values, at)
}

/** The arguments of a command that takes --repo, --json and one positional argument. */
export function parseOneArg (command: string, name: string, argv: string[], at: ArgsEnv): CommonArgs & { arg: string } {
  const { values, positionals } = usageErrors(command, () => parseArgs({
    args: argv, options: COMMON_OPTIONS, strict: true, allowPositionals: true
  }))
  expectPositionals(command, positionals, [name])
  return { ...commonArgs(values, at), arg: positionals[0] }
}
