import type { Command } from '../context.ts'
import { EXIT, print, table } from '../output.ts'
import { parseNoArgs } from './simple.ts'

/** `{ a: { b: 1 } }` -> [['a.b', '1']] */
export function flatten (value: unknown, prefix = ''): string[][] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix === '' ? key : `${prefix}.${key}`))
  }
  return [[prefix, typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined']]
}

export const stats: Command = {
  name: 'stats',
  usage: 'stats [--repo DIR] [--json]',
  summary: "show the daemon's counters",
  async run (argv, ctx) {
    const args = parseNoArgs('stats', argv, ctx)
    const result = await (await ctx.connect(args.repo)).stats()
    print(ctx, args.json, result, () => table(flatten(result)))
    return EXIT.ok
  }
}
