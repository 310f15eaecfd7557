import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../src/identity.ts'

test('the identity is created once (0600) and the same peer id comes back', async (t) => {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-id-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  const first = await loadOrCreateIdentity(join(repo, 'nested'))
  assert.equal(first.type, 'Ed25519')
  assert.equal((await stat(join(repo, 'nested', 'identity.key'))).mode & 0o777, 0o600)
  const again = await loadOrCreateIdentity(join(repo, 'nested'))
  assert.equal(peerIdFromPrivateKey(again).toString(), peerIdFromPrivateKey(first).toString())
})

test('a damaged identity file is an error, never silently replaced', async (t) => {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-id-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  await writeFile(join(repo, 'identity.key'), 'not a key')
  await assert.rejects(loadOrCreateIdentity(repo), { code: 'ERR_INVALID_OPTION' })
})
