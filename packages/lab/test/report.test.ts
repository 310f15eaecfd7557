import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildReport, markdownTable } from '../src/report/report.ts'
import { parseTopology } from '../src/topology.ts'
import type { RunResult, RunSummary } from '../src/experiment.ts'

const topology = parseTopology(JSON.stringify({
  name: 'r',
  networks: [
    { generation: 'directory', peers: 6, faults: [{ at: 0.5, kill: 'server', restartAt: 0.75 }] },
    { generation: 'flood', peers: [16, 64] },
    { generation: 'flood', label: 'flood-ttl', peers: 16, ttl: [1, 3] },
    { generation: 'dht', peers: [16, 64] },
    { generation: 'supernode', peers: 16, cache: [true, false] }
  ]
}))

function result (id: string, s: Partial<RunSummary>, extra: Partial<RunResult> = {}): RunResult {
  const spec = topology.runs.find(r => r.id === id)
  assert.ok(spec !== undefined, id)
  return {
    spec,
    summary: { successRate: 1, messagesPerQuery: 10, downloadSuccess: 1, successByPhase: { normal: 1 }, rssPerPeerMB: 5, setupMs: 1000, ...s },
    searches: [],
    downloads: [],
    faults: [],
    memory: [],
    ...extra
  }
}

test('the report states each claim with the figures of the run, and draws the charts', () => {
  const searches = Array.from({ length: 12 }, (_, i) => ({ seq: i, atMs: i * 100, file: 0, ok: i < 6 || i >= 9, ms: 5, providers: 1, phase: (i < 6 ? 'normal' : i < 9 ? 'down' : 'restarted') as 'normal' }))
  const results = [
    result('directory N=6', { successRate: 0.75, messagesPerQuery: 1.5, successByPhase: { normal: 1, down: 0, restarted: 1 }, recoveryMs: 2500, busiestShare: 0.6, busiestMaxOverMean: 3 }, { searches, faults: [{ kill: 'server', peers: [0], atMs: 600, restartedAtMs: 900, recoveredAtMs: 3400 }] }),
    result('flood N=16', { messagesPerQuery: 40 }),
    result('flood N=64', { messagesPerQuery: 170, queriesDropped: 12 }),
    result('flood-ttl N=16 TTL=1', { successRate: 0.25, messagesPerQuery: 4 }),
    result('flood-ttl N=16 TTL=3', { successRate: 0.9, messagesPerQuery: 30 }),
    result('dht N=16', { hopsMean: 0, queriedMean: 5 }),
    result('dht N=64', { hopsMean: 1.2, queriedMean: 14 }),
    result('supernode N=16 cache on', { busiestShare: 0.2 }),
    result('supernode N=16 cache off', { busiestShare: 0.45 })
  ]
  const r = buildReport({ topology, results, failed: [{ id: 'x', error: 'boom' }], command: 'sedai lab run r.json', machine: 'test', startedAt: new Date(0), durationMs: 1000 })
  const md = r.markdown
  assert.match(md, /^# Lab report: r/)
  assert.match(md, /`sedai lab run r\.json`/)
  assert.match(md, /\| flood N=64 \| 64 \| 100% \| 170\.0 \|/)
  assert.match(md, /Flooding cost grows with network size\.\*\* N = 16: 40\.0 msgs\/query; N = 64: 170\.0 msgs\/query\. From the smallest to the largest network, messages per query grew 4\.25x for 4\.00x the peers/)
  assert.match(md, /A small TTL misses files\*\* \(flood-ttl, N = 16\)\. TTL 1: 25% found, 4\.0 msgs\/query; TTL 3: 90% found/)
  assert.match(md, /A dead directory server stops search\*\* \(directory N=6\)\. Search success before the kill 100%, while down 0%, after the restart 100%; the first search to succeed after the restart finished 2\.5 s after it/)
  assert.match(md, /N = 64: 1\.20 hops, 14\.0 peers queried per lookup \(log2 N = 6\.0\)/)
  assert.match(md, /- x: boom/)
  assert.match(md, /Caches take load off a hot holder\.\*\* With the supernodes' path cache on \(supernode N=16 cache on\) the busiest node served 20% of all bytes; with it off \(supernode N=16 cache off\), 45%\./)
  assert.match(md, /Queries dropped under load\*\* \(.*\): flood N=64 12\./)
  for (const file of ['messages-vs-n.svg', 'success-vs-ttl.svg', 'messages-vs-ttl.svg', 'fault-timeline.svg', 'busiest-node.svg', 'dht-hops-vs-n.svg', 'success.svg', 'first-hit.svg', 'download-time.svg', 'messages.svg']) {
    assert.ok(r.charts.has(file), file)
    assert.match(md, new RegExp(`\\]\\(${file.replace('.', '\\.')}\\)`))
    assert.match(r.charts.get(file) as string, /^<svg[\s\S]*<\/svg>\s*$/)
  }
  assert.match(r.charts.get('dht-hops-vs-n.svg') as string, /log2 N/)
})

test('claims without their runs are left out rather than invented', () => {
  const r = buildReport({ topology, results: [result('flood N=16', {})], failed: [], command: 'c', machine: 'm', startedAt: new Date(0), durationMs: 1 })
  assert.doesNotMatch(r.markdown, /Flooding cost grows/)
  assert.doesNotMatch(r.markdown, /A small TTL/)
  assert.doesNotMatch(r.markdown, /directory server stops/)
  assert.doesNotMatch(r.markdown, /DHT lookups grow/)
  assert.ok(!r.charts.has('messages-vs-n.svg'))
})

test('a partition fault: its own wording, success counting only reachable holders, and query traffic per phase', () => {
  const t = parseTopology(JSON.stringify({ name: 'p', runner: 'docker', networks: [{ generation: 'flood', peers: 10, faults: [{ at: 0.3, partition: 0.5, healAt: 0.6 }] }] }))
  const spec = t.runs[0]
  assert.deepEqual(spec.faults, [{ at: 0.3, partition: 0.5, healAt: 0.6 }])
  const res: RunResult = {
    spec,
    runner: 'docker',
    summary: {
      successRate: 0.7, messagesPerQuery: 20, downloadSuccess: 1, rssPerPeerMB: 100, setupMs: 1000, recoveryMs: 1500,
      successByPhase: { normal: 1, down: 0.4, restarted: 0.9 },
      reachableSuccessByPhase: { normal: 1, down: 0.8, restarted: 0.95 },
      messagesPerQueryByPhase: { normal: 20, down: 9.5, restarted: 21 },
      settledSuccess: 0.96,
      settledSearches: 25
    },
    searches: [],
    downloads: [],
    faults: [{ partition: 0.5, peers: [1, 4, 5, 7, 9], atMs: 500, restartedAtMs: 1200, recoveredAtMs: 2700 }],
    memory: []
  }
  const md = buildReport({ topology: t, results: [res], failed: [], command: 'c', machine: 'm', startedAt: new Date(0), durationMs: 1 }).markdown
  assert.match(md, /\*\*A partition \(5 of 10 peers cut off\)\*\* \(flood N=10\)\. Search success before the partition 100%, while partitioned 40%, after the heal 90%; the first search to succeed after the heal finished 1\.5 s after it\./)
  assert.match(md, /reachable holder .*: 100% \/ 80% \/ 95%\./)
  assert.match(md, /Query traffic per search: 20\.0 before, 9\.5 while partitioned, 21\.0 after the heal\./)
  assert.match(md, /Searches with a reachable holder that started 30 s or more after the heal: 96% of 25\./)
  assert.match(md, /Every peer runs in its own container/)
})

test('markdown tables escape pipes', () => {
  assert.equal(markdownTable(['a|b', 'c'], [['1', 'x|y']]), '| a\\|b | c |\n|---|---|\n| 1 | x\\|y |')
})

test('a report rebuilt from results.json: a run without downloads (NaN, written as null) still draws its charts', () => {
  const results = [result('flood N=16', { downloadSuccess: NaN }), result('dht N=16', {})]
  const reread = JSON.parse(JSON.stringify(results)) as RunResult[]
  assert.equal((reread[0].summary as any).downloadSuccess, null)
  const report = buildReport({ topology, results: reread, failed: [], command: 'c', machine: 'm', startedAt: new Date(0), durationMs: 1 })
  assert.match(report.markdown, /success\.svg/)
})
