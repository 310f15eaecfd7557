/**
 * A node:test reporter that prints, when the run ends, the ten test files
 * that took longest (wall time of each file's process, start-up included),
 * so the next slow test is seen in every `npm test`. Used beside `spec`
 * (package.json "test").
 */
import { resolve } from 'node:path'
import type { TestEvent } from 'node:test/reporters'

const SHOWN = 10

export default async function * slowestFiles (source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const files = new Map<string, number>()
  const started = performance.now()
  for await (const event of source) {
    if (event.type !== 'test:complete') continue
    const { name, nesting, file, details } = event.data
    // a file's own entry: nesting 0 and named by its path (its tests are named by their titles)
    if (nesting === 0 && file !== undefined && resolve(name) === file) files.set(name, details.duration_ms)
  }
  const wall = (performance.now() - started) / 1000
  const slowest = [...files].sort((a, b) => b[1] - a[1]).slice(0, SHOWN)
  const total = [...files.values()].reduce((sum, ms) => sum + ms, 0) / 1000
  const lines = slowest.map(([name, ms]) => `${(ms / 1000).toFixed(1).padStart(7)} s  ${name}`)
  yield `\nslowest ${slowest.length} of ${files.size} test files (the files' own times add up to ${total.toFixed(0)} s in ${wall.toFixed(0)} s of wall time):\n${lines.join('\n')}\n`
}
