import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { RunResult } from '../src/experiment.ts'

const SEDAI = fileURLToPath(new URL('../../cli/bin/sedai.js', import.meta.url))
const SMOKE = fileURLToPath(new URL('../topologies/smoke.json', import.meta.url))

async function sedai (args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [SEDAI, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err: any, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stdout, stderr })
    })
  })
}

test('sedai lab check lists the runs a topology expands to, and refuses a bad one', async () => {
  const ok = await sedai(['lab', 'check', SMOKE], 30_000)
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /smoke: 5 runs/)
  assert.match(ok.stdout, /flood N=8 TTL=1/)
  const dir = await mkdtemp(join(tmpdir(), 'lab-bad-'))
  try {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ name: 'bad', networks: [{ generation: 'flood', peers: 8, ttl: 0 }] }))
    const bad = await sedai(['lab', 'run', join(dir, 'bad.json')], 30_000)
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /error: networks\[0\]\.ttl\[?0?\]?: must be a whole number in 1\.\.16/)
    // shaping and partitions need containers: the loopback runner refuses them before starting anything
    await writeFile(join(dir, 'cut.json'), JSON.stringify({ name: 'cut', networks: [{ generation: 'flood', peers: 8, faults: [{ at: 0.3, partition: 0.5 }] }] }))
    const cut = await sedai(['lab', 'run', join(dir, 'cut.json'), '--out', join(dir, 'out')], 30_000)
    assert.equal(cut.code, 2)
    assert.match(cut.stderr, /error: 'flood N=8' has a partition fault: it needs the docker runner/)
    await writeFile(join(dir, 'shaped.json'), JSON.stringify({ name: 'shaped', runner: 'docker', networks: [{ generation: 'flood', peers: 8, conditions: { lossPct: 1 } }] }))
    const shaped = await sedai(['lab', 'run', join(dir, 'shaped.json'), '--runner', 'local', '--out', join(dir, 'out')], 30_000)
    assert.equal(shaped.code, 2)
    assert.match(shaped.stderr, /error: 'flood N=8 loss=1%' sets network conditions: they need the docker runner/)
    const badRunner = await sedai(['lab', 'run', join(dir, 'shaped.json'), '--runner', 'vm'], 30_000)
    assert.equal(badRunner.code, 2)
    assert.match(badRunner.stderr, /--runner must be local or docker/)
    const none = await sedai(['lab', 'run', join(dir, 'missing.json')], 30_000)
    assert.equal(none.code, 2)
    assert.match(none.stderr, /ENOENT|no such file/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('sedai lab run: every generation on loopback, one report with the seed\'s claims and plots', { timeout: 600_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'lab-report-'))
  try {
    const res = await sedai(['lab', 'run', SMOKE, '--out', out], 540_000)
    assert.equal(res.code, 0, `sedai lab run failed:\n${res.stderr}`)
    assert.equal(res.stdout.trim(), join(out, 'report.md'))
    const files = await readdir(out)
    for (const f of ['report.md', 'results.json', 'success.svg', 'fault-timeline.svg', 'success-vs-ttl.svg', 'busiest-node.svg']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`)
    const { results, failed } = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { results: RunResult[], failed: unknown[] }
    assert.deepEqual(failed, [])
    const run = (id: string): RunResult => results.find(r => r.spec.id === id) as RunResult
    // Gen 1: server down = no search; back after the restart
    const dir = run('directory N=6')
    assert.equal(dir.faults[0].kill, 'server')
    assert.equal(dir.summary.successByPhase.down, 0, 'no search succeeds while the directory server is down')
    assert.ok((dir.summary.successByPhase.normal ?? 0) >= 0.5, JSON.stringify(dir.summary))
    assert.ok((dir.summary.successByPhase.restarted ?? 0) > 0, 'search works again after the restart')
    assert.ok(dir.searches.some(s => s.phase === 'down' && /directory/.test(s.error ?? '')), 'the failures say the directory is down')
    // Gen 2: a small TTL misses files and costs fewer messages
    const ttl1 = run('flood N=8 TTL=1')
    const ttl4 = run('flood N=8 TTL=4')
    assert.equal(ttl4.summary.successRate, 1)
    assert.ok(ttl1.summary.successRate < ttl4.summary.successRate, `TTL 1 ${ttl1.summary.successRate} vs TTL 4 ${ttl4.summary.successRate}`)
    assert.ok(ttl1.summary.messagesPerQuery < ttl4.summary.messagesPerQuery)
    // Gen 3 and DHT find everything, and every generation moved the files
    assert.equal(run('supernode N=7').summary.successRate, 1)
    assert.ok(run('dht N=6').summary.successRate >= 0.9)
    for (const r of results) {
      if (r.spec.id === 'flood N=8 TTL=1') continue // its downloads look for providers with TTL 1 too
      assert.equal(r.summary.downloadSuccess, 1, `${r.spec.id}: ${JSON.stringify(r.downloads.filter(d => !d.ok))}`)
      assert.ok(r.summary.messagesPerQuery > 0, r.spec.id)
      assert.ok(r.summary.rssPerPeerMB > 0, r.spec.id)
    }
    const md = await readFile(join(out, 'report.md'), 'utf8')
    assert.match(md, /A dead directory server stops search/)
    assert.match(md, /A small TTL misses files/)
    assert.match(md, /sedai lab run .*smoke\.json/)
    // the report rebuilt from results.json alone says so, with the same figures
    const again = join(out, 'again')
    const rebuilt = await sedai(['lab', 'report', join(out, 'results.json'), '--out', again], 60_000)
    assert.equal(rebuilt.code, 0, rebuilt.stderr)
    const md2 = await readFile(join(again, 'report.md'), 'utf8')
    assert.match(md2, /rebuilt from its results\.json by `sedai lab report /)
    assert.equal(md2.split('## Runs')[1], md.split('## Runs')[1])
    const bogus = await sedai(['lab', 'report', join(out, 'report.md')], 60_000)
    assert.notEqual(bogus.code, 0)
    assert.match(bogus.stderr, /not JSON|not a results\.json/)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})
