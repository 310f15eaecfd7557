import type { Command } from '../context.ts'
import { EXIT, print, table } from '../output.ts'
import { fileRows } from './share.ts'
import { parseNoArgs } from './simple.ts'

export const ls: Command = {
  name: 'ls',
  usage: 'ls [--repo DIR] [--json]',
  summary: 'list the shared files',
  async run (argv, ctx) {
    const args = parseNoArgs('ls', argv, ctx)
    const result = await (await ctx.connect(args.repo)).ls()
    print(ctx, args.json, result, () => result.files.length > 0 ? table(fileRows(result.files)) : 'no shared files')
    return EXIT.ok
  }
}
