import type { Command } from '../context.ts'
import { EXIT, print, table } from '../output.ts'
import { parseNoArgs } from './simple.ts'

export const peers: Command = {
  name: 'peers',
  usage: 'peers [--repo DIR] [--json]',
  summary: 'list connected peers',
  async run (argv, ctx) {
    const args = parseNoArgs('peers', argv, ctx)
    const result = await (await ctx.connect(args.repo)).peers()
    print(ctx, args.json, result, () => result.peers.length > 0
      ? table(result.peers.map((p) => [p.peerId, p.modes.length > 0 ? p.modes.join(',') : '-', p.addrs.join(' ')]))
      : 'no peers')
    return EXIT.ok
  }
}
