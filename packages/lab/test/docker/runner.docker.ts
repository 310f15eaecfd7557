/**
 * The docker runner end to end (run by `npm run test:lab`, not by `npm test`:
 * it needs dockerd and the sedai:dev image that scripts/lab-image.sh builds).
 * `sedai lab run topologies/docker-smoke.json --runner docker`: one container
 * per peer, the directory server's container SIGKILLed and restarted, and a
 * flooding network whose containers lose 5% of what they send and are limited
 * to 2 Mbit/s, and a DHT cut in two by a partition, then healed.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { RunResult } from '../../src/experiment.ts'

const SEDAI = fileURLToPath(new URL('../../../cli/bin/sedai.js', import.meta.url))
const TOPOLOGY = fileURLToPath(new URL('../../topologies/docker-smoke.json', import.meta.url))

test('sedai lab run --runner docker: a container per peer, a real SIGKILL of the server, shaped links', { timeout: 900_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'lab-docker-'))
  try {
    const res = await new Promise<{ code: number, stderr: string }>(resolve => {
      const child = execFile(process.execPath, [SEDAI, 'lab', 'run', TOPOLOGY, '--runner', 'docker', '--out', out], { timeout: 840_000, maxBuffer: 16 * 1024 * 1024 }, (err: any, _stdout, stderr) => {
        resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stderr })
      })
      child.stderr?.on('data', (d: Buffer) => { process.stderr.write(d) })
    })
    assert.equal(res.code, 0, 'sedai lab run --runner docker failed (its log is above)')
    const { results, failed } = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { results: RunResult[], failed: unknown[] }
    assert.deepEqual(failed, [])
    assert.deepEqual(results.map(r => r.runner), ['docker', 'docker', 'docker', 'docker'])
    const [dir, flood, shaped, dht] = results
    // the directory's server container was SIGKILLed: no search succeeds while it is down, and they do again after `docker start`
    assert.equal(dir.faults.length, 1)
    assert.equal(dir.summary.successByPhase.down, 0)
    assert.equal(dir.summary.successByPhase.normal, 1)
    assert.ok((dir.summary.successByPhase.restarted ?? 0) > 0, JSON.stringify(dir.summary.successByPhase))
    // flooding across containers finds and fetches the files, shaped or not
    for (const r of [flood, shaped]) {
      assert.ok(r.summary.successRate >= 0.9, `${r.spec.id}: ${r.summary.successRate}`)
      assert.equal(r.summary.downloadSuccess, 1, r.spec.id)
      assert.ok(r.summary.messagesPerQuery > 0)
    }
    assert.equal(flood.conditionsMethod, undefined)
    assert.ok(shaped.conditionsMethod === 'netem' || shaped.conditionsMethod === 'iptables+tbf', String(shaped.conditionsMethod))
    // the partition cut 2 of the 5 DHT peers off and was healed; once healed, searches whose file has a holder find it again
    assert.equal(dht.faults.length, 1)
    assert.equal(dht.faults[0].partition, 0.4)
    assert.equal(dht.faults[0].peers.length, 2)
    assert.ok(dht.faults[0].restartedAtMs !== undefined)
    assert.ok((dht.summary.reachableSuccessByPhase?.restarted ?? 0) >= 0.5, JSON.stringify(dht.summary.reachableSuccessByPhase))
    assert.ok(dht.summary.messagesPerQueryByPhase?.normal !== undefined)
    const md = await readFile(join(out, 'report.md'), 'utf8')
    assert.match(md, /\*\*A partition \(2 of 5 peers cut off\)\*\* \(dht N=5\)/)
    assert.match(md, /Every peer runs in its own container/)
    assert.match(md, /Network conditions of flood shaped N=5 TTL=4 loss=5% rate=2000kbit/)
    assert.ok((await readdir(out)).includes('fault-timeline.svg'))
    // every run's compose project was removed
    const names = await new Promise<string>((resolve, reject) => { execFile('docker', ['ps', '-a', '--format', '{{.Names}}'], (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) }) })
    assert.deepEqual(names.split('\n').filter(n => /^sedai-lab-[0-9a-f]{8}-p\d+$/.test(n)), [])
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})
