#!/usr/bin/env node
// The sedai CLI. The sources are TypeScript run by Node's type stripping (Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`error: sedai needs Node.js >= 22.18 (this is ${process.versions.node}); run it through npm/npx in the repo, which use the pinned node@22\n`)
  process.exit(1)
}
// node:sqlite is stable in use here but still flagged experimental in Node 22;
// its one-line warning would land in every daemon log and CLI run
const emitWarning = process.emitWarning
process.emitWarning = function (warning, ...rest) {
  const text = typeof warning === 'string' ? warning : warning?.message
  if (typeof text === 'string' && text.includes('SQLite is an experimental feature')) return
  return emitWarning.call(process, warning, ...rest)
}
const { main } = await import('../src/bin.ts')
process.exitCode = await main(process.argv.slice(2))
