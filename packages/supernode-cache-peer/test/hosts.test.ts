import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SupernodeHosts } from '../src/hosts.ts'
import { Role, Want } from '../src/protocol/messages.ts'
import type { Status, SuperEntry } from '../src/protocol/messages.ts'

const CONFIG = { hostFreshMs: 60_000, keepaliveMs: 5_000, hostCacheSize: 10, retryMs: 10_000 }

function entry (peerId: string, leaves: number, interests: string[] = []): SuperEntry {
  return { entry: { peerId, addrs: ['/ip4/10.0.0.1/tcp/1'] }, score: 0.5, leaves, maxLeaves: 10, interests }
}

function status (from: SuperEntry, role: Role, supers: SuperEntry[] = []): Status {
  return { role, score: from.score, leaves: from.leaves, maxLeaves: from.maxLeaves, entry: from.entry, interests: from.interests, supers }
}

test('what a STATUS teaches: its sender if a supernode, the supernodes it lists; second-hand news never overrides first-hand', () => {
  const hosts = new SupernodeHosts('me', CONFIG)
  hosts.learn(status(entry('s1', 2), Role.SUPER, [entry('s2', 9), entry('me', 0)]), true)
  assert.deepEqual(hosts.fresh().map(h => h.entry.peerId).sort(), ['s1', 's2'], 'never ourselves')
  // another node lists s1 with stale load: what s1 said itself stands
  hosts.learn(status(entry('x', 0), Role.LEAF, [entry('s1', 7)]), true)
  assert.equal(hosts.get('s1')?.leaves, 2)
  // s1 says it is a leaf now: forgotten
  hosts.learn(status(entry('s1', 0), Role.LEAF), true)
  assert.equal(hosts.get('s1'), undefined)
})

test('candidates: a leaf goes where there is most room, a clustering supernode only to shared interests; failed ones wait retryMs', () => {
  const hosts = new SupernodeHosts('me', CONFIG)
  hosts.learn(status(entry('full', 10), Role.SUPER, [entry('roomy', 1, ['jazz']), entry('busy', 8, ['rock'])]), true)
  assert.deepEqual(hosts.candidates(3, Want.LEAF, new Set(), false, () => false).map(h => h.entry.peerId), ['roomy', 'busy'])
  assert.deepEqual(hosts.candidates(3, Want.PEER, new Set(['rock']), true, () => false).map(h => h.entry.peerId), ['busy'])
  hosts.failed('roomy')
  assert.deepEqual(hosts.candidates(3, Want.LEAF, new Set(), false, () => false).map(h => h.entry.peerId), ['busy'])
  assert.deepEqual(hosts.listed().map(h => h.entry.peerId), ['roomy', 'busy', 'full'], 'our STATUS lists most room first')
})
