/**
 * Crash safety of the directory server (docs/RELIABILITY.md): a real
 * `sedai daemon --mode directory-server` SIGKILLed while three peers (libp2p
 * nodes in this process) send it REGISTER bursts, then restarted on the same
 * repo. SEDAI_CRASH_SEED replays another draw of the kill points.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from '@sedai/core/sqlite'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, freePorts, manifestCid, seededRandom } from '@sedai/core'
import { Status } from '../src/messages.ts'
import { DIRECTORY_DB } from '../src/server.ts'
import { DirectorySession } from '../src/session.ts'
import type { FileTuple } from '../src/messages.ts'
import type { ChildProcess } from 'node:child_process'
import type { TestContext } from 'node:test'

const SEDAI = fileURLToPath(new URL('../../cli/bin/sedai.js', import.meta.url))
const SEED = Number(process.env.SEDAI_CRASH_SEED ?? 20261126) + 1
const MiB = 1024 * 1024

interface ServerProcess {
  child: ChildProcess
  peerId: string
  /** its 'directory index open' log line */
  opened: any
  /** SIGKILL: a crash */
  kill: () => Promise<void>
  stats: () => Promise<any>
}

/**
 * Starts the server daemon and waits for its 'daemon started' log line (it
 * comes once the API listens, and names the peer id), without a CLI process.
 */
async function startServer (t: TestContext, repo: string, port: number, env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SEDAI, 'daemon', '--repo', repo, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0', '--mode', 'directory-server'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SEDAI_LOG_LEVEL: 'info', ...env }
  })
  const exited = once(child, 'exit')
  let logs = ''
  child.stderr.setEncoding('utf8').on('data', d => { logs += d })
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  }
  t.after(kill)
  const line = (msg: string): any => {
    for (const l of logs.split('\n')) {
      if (!l.includes(msg)) continue
      try { const o = JSON.parse(l); if (o.msg === msg) return o } catch {}
    }
    return undefined
  }
  const deadline = Date.now() + 60_000
  let started: any
  while ((started = line('daemon started')) === undefined) {
    if (child.exitCode !== null) throw new Error(`server exited during start:\n${logs}`)
    if (Date.now() > deadline) { await kill(); throw new Error(`server did not start in 60 s:\n${logs}`) }
    await sleep(50)
  }
  const stats = async (): Promise<any> => {
    const api = JSON.parse(await readFile(join(repo, 'api'), 'utf8'))
    return await (await fetch(`${api.url}/api/v1/stats`, { headers: { authorization: `Bearer ${api.token}` } })).json()
  }
  return { child, peerId: started.peerId, opened: line('directory index open'), kill, stats }
}

test('directory server SIGKILLed 3 times during REGISTER bursts from 3 peers: its database opens clean and every acknowledged REGISTER is found', async (t) => {
  const rand = seededRandom(SEED)
  const repo = await mkdtemp(join(tmpdir(), 'sedai-crash-dir-'))
  const snapshots = await mkdtemp(join(tmpdir(), 'sedai-crash-dbcopy-'))
  t.after(async () => { await Promise.all([repo, snapshots].map(async d => { await rm(d, { recursive: true, force: true }) })) })
  const port = (await freePorts(1))[0]
  // no rate limits (a burst would be throttled), and a grace period longer than the test
  const env = { SEDAI_DIRECTORY_CONTROL_RATE: '0', SEDAI_DIRECTORY_QUERY_RATE: '0', SEDAI_DIRECTORY_GRACE_MS: '600000' }
  let server = await startServer(t, repo, port, env)
  const addr = multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`)
  const peers = await Promise.all([0, 1, 2].map(async () => await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })))
  t.after(async () => { await Promise.all(peers.map(async p => { await p.stop() })) })
  const session = async (p: number): Promise<DirectorySession> => await DirectorySession.open(await peers[p].dial(addr), { maxReplyFrameBytes: 4 * MiB, idleTimeoutMs: 30_000 })

  const PER_REGISTER = 50
  const PER_BURST = 120 // REGISTERs per peer per round
  const IN_FLIGHT = 8
  const name = (p: number, r: number, f: number): string => `crash p${p} r${r} f${f}.bin`
  const acked: Array<{ p: number, r: number }> = []
  let nextRegister = 0

  for (let round = 0; round < 3; round++) {
    const sessions = await Promise.all(peers.map(async (_, p) => await session(p)))
    const unacked: Array<{ p: number, r: number }> = []
    // somewhere inside the bursts, never before the first ack or after the last
    const killAt = 20 + Math.floor(rand() * (peers.length * PER_BURST - 60))
    let acks = 0
    let killing: Promise<void> | undefined
    const first = nextRegister
    nextRegister += PER_BURST
    await Promise.all(sessions.map(async (s, p) => {
      const todo = Array.from({ length: PER_BURST }, (_, i) => first + i)
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (todo.length > 0) {
          const r = todo.shift() as number
          const files: FileTuple[] = []
          for (let f = 0; f < PER_REGISTER; f++) files.push([(await manifestCid(Buffer.from(`${p}/${r}/${f}`))).toString(), name(p, r, f), f])
          let reply
          try {
            reply = await s.request({ type: 'REGISTER', files }, 30_000)
          } catch {
            unacked.push({ p, r })
            // the rest of this burst is never sent
            for (const rest of todo.splice(0)) unacked.push({ p, r: rest })
            continue
          }
          assert.equal(reply.status, Status.OK, JSON.stringify(reply))
          assert.equal(reply.added, PER_REGISTER)
          acked.push({ p, r })
          if (++acks === killAt) killing = server.kill()
        }
      }))
    }))
    assert.ok(killing !== undefined, `round ${round}: the bursts ended before the kill (${acks} acks)`)
    await killing

    // the database as the kill left it, opened by another process's SQLite
    for (const suffix of ['', '-wal', '-shm']) {
      await copyFile(join(repo, `${DIRECTORY_DB}${suffix}`), join(snapshots, `r${round}.db${suffix}`)).catch(() => {})
    }
    const walKiB = Math.round(((await stat(join(snapshots, `r${round}.db-wal`)).catch(() => undefined))?.size ?? 0) / 1024)
    const db = new DatabaseSync(join(snapshots, `r${round}.db`))
    const integrity = (db.prepare('PRAGMA integrity_check').get() as any).integrity_check
    db.exec("INSERT INTO names(names) VALUES('integrity-check')") // FTS5's own check: throws if the index is corrupt
    const have = new Set((db.prepare('SELECT p.peer_id AS peer, f.name AS name FROM shares s JOIN files f ON f.id = s.file JOIN peers p ON p.id = s.peer').all() as any[]).map(row => `${row.peer} ${row.name}`))
    db.close()
    assert.equal(integrity, 'ok')
    const present = (p: number, r: number): number => {
      let n = 0
      for (let f = 0; f < PER_REGISTER; f++) if (have.has(`${peers[p].peerId.toString()} ${name(p, r, f)}`)) n++
      return n
    }
    const missing = acked.filter(({ p, r }) => present(p, r) !== PER_REGISTER)
    assert.deepEqual(missing, [], 'every acknowledged REGISTER is in the database')
    // one transaction per REGISTER: an unacknowledged one is all there or not at all
    const counts = unacked.map(({ p, r }) => present(p, r))
    assert.ok(counts.every(n => n === 0 || n === PER_REGISTER), `partial REGISTERs: ${counts.filter(n => n !== 0 && n !== PER_REGISTER).length}`)
    t.diagnostic(`round ${round}: killed at ack ${killAt} of the round; ${acked.length} REGISTERs acknowledged in all (${acked.length * PER_REGISTER} files), all in the database; ${unacked.length} unacknowledged, ${counts.filter(n => n > 0).length} of them committed anyway (the kill came between commit and reply), none partial; integrity_check ${integrity} after recovering a ${walKiB} KiB WAL`)
    for (const s of sessions) s.abort(new Error('server killed'))

    // the server reopens the same files and answers for everything acknowledged
    const booting = Date.now()
    server = await startServer(t, repo, port, env)
    const bootMs = Date.now() - booting
    const check = await session(0)
    for (const [p, node] of peers.entries()) {
      const names = new Set<string>()
      for (let offset = 0; ; offset += 1000) {
        const page = await check.request({ type: 'BROWSE', peerId: node.peerId.toString(), offset, max: 1000 }, 10_000)
        assert.equal(page.status, Status.OK, JSON.stringify(page))
        for (const f of page.files as FileTuple[]) names.add(f[1])
        if ((page.files as unknown[]).length < 1000) break
      }
      const lost = acked.filter(a => a.p === p).flatMap(({ r }) => Array.from({ length: PER_REGISTER }, (_, f) => name(p, r, f))).filter(n => !names.has(n))
      assert.deepEqual(lost, [], `peer ${p}: acknowledged files BROWSE does not list`)
    }
    // and SEARCH finds a few of them by their words
    for (let i = 0; i < 5; i++) {
      const { p, r } = acked[Math.floor(rand() * acked.length)]
      const f = Math.floor(rand() * PER_REGISTER)
      const reply = await check.request({ type: 'SEARCH', q: `p${p} r${r} f${f}` }, 10_000)
      assert.equal(reply.status, Status.OK)
      assert.ok((reply.hits as unknown[][]).some(h => h[1] === name(p, r, f)), `search for ${name(p, r, f)}`)
    }
    check.abort(new Error('checked'))
    t.diagnostic(`round ${round}: restarted server up in ${bootMs} ms, opened its index with ${server.opened?.files} files of ${server.opened?.peers} peers; BROWSE listed every acknowledged file, 5 SEARCHes found theirs`)
  }
  const stats = (await server.stats())['directory-server']
  t.diagnostic(`after 3 kills: ${stats.filesIndexed} files indexed from ${stats.peersKnown} peers; ${acked.length * PER_REGISTER} acknowledged`)
  assert.ok(stats.filesIndexed >= acked.length * PER_REGISTER)
})
