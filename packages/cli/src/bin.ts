import { readFileSync } from 'node:fs'
import { InvalidOptionError } from '@sedai/core/errors'
import { ApiClient } from './api-client.ts'
import { connect } from './commands/connect.ts'
import { daemon } from './commands/daemon.ts'
import { dashboard } from './commands/dashboard.ts'
import { get } from './commands/get.ts'
import { id } from './commands/id.ts'
import { lab } from './commands/lab.ts'
import { ls } from './commands/ls.ts'
import { peers } from './commands/peers.ts'
import { search } from './commands/search.ts'
import { share } from './commands/share.ts'
import { stats } from './commands/stats.ts'
import { stop } from './commands/stop.ts'
import type { Command, Context } from './context.ts'
import { EXIT, reportError } from './output.ts'

/** Every command, in the order `sedai help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  daemon, id, share, ls, connect, get, search, peers, stats, dashboard, stop, lab
})

/** The text of `sedai help`. */
export function usage (): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  return [
    'usage: sedai COMMAND [options]',
    '',
    'commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show this help, or a command's: sedai help COMMAND`,
    '',
    'every command takes --repo DIR (default $SEDAI_REPO or ~/.sedai) and --json (one JSON document on stdout).',
    'exit codes: 0 success, 1 the operation failed, 2 usage error.',
    ''
  ].join('\n')
}

function commandHelp (command: Command): string {
  return `usage: sedai ${command.usage}\n\n${command.summary}\n`
}

/** The version of @sedai/cli, from its package.json. */
export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** The Context of this process: its streams, cwd and env, and the daemon named by the repo's api file. */
export function processContext (): Context {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    env: process.env,
    connect: async (repo) => await ApiClient.fromRepo(repo)
  }
}

/**
 * Runs `sedai ARGV...` and resolves to its exit code: 0 success, 1 the
 * operation failed, 2 usage error. `ctx` is for tests.
 */
export async function main (argv: string[], ctx: Context = processContext()): Promise<number> {
  const json = argv.includes('--json')
  try {
    const [name, ...rest] = argv
    if (name === undefined) {
      throw new InvalidOptionError("missing command (try 'sedai help')")
    }
    if (name === 'help' || name === '--help' || name === '-h') {
      const topic = rest[0]
      if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) {
        throw new InvalidOptionError(`unknown command '${topic}' (try 'sedai help')`)
      }
      ctx.stdout.write(topic === undefined ? usage() : commandHelp(COMMANDS[topic]))
      return EXIT.ok
    }
    if (name === '--version' || name === 'version') {
      ctx.stdout.write(`${version()}\n`)
      return EXIT.ok
    }
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new InvalidOptionError(name.startsWith('-')
        ? `'${name}' before the command; options go after it: sedai COMMAND [options] (try 'sedai help')`
        : `unknown command '${name}' (try 'sedai help')`)
    }
    const command = COMMANDS[name]
    const dashes = rest.indexOf('--')
    const flags = dashes === -1 ? rest : rest.slice(0, dashes)
    if (flags.includes('--help') || flags.includes('-h')) {
      ctx.stdout.write(commandHelp(command))
      return EXIT.ok
    }
    return await command.run(rest, ctx)
  } catch (err) {
    return reportError(ctx, json, err)
  }
}
