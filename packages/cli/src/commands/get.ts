import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { COMMON_OPTIONS, checkMultiaddr, commonArgs, expectPositionals, parseTimeoutMs, usageErrors } from '../args.ts'
import type { ArgsEnv, CommonArgs } from '../args.ts'
import { API_LIMITS } from '../api-common.ts'
import { InvalidOptionError } from '@sedai/core/errors'
import type { Command } from '../context.ts'
import type { GetRequest, GetResult } from '../daemon-api.ts'
import { EXIT, ProgressBar, print } from '../output.ts'

export interface GetArgs extends CommonArgs {
  /** the request for the daemon: `out` absolute, `from` checked multiaddrs */
  request: GetRequest
}

export function parseGetArgs (argv: string[], at: ArgsEnv): GetArgs {
  const { values, positionals } = usageErrors('get', () => parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      output: { type: 'string', short: 'o' },
      from: { type: 'string', multiple: true },
      'timeout-ms': { type: 'string' },
      'in-band': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false }
    },
    strict: true,
    allowPositionals: true
  }))
  expectPositionals('get', positionals, ['CID'])
  const request: GetRequest = { cid: positionals[0] }
  if (values.output !== undefined) {
    if (values.output === '') {
      throw new InvalidOptionError('-o needs a path')
    }
    request.out = resolve(at.cwd, values.output)
  }
  if (values.from !== undefined) {
    if (values.from.length > API_LIMITS.maxFromAddrs) {
      throw new InvalidOptionError(`--from: at most ${API_LIMITS.maxFromAddrs} peers`)
    }
    request.from = values.from.map((addr) => checkMultiaddr(addr, '--from'))
  }
  if (values.force === true) {
    request.force = true
  }
  const timeoutMs = parseTimeoutMs(values['timeout-ms'])
  if (timeoutMs !== undefined) {
    request.timeoutMs = timeoutMs
  }
  if (values['in-band'] === true) {
    if (request.from !== undefined) {
      throw new InvalidOptionError('--in-band and --from exclude each other (in-band follows the overlay path of the hits)')
    }
    request.inBand = true
  }
  return { ...commonArgs(values, at), request }
}

export const get: Command = {
  name: 'get',
  usage: 'get CID [-o PATH] [--force] [--from MULTIADDR]... [--in-band] [--timeout-ms N] [--repo DIR] [--json]',
  summary: 'download a file by CID (progress on stderr when it is a terminal)',
  async run (argv, ctx) {
    const args = parseGetArgs(argv, ctx)
    const api = await ctx.connect(args.repo)
    const bar = new ProgressBar(ctx.stderr)
    let result: GetResult
    try {
      result = await api.get(args.request, (progress) => { bar.update(progress) }, new AbortController().signal)
    } finally {
      bar.clear()
    }
    print(ctx, args.json, result, () => result.path)
    return EXIT.ok
  }
}
