/**
 * WinMX's hybrid: a daemon running `--mode directory,flood` asks the directory
 * server while it answers, and floods the query over its neighbours when the
 * server is down. Real daemons on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { startDaemon } from './helpers/testnet.ts'
import { writeRandomFile } from './helpers/files.ts'

const ENV = {
  SEDAI_DIRECTORY_HEARTBEAT_MS: '1000',
  SEDAI_DIRECTORY_GRACE_MS: '3000',
  // keep the overlay to the links the test makes: A - B - C
  SEDAI_FLOOD_MIN_NEIGHBOURS: '0'
}

test('--mode directory,flood: the server answers while it is up; flooding takes over when it is down', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-hybrid-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const server = await startDaemon(t, { args: ['--mode', 'directory-server'], env: ENV })
  const hybrid = (bootstrap?: string): string[] => ['--mode', 'directory,flood', '--directory', server.addrs[0], ...(bootstrap !== undefined ? ['--bootstrap', bootstrap] : [])]
  const a = await startDaemon(t, { args: hybrid(), env: ENV })
  const b = await startDaemon(t, { args: hybrid(a.addrs[0]), env: ENV })
  const c = await startDaemon(t, { args: hybrid(b.addrs[0]), env: ENV })
  const file = join(dir, 'winmx-hybrid-demo.bin')
  await writeRandomFile(file, 300_000)
  const shared = await c.cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)

  // 1. the server is up: the directory answers, nothing is flooded
  let viaServer
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    viaServer = await a.cli(['search', 'hybrid', '--timeout-ms', '3000'])
    if (viaServer.json?.results?.length > 0) break
    await sleep(300)
  }
  assert.equal(viaServer?.code, 0, viaServer?.stderr)
  assert.deepEqual(viaServer?.json.results.map((r: any) => [r.cid, r.providers]), [[shared.json.cid, [c.peerId]]])
  assert.equal(viaServer?.json.note, undefined)
  const before = (await a.cli(['stats'])).json
  assert.equal(before.flood?.queriesOriginated ?? 0, 0, 'no flooding while the server answers')

  // 2. the server dies: the same search is flooded A -> B -> C and still finds the file
  await server.kill()
  let viaFlood
  for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
    viaFlood = await a.cli(['search', 'hybrid', '--timeout-ms', '2000', '--ttl', '3'])
    if (viaFlood.json?.results?.length > 0) break
    await sleep(300)
  }
  assert.equal(viaFlood?.code, 0, viaFlood?.stderr)
  assert.deepEqual(viaFlood?.json.results.map((r: any) => r.cid), [shared.json.cid])
  assert.match(viaFlood?.json.note ?? '', /answered by flood; directory failed/)
  const after = (await a.cli(['stats'])).json
  assert.ok(after.flood.queriesOriginated >= 1)
  t.diagnostic(`server up: answered by the directory; server down: ${viaFlood?.json.note}`)

  // and the file comes from the flood hit's responder
  const got = await a.cli(['get', shared.json.cid, '-o', join(dir, 'copy.bin'), '--timeout-ms', '20000'])
  assert.equal(got.code, 0, got.stderr)
  assert.deepEqual(got.json.sources, [c.peerId])
})
