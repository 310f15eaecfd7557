import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newLinkWins } from '../../src/overlay/links.ts'

test('the duplicate-link tie-break: the link dialled by the smaller peer id survives, on both ends alike', () => {
  const [small, large] = ['12D3KooWA', '12D3KooWB']
  // at `small`: its own outbound link (dialled by small) beats the inbound one (dialled by large), whichever came first
  assert.equal(newLinkWins(small, large, false, true), true)
  assert.equal(newLinkWins(small, large, true, false), false)
  // at `large`: the same link (inbound there) wins
  assert.equal(newLinkWins(large, small, true, false), true)
  assert.equal(newLinkWins(large, small, false, true), false)
  // two links dialled by the same side: the one already there stays
  for (const outbound of [true, false]) {
    assert.equal(newLinkWins(small, large, outbound, outbound), false)
    assert.equal(newLinkWins(large, small, outbound, outbound), false)
  }
})
