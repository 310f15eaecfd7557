import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AgentClient } from '../../src/docker/cluster.ts'
import type { ChildProcess } from 'node:child_process'
import type { StartedPeer } from '../../src/messages.ts'

// the agent a container runs, here as a plain process on 127.0.0.1 (no docker needed)
const AGENT = fileURLToPath(new URL('../../src/docker/agent.ts', import.meta.url))

async function startAgent (token: string): Promise<{ child: ChildProcess, port: number, exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [AGENT], {
    env: { ...process.env, SEDAI_LAB_TOKEN: token, SEDAI_LAB_AGENT_PORT: '0', SEDAI_LAB_AGENT_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', code => { reject(new Error(`agent exited (${code}) before listening`)) })
  })
  return { child, port, exited }
}

/** Sends raw bytes, resolves to what came back before the agent closed the connection. */
async function raw (port: number, bytes: Buffer | string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let got = ''
    s.on('data', d => { got += d.toString() })
    s.on('close', () => { resolve(got) })
    s.on('error', reject)
    s.write(bytes)
    setTimeout(() => { s.destroy(); reject(new Error(`connection still open; got '${got}'`)) }, 10_000).unref()
  })
}

test('lab agent: refuses without a token, a wrong token, a malformed or oversized line; obeys the run\'s token', { timeout: 120_000 }, async (t) => {
  const noToken = spawn(process.execPath, [AGENT], { env: { ...process.env, SEDAI_LAB_TOKEN: '' }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  noToken.stderr?.on('data', d => { err += d.toString() })
  assert.equal(await new Promise(resolve => { noToken.once('exit', resolve) }), 2)
  assert.match(err, /SEDAI_LAB_TOKEN must be set/)

  const token = randomBytes(24).toString('base64url')
  const dir = await mkdtemp(join(tmpdir(), 'lab-agent-'))
  const agent = await startAgent(token)
  t.after(async () => { agent.child.kill('SIGKILL'); await rm(dir, { recursive: true, force: true }) })

  const wrong = JSON.parse(await raw(agent.port, JSON.stringify({ id: 1, token: 'not-the-token', req: { op: 'memory' } }) + '\n'))
  assert.deepEqual([wrong.ok, wrong.code], [false, 'ERR_LAB_AGENT_PROTOCOL'])
  const junk = JSON.parse(await raw(agent.port, '{"id": 1, "tok\n'))
  assert.match(junk.error, /not JSON/)
  const big = JSON.parse(await raw(agent.port, Buffer.alloc(4 * 1024 * 1024 + 10, 'x')))
  assert.match(big.error, /longer than 4194304 bytes/)

  const client = await AgentClient.connect(agent.port, token, 'test-agent', 10_000)
  const [peer] = await client.call<StartedPeer[]>({ op: 'start', peers: [{ index: 3, listen: '/ip4/127.0.0.1/tcp/0', repo: join(dir, 'repo'), modes: [], bootstrap: [] }] })
  assert.equal(peer.index, 3)
  assert.match(peer.peerId, /^12D3KooW/)
  await writeFile(join(dir, 'a.bin'), randomBytes(5000))
  const [cid] = await client.call<string[]>({ op: 'share', index: 3, paths: [join(dir, 'a.bin')] })
  assert.match(cid, /^baf/)
  const stats = await client.call<Record<string, any>>({ op: 'stats' })
  assert.deepEqual(Object.keys(stats), ['3'])
  await assert.rejects(client.call({ op: 'share', index: 9, paths: [] }), /peer 9 is not running/)
  await client.call({ op: 'shutdown' })
  assert.equal(await agent.exited, 0)
})

test('lab agent: SIGTERM (docker stop, compose down) stops its daemon and exits at once', { timeout: 60_000 }, async () => {
  const token = randomBytes(24).toString('base64url')
  const agent = await startAgent(token)
  const t0 = performance.now()
  agent.child.kill('SIGTERM')
  assert.equal(await agent.exited, 0)
  assert.ok(performance.now() - t0 < 5000)
})
