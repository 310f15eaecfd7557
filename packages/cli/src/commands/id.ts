import type { Command } from '../context.ts'
import { EXIT, print, table } from '../output.ts'
import { parseNoArgs } from './simple.ts'

export const id: Command = {
  name: 'id',
  usage: 'id [--repo DIR] [--json]',
  summary: "show the daemon's peer id, addresses and modes",
  async run (argv, ctx) {
    const args = parseNoArgs('id', argv, ctx)
    const info = await (await ctx.connect(args.repo)).id()
    print(ctx, args.json, info, () => table([
      ['peer id', info.peerId],
      ['modes', info.modes.length > 0 ? info.modes.join(',') : '(none)'],
      ...info.addrs.map((addr) => ['addr', addr])
    ]))
    return EXIT.ok
  }
}
