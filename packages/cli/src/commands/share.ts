import { resolve } from 'node:path'
import { parseOneArg } from './simple.ts'
import type { ArgsEnv, CommonArgs } from '../args.ts'
import type { Command } from '../context.ts'
import type { SharedFileInfo } from '../daemon-api.ts'
import { EXIT, formatBytes, print, table } from '../output.ts'

export interface ShareArgs extends CommonArgs {
  /** absolute: resolved against the CLI's cwd, since the daemon's differs */
  path: string
}

export function parseShareArgs (argv: string[], at: ArgsEnv): ShareArgs {
  const { arg, ...common } = parseOneArg('share', 'PATH', argv, at)
  return { ...common, path: resolve(at.cwd, arg) }
}

/** `<cid>  <name>  <size>` rows */
export function fileRows (files: SharedFileInfo[]): string[][] {
  return files.map((file) => [file.cid, file.name, formatBytes(file.size)])
}

export const share: Command = {
  name: 'share',
  usage: 'share PATH [--repo DIR] [--json]',
  summary: 'share a file, or every file in a folder',
  async run (argv, ctx) {
    const args = parseShareArgs(argv, ctx)
    const result = await (await ctx.connect(args.repo)).share(args.path)
    print(ctx, args.json, result, () => {
      const files = 'shared' in result ? result.shared : [result]
      return files.length > 0 ? table(fileRows(files)) : `no files in ${args.path}`
    })
    return EXIT.ok
  }
}
