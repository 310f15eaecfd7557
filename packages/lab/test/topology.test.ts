import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULTS } from '../src/config.ts'
import { InvalidTopologyError } from '../src/errors.ts'
import { parseTopology } from '../src/topology.ts'

const base = { name: 't', networks: [{ generation: 'flood', peers: 8 }] }
const parse = (doc: unknown): ReturnType<typeof parseTopology> => parseTopology(JSON.stringify(doc))
function refused (doc: unknown, field: RegExp): void {
  assert.throws(() => parse(doc), (err: any) => err instanceof InvalidTopologyError && err.code === 'ERR_INVALID_TOPOLOGY' && field.test(err.message), `expected a refusal naming ${field}`)
}

test('defaults fill what a topology leaves out', () => {
  const t = parse(base)
  assert.equal(t.seed, DEFAULTS.seed)
  assert.equal(t.peersPerProcess, DEFAULTS.peersPerProcess)
  assert.deepEqual(t.files, { count: DEFAULTS.files, bytes: DEFAULTS.fileBytes, replicas: DEFAULTS.replicas })
  assert.equal(t.workload.searches, DEFAULTS.searches)
  assert.equal(t.runs.length, 1)
  assert.equal(t.runs[0].id, 'flood N=8')
  assert.deepEqual(t.runs[0].degree, [...DEFAULTS.floodDegree])
  assert.equal(t.runs[0].maxConnections, DEFAULTS.maxConnections)
  assert.equal(parse({ name: 'm', networks: [{ generation: 'dht', peers: 8, maxConnections: 24 }] }).runs[0].maxConnections, 24)
  refused({ name: 'm', networks: [{ generation: 'dht', peers: 8, maxConnections: 2 }] }, /maxConnections/)
})

test('array fields are sweeps: one run per combination, each with its own id', () => {
  const t = parse({ name: 's', networks: [{ generation: 'flood', peers: [8, 16], ttl: [1, 2, 3] }, { generation: 'supernode', peers: 16, cache: [true, false] }, { generation: 'dht', peers: [16, 64], label: 'kad' }] })
  assert.deepEqual(t.runs.map(r => r.id), [
    'flood N=8 TTL=1', 'flood N=8 TTL=2', 'flood N=8 TTL=3', 'flood N=16 TTL=1', 'flood N=16 TTL=2', 'flood N=16 TTL=3',
    'supernode N=16 cache on', 'supernode N=16 cache off', 'kad N=16', 'kad N=64'
  ])
  assert.equal(t.runs[6].supernodes, 2, 'one supernode per 8 peers, at least 2')
  assert.equal(t.runs[7].cache, false)
})

test('faults are checked against the generation', () => {
  const t = parse({ name: 'f', networks: [{ generation: 'directory', peers: 6, faults: [{ at: 0.5, kill: 'server', restartAt: 0.8 }] }] })
  assert.deepEqual(t.runs[0].faults, [{ at: 0.5, kill: 'server', count: 1, restartAt: 0.8 }])
  refused({ name: 'f', networks: [{ generation: 'flood', peers: 8, faults: [{ at: 0.5, kill: 'server' }] }] }, /faults\[0\]\.kill/)
  refused({ name: 'f', networks: [{ generation: 'directory', peers: 6, faults: [{ at: 0.5, kill: 'server', restartAt: 0.2 }] }] }, /restartAt/)
  refused({ name: 'f', networks: [{ generation: 'directory', peers: 6, faults: [{ at: 2, kill: 'server' }] }] }, /faults\[0\]\.at/)
})

test('bad topologies are refused with the field named', () => {
  assert.throws(() => parseTopology('{ not json'), /not JSON/)
  assert.throws(() => parseTopology('x'.repeat(DEFAULTS.maxTopologyBytes + 1)), /larger than/)
  refused([], /topology/)
  refused({ ...base, name: '../x' }, /^name/)
  refused({ ...base, colour: 'red' }, /topology\.colour: unknown field/)
  refused({ name: 't', networks: [] }, /networks/)
  refused({ name: 't', networks: [{ generation: 'napster', peers: 8 }] }, /generation/)
  refused({ name: 't', networks: [{ generation: 'flood' }] }, /peers: is required/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: 1.5 }] }, /peers/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: DEFAULTS.maxPeers + 1 }] }, /peers/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: [] }] }, /sweep/)
  refused({ name: 't', networks: [{ generation: 'dht', peers: 8, ttl: 3 }] }, /ttl/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: 8, degree: [5, 3] }] }, /degree/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: 8, cache: false }] }, /cache/)
  refused({ ...base, workload: { searches: 5, downloads: 6 } }, /downloads/)
  refused({ ...base, files: { count: 0 } }, /files\.count/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: 8 }, { generation: 'flood', peers: 8 }] }, /both 'flood N=8'/)
  refused({ name: 't', networks: [{ generation: 'flood', peers: Array.from({ length: 16 }, (_, i) => 8 + i), ttl: [1, 2, 3, 4, 5] }] }, /at most/)
})

test('runner and network conditions: parsed, swept, named in the run id, and refused when malformed', () => {
  assert.equal(parse(base).runner, 'local')
  assert.equal(parse({ ...base, runner: 'docker' }).runner, 'docker')
  refused({ ...base, runner: 'vm' }, /^runner: must be 'local' or 'docker'/)
  const t = parse({ name: 'c', runner: 'docker', networks: [{ generation: 'flood', peers: 6, conditions: [{ delayMs: 50, jitterMs: 10 }, { lossPct: 2.5, rateKbit: 1000 }] }] })
  assert.deepEqual(t.runs.map(r => r.id), ['flood N=6 delay=50±10ms', 'flood N=6 loss=2.5% rate=1000kbit'])
  assert.deepEqual(t.runs[1].conditions, { delayMs: 0, jitterMs: 0, lossPct: 2.5, rateKbit: 1000 })
  assert.equal(parse(base).runs[0].conditions, undefined)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: {} }] }, /conditions: sets nothing/)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: { delayMs: 10, jitterMs: 20 } }] }, /conditions\.jitterMs: must be a whole number in 0\.\.10/)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: { lossPct: 101 } }] }, /conditions\.lossPct/)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: { rateKbit: 4 } }] }, /conditions\.rateKbit: must be 0 \(no limit\) or at least 8/)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: { delay: 10 } }] }, /conditions\.delay: unknown field/)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 6, conditions: [] }] }, /conditions: a sweep lists 1\.\.16 values/)
})

test('partition faults: parsed with their own fields, refused when malformed', () => {
  const t = parse({ name: 'p', networks: [{ generation: 'dht', peers: 10, faults: [{ at: 0.2, partition: 0.3, healAt: 0.5 }, { at: 0.6, kill: 'random', count: 2 }] }] })
  assert.deepEqual(t.runs[0].faults, [{ at: 0.2, partition: 0.3, healAt: 0.5 }, { at: 0.6, kill: 'random', count: 2 }])
  refused({ name: 'p', networks: [{ generation: 'dht', peers: 10, faults: [{ at: 0.2, partition: 1 }] }] }, /faults\[0\]\.partition: must be a number in 0\.01\.\.0\.99/)
  refused({ name: 'p', networks: [{ generation: 'dht', peers: 10, faults: [{ at: 0.5, partition: 0.5, healAt: 0.4 }] }] }, /faults\[0\]\.healAt: must come after at/)
  refused({ name: 'p', networks: [{ generation: 'dht', peers: 10, faults: [{ at: 0.5, partition: 0.5, kill: 'random' }] }] }, /faults\[0\]\.kill: unknown field/)
})

test('every network has at least two peers that hold and search: a holder never searches for its own file', () => {
  refused({ name: 'd', networks: [{ generation: 'directory', peers: 2 }] }, /networks\[0\]\.peers\[?0?\]?: must be a whole number in 3\.\./)
  assert.equal(parse({ name: 'd', networks: [{ generation: 'directory', peers: 3 }] }).runs[0].peers, 3)
  refused({ name: 's', networks: [{ generation: 'supernode', peers: 3 }] }, /must be a whole number in 4\.\./)
  refused({ name: 's', networks: [{ generation: 'supernode', peers: 6, supernodes: 5 }] }, /supernodes: must be a whole number in 1\.\.4/)
  assert.equal(parse({ name: 's', networks: [{ generation: 'supernode', peers: 4 }] }).runs[0].supernodes, 2)
})

test('fault moments in seconds (with a paced workload) or fractions, never both', () => {
  const t = parse({ name: 'p', workload: { searches: 100, ratePerSecond: 2, settleMs: 20000 }, networks: [{ generation: 'flood', peers: 8, faults: [{ atS: 10, partition: 0.5, healAtS: 70 }, { atS: 20, kill: 'random', count: 2, restartAtS: 30 }] }] })
  assert.deepEqual(t.runs[0].faults, [{ atS: 10, partition: 0.5, healAtS: 70 }, { atS: 20, kill: 'random', count: 2, restartAtS: 30 }])
  assert.equal(t.workload.ratePerSecond, 2)
  assert.equal(t.workload.settleMs, 20000)
  assert.equal(parse(base).workload.ratePerSecond, 0)
  assert.equal(parse(base).workload.settleMs, DEFAULTS.settleMs)
  refused({ name: 'p', networks: [{ generation: 'flood', peers: 8, faults: [{ partition: 0.5 }] }] }, /faults\[0\]: needs exactly one of at .* and atS/)
  refused({ name: 'p', networks: [{ generation: 'flood', peers: 8, faults: [{ at: 0.1, atS: 3, kill: 'random' }] }] }, /needs exactly one of at/)
  refused({ name: 'p', networks: [{ generation: 'flood', peers: 8, faults: [{ at: 0.1, kill: 'random', restartAtS: 3 }] }] }, /restartAtS: goes with atS; with at, use restartAt/)
  refused({ name: 'p', networks: [{ generation: 'flood', peers: 8, faults: [{ atS: 10, partition: 0.5, healAtS: 5 }] }] }, /healAtS: must come after atS/)
  refused({ name: 'p', workload: { ratePerSecond: -1 }, networks: [{ generation: 'flood', peers: 8 }] }, /workload\.ratePerSecond/)
})

test('contactPings: on unless a dht network turns it off; refused elsewhere', () => {
  assert.equal(parse(base).runs[0].contactPings, true)
  assert.equal(parse({ name: 'c', networks: [{ generation: 'dht', peers: 8, contactPings: false }] }).runs[0].contactPings, false)
  refused({ name: 'c', networks: [{ generation: 'flood', peers: 8, contactPings: false }] }, /contactPings: is true or false, for dht networks only/)
  refused({ name: 'c', networks: [{ generation: 'dht', peers: 8, contactPings: 'no' }] }, /contactPings/)
})

test('idleConnectionMs: off unless asked, bounded', () => {
  assert.equal(parse(base).runs[0].idleConnectionMs, 0)
  assert.equal(parse({ name: 'i', networks: [{ generation: 'dht', peers: 8, idleConnectionMs: 10000 }] }).runs[0].idleConnectionMs, 10000)
  refused({ name: 'i', networks: [{ generation: 'dht', peers: 8, idleConnectionMs: -1 }] }, /idleConnectionMs: must be a whole number in 0\.\.3600000/)
})

test('repair: flood networks only, off unless asked', () => {
  assert.equal(parse(base).runs[0].repair, false)
  assert.equal(parse({ name: 'r', networks: [{ generation: 'flood', peers: 8, repair: true }] }).runs[0].repair, true)
  refused({ name: 'r', networks: [{ generation: 'dht', peers: 8, repair: true }] }, /networks\[0\]\.repair: is true or false, for flood networks only/)
  refused({ name: 'r', networks: [{ generation: 'flood', peers: 8, repair: 'yes' }] }, /repair/)
})
