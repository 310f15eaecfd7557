import type { Command } from '../context.ts'
import { EXIT, print } from '../output.ts'
import { parseNoArgs } from './simple.ts'

export const stop: Command = {
  name: 'stop',
  usage: 'stop [--repo DIR] [--json]',
  summary: 'stop the daemon',
  async run (argv, ctx) {
    const args = parseNoArgs('stop', argv, ctx)
    await (await ctx.connect(args.repo)).stop()
    print(ctx, args.json, { ok: true }, () => 'daemon stopping')
    return EXIT.ok
  }
}
