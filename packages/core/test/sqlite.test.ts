import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const SQLITE = fileURLToPath(new URL('../src/sqlite.ts', import.meta.url))

/** The stderr of a fresh Node process that runs `code` as a module. */
async function stderrOf (code: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`)); else resolve(stderr)
    })
  })
}

test('node:sqlite through core/src/sqlite.ts opens a database and prints no ExperimentalWarning', async () => {
  const stderr = await stderrOf(`const { DatabaseSync } = await import(${JSON.stringify(SQLITE)}); new DatabaseSync(':memory:').exec('CREATE VIRTUAL TABLE t USING fts5(x)')`)
  assert.equal(stderr, '')
})

test('tripwire: node:sqlite imported directly still warns (when it stops, the filter in sqlite.ts can go)', async () => {
  const stderr = await stderrOf("const { DatabaseSync } = await import('node:sqlite'); new DatabaseSync(':memory:')")
  assert.match(stderr, /ExperimentalWarning: SQLite is an experimental feature/)
})
