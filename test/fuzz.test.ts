/**
 * A short fuzz run of every decoder (the long one is `npm run fuzz`), a replay
 * of every crasher a run ever saved in test/fuzz/crashers/, and checks that
 * each guard of the harness does fail a run.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { failures, MAX_HEAP_GROWTH_MIB } from './fuzz/harness.ts'
import { CRASHERS, crasherTarget, formatCrasher, fuzzIsolated, replayCrasher, TARGET_NAMES } from './fuzz/run.ts'

const ITERATIONS = Number(process.env.SEDAI_FUZZ_ITERATIONS ?? 3000)
const SEED = Number(process.env.SEDAI_FUZZ_SEED ?? 20261125)
const hasGc = (globalThis as any).gc !== undefined

for (const name of TARGET_NAMES) {
  const n = ITERATIONS
  test(`fuzz ${name}: ${n} random + ${n} mutated inputs, no crash, no block, heap back to baseline`, async (t) => {
    const r = await fuzzIsolated(name, n, SEED)
    t.diagnostic(`${r.random} + ${r.mutated} inputs (${r.framed} also framed), ${r.rejected} rejected with a clear error, slowest ${r.slowestMs.toFixed(1)} ms, loop delay max ${r.loopDelayMs.toFixed(1)} ms`)
    t.diagnostic(`heap ${r.heapBeforeMiB.toFixed(1)} MiB, ${r.heapGrowthMiB >= 0 ? '+' : ''}${r.heapGrowthMiB.toFixed(2)} MiB after the run${hasGc ? ' and a GC' : ' (no --expose-gc: not checked)'}`)
    assert.deepEqual(failures(r), [])
    assert.equal(r.uncaught, 0)
    assert.equal(r.random, n)
    assert.equal(r.mutated, n)
    if (hasGc) assert.ok(r.heapGrowthMiB <= MAX_HEAP_GROWTH_MIB, `heap grew by ${r.heapGrowthMiB.toFixed(1)} MiB`)
  })
}

test('fuzz crashers saved by earlier runs stay fixed', async () => {
  if (!existsSync(CRASHERS)) return
  for (const file of readdirSync(CRASHERS).filter(f => f.endsWith('.hex'))) {
    const result = await replayCrasher(join(CRASHERS, file))
    assert.ok('outcome' in result, `${file}: ${'crash' in result ? result.crash : ''}`)
  }
})

test('a crasher replays the same way twice, for the API target and a framed one, with or without a saved seed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sedai-fuzz-replay-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const files = {
    // the seed picks the route and the write cuts
    'api.jsonBodies-1-0.hex': formatCrasher({ input: Buffer.from('{"cid":"bafy","out":[1,{"a":"\u00e9"}],"timeoutMs":-1}').toString('hex'), seed: 12345, error: 'hand-made' }),
    // a truncated OPEN, cut into frames by the seed
    'transfer.decodeRequest-1-0.hex': formatCrasher({ input: '0124017112', seed: 777, error: 'hand-made' }),
    // an older file without a seed: derived from the bytes
    'dht.decodeQuery-1-0.hex': '0102086b6164656d6c696106e585a5e99680\n'
  }
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(join(dir, file), text)
    assert.ok(crasherTarget(file) !== undefined)
    const first = await replayCrasher(join(dir, file))
    const second = await replayCrasher(join(dir, file))
    assert.ok('outcome' in first, `${file}: ${JSON.stringify(first)}`)
    assert.deepEqual(second, first)
    t.diagnostic(`${file}: ${first.outcome}`)
  }
  writeFileSync(join(dir, 'nosuch.target-1-0.hex'), '00\n')
  await assert.rejects(replayCrasher(join(dir, 'nosuch.target-1-0.hex')), /names no target/)
})

test('every guard of the harness fails a run', async (t) => {
  const run = async (name: string, stallMs?: number): Promise<string> => {
    const r = await fuzzIsolated(name, 5, SEED, stallMs)
    const why = failures(r).join('\n')
    t.diagnostic(`${name}: ${why.split('\n')[0]}`)
    return why
  }
  assert.match(await run('broken.typeError'), /TypeError/)
  assert.match(await run('broken.exit'), /exited with code 0 before reporting/)
  assert.match(await run('broken.hang', 3000), /no progress for 3000 ms/)
  assert.match(await run('broken.block'), /held the event loop for \d+/)
  assert.match(await run('broken.uncaught'), /uncaught exception: Error: thrown later/)
  assert.match(await run('broken.unhandled'), /unhandled rejection: Error: nobody listens/)
  assert.match(await run('broken.offset'), /framed, accepted \d+; direct, accepted \d+/)
  if (hasGc) assert.match(await run('broken.leak'), /heap grew by/)
  // a crash found in a worker that died still names the input in flight
  const exited = await fuzzIsolated('broken.hang', 1, SEED, 3000)
  assert.equal(exited.crashes.at(-1)?.input, '01')
})
