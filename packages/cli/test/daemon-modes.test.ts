/**
 * `sedai daemon`'s modes as a user meets them: without --mode it runs the
 * DHT; `--mode none` runs no generation at all (real daemon processes on
 * 127.0.0.1, driven by the CLI).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { SEDAI_BIN, startDaemon } from '../../../test/helpers/testnet.ts'

test('sedai daemon without --mode runs the DHT; --mode none runs no mode, and search says so', async (t) => {
  const [plain, none] = await Promise.all([startDaemon(t), startDaemon(t, { args: ['--mode', 'none'] })])

  const id = await plain.cli(['id'])
  assert.deepEqual(id.json.modes, ['dht'])
  assert.match(plain.logs(), /"msg":"dht mode started"/)
  // alone, it says what it waits for
  assert.match(plain.logs(), /"msg":"no DHT peer yet: waiting for one \(--bootstrap ADDR/)
  const search = await plain.cli(['search', 'anything', '--timeout-ms', '2000'])
  assert.equal(search.code, 0, search.stderr)
  assert.equal(search.json.note, undefined, 'the DHT searched (alone, it finds nothing)')

  assert.deepEqual((await none.cli(['id'])).json.modes, [])
  assert.doesNotMatch(none.logs(), /dht mode started/)
  // what a person reads
  const human = await promisify(execFile)(process.execPath, [SEDAI_BIN, 'id', '--repo', none.repo])
  assert.match(human.stdout, /modes\s+\(none\)/)
  assert.match((await promisify(execFile)(process.execPath, [SEDAI_BIN, 'id', '--repo', plain.repo])).stdout, /modes\s+dht/)
  const nothing = await none.cli(['search', 'anything'])
  assert.equal(nothing.code, 0, nothing.stderr)
  assert.deepEqual(nothing.json.results, [])
  assert.match(nothing.json.note, /no search mode is running/)
})
