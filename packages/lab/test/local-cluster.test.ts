import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { WorkerError } from '../src/errors.ts'
import { WorkerProcess } from '../src/local/cluster.ts'

test('WorkerProcess: a call to a worker killed a moment ago fails with WorkerError, never an uncaught error', async (t) => {
  const uncaught: Error[] = []
  const onUncaught = (err: Error): void => { uncaught.push(err) }
  process.on('uncaughtException', onUncaught)
  t.after(() => { process.off('uncaughtException', onUncaught) })
  for (let i = 0; i < 3; i++) {
    const worker = new WorkerProcess({})
    await worker.ready
    const exit = once(worker.child, 'exit')
    // not awaited: calls race the dying process
    const killed = worker.kill()
    // the lab view samples stats on a timer: it may call between the kill and the 'exit' event
    const call = async (): Promise<unknown> => await worker.call({ op: 'stats' } as any, 5_000).then(() => 'answered', (err: unknown) => err)
    const calls = [call()]
    await once(worker.child, 'disconnect').catch(() => {})
    calls.push(call())
    await exit
    await killed
    for (const outcome of await Promise.all(calls)) assert.ok(outcome instanceof WorkerError, String(outcome))
    assert.equal(worker.alive, false)
  }
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.deepEqual(uncaught.map(e => e.message), [])
})

test('WorkerProcess: kill resolves once the process is gone', async () => {
  const worker = new WorkerProcess({})
  await worker.ready
  await worker.kill()
  assert.equal(worker.alive, false)
  assert.notEqual(worker.child.exitCode ?? worker.child.signalCode, null)
  await assert.rejects(worker.call({ op: 'stats' } as any, 5_000), WorkerError)
})
