import { checkMultiaddr } from '../args.ts'
import type { ArgsEnv, CommonArgs } from '../args.ts'
import type { Command } from '../context.ts'
import { EXIT, print } from '../output.ts'
import { parseOneArg } from './simple.ts'

export interface ConnectArgs extends CommonArgs {
  multiaddr: string
}

export function parseConnectArgs (argv: string[], at: ArgsEnv): ConnectArgs {
  const { arg, ...common } = parseOneArg('connect', 'MULTIADDR', argv, at)
  return { ...common, multiaddr: checkMultiaddr(arg, 'MULTIADDR') }
}

export const connect: Command = {
  name: 'connect',
  usage: 'connect MULTIADDR [--repo DIR] [--json]',
  summary: 'dial a peer',
  async run (argv, ctx) {
    const args = parseConnectArgs(argv, ctx)
    const result = await (await ctx.connect(args.repo)).connect(args.multiaddr)
    print(ctx, args.json, result, () => `connected to ${result.peerId}`)
    return EXIT.ok
  }
}
