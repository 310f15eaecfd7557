/**
 * Soak: a long mixed-load run of real `sedai daemon` processes on 127.0.0.1,
 * with every daemon's RSS and event-loop delay sampled, ending in PASS or
 * FAIL (exit 0 / 1; a run that could not be set up also exits 1, saying why).
 *
 *   node scripts/soak.ts                     30 minutes (npm run soak)
 *   SOAK_MINUTES=2 node scripts/soak.ts      the CI version
 *
 * The network: a directory server S, the hybrid H (`directory,flood`, the
 * node under observation, where the honest load starts), two honest
 * `directory,flood` seeders P1 and P2, a liar L (`--fault-corrupt 0.1`) and a
 * flood-only peer F. Honest load: new files are published on P1, P2 and L
 * (and on F alone, reachable only by flooding) at a steady rate; H searches
 * for them and downloads them (checked byte for byte, then deleted). Attacks
 * (scripts/soak-attacks.ts) run from this process throughout, and P2 and F
 * take turns being SIGKILLed and restarted.
 *
 * Verdict: FAIL when a daemon's RSS passes SOAK_RSS_CAP_MB, when a 10 s
 * event-loop window of S or H has p99 >= SOAK_LAG_P99_MS, when honest search
 * or get success drops below SOAK_MIN_SUCCESS, when a daemon dies that the
 * soak did not kill, when a killed peer does not come back, when a daemon
 * leaves an oversized length prefix open over 5 s or never reaps a withheld
 * frame, or when an attack kind never ran (a silent attacker would make PASS
 * meaningless).
 *
 * Knobs (environment): SOAK_MINUTES (30), SOAK_SECONDS (overrides minutes, for
 * development), SOAK_RSS_CAP_MB (400), SOAK_LAG_P99_MS (100),
 * SOAK_MIN_SUCCESS (0.9), SOAK_SAMPLE_MS (5000), SOAK_KEEP=1 keeps the work
 * folder (daemon logs included; a failed run always keeps it), SOAK_SEED for
 * the attack mutator, SOAK_SKIP=kind,... to leave attack kinds out (fuzz,
 * prefix, idle, churn, search, query, kill) when looking for the one that hurts.
 */
import { createHash, randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { startDaemon } from '../test/helpers/testnet.ts'
import { sha256File } from '../test/helpers/files.ts'
import type { TestDaemon } from '../test/helpers/testnet.ts'
import { ATTACK_KINDS, Attacks } from './soak-attacks.ts'
import type { AttackCounts } from './soak-attacks.ts'

const MiB = 1024 * 1024

// ---- pure helpers (test/soak.test.ts) ------------------------------------------

export interface LagWindow { p50: number, p99: number, max: number }
/** `process.eventLoopDelayMs` of `sedai stats` */
export interface LagStats { windowMs: number, windows: number, last?: LagWindow, worst?: LagWindow }

/**
 * The 10 s event-loop windows of one daemon process, from `stats` samples
 * taken every ~5 s. A window completed while `counting` is false (start-up,
 * before the load) is left out. When samples come late and windows are
 * skipped, the daemon's `worst` tells whether a skipped one was worse than
 * any seen: if so it is counted with the worst figures (pessimistic: the
 * verdict never misses a bad window).
 */
export class LagTracker {
  readonly windows: LagWindow[] = []
  /** when each of `windows` was seen (ms since epoch), to line bad windows up with the soak's events */
  readonly seenAt: number[] = []
  /** windows that completed between two samples without being seen */
  skipped = 0
  private seen = 0
  private worst?: LagWindow

  add (s: LagStats, counting: boolean, at = Date.now()): void {
    const fresh = s.windows - this.seen
    if (fresh > 0 && counting) {
      if (s.last !== undefined) { this.windows.push(s.last); this.seenAt.push(at) }
      if (fresh > 1) {
        this.skipped += fresh - 1
        const known = Math.max(this.worst?.p99 ?? 0, s.last?.p99 ?? 0)
        const knownMax = Math.max(this.worst?.max ?? 0, s.last?.max ?? 0)
        if (s.worst !== undefined && (s.worst.p99 > known || s.worst.max > knownMax)) { this.windows.push(s.worst); this.seenAt.push(at) }
      }
    }
    if (s.windows > this.seen) this.seen = s.windows
    if (s.worst !== undefined) this.worst = s.worst
  }

  /** The worst counted window (p99 and max each at their highest), undefined when none was counted. */
  summary (): LagWindow | undefined {
    if (this.windows.length === 0) return undefined
    return {
      p50: Math.max(...this.windows.map(w => w.p50)),
      p99: Math.max(...this.windows.map(w => w.p99)),
      max: Math.max(...this.windows.map(w => w.max))
    }
  }
}

export interface DaemonFigures {
  name: string
  /** held to the lag cap (the attacked daemons); the others are reported only */
  observed: boolean
  rssStart?: number
  rssPeak?: number
  rssEnd?: number
  heapPeak?: number
  lag?: LagWindow
  lagWindows: number
  unexpectedExits: string[]
}

export interface Caps { rssBytes: number, lagP99Ms: number, minSuccess: number }

export interface SoakFigures {
  daemons: DaemonFigures[]
  searches: { ok: number, total: number }
  gets: { ok: number, total: number }
  attacks: AttackCounts
  kills: { killed: number, restarted: number }
  /** p99 of the control process (startBaseline) in its worst window under load, for telling a starved machine from a slow daemon */
  baselineLagP99?: number
  /** attack kinds left out on purpose (SOAK_SKIP): not required to have run */
  skipped?: string[]
}

/** Every broken cap, in words; PASS when the list is empty. */
export function verdict (f: SoakFigures, caps: Caps): string[] {
  const out: string[] = []
  const mb = (b: number): string => `${(b / MiB).toFixed(0)} MB`
  for (const d of f.daemons) {
    if (d.rssPeak === undefined) out.push(`${d.name}: never sampled`)
    else if (d.rssPeak > caps.rssBytes) out.push(`${d.name}: RSS peaked at ${mb(d.rssPeak)}, cap ${mb(caps.rssBytes)}`)
    if (d.observed) {
      if (d.lag === undefined) out.push(`${d.name}: no event-loop window measured under load`)
      else if (d.lag.p99 >= caps.lagP99Ms) {
        const starved = f.baselineLagP99 !== undefined && f.baselineLagP99 >= caps.lagP99Ms ? ` (a control process doing 5% CPU of busy-work saw p99 ${f.baselineLagP99} ms: the machine is starved too)` : ''
        out.push(`${d.name}: event-loop p99 ${d.lag.p99} ms in its worst 10 s window, cap ${caps.lagP99Ms} ms${starved}`)
      }
    }
    for (const e of d.unexpectedExits) out.push(`${d.name}: ${e}`)
  }
  const rate = (what: string, r: { ok: number, total: number }): void => {
    if (r.total === 0) out.push(`no honest ${what} ran`)
    else if (r.ok / r.total < caps.minSuccess) out.push(`honest ${what} success ${(100 * r.ok / r.total).toFixed(1)}% (${r.ok}/${r.total}), minimum ${(100 * caps.minSuccess).toFixed(0)}%`)
  }
  rate('search', f.searches)
  rate('get', f.gets)
  if (f.kills.restarted < f.kills.killed) out.push(`${f.kills.killed - f.kills.restarted} SIGKILLed peer(s) did not restart`)
  const a = f.attacks
  const ran: Array<[string, string, number]> = [
    ['fuzz', 'fuzz', a.fuzzFrames], ['prefix', 'oversized prefix', a.oversized], ['prefix', 'withheld prefix', a.withheld], ['idle', 'idle streams', a.idleOpened],
    ['churn', 'connection churn', a.churnConnections], ['search', 'SEARCH flood', a.searchSent], ['query', 'QUERY flood', a.queriesSent], ['kill', 'SIGKILL', f.kills.killed]
  ]
  for (const [kind, what, n] of ran) if (n === 0 && !(f.skipped ?? []).includes(kind)) out.push(`attack '${what}' never ran`)
  if (a.oversized > 0 && a.oversizedClosed < a.oversized) out.push(`${a.oversized - a.oversizedClosed} of ${a.oversized} oversized-prefix streams were not closed within 5 s (${a.oversizedOpen.join('; ')})`)
  if (a.withheldGaveUp > 0) out.push(`${a.withheldGaveUp} withheld-prefix stream(s) never reaped by the daemon`)
  return out
}

// ---- the run ---------------------------------------------------------------------

function envNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: '${raw}' is not a positive number`)
  return n
}

interface Sample { at: number, rss: number, heap: number, connections: number }

/** CPU seconds (user + system) a process has used, from /proc; undefined off Linux. */
function cpuSeconds (pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    // the fields after the command name (which may hold spaces) start at ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/** One daemon of the soak, across the restarts of its process. */
class Member {
  readonly name: string
  readonly args: () => string[]
  readonly observed: boolean
  readonly env: Record<string, string>
  d?: TestDaemon
  api?: ApiClient
  up = false
  /** set while the soak kills (or stops) it on purpose */
  killing = false
  readonly samples: Sample[] = []
  readonly trackers: LagTracker[] = []
  readonly unexpectedExits: string[] = []
  incarnations = 0
  /** when the current incarnation answered its first stats call (ms since epoch) */
  upSince = 0
  /** the last `sedai stats` answer of each incarnation, for the daemon-side counters in the report */
  readonly lastStats: any[] = []
  /** CPU seconds used under load, over all incarnations, and the wall time they cover */
  cpu = 0
  cpuWallMs = 0
  private cpuMark?: { at: number, cpu: number }
  /** every incarnation's log (warn and above), written to the work folder at the end */
  readonly logs: Array<() => string> = []

  constructor (name: string, args: () => string[], opts: { observed?: boolean, env?: Record<string, string> } = {}) {
    this.name = name
    this.args = args
    this.observed = opts.observed ?? false
    this.env = opts.env ?? {}
  }

  get addr (): string {
    if (this.d === undefined) throw new Error(`${this.name} is not running`)
    return this.d.addrs[0]
  }

  async start (repo?: string): Promise<void> {
    const d = await startDaemon(undefined, { repo, args: this.args(), env: this.env })
    this.d = d
    this.api = await ApiClient.fromRepo(d.repo)
    this.incarnations++
    this.trackers.push(new LagTracker())
    this.logs.push(d.logs)
    this.cpuMark = undefined
    this.up = true
    d.process.once('exit', (code, signal) => {
      this.up = false
      if (this.killing) return
      const tail = d.logs().trim().split('\n').slice(-5).join('\n    ')
      this.unexpectedExits.push(`exited (code ${code}, signal ${signal}) at ${new Date().toISOString()}:\n    ${tail}`)
    })
    // the daemon starts its event-loop monitor on the first stats call
    await this.api.stats()
    this.upSince = Date.now()
  }

  async kill (): Promise<void> {
    this.killing = true
    try { await this.d?.kill() } finally { this.killing = false }
  }

  async restart (): Promise<void> {
    const repo = this.d?.repo as string
    // the dead process's api file points at a closed port; the new one writes its own
    await unlink(join(repo, 'api')).catch(() => {})
    await this.start(repo)
  }

  async stop (): Promise<void> {
    this.killing = true
    await this.d?.stop()
  }

  async sample (counting: boolean): Promise<void> {
    if (!this.up || this.api === undefined) return
    const stats = await withTimeout(this.api.stats(), 10_000, `${this.name} stats`) as any
    const p = stats.process
    this.lastStats[this.incarnations - 1] = stats
    this.samples.push({ at: Date.now(), rss: p.rssBytes, heap: p.heapUsedBytes, connections: stats.connections })
    this.trackers[this.trackers.length - 1].add(p.eventLoopDelayMs, counting)
    const cpu = cpuSeconds(this.d?.process.pid)
    if (cpu !== undefined) {
      if (this.cpuMark !== undefined && counting) {
        this.cpu += cpu - this.cpuMark.cpu
        this.cpuWallMs += Date.now() - this.cpuMark.at
      }
      this.cpuMark = { at: Date.now(), cpu }
    }
  }

  figures (): DaemonFigures {
    const lags = this.trackers.map(t => t.summary()).filter(w => w !== undefined)
    return {
      name: this.name,
      observed: this.observed,
      rssStart: this.samples[0]?.rss,
      rssPeak: this.samples.length > 0 ? Math.max(...this.samples.map(s => s.rss)) : undefined,
      rssEnd: this.samples.at(-1)?.rss,
      heapPeak: this.samples.length > 0 ? Math.max(...this.samples.map(s => s.heap)) : undefined,
      lag: lags.length === 0 ? undefined : { p50: Math.max(...lags.map(l => l.p50)), p99: Math.max(...lags.map(l => l.p99)), max: Math.max(...lags.map(l => l.max)) },
      lagWindows: this.trackers.reduce((n, t) => n + t.windows.length, 0),
      unexpectedExits: this.unexpectedExits
    }
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: no answer in ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A control process doing what a quiet daemon does to the CPU (a short burst
 * of work every 10 ms, ~5% of a core) and measuring its event-loop delay the
 * way the daemons do: when it too breaks the lag cap, the machine is starved,
 * whatever the daemons do.
 */
function startBaseline (): { proc: ChildProcess, windows: Array<LagWindow & { at: number }> } {
  const code = `
    const { monitorEventLoopDelay } = require('node:perf_hooks')
    const h = monitorEventLoopDelay({ resolution: 20 }); h.enable()
    const ms = ns => Math.max(0, Math.round((ns / 1e6 - 20) * 10) / 10)
    setInterval(() => { const end = performance.now() + 0.5; while (performance.now() < end); }, 10)
    setInterval(() => { if (h.count > 0) console.log(JSON.stringify({ p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) })); h.reset() }, 10000)`
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] })
  const windows: Array<LagWindow & { at: number }> = []
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    for (const line of d.split('\n')) if (line.trim() !== '') windows.push({ ...JSON.parse(line), at: Date.now() })
  })
  return { proc, windows }
}

interface Published { token: string, name: string, path: string, size: number, sha256: string, cid: string, at: number, floodOnly: boolean }

async function main (): Promise<number> {
  const seconds = process.env.SOAK_SECONDS !== undefined && process.env.SOAK_SECONDS !== '' ? envNumber('SOAK_SECONDS', 0) : envNumber('SOAK_MINUTES', 30) * 60
  const caps: Caps = {
    rssBytes: envNumber('SOAK_RSS_CAP_MB', 400) * MiB,
    lagP99Ms: envNumber('SOAK_LAG_P99_MS', 100),
    minSuccess: envNumber('SOAK_MIN_SUCCESS', 0.9)
  }
  const sampleMs = envNumber('SOAK_SAMPLE_MS', 5_000)
  // SOAK_SKIP=query,churn leaves attack kinds out, to find which one hurts (the verdict then does not require them)
  const skip = (process.env.SOAK_SKIP ?? '').split(',').map(k => k.trim()).filter(k => k !== '')
  for (const k of skip) if (![...ATTACK_KINDS, 'kill'].includes(k as any)) throw new Error(`SOAK_SKIP: unknown kind '${k}' (expected ${[...ATTACK_KINDS, 'kill'].join(', ')})`)
  // at least two kills even in a short run; every 90 s in a long one
  const killEveryMs = Math.max(20_000, Math.min(90_000, seconds * 1000 / 3))
  const dir = await mkdtemp(join(tmpdir(), 'sedai-soak-'))
  const files = join(dir, 'published')
  const downloads = join(dir, 'downloads')
  await mkdir(files)
  await mkdir(downloads)
  const log = (msg: string): void => { process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }
  log(`${seconds} s of mixed load; work folder ${dir}; load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`)

  // warn and above only: the daemons log every refused frame at info, and the helper keeps all of it in memory
  const env = { SEDAI_LOG_LEVEL: 'warn' }
  let S: Member | undefined
  let H: Member | undefined
  const dirArgs = (): string[] => ['--mode', 'directory,flood', '--directory', (S as Member).addr, '--bootstrap', (H as Member).addr]
  S = new Member('S directory-server', () => ['--mode', 'directory-server'], { observed: true, env })
  H = new Member('H directory,flood', () => ['--mode', 'directory,flood', '--directory', (S as Member).addr], { observed: true, env })
  const P1 = new Member('P1 directory,flood', dirArgs, { env })
  const P2 = new Member('P2 directory,flood', dirArgs, { env })
  const L = new Member('L liar (corrupt 0.1)', () => [...dirArgs(), '--fault-corrupt', '0.1'], { env })
  const F = new Member('F flood', () => ['--mode', 'flood', '--bootstrap', (H as Member).addr], { env })
  const members = [S, H, P1, P2, L, F]
  const seeders = [P1, P2, L]
  const baseline = startBaseline()
  let attacks: Attacks | undefined
  let measuring = false
  const published: Published[] = []
  const searches = { ok: 0, total: 0, skipped: 0, viaFlood: 0, failures: new Map<string, number>() }
  const gets = { ok: 0, total: 0, bytes: 0, liarBanned: 0, failures: new Map<string, number>() }
  const kills = { killed: 0, restarted: 0, log: [] as string[] }
  const noteFailure = (map: Map<string, number>, err: any): void => {
    const kind = String(err?.message ?? err).replace(/\b(12D3Koo|bafy)[0-9a-zA-Z]+/g, '…').slice(0, 140)
    map.set(kind, (map.get(kind) ?? 0) + 1)
  }

  let code = 1
  try {
    // ---- network ----
    const t0 = Date.now()
    await S.start()
    await H.start()
    await Promise.all([P1, P2, L, F].map(async m => { await m.start() }))
    log(`six daemons up in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    // ---- honest load ----
    let round = 0
    const publish = async (): Promise<void> => {
      round++
      const floodOnly = round % 3 === 0
      const token = `sk${String(round).padStart(4, '0')}${randomBytes(3).toString('hex')}`
      const name = floodOnly ? `flood ${token}.dat` : `soak-${token}.bin`
      const path = join(files, name)
      // 0.5-3 MiB: one to three chunks, so the liar's 10% shows up now and then
      const size = Math.floor((0.5 + Math.random() * 2.5) * MiB)
      const data = randomBytes(size)
      await writeFile(path, data)
      const sha256 = createHash('sha256').update(data).digest('hex')
      // one file on disk shared by several daemons: sharing records the path, it does not copy
      const owners = floodOnly ? [F] : seeders
      let cid = ''
      for (const m of owners) {
        if (!m.up) continue
        try {
          const r = await withTimeout((m.api as ApiClient).share(path), 30_000, `${m.name} share`) as { cid: string }
          cid = r.cid
        } catch (err: any) {
          // the peer may be dying under the kill loop right now; the others still share it
          if (m.up && !m.killing) log(`${m.name} share: ${err.message}`)
        }
      }
      if (cid !== '') published.push({ token, name, path, size, sha256, cid, at: Date.now(), floodOnly })
    }
    let searchAttempts = 0
    const search = async (): Promise<void> => {
      // files published at least 3 s ago: registration and flood links have had time
      const ready = published.filter(p => Date.now() - p.at > 3_000)
      // every third search is for a file only F has (answered by flooding), unless F is down or has
      // been back for under 10 s (it relinks to the overlay first): then a directory search instead
      let wantFlood = searchAttempts++ % 3 === 2
      if (wantFlood && !(F.up && Date.now() - F.upSince > 10_000)) {
        searches.skipped++
        wantFlood = false
      }
      const candidates = ready.filter(p => p.floodOnly === wantFlood)
      const target = candidates[Math.floor(Math.random() * candidates.length)]
      if (target === undefined) return
      searches.total++
      try {
        const r = await withTimeout((H.api as ApiClient).search({ query: target.token, timeoutMs: 3_000 }), 15_000, 'search')
        if (r.results.some(x => x.cid === target.cid)) {
          searches.ok++
          if (target.floodOnly) searches.viaFlood++
        } else {
          noteFailure(searches.failures, new Error(`${target.floodOnly ? 'flood-only' : 'directory'} file not found${r.note !== undefined ? ` (${r.note})` : ''}`))
        }
      } catch (err) { noteFailure(searches.failures, err) }
    }
    const fetched = new Set<string>()
    const get = async (): Promise<void> => {
      const target = published.filter(p => !p.floodOnly && !fetched.has(p.cid) && Date.now() - p.at > 2_000).at(-1)
      if (target === undefined) return
      fetched.add(target.cid)
      gets.total++
      const out = join(downloads, target.name)
      try {
        const r = await withTimeout((H.api as ApiClient).get({ cid: target.cid, out, timeoutMs: 60_000 }, () => {}), 90_000, 'get')
        if (r.badPeers.includes(L.d?.peerId ?? '')) gets.liarBanned++
        const sha = await sha256File(out)
        if (sha !== target.sha256) throw new Error('downloaded bytes differ from the published file')
        gets.ok++
        gets.bytes += target.size
      } catch (err) {
        noteFailure(gets.failures, err)
      } finally {
        // H keeps it in its shared list; only the bytes go, so the disk does not fill over 30 minutes
        await rm(out, { force: true })
      }
    }

    const deadline = { at: Date.now() + seconds * 1000 }
    const loops: Array<Promise<void>> = []
    const every = (ms: number, step: () => Promise<void>, what: string): void => {
      loops.push((async () => {
        while (Date.now() < deadline.at) {
          const started = Date.now()
          try { await step() } catch (err: any) { log(`${what}: ${err.message}`) }
          const left = ms - (Date.now() - started)
          if (left > 0 && Date.now() < deadline.at) await sleep(Math.min(left, deadline.at - Date.now()))
        }
      })())
    }

    // a first file everywhere before the attacks, so they have real CIDs and words to mutate
    await publish()
    attacks = new Attacks({
      targets: {
        directory: [S.addr],
        flood: [H.addr],
        transfer: [H.addr, S.addr, P1.addr],
        churn: [H.addr, S.addr]
      },
      live: () => ({ cids: published.slice(-20).map(p => p.cid), words: published.slice(-20).map(p => p.token) }),
      seed: process.env.SOAK_SEED !== undefined ? Number(process.env.SOAK_SEED) : undefined,
      skip
    })
    await attacks.start()
    measuring = true
    const measuredFrom = Date.now()
    const cpuAtStart = process.cpuUsage()
    log('load and attacks running')

    let loadPeak = loadavg()[0]
    // the first round sees only windows that ended before the load began: they set the baseline, not the verdict
    let firstRound = true
    every(sampleMs, async () => {
      loadPeak = Math.max(loadPeak, loadavg()[0])
      const counting = measuring && !firstRound
      firstRound = false
      await Promise.all(members.map(async m => {
        try { await m.sample(counting) } catch (err: any) { if (m.up && !m.killing) log(`sampling ${m.name}: ${err.message}`) }
      }))
    }, 'sample')
    every(4_000, publish, 'publish')
    every(2_000, search, 'search')
    every(5_000, get, 'get')
    let victim = 0
    every(killEveryMs, async () => {
      // the first turn only waits: the network runs a while before anyone dies
      if (Date.now() - measuredFrom < killEveryMs / 2) { await sleep(killEveryMs / 2); return }
      const m = [P2, F][victim++ % 2]
      if (!m.up || skip.includes('kill')) return
      const killedAt = Date.now()
      await m.kill()
      kills.killed++
      await sleep(3_000)
      try {
        await m.restart()
        kills.restarted++
        kills.log.push(`${m.name.split(' ')[0]} killed at +${Math.round((killedAt - measuredFrom) / 1000)} s, back after ${Math.round((Date.now() - killedAt) / 1000)} s`)
      } catch (err: any) {
        kills.log.push(`${m.name} did not restart: ${err.message.split('\n')[0]}`)
        log(`${m.name} did not restart: ${err.message}`)
      }
    }, 'kill')
    every(60_000, async () => {
      const a = attacks as Attacks
      log(`${Math.round((Date.now() - measuredFrom) / 1000)} s: searches ${searches.ok}/${searches.total}, gets ${gets.ok}/${gets.total}, fuzz frames ${a.counts.fuzzFrames}, churn ${a.counts.churnConnections}, kills ${kills.killed}; H RSS ${((H as Member).samples.at(-1)?.rss ?? 0) / MiB | 0} MB`)
    }, 'progress')

    await Promise.all(loops)
    measuring = false
    await attacks.stop()
    // one last look at everyone after the load
    await Promise.all(members.map(async m => { await m.sample(false).catch(() => {}) }))

    // ---- figures ----
    const a = attacks.counts
    // the control's windows that lay wholly under load, like the daemons'
    const control = baseline.windows.filter(w => w.at - 10_000 >= measuredFrom - 1_000)
    const figures: SoakFigures = {
      daemons: members.map(m => m.figures()),
      searches,
      gets,
      attacks: a,
      kills,
      baselineLagP99: control.length > 0 ? Math.max(...control.map(w => w.p99)) : undefined,
      skipped: skip
    }
    const failures = verdict(figures, caps)
    const mb = (b?: number): string => b === undefined ? '-' : (b / MiB).toFixed(0)
    const rows: string[][] = [['daemon', 'RSS start', 'RSS peak', 'RSS end', 'heap peak', 'lag p99 (worst 10 s)', 'lag max', 'windows', 'CPU %', 'conns peak', 'restarts']]
    for (const [i, d] of figures.daemons.entries()) {
      const m = members[i]
      rows.push([
        `${d.name}${d.observed ? ' *' : ''}`, mb(d.rssStart), mb(d.rssPeak), mb(d.rssEnd), mb(d.heapPeak),
        d.lag?.p99.toString() ?? '-', d.lag?.max.toString() ?? '-', String(d.lagWindows),
        m.cpuWallMs > 0 ? (100 * m.cpu / (m.cpuWallMs / 1000)).toFixed(0) : '-',
        m.samples.length > 0 ? String(Math.max(...m.samples.map(x => x.connections ?? 0))) : '-',
        String(m.incarnations - 1)
      ])
    }
    if (control.length > 0) {
      rows.push(['(control: 5% CPU busy-work process)', '', '', '', '', String(Math.max(...control.map(w => w.p99))), String(Math.max(...control.map(w => w.max))), String(control.length), '', '', ''])
    }
    const soakCpu = process.cpuUsage(cpuAtStart)
    rows.push(['(this soak process: load + attacks)', '', '', mb(process.memoryUsage().rss), '', '', '', '', (100 * (soakCpu.user + soakCpu.system) / 1e6 / ((Date.now() - measuredFrom) / 1000)).toFixed(0), '', ''])
    const pct = (r: { ok: number, total: number }): string => r.total === 0 ? '-' : `${(100 * r.ok / r.total).toFixed(1)}%`
    const out: string[] = []
    out.push(`sedai soak: ${Math.round((Date.now() - measuredFrom) / 1000)} s under load; machine: ${cpus().length} cores, load average now ${loadavg().map(l => l.toFixed(2)).join(' ')}, 1-min load peak during the run ${loadPeak.toFixed(2)}`)
    if (skip.length > 0) out.push(`attack kinds left out (SOAK_SKIP): ${skip.join(', ')}`)
    out.push(`caps: RSS <= ${mb(caps.rssBytes)} MB per daemon; event-loop p99 < ${caps.lagP99Ms} ms per 10 s window on * daemons; honest success >= ${(caps.minSuccess * 100).toFixed(0)}%; no unplanned exit`)
    out.push('')
    out.push(...formatTable(rows))
    out.push('(MB = MiB; lag in ms, over the windows completed under load)')
    for (const m of members.filter(x => x.observed)) {
      const all = m.trackers.flatMap(t => t.windows.map((w, i) => ({ ...w, at: t.seenAt[i] })))
      const worst = all.sort((x, y) => y.p99 - x.p99).slice(0, 3)
      if (worst.length > 0) out.push(`${m.name.split(' ')[0]} worst windows (seen at +s): ${worst.map(w => `+${Math.round((w.at - measuredFrom) / 1000)} p99 ${w.p99} max ${w.max}`).join('; ')}`)
    }
    out.push('')
    out.push(`honest search  ${searches.ok}/${searches.total} ok (${pct(searches)}), ${searches.viaFlood} answered by flooding, ${searches.skipped} flood searches turned into directory ones while F was down or relinking`)
    out.push(`honest get     ${gets.ok}/${gets.total} ok (${pct(gets)}), ${(gets.bytes / MiB).toFixed(1)} MiB verified, liar banned in ${gets.liarBanned} downloads`)
    for (const [kind, n] of [...searches.failures, ...gets.failures]) out.push(`  failure x${n}: ${kind}`)
    out.push(`SIGKILL        ${kills.killed} killed, ${kills.restarted} restarted (${kills.log.join('; ') || 'none'})`)
    out.push(`attacks        fuzz: ${a.fuzzStreams} streams, ${a.fuzzFrames} frames (${a.fuzzClosedByDaemon} streams closed by the daemon)`)
    out.push(`               oversized prefix: ${a.oversizedClosed}/${a.oversized} closed within 5 s; withheld prefix: ${a.withheldReaped}/${a.withheld} reaped (slowest ${(a.withheldReapMaxMs / 1000).toFixed(1)} s), ${attacks.withheldOpenAtEnd} still within the hold at the end`)
    out.push(`               idle streams: ${a.idleOpened} opened, ${a.idleRefused} refused, ${a.idleReaped} reaped by the daemons`)
    out.push(`               connection churn: ${a.churnConnections} connections, ${a.churnFailures} failed dials`)
    out.push(`               SEARCH flood: ${a.searchBursts} bursts, ${a.searchSent} sent, ${a.searchOk} answered, ${a.searchRateLimited} rate-limited, ${a.searchOther} other`)
    out.push(`               QUERY flood: ${a.queryBursts} bursts, ${a.queriesSent} queries, ${a.queryBans} ended in BYE FLOODING`)
    const hs = H.lastStats.at(-1) ?? {}
    const ss = S.lastStats.at(-1)?.['directory-server'] ?? {}
    // the seeders and F have no flood link to an attacker: whatever they throttle or drop came from an honest neighbour
    // relaying the attackers' admitted queries (the collateral of a query flood)
    const sum = (ms: Member[], get: (st: any) => number | undefined): number => ms.reduce((n, m) => n + m.lastStats.reduce((k, st) => k + (get(st) ?? 0), 0), 0)
    const honest = [P1, P2, L, F]
    const collateralThrottled = sum(honest, st => st?.flood?.droppedThrottled)
    const collateralDropped = sum(honest, st => st?.flood?.neighboursDroppedForFlooding)
    out.push(`daemon side    S: ${ss.rateLimited ?? 0} rate-limited, ${ss.invalidMessages ?? 0} invalid messages, ${ss.refused ?? 0} refused; H: ${hs.flood?.droppedThrottled ?? 0} queries throttled, ${hs.flood?.neighboursDroppedForFlooding ?? 0} links dropped for flooding, ${hs.flood?.droppedInvalid ?? 0} invalid flood frames, ${hs.transfer?.chunksRejected ?? 0} bad chunks rejected; L corrupted ${sum([L], st => st?.transfer?.chunksCorruptedOnPurpose)} chunks on purpose`)
    out.push(`collateral     P1, P2, L, F (no attacker link) throttled ${collateralThrottled} queries relayed by honest neighbours and dropped ${collateralDropped} honest links for flooding`)
    if (a.errors > 0) out.push(`               attacker-side failures: ${a.errors} (${[...attacks.errorKinds].slice(0, 4).map(([k, n]) => `${n}x ${k}`).join('; ')})`)
    out.push('')
    for (const f of failures) out.push(`FAIL: ${f}`)
    out.push(failures.length === 0 ? 'PASS' : 'FAIL')
    process.stdout.write(out.join('\n') + '\n')
    code = failures.length === 0 ? 0 : 1
  } catch (err: any) {
    process.stderr.write(`soak: could not run: ${err.stack ?? err.message}\n`)
    process.stdout.write('FAIL\n')
    code = 1
  } finally {
    await attacks?.stop().catch(() => {})
    baseline.proc.kill()
    await Promise.allSettled(members.map(async m => { await m.stop() }))
    // the daemons' logs (warn and above) go with the work folder, which a failed run keeps for a look
    await mkdir(join(dir, 'logs'), { recursive: true }).catch(() => {})
    for (const m of members) {
      for (const [i, logs] of m.logs.entries()) await writeFile(join(dir, 'logs', `${m.name.split(' ')[0]}-${i + 1}.log`), logs()).catch(() => {})
    }
    await rm(files, { recursive: true, force: true })
    await rm(downloads, { recursive: true, force: true })
    if (process.env.SOAK_KEEP === '1' || code !== 0) log(`kept ${dir} (daemon logs in logs/; repos: ${members.map(m => m.d?.repo).join(' ')})`)
    else {
      await rm(dir, { recursive: true, force: true })
      await Promise.allSettled(members.map(async m => { if (m.d !== undefined) await rm(m.d.repo, { recursive: true, force: true }) }))
    }
  }
  return code
}

/** Left-aligned first column, the others right-aligned. */
function formatTable (rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => (r[c] ?? '').length)))
  return rows.map(r => r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join('  '))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main().catch((err: Error) => {
    // a bad knob, or no temp folder: say so plainly, no verdict
    process.stderr.write(`soak: could not run: ${err.message}\n`)
    return 1
  })
  // libp2p timers of the attack nodes may linger a moment; the verdict is out, so leave now
  setTimeout(() => process.exit(process.exitCode), 2_000).unref()
}
