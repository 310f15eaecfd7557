import { parseArgs } from 'node:util'
import { COMMON_OPTIONS, commonArgs, expectPositionals, parseTimeoutMs, usageErrors } from '../args.ts'
import type { ArgsEnv, CommonArgs } from '../args.ts'
import { InvalidOptionError } from '@sedai/core/errors'
import type { Command } from '../context.ts'
import type { SearchRequest } from '../daemon-api.ts'
import { EXIT, formatBytes, print, table } from '../output.ts'
import { API_LIMITS } from '../api-common.ts'

export interface SearchArgs extends CommonArgs {
  request: SearchRequest
}

export function parseSearchArgs (argv: string[], at: ArgsEnv): SearchArgs {
  const { values, positionals } = usageErrors('search', () => parseArgs({
    args: argv,
    options: { ...COMMON_OPTIONS, 'timeout-ms': { type: 'string' }, ttl: { type: 'string' } },
    strict: true,
    allowPositionals: true
  }))
  expectPositionals('search', positionals, ['QUERY'], true)
  const query = positionals.join(' ').trim()
  if (query === '') {
    throw new InvalidOptionError("'sedai search' needs a non-blank QUERY")
  }
  const request: SearchRequest = { query }
  const timeoutMs = parseTimeoutMs(values['timeout-ms'])
  if (timeoutMs !== undefined) {
    request.timeoutMs = timeoutMs
  }
  if (values.ttl !== undefined) {
    const ttl = /^\d+$/.test(values.ttl) ? Number(values.ttl) : Number.NaN
    if (!(ttl >= 1 && ttl <= API_LIMITS.maxTtl)) {
      throw new InvalidOptionError(`--ttl: '${values.ttl}' is not a whole number from 1 to ${API_LIMITS.maxTtl}`)
    }
    request.ttl = ttl
  }
  return { ...commonArgs(values, at), request }
}

export const search: Command = {
  name: 'search',
  usage: 'search QUERY... [--timeout-ms N] [--ttl N] [--repo DIR] [--json]',
  summary: "find files by name through the daemon's modes",
  async run (argv, ctx) {
    const args = parseSearchArgs(argv, ctx)
    const api = await ctx.connect(args.repo)
    // people see hits as they arrive (flooding modes stream them); --json stays one document at the end
    const response = args.json
      ? await api.search(args.request)
      : await api.search(args.request, (hit) => {
        ctx.stdout.write(`hit: ${hit.name}  ${formatBytes(hit.size)}  ${hit.cid}  from ${hit.providers.join(', ')}\n`)
      })
    print(ctx, args.json, response, () => {
      const lines = response.results.length > 0
        ? table(response.results.map((r) => [
          r.cid, r.name, formatBytes(r.size), `${r.providers.length} provider${r.providers.length === 1 ? '' : 's'}`
        ]))
        : 'no results'
      return response.note !== undefined ? `${lines}\nnote: ${response.note}` : lines
    })
    return EXIT.ok
  }
}
