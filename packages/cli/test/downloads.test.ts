import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DOWNLOAD_LOG_DEFAULTS, DownloadLog } from '../src/downloads.ts'

test('the download log follows progress, speed, sources and the end of each download', async () => {
  const log = new DownloadLog()
  const a = log.start('cid-a')
  const b = log.start('cid-b')
  a.progress({ cid: 'cid-a', name: 'a.bin', size: 1000, have: 100, fetched: 100, sources: ['p1'] })
  await new Promise(resolve => setTimeout(resolve, 50))
  a.progress({ cid: 'cid-a', name: 'a.bin', size: 1000, have: 600, fetched: 600, sources: ['p1', 'p2'] })
  const running = log.list()
  assert.deepEqual(running.map(d => [d.cid, d.state]), [['cid-a', 'running'], ['cid-b', 'running']])
  assert.deepEqual(running[0].sources, ['p1', 'p2'])
  assert.ok(running[0].rate > 0)
  a.done({ cid: 'cid-a', path: '/x/a.bin', size: 1000, sources: ['p1', 'p2'], fetched: 1000, resumed: 0, badPeers: [] })
  b.failed(new Error('no source has cid-b\n  at somewhere'))
  a.failed(new Error('late'))
  const ended = log.list()
  assert.deepEqual(ended.map(d => [d.cid, d.state]), [['cid-b', 'failed'], ['cid-a', 'done']])
  assert.equal(ended[0].error, 'no source has cid-b')
  assert.equal(ended[1].have, 1000)
  assert.equal(ended[1].path, '/x/a.bin')
})

test('the log keeps a bounded number of finished downloads', () => {
  const log = new DownloadLog()
  for (let i = 0; i < DOWNLOAD_LOG_DEFAULTS.keepFinished + 5; i++) log.start(`cid-${i}`).failed(new Error('x'))
  const list = log.list()
  assert.equal(list.length, DOWNLOAD_LOG_DEFAULTS.keepFinished)
  assert.equal(list[0].cid, `cid-${DOWNLOAD_LOG_DEFAULTS.keepFinished + 4}`)
})
