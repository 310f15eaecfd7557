/**
 * What the dashboard's graph draws for the other generations, from real
 * daemons on 127.0.0.1 (GET /api/v1/overlay, the data of the `overlay`
 * event): supernode and leaf tiers, the directory server, DHT buckets.
 * The flooding generation is drawn in a browser by dashboard.e2e.test.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { freePorts } from '@sedai/core'
import { readApiFile } from '../../cli/src/api-client.ts'
import { startDaemon, until } from '../../../test/helpers/testnet.ts'
import type { OverlayInfo } from '../../cli/src/daemon-api.ts'
import type { TestDaemon } from '../../../test/helpers/testnet.ts'

const QUIET = { SEDAI_LOG_LEVEL: 'warn' }

async function overlay (d: TestDaemon): Promise<OverlayInfo> {
  const { url, token } = await readApiFile(d.repo)
  const res = await fetch(`${url}/api/v1/overlay`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  return await res.json() as OverlayInfo
}

/** `[peer id, kind]` of every node but self, sorted. */
function peers (o: OverlayInfo): Array<[string, string]> {
  return o.nodes.filter(n => n.kind !== 'self').map(n => [n.id, n.kind] as [string, string]).sort()
}

test('supernode: the supernode sees its leaves, each leaf its supernode', async (t) => {
  const [port] = await freePorts(1)
  const superAddr = `/ip4/127.0.0.1/tcp/${port}`
  const sn = await startDaemon(t, { args: ['--mode', 'supernode', '--role', 'super', '--listen', superAddr], env: QUIET })
  const leaves = await Promise.all([0, 1].map(async () => await startDaemon(t, { args: ['--mode', 'supernode', '--role', 'leaf', '--bootstrap', superAddr], env: QUIET })))
  const top = await until('the supernode has both leaves', 30_000, async () => {
    const o = await overlay(sn)
    return o.edges.filter(e => e.kind === 'leaf').length === 2 ? o : undefined
  })
  assert.equal(top.role, 'super')
  assert.deepEqual(peers(top), leaves.map(l => [l.peerId, 'leaf'] as [string, string]).sort())
  assert.equal(top.edges.length, 2)
  for (const leaf of leaves) {
    const o = await until('a leaf has its supernode', 30_000, async () => {
      const v = await overlay(leaf)
      return v.edges.some(e => e.kind === 'supernode') ? v : undefined
    })
    assert.equal(o.role, 'leaf')
    assert.deepEqual(peers(o), [[sn.peerId, 'supernode']])
    assert.equal(o.nodes.find(n => n.id === sn.peerId)?.role, 'super')
  }
})

test('directory: each peer links to the server; the server is a directory server with two connections', async (t) => {
  const [port] = await freePorts(1)
  const server = await startDaemon(t, { args: ['--mode', 'directory-server', '--listen', `/ip4/127.0.0.1/tcp/${port}`], env: QUIET })
  const directory = `/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`
  const clients = await Promise.all([0, 1].map(async () => await startDaemon(t, { args: ['--mode', 'directory', '--directory', directory], env: QUIET })))
  for (const c of clients) {
    const o = await until('a peer is connected to the server', 30_000, async () => {
      const v = await overlay(c)
      return v.nodes.find(n => n.id === server.peerId)?.connected === true ? v : undefined
    })
    assert.deepEqual(peers(o), [[server.peerId, 'directory-server']])
    assert.deepEqual(o.edges.map(e => [e.source, e.kind]), [[c.peerId, 'directory-server']])
  }
  const top = await overlay(server)
  assert.equal(top.role, 'directory-server')
  assert.deepEqual(peers(top), clients.map(c => [c.peerId, 'connection'] as [string, string]).sort())
})

test('dht: every routing table contact is an edge with its bucket, counted per bucket', async (t) => {
  const [port] = await freePorts(1)
  // contacts enter the table without kad-dht's verification ping: this test is about drawing the table, and on a
  // starved machine a late ping kept a contact out for over a minute (the pings are tested in dht-peer.test.ts)
  const env = { ...QUIET, SEDAI_DHT_CONTACT_PINGS: '0' }
  const first = await startDaemon(t, { args: ['--mode', 'dht', '--listen', `/ip4/127.0.0.1/tcp/${port}`], env })
  const rest = await Promise.all([0, 1, 2].map(async () => await startDaemon(t, { args: ['--mode', 'dht', '--bootstrap', `/ip4/127.0.0.1/tcp/${port}/p2p/${first.peerId}`], env })))
  const o = await until('the first node has the three others in its routing table', 120_000, async () => {
    const v = await overlay(first)
    return v.edges.filter(e => e.kind === 'dht').length === 3 ? v : undefined
  })
  assert.deepEqual(peers(o), rest.map(r => [r.peerId, 'dht'] as [string, string]).sort())
  for (const e of o.edges) {
    assert.equal(e.source, first.peerId)
    assert.ok(Number.isInteger(e.bucket) && (e.bucket as number) >= 0 && (e.bucket as number) < 256, JSON.stringify(e))
  }
  assert.equal(o.buckets.reduce((n, b) => n + b.contacts, 0), 3)
})
