/**
 * `GET /metrics` on real daemons (the `sedai daemon` processes of the
 * integration tests, on 127.0.0.1): the text parses with a Prometheus
 * parser, the names follow the conventions, the counters move by exactly
 * what a transfer moved, and the route keeps the API's access rules.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { DEFAULTS } from '@sedai/core/config'
import { startDaemon, until } from '../../../test/helpers/testnet.ts'
import { writeRandomFile } from '../../../test/helpers/files.ts'
import type { TestDaemon } from '../../../test/helpers/testnet.ts'

// CommonJS without types: module.exports = function (text) -> metric families
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

interface Family { name: string, help: string, type: string }
/** one sample line: the parser above flattens a labelled histogram's series into one, so values are read from the lines */
interface Sample { name: string, labels: Record<string, string>, value: number }
interface Scrape { families: Map<string, Family>, samples: Sample[] }

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, text: string }

/** 3 chunks, the last one short: a count that a wrong chunk or byte tally would miss */
const SIZE = 2 * DEFAULTS.chunkSize + 123_457
const CHUNKS = 3

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-metrics-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** One GET with exactly these headers (fetch() would not let us set Host). */
async function get (url: string, path: string, headers: Record<string, string>, method = 'GET'): Promise<Reply> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

interface Api { url: string, token: string, host: string }

async function apiOf (d: TestDaemon): Promise<Api> {
  const { url, token } = JSON.parse(await readFile(join(d.repo, 'api'), 'utf8'))
  return { url, token, host: new URL(url).host }
}

/** Scrapes /metrics with the token and checks what every scrape must satisfy. */
async function scrape (api: Api): Promise<Scrape> {
  const reply = await get(api.url, '/metrics', { host: api.host, authorization: `Bearer ${api.token}` })
  assert.equal(reply.status, 200, reply.text)
  assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  // the parser below is lenient; every sample line must also have the exposition format's shape (Prometheus
  // reads values with Go's ParseFloat, which takes NaN and Inf in any case: prom-client writes 'Nan')
  const samples: Sample[] = []
  for (const line of reply.text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? ([-+]?[0-9.]+(?:e[-+]?[0-9]+)?|nan|[-+]inf)$/i.exec(line)
    assert.ok(m !== null, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  const families = parsePrometheusTextFormat(reply.text)
  const byName = new Map<string, Family>()
  for (const f of families) {
    assert.ok(!byName.has(f.name), `${f.name} appears twice`)
    byName.set(f.name, f)
    checkName(f)
  }
  for (const sample of samples) {
    const family = sample.name.replace(/_(bucket|sum|count)$/, '')
    assert.ok(byName.has(sample.name) || byName.get(family)?.type === 'HISTOGRAM', `${sample.name} has no TYPE`)
  }
  return { families: byName, samples }
}

/** Prometheus naming: the sedai_ prefix, snake case, counters end in _total and nothing else does, base units. */
function checkName (f: Family): void {
  const type = f.type.toLowerCase() // the parser answers as prom2json does: COUNTER, GAUGE, ...
  assert.match(f.name, /^sedai_[a-z][a-z0-9_]*$/, `${f.name}: not sedai_snake_case`)
  assert.ok(f.help.length > 0, `${f.name} has no HELP`)
  assert.ok(['counter', 'gauge', 'histogram', 'summary'].includes(type), `${f.name}: type ${f.type}`)
  if (type === 'counter') assert.ok(f.name.endsWith('_total'), `counter ${f.name} does not end in _total`)
  else assert.ok(!f.name.endsWith('_total'), `${type} ${f.name} ends in _total`)
  const base = f.name.replace(/_total$/, '')
  // a unit in the name is the base unit and comes last
  assert.doesNotMatch(base, /_(milliseconds|ms|kilobytes|kb|mb|mib|minutes)(_|$)/, `${f.name}: not a base unit`)
  if (/_bytes(_|$)/.test(base)) assert.ok(base.endsWith('_bytes'), `${f.name}: the unit is not last`)
  if (/_seconds(_|$)/.test(base)) assert.ok(base.endsWith('_seconds'), `${f.name}: the unit is not last`)
  if (type === 'histogram') assert.ok(base.endsWith('_seconds') || base.endsWith('_bytes'), `histogram ${f.name} has no unit`)
}

function matching (s: Scrape, name: string, labels: Record<string, string>): Sample[] {
  return s.samples.filter(m => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
function value (s: Scrape, name: string, labels: Record<string, string> = {}): number {
  assert.ok(s.families.has(name), `no ${name} in /metrics`)
  const hits = matching(s, name, labels)
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`)
  return hits.length === 0 ? 0 : hits[0].value
}

/** A histogram's observation count over the series whose labels include `labels`. */
function observations (s: Scrape, name: string, labels: Record<string, string> = {}): number {
  assert.equal(s.families.get(name)?.type, 'HISTOGRAM', `no histogram ${name} in /metrics`)
  return matching(s, `${name}_count`, labels).reduce((n, m) => n + m.value, 0)
}

test('two daemons: /metrics parses, names follow the conventions, and a transfer moves the counters by its size', async (t) => {
  const dir = await workdir(t)
  const [a, b] = await Promise.all([startDaemon(t), startDaemon(t)])
  const [apiA, apiB] = await Promise.all([apiOf(a), apiOf(b)])
  const file = join(dir, 'three-chunks.bin')
  await writeRandomFile(file, SIZE)

  const beforeA = await scrape(apiA)
  const beforeB = await scrape(apiB)
  // the process metrics are there, under the same prefix
  assert.ok(beforeA.families.has('sedai_process_cpu_seconds_total'))
  assert.ok(beforeA.families.has('sedai_process_resident_memory_bytes'))
  assert.equal(value(beforeA, 'sedai_info', { peer_id: a.peerId }), 1)
  assert.equal(value(beforeB, 'sedai_active_downloads'), 0)

  const shared = await a.cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)
  const got = await b.cli(['get', shared.json.cid, '-o', join(dir, 'got.bin'), '--from', a.addrs[0]])
  assert.equal(got.code, 0, got.stderr)
  assert.equal(got.json.fetched, SIZE)

  const afterA = await scrape(apiA)
  const afterB = await scrape(apiB)
  const delta = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number =>
    value(after, name, labels) - value(before, name, labels)

  // B fetched the file directly, A served it: exactly its bytes and chunks, each on the right side
  const bytes = 'sedai_transfer_bytes_total'
  const chunks = 'sedai_transfer_chunks_total'
  assert.equal(delta(beforeB, afterB, bytes, { direction: 'in', source: 'direct' }), SIZE)
  assert.equal(delta(beforeA, afterA, bytes, { direction: 'out', source: 'direct' }), SIZE)
  assert.equal(delta(beforeB, afterB, chunks, { direction: 'in', source: 'direct' }), CHUNKS)
  assert.equal(delta(beforeA, afterA, chunks, { direction: 'out', source: 'direct' }), CHUNKS)
  assert.equal(delta(beforeB, afterB, bytes, { direction: 'out', source: 'direct' }), 0)
  assert.equal(delta(beforeA, afterA, bytes, { direction: 'in', source: 'direct' }), 0)
  assert.equal(delta(beforeB, afterB, bytes, { direction: 'in', source: 'in_band' }), 0)

  // the messages that carried it, by protocol, direction and type; their bytes include each reply's header
  assert.equal(delta(beforeA, afterA, 'sedai_messages_total', { protocol: 'transfer', direction: 'out', type: 'CHUNK_REPLY' }), CHUNKS)
  assert.equal(delta(beforeB, afterB, 'sedai_messages_total', { protocol: 'transfer', direction: 'in', type: 'CHUNK_REPLY' }), CHUNKS)
  const replyBytes = delta(beforeB, afterB, 'sedai_message_bytes_total', { protocol: 'transfer', direction: 'in', type: 'CHUNK_REPLY' })
  assert.ok(replyBytes > SIZE && replyBytes < SIZE + 1024, `CHUNK_REPLY bytes ${replyBytes}`)

  assert.equal(delta(beforeB, afterB, 'sedai_downloads_total', { outcome: 'completed' }), 1)
  assert.equal(value(afterB, 'sedai_active_downloads'), 0)
  assert.equal(value(afterA, 'sedai_shared_files'), 1)
  assert.ok(value(afterB, 'sedai_connections') >= 1)
})

test('/metrics keeps the API\'s access rules: the token, the Host and the Origin are checked', async (t) => {
  const d = await startDaemon(t)
  const api = await apiOf(d)
  const auth = { authorization: `Bearer ${api.token}` }

  const noToken = await get(api.url, '/metrics', { host: api.host })
  assert.equal(noToken.status, 401)
  assert.match(String(noToken.headers['www-authenticate']), /^Bearer/)
  assert.doesNotMatch(noToken.text, /sedai_/)
  assert.equal((await get(api.url, '/metrics', { host: api.host, authorization: `Bearer x${api.token.slice(1)}` })).status, 401)

  const foreignOrigin = await get(api.url, '/metrics', { host: api.host, origin: 'http://evil.example', ...auth })
  assert.equal(foreignOrigin.status, 403)
  assert.doesNotMatch(foreignOrigin.text, /sedai_/)
  assert.equal((await get(api.url, '/metrics', { host: 'evil.example', ...auth })).status, 403)
  assert.equal((await get(api.url, '/metrics', { host: api.host, ...auth }, 'POST')).status, 405)
  assert.equal((await get(api.url, '/metrics', { host: api.host, origin: `http://${api.host}`, ...auth })).status, 200)
})

test('dht: a search and a lookup land in the latency histograms; the routing table is counted', async (t) => {
  const dir = await workdir(t)
  const a = await startDaemon(t, { args: ['--mode', 'dht'] })
  const b = await startDaemon(t, { args: ['--mode', 'dht', '--bootstrap', a.addrs[0]] })
  const [apiA, apiB] = await Promise.all([apiOf(a), apiOf(b)])
  const file = join(dir, 'metrics-dht-probe.bin')
  await writeRandomFile(file, SIZE)
  const shared = await a.cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)

  const before = await scrape(apiB)
  assert.equal(observations(before, 'sedai_search_duration_seconds'), 0)
  // A provides in the background: search until B sees it
  await until('B finds the file by keyword', 30_000, async () => {
    const s = await b.cli(['search', 'probe'])
    return s.code === 0 && s.json.results.length > 0 ? true : undefined
  })
  const got = await b.cli(['get', shared.json.cid, '-o', join(dir, 'got.bin')])
  assert.equal(got.code, 0, got.stderr)

  const after = await scrape(apiB)
  assert.ok(observations(after, 'sedai_search_duration_seconds', { mode: 'dht', outcome: 'hits' }) >= 1)
  assert.ok(observations(after, 'sedai_dht_lookup_duration_seconds', { outcome: 'found' }) >= 1)
  assert.ok(observations(after, 'sedai_dht_first_provider_seconds') >= 1)
  assert.ok(value(after, 'sedai_dht_routing_table_size') >= 1)
  assert.equal(value(after, 'sedai_transfer_bytes_total', { direction: 'in', source: 'direct' }), SIZE)
  assert.ok(value(after, 'sedai_mode_events_total', { mode: 'dht', event: 'searches' }) >= 1)
  // the records are counted every RECORD_COUNT_INTERVAL_MS (2 s), so a busy machine may scrape before the first count
  await until('A counts its own provider record', 15_000, async () =>
    value(await scrape(apiA), 'sedai_dht_provider_records', { kind: 'own' }) >= 1 ? true : undefined)
})

test('supernode: an in-band get is counted as in_band on the leaf, relay on the supernode; the cache reports its bytes', async (t) => {
  const dir = await workdir(t)
  const s = await startDaemon(t, { args: ['--mode', 'supernode', '--role', 'super'] })
  const [a, b] = await Promise.all([0, 1].map(async () => await startDaemon(t, { args: ['--mode', 'supernode', '--role', 'leaf', '--bootstrap', s.addrs[0]] })))
  const [apiS, apiA, apiB] = await Promise.all([apiOf(s), apiOf(a), apiOf(b)])
  const file = join(dir, 'metrics-supernode-probe.bin')
  await writeRandomFile(file, SIZE)
  const shared = await a.cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)
  await until('B finds the file through the supernode', 30_000, async () => {
    const r = await b.cli(['search', 'probe'])
    return r.code === 0 && r.json.results.length > 0 ? true : undefined
  })
  const got = await b.cli(['get', shared.json.cid, '-o', join(dir, 'got.bin')])
  assert.equal(got.code, 0, got.stderr)
  assert.equal(got.json.fetched, SIZE)

  const [ms, ma, mb] = await Promise.all([scrape(apiS), scrape(apiA), scrape(apiB)])
  const bytes = 'sedai_transfer_bytes_total'
  assert.equal(value(mb, bytes, { direction: 'in', source: 'in_band' }), SIZE)
  assert.equal(value(mb, 'sedai_transfer_chunks_total', { direction: 'in', source: 'in_band' }), CHUNKS)
  assert.equal(value(mb, bytes, { direction: 'in', source: 'direct' }), 0)
  assert.equal(value(ma, bytes, { direction: 'out', source: 'in_band' }), SIZE)
  assert.equal(value(ms, bytes, { direction: 'out', source: 'relay' }) + value(ms, bytes, { direction: 'out', source: 'cache' }), SIZE)
  assert.equal(value(ms, 'sedai_supernode_role', { role: 'super' }), 1)
  assert.equal(value(mb, 'sedai_supernode_role', { role: 'leaf' }), 1)
  assert.ok(value(ms, 'sedai_cache_bytes') >= SIZE, 'the supernode cached what it relayed')
  assert.ok(value(ms, 'sedai_cache_misses_total') >= 1)
  assert.ok(observations(mb, 'sedai_search_duration_seconds', { mode: 'supernode', outcome: 'hits' }) >= 1)
})

test('directory, flood and directory-server: their metrics are there and read the modes\' state', async (t) => {
  const dir = await workdir(t)
  const server = await startDaemon(t, { args: ['--mode', 'directory-server'] })
  const peers = await Promise.all([0, 1].map(async () => await startDaemon(t, { args: ['--mode', 'directory,flood', '--directory', server.addrs[0]] })))
  const [apiS, apiP] = await Promise.all([apiOf(server), apiOf(peers[0])])
  const file = join(dir, 'metrics-directory-probe.bin')
  await writeRandomFile(file, 1000)
  const shared = await peers[1].cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)
  await until('the peer finds the file in the directory', 30_000, async () => {
    const r = await peers[0].cli(['search', 'probe'])
    return r.code === 0 && r.json.results.length > 0 ? true : undefined
  })

  const [ms, mp] = await Promise.all([scrape(apiS), scrape(apiP)])
  assert.equal(value(ms, 'sedai_directory_server_peers_online'), 2)
  assert.ok(value(ms, 'sedai_directory_server_files_indexed') >= 1)
  assert.ok(value(ms, 'sedai_directory_server_recent_search_seconds', { quantile: '0.5' }) > 0)
  assert.ok(value(ms, 'sedai_mode_events_total', { mode: 'directory-server', event: 'searches' }) >= 1)
  assert.ok(value(ms, 'sedai_messages_total', { protocol: 'directory', direction: 'in', type: 'SEARCH' }) >= 1)
  assert.equal(value(mp, 'sedai_directory_online'), 1)
  assert.ok(value(mp, 'sedai_mode_events_total', { mode: 'directory', event: 'searches' }) >= 1)
  assert.ok(observations(mp, 'sedai_search_duration_seconds', { mode: 'directory', outcome: 'hits' }) >= 1)
  assert.ok(mp.families.has('sedai_flood_neighbours'))
  // only the modes a daemon runs have their metrics
  assert.ok(!ms.families.has('sedai_flood_neighbours'))
  assert.ok(!mp.families.has('sedai_directory_server_peers_online'))
  assert.ok(!mp.families.has('sedai_dht_routing_table_size'))
})
