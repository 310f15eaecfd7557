/**
 * node:sqlite for every part of the project, loaded without its one-line
 * ExperimentalWarning (stable in use here, still flagged experimental in
 * Node 22): daemons, lab workers, benches and tests import it from here and
 * print nothing. The warning is emitted when the builtin is first loaded, so
 * the module is loaded by `require` after the filter is in place: a static
 * `import 'node:sqlite'` would load it while the module graph links, before
 * any code runs.
 */
import { createRequire } from 'node:module'

const emitWarning = process.emitWarning
process.emitWarning = function (warning: string | Error, ...rest: any[]) {
  const text = typeof warning === 'string' ? warning : warning?.message
  if (typeof text === 'string' && text.includes('SQLite is an experimental feature')) return
  return (emitWarning as (...a: any[]) => void).call(process, warning, ...rest)
} as typeof process.emitWarning

const sqlite = createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite')

export const DatabaseSync = sqlite.DatabaseSync
export type DatabaseSync = import('node:sqlite').DatabaseSync
export type { StatementSync } from 'node:sqlite'
