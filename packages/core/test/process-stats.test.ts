import assert from 'node:assert/strict'
import { test } from 'node:test'
import { processStats, startEventLoopMonitor } from '../src/process-stats.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('processStats: memory, and the event-loop delay of the last window and the worst one', async () => {
  startEventLoopMonitor(400)
  const first = processStats()
  assert.ok(first.rssBytes > 0 && first.heapUsedBytes > 0)
  assert.equal(first.eventLoopDelayMs.windowMs, 400)
  assert.equal(first.eventLoopDelayMs.last, undefined)
  // a window with the loop blocked for 200 ms, then a quiet one
  await sleep(50)
  const until = Date.now() + 200
  while (Date.now() < until) { /* block the loop */ }
  await sleep(500)
  const blocked = processStats().eventLoopDelayMs
  assert.ok((blocked.worst?.max ?? 0) >= 150, `worst max ${blocked.worst?.max} ms`)
  await sleep(900)
  const quiet = processStats().eventLoopDelayMs
  assert.ok(quiet.windows >= 2)
  assert.ok((quiet.last?.max ?? Infinity) < 150, `last max ${quiet.last?.max} ms`)
  assert.ok((quiet.worst?.max ?? 0) >= 150, 'the worst window is kept')
})
