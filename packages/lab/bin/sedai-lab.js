#!/usr/bin/env node
// sedai-lab: the lab's command (also `sedai lab`). TypeScript run by Node's type stripping (Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`error: sedai-lab needs Node.js >= 22.18 (this is ${process.versions.node}); run it through npm/npx in the repo, which use the pinned node@22\n`)
  process.exit(1)
}
const { labMain } = await import('../src/cli.ts')
process.exitCode = await labMain(process.argv.slice(2), 'sedai-lab')
