/**
 * A short fuzz run of every decoder (the long one is `npm run fuzz`), plus a
 * replay of every crasher a run ever saved in test/fuzz/crashers/.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { allTargets, fuzzTarget } from './fuzz/run.ts'
import { TARGETS } from './fuzz/targets.ts'

const ITERATIONS = Number(process.env.SEDAI_FUZZ_ITERATIONS ?? 3000)
const SEED = Number(process.env.SEDAI_FUZZ_SEED ?? 20261125)

const { targets, close } = await allTargets()
test.after(close)

for (const target of targets) {
  // HTTP round trips are slower than decoding in process: a tenth as many
  const n = target.name.startsWith('api.') ? Math.ceil(ITERATIONS / 10) : ITERATIONS
  test(`fuzz ${target.name}: ${n} random + ${n} mutated inputs, no crash, no block`, async (t) => {
    const report = await fuzzTarget(target, n, SEED)
    t.diagnostic(`${report.inputs} inputs, ${report.rejected} rejected with a clear error, slowest ${report.slowestMs.toFixed(2)} ms CPU`)
    assert.deepEqual(report.crashes.slice(0, 3), [])
  })
}

test('fuzz crashers saved by earlier runs stay fixed', async () => {
  const dir = new URL('./fuzz/crashers/', import.meta.url)
  if (!existsSync(dir)) return
  for (const file of readdirSync(dir)) {
    const target = TARGETS.find(t => file.startsWith(`${t.name}-`))
    assert.ok(target !== undefined, `crasher ${file} names no target`)
    const input = Uint8Array.from(Buffer.from(readFileSync(new URL(file, dir), 'utf8').trim(), 'hex'))
    try {
      await target.decode(input, Math.random)
    } catch (err: any) {
      assert.match(String(err?.code), /^ERR_/, `${file}: ${err?.message}`)
    }
  }
})
