/**
 * The soak's verdict logic (scripts/soak.ts), without running a soak: how
 * event-loop windows are counted from `sedai stats` samples, and which
 * figures fail the run.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LagTracker, verdict } from '../scripts/soak.ts'
import type { Caps, SoakFigures } from '../scripts/soak.ts'

const w = (p99: number, max = p99): { p50: number, p99: number, max: number } => ({ p50: 1, p99, max })

test('LagTracker: windows before the load are left out, each window counted once', () => {
  const t = new LagTracker()
  // start-up window: bad, but not under load
  t.add({ windowMs: 10_000, windows: 1, last: w(500), worst: w(500) }, false)
  // two samples per window: the second sees the same window again
  t.add({ windowMs: 10_000, windows: 2, last: w(20), worst: w(500) }, true)
  t.add({ windowMs: 10_000, windows: 2, last: w(20), worst: w(500) }, true)
  t.add({ windowMs: 10_000, windows: 3, last: w(30, 80), worst: w(500) }, true)
  assert.equal(t.windows.length, 2)
  assert.deepEqual(t.summary(), { p50: 1, p99: 30, max: 80 })
  assert.equal(t.skipped, 0)
})

test('LagTracker: a window skipped between late samples counts with the worst figures when it was the worst', () => {
  const t = new LagTracker()
  t.add({ windowMs: 10_000, windows: 1, last: w(20), worst: w(20) }, true)
  // windows 2 and 3 completed before the next sample; `worst` rose, `last` does not explain it
  t.add({ windowMs: 10_000, windows: 3, last: w(25), worst: w(150, 400) }, true)
  assert.equal(t.skipped, 1)
  assert.equal(t.summary()?.p99, 150)
  assert.equal(t.summary()?.max, 400)
  // a skipped window that was no worse than those seen adds nothing
  const u = new LagTracker()
  u.add({ windowMs: 10_000, windows: 1, last: w(60), worst: w(60) }, true)
  u.add({ windowMs: 10_000, windows: 4, last: w(10), worst: w(60) }, true)
  assert.equal(u.skipped, 2)
  assert.deepEqual(u.windows, [w(60), w(10)])
  // no window yet: nothing to judge
  assert.equal(new LagTracker().summary(), undefined)
})

const MiB = 1024 * 1024
const caps: Caps = { rssBytes: 400 * MiB, lagP99Ms: 100, minSuccess: 0.9 }

function healthy (): SoakFigures {
  const attacks = {
    fuzzStreams: 10, fuzzFrames: 100, fuzzReplyBytes: 1, fuzzClosedByDaemon: 5, oversized: 4, oversizedClosed: 4, oversizedOpen: [],
    withheld: 4, withheldReaped: 4, withheldGaveUp: 0, withheldReapMaxMs: 45_000, idleOpened: 48, idleRefused: 0, idleReaped: 10,
    churnConnections: 100, churnFailures: 0, searchBursts: 2, searchSent: 500, searchOk: 300, searchRateLimited: 200, searchOther: 0,
    queryBursts: 2, queriesSent: 600, queryBans: 1, errors: 0
  }
  return {
    daemons: [
      { name: 'S', observed: true, rssStart: 140 * MiB, rssPeak: 180 * MiB, rssEnd: 170 * MiB, heapPeak: 40 * MiB, lag: w(30), lagWindows: 10, unexpectedExits: [] },
      { name: 'P1', observed: false, rssStart: 140 * MiB, rssPeak: 160 * MiB, rssEnd: 150 * MiB, heapPeak: 40 * MiB, lag: w(900), lagWindows: 10, unexpectedExits: [] }
    ],
    searches: { ok: 95, total: 100 },
    gets: { ok: 9, total: 10 },
    attacks,
    kills: { killed: 2, restarted: 2 },
    baselineLagP99: 5
  }
}

test('verdict: a healthy run passes; an unobserved daemon is not held to the lag cap', () => {
  assert.deepEqual(verdict(healthy(), caps), [])
})

test('verdict: each broken cap is named', () => {
  const f = healthy()
  f.daemons[0].rssPeak = 401 * MiB
  f.daemons[0].lag = w(100)
  f.daemons[1].unexpectedExits.push('exited (code 1, signal null)')
  f.searches = { ok: 89, total: 100 }
  f.gets = { ok: 0, total: 0 }
  f.kills = { killed: 2, restarted: 1 }
  f.attacks.queriesSent = 0
  f.attacks.oversizedClosed = 3
  f.attacks.withheldGaveUp = 1
  f.baselineLagP99 = 150
  const failures = verdict(f, caps)
  const expect = [/S: RSS peaked at 401 MB, cap 400 MB/, /S: event-loop p99 100 ms .*cap 100 ms \(a control process doing 5% CPU of busy-work saw p99 150 ms/, /P1: exited/,
    /honest search success 89.0%/, /no honest get ran/, /1 SIGKILLed peer\(s\) did not restart/, /attack 'QUERY flood' never ran/,
    /1 of 4 oversized-prefix streams were not closed/, /1 withheld-prefix stream\(s\) never reaped/]
  assert.equal(failures.length, expect.length, failures.join('\n'))
  for (const [i, re] of expect.entries()) assert.match(failures[i], re)
})

test('verdict: an attack kind left out on purpose (SOAK_SKIP) is not required to have run', () => {
  const f = healthy()
  f.attacks.queriesSent = 0
  f.kills = { killed: 0, restarted: 0 }
  assert.deepEqual(verdict(f, caps), ["attack 'QUERY flood' never ran", "attack 'SIGKILL' never ran"])
  f.skipped = ['query', 'kill']
  assert.deepEqual(verdict(f, caps), [])
})

test('verdict: an observed daemon without a measured window fails (nothing to judge is not a pass)', () => {
  const f = healthy()
  f.daemons[0].lag = undefined
  assert.match(verdict(f, caps).join('\n'), /S: no event-loop window measured under load/)
})
