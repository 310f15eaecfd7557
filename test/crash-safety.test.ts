/**
 * Crash safety of downloads (docs/RELIABILITY.md): a real downloader daemon
 * SIGKILLed at seeded random points and restarted on the same repo. (The
 * directory server's crash test is packages/directory-server/test/crash.test.ts.)
 *
 * What the downloader kept is read from its database after each kill (a
 * chunk is recorded just before its write), what it fetched from its debug
 * log ('chunk kept', one line per chunk written and verified; lines still
 * buffered at a SIGKILL are lost, which can only hide a refetch from the
 * check, never invent one), and what start-up re-verification found from
 * its log. SEDAI_CRASH_SEED replays a run.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, open, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from '@sedai/core/sqlite'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { Bitfield, seededRandom } from '@sedai/core'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { sha256File, writeRandomFile } from './helpers/files.ts'
import { startDaemon } from './helpers/testnet.ts'
import type { TestDaemon } from './helpers/testnet.ts'
import type { TestContext } from 'node:test'

const MiB = 1024 * 1024
const SEED = Number(process.env.SEDAI_CRASH_SEED ?? 20261126)

async function workdir (t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** The daemon's JSON log lines with this message. */
function logLines (d: TestDaemon, msg: string): any[] {
  const out: any[] = []
  for (const line of d.logs().split('\n')) {
    if (!line.includes(msg)) continue
    try {
      const o = JSON.parse(line)
      if (o.msg === msg) out.push(o)
    } catch {}
  }
  return out
}

/** Waits up to 2 s for a line logged before the API listened (the log is written asynchronously). */
async function settledLog (d: TestDaemon, msg: string): Promise<any[]> {
  for (let i = 0; i < 100 && logLines(d, msg).length === 0; i++) await sleep(20)
  return logLines(d, msg)
}

/** The chunks the downloader's database has on record for `cid` (none before the manifest arrived). */
function recorded (repo: string, cid: string, chunks: number): Set<number> {
  const out = new Set<number>()
  // not created here: the daemon makes it on its first start
  if (!existsSync(join(repo, 'sedai.db'))) return out
  const db = new DatabaseSync(join(repo, 'sedai.db'))
  try {
    const row = db.prepare('SELECT have FROM downloads WHERE cid = ?').get(cid) as { have: Uint8Array } | undefined
    if (row === undefined) return out
    const have = new Bitfield(chunks, row.have)
    for (let i = 0; i < chunks; i++) if (have.get(i)) out.add(i)
    return out
  } finally {
    db.close()
  }
}

const list = (s: Iterable<number>): string => [...s].sort((a, b) => a - b).join(',')

test('downloader SIGKILLed at 10 seeded points, one mid-write: a chunk once kept is never fetched again, partial state is re-verified at start, the file is placed only whole', async (t) => {
  const rand = seededRandom(SEED)
  const dir = await workdir(t, 'sedai-crash-files-')
  const src = join(dir, 'crash.bin')
  const size = 16 * MiB + 12345
  const chunks = Math.ceil(size / MiB)
  const bytesOf = (set: Set<number>): number => [...set].reduce((n, i) => n + Math.min(MiB, size - i * MiB), 0)
  await writeRandomFile(src, size)
  // 2 MiB/s: about 8 s of transfer to spread the kills over. No mode (--mode none): the kills
  // fall at chunk counts, and the default DHT's joins and lookups on every restart are not under test
  const seeder = await startDaemon(t, { args: ['--mode', 'none', '--upload-rate', String(2 * MiB)] })
  const shared = await seeder.cli(['share', src])
  assert.equal(shared.code, 0, shared.stderr)
  const cid: string = shared.json.cid
  const repo = await workdir(t, 'sedai-crash-repo-')
  const out = join(dir, 'out.bin')

  // kill once this many chunks are kept: 10 distinct points of the transfer, in order
  const pool = Array.from({ length: chunks - 1 }, (_, i) => i + 1)
  const targets = Array.from({ length: 10 }, () => pool.splice(Math.floor(rand() * pool.length), 1)[0]).sort((a, b) => a - b)
  const midWrite = Math.floor(rand() * 10)
  // after one other kill a kept chunk is also damaged on disk while the daemon is down
  const rotAfter = (midWrite + 1 + Math.floor(rand() * 8)) % 10
  t.diagnostic(`seed ${SEED}: ${chunks} chunks, kill targets ${targets.join(',')} chunks kept; kill ${midWrite + 1} is mid-write, after kill ${rotAfter + 1} one kept chunk is damaged`)

  let kept = new Set<number>() // verified on disk at the start of a run
  let rotted: number | undefined
  let clearedInAll = 0
  const rows: string[] = []
  for (let run = 0; run <= 10; run++) {
    const last = run === 10
    const claims = recorded(repo, cid, chunks)
    const env: Record<string, string> = { SEDAI_LOG_LEVEL: 'debug' }
    // the n-th chunk this process writes: the one after the one that reaches the target
    if (run === midWrite) env.SEDAI_FAULT_KILL_MID_WRITE = String(Math.max(1, targets[run] - claims.size + 1))
    const booting = Date.now()
    const b = await startDaemon(t, { repo, args: ['--mode', 'none'], env })
    const bootMs = Date.now() - booting
    const exited = once(b.process, 'exit')

    // start-up re-verification ran before the daemon answered
    const check = claims.size > 0 ? await settledLog(b, 'partial download re-verified at start') : logLines(b, 'partial download re-verified at start')
    let cleared = new Set<number>()
    if (claims.size > 0) {
      assert.equal(check.length, 1, `run ${run}: one partial download re-verified at start`)
      cleared = new Set<number>(check[0].clearedChunks)
      assert.equal(check[0].kept + check[0].cleared, claims.size)
      kept = new Set([...claims].filter(i => !cleared.has(i)))
      assert.equal(kept.size, check[0].kept)
      if (run === midWrite + 1) assert.ok(cleared.size >= 1, 'the chunk cut mid-write is cleared at start')
      if (rotted !== undefined) assert.ok(cleared.has(rotted), `the damaged chunk ${rotted} is cleared at start`)
    } else {
      assert.equal(check.length, 0)
      kept = new Set()
    }
    clearedInAll += cleared.size
    rotted = undefined
    await assert.rejects(stat(out), { code: 'ENOENT' }, 'nothing under the final name before the end')

    const started = Date.now()
    let how: string
    if (last) {
      // the user's command, for its JSON
      const r = await b.cli(['get', cid, '-o', out, '--from', seeder.addrs[0]], { timeoutMs: 120_000 })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.json.resumed, bytesOf(kept), 'resumed = exactly the chunks kept')
      assert.equal(r.json.resumed + r.json.fetched, size)
      how = `completed: get --json says resumed ${r.json.resumed}, fetched ${r.json.fetched}`
    } else {
      // the API directly: its progress tells when the target is reached, without a CLI process per poll
      const api = await ApiClient.fromRepo(repo)
      let reached!: () => void
      const atTarget = new Promise<void>(resolve => { reached = resolve })
      const get = api.get({ cid, out, from: [seeder.addrs[0]] }, p => { if (p.have >= targets[run] * MiB) reached() }, AbortSignal.timeout(120_000))
        .then(() => undefined, (err: Error) => err)
      if (run === midWrite) {
        await get
        await exited
        assert.equal(b.process.signalCode, 'SIGKILL', 'the fault hook killed the daemon')
        how = 'killed itself mid-write'
      } else {
        await Promise.race([atTarget, get])
        // anywhere inside the next chunk's transfer
        await sleep(Math.floor(rand() * 400))
        await b.kill()
        how = 'SIGKILLed'
      }
      assert.ok(await get instanceof Error, 'the get fails with its daemon, never completes')
    }
    const ms = Date.now() - started

    const fetched = new Set<number>(logLines(b, 'chunk kept').map(l => l.chunk))
    const again = [...fetched].filter(i => kept.has(i))
    assert.deepEqual(again, [], `run ${run}: chunks kept before the kill fetched again`)
    if (!last) {
      const after = recorded(repo, cid, chunks)
      const lost = [...fetched].filter(i => !after.has(i))
      assert.deepEqual(lost, [], `run ${run}: chunks written whole are on record after the kill`)
      assert.ok([...kept].every(i => after.has(i)), 'nothing kept is dropped from the record')
      if (run === rotAfter && after.size > 0) {
        // one byte flipped in a recorded chunk, as bit rot or a stray write would
        rotted = [...after][Math.floor(rand() * after.size)]
        const fh = await open(join(repo, 'downloads', `${cid}.part`), 'r+')
        const byte = Buffer.alloc(1)
        await fh.read(byte, 0, 1, rotted * MiB + 7)
        byte[0] ^= 0xff
        await fh.write(byte, 0, 1, rotted * MiB + 7)
        await fh.close()
      }
    }
    rows.push(`run ${String(run).padStart(2)}: start-up check kept ${String(kept.size).padStart(2)}, cleared [${list(cleared)}]${check.length > 0 ? ` in ${check[0].ms} ms` : ''}; fetched ${String(fetched.size).padStart(2)} chunks [${list(fetched)}] in ${ms} ms (daemon up in ${bootMs} ms); ${how}`)
    if (last) await b.stop()
  }
  for (const row of rows) t.diagnostic(row)

  assert.equal(await sha256File(out), await sha256File(src), 'the placed file is the shared one, byte for byte')
  const served = (await seeder.cli(['stats'])).json.transfer.chunksServed as number
  t.diagnostic(`seeder served ${served} chunks for a ${chunks}-chunk file: ${served - chunks} again, of which ${clearedInAll} cleared at start (cut mid-write or damaged) and the rest requested but not yet kept at a kill`)
  // at most a window (8 requests) in flight per kill, plus the damaged chunk
  assert.ok(served - chunks <= 10 * 8 + 1, `${served} chunks served`)
})
