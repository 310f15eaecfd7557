/**
 * The browser tests' Chromium helper, without inflating anything (the two
 * browser tests are the proof that the packaged browser runs).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { test } from 'node:test'
import { chromiumExecutable, packagedChromium } from './helpers/chromium.ts'

test('the packaged browser is inflated into a folder named after the installed package version', async () => {
  const { version, bin, dir } = await packagedChromium()
  const pkg = JSON.parse(await readFile(join(dirname(bin), 'package.json'), 'utf8')) as { name: string, version: string }
  assert.equal(pkg.name, '@sparticuz/chromium')
  assert.equal(version, pkg.version)
  assert.equal(basename(dir), `chromium-${version}`)
  assert.match(dir, /node_modules\/\.cache\/sedai\/chromium-/)
})

test('SEDAI_CHROMIUM naming a missing binary fails, saying what to install', async (t) => {
  const before = process.env.SEDAI_CHROMIUM
  t.after(() => { if (before === undefined) delete process.env.SEDAI_CHROMIUM; else process.env.SEDAI_CHROMIUM = before })
  process.env.SEDAI_CHROMIUM = '/nonexistent/chromium'
  await assert.rejects(chromiumExecutable(), /SEDAI_CHROMIUM names \/nonexistent\/chromium, which does not exist: .*apt-get install -y chromium/)
})

test('SEDAI_CHROMIUM naming a binary is used as it is', async (t) => {
  const before = process.env.SEDAI_CHROMIUM
  t.after(() => { if (before === undefined) delete process.env.SEDAI_CHROMIUM; else process.env.SEDAI_CHROMIUM = before })
  process.env.SEDAI_CHROMIUM = process.execPath
  const { executablePath, env } = await chromiumExecutable()
  assert.equal(executablePath, process.execPath)
  assert.equal(env.FONTCONFIG_PATH, process.env.FONTCONFIG_PATH)
})
