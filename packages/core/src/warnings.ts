/**
 * node:sqlite is stable in use here but still flagged experimental in Node 22;
 * its one-line warning would land in every daemon log and CLI run. The bins
 * call this before they import anything that opens a database (hence a module
 * of its own, outside the package's index, which does).
 */
export function hideSqliteExperimentalWarning (): void {
  const emitWarning = process.emitWarning
  process.emitWarning = function (warning: string | Error, ...rest: any[]) {
    const text = typeof warning === 'string' ? warning : warning?.message
    if (typeof text === 'string' && text.includes('SQLite is an experimental feature')) return
    return (emitWarning as (...a: any[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
}
