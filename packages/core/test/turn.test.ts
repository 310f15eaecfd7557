import assert from 'node:assert/strict'
import { test } from 'node:test'
import { afterTurnWrites, atTurnEnd } from '../src/turn.ts'

const nextTurn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

test('turn: writers run before flushers, at the end of the turn, whatever order they were queued in', async () => {
  const order: string[] = []
  afterTurnWrites(() => order.push('flush 1'))
  atTurnEnd(() => order.push('write 1'))
  atTurnEnd(() => order.push('write 2'))
  afterTurnWrites(() => order.push('flush 2'))
  assert.deepEqual(order, [])
  await nextTurn()
  assert.deepEqual(order, ['write 1', 'write 2', 'flush 1', 'flush 2'])
})

test('turn: work queued by a callback runs in the same round', async () => {
  const order: string[] = []
  atTurnEnd(() => {
    order.push('write')
    afterTurnWrites(() => { order.push('flush'); atTurnEnd(() => order.push('late write')) })
  })
  await nextTurn()
  assert.deepEqual(order, ['write', 'flush', 'late write'])
})
