import { readApiFile } from '../api-client.ts'
import type { Command } from '../context.ts'
import { EXIT, print } from '../output.ts'
import { parseNoArgs } from './simple.ts'

/**
 * Where the running daemon's dashboard is and the token to sign in with.
 * The token is printed for the user to paste, never put in the URL (it would
 * land in the browser's history and in logs: docs/DASHBOARD.md).
 */
export const dashboard: Command = {
  name: 'dashboard',
  usage: 'dashboard [--repo DIR] [--json]',
  summary: 'print the web dashboard\'s address and the token to sign in with',
  async run (argv, ctx) {
    const args = parseNoArgs('dashboard', argv, ctx)
    const { url, token } = await readApiFile(args.repo)
    // the daemon answers: a stale api file would send the user to a dead page
    await (await ctx.connect(args.repo)).id()
    print(ctx, args.json, { url: `${url}/`, token }, () => `open ${url}/ and sign in with this token (it changes at every daemon start):\n${token}`)
    return EXIT.ok
  }
}
