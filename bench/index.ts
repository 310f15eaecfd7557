/**
 * `npm run bench`: every benchmark of the project, one after the other, each
 * in its own process so one's memory and sockets do not colour the next.
 * `npm run bench -- transfer dht` runs only those.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const BENCHES = ['transfer', 'directory', 'flood', 'dht', 'supernode', 'clustering']
const wanted = process.argv.slice(2)
const selected = wanted.length > 0 ? wanted : BENCHES
let failed = 0
for (const name of selected) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
  if (!existsSync(file)) {
    console.error(`bench ${name}: no such benchmark (have: ${BENCHES.join(', ')})`)
    failed++
    continue
  }
  console.log(`\n== ${name} ==`)
  const r = spawnSync(process.execPath, [file], { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`bench ${name} failed (exit ${r.status ?? r.signal})`)
    failed++
  }
}
process.exitCode = failed > 0 ? 1 : 0
