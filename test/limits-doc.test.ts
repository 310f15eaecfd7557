/**
 * docs/LIMITS.md is generated from the code's DEFAULTS and protocol constants
 * (scripts/limits.ts): a limit changed in the code without regenerating the
 * table fails here.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { SECTIONS, limitsMarkdown } from '../scripts/limits.ts'

test('docs/LIMITS.md matches the limits in the code', async () => {
  const doc = await readFile(new URL('../docs/LIMITS.md', import.meta.url), 'utf8')
  assert.equal(doc, limitsMarkdown(), 'docs/LIMITS.md is stale: run `node scripts/limits.ts > docs/LIMITS.md`')
  // every generation and the API have their own table, none empty
  assert.equal(SECTIONS.length, 7)
  for (const s of SECTIONS) assert.ok(s.rows.length >= 5, s.title)
})
