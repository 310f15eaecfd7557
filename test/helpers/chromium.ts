/**
 * The headless Chromium the browser tests drive: the one inside the npm
 * devDependency @sparticuz/chromium, so `npm ci` is all a machine needs.
 * SEDAI_CHROMIUM names another binary instead.
 *
 * The package ships its browser brotli-compressed; it is inflated once into
 * node_modules/.cache/sedai/chromium-<package version>/. The package's own
 * executablePath() inflates into an unversioned /tmp/chromium and reuses
 * whatever is there, so after an upgrade it would run the old browser.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { findPackageJSON } from 'node:module'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createBrotliDecompress } from 'node:zlib'
import { chromium } from 'playwright-core'
import { extract } from 'tar-fs'
import type { BrowserContext } from 'playwright-core'

/** Without the background-networking flags Chromium phones home, and on a closed network its connections are refused. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

/** What every failure to get a browser ends with: the way out. */
const INSTALL_HINT = 'install Chromium and point SEDAI_CHROMIUM at it (on Debian: apt-get install -y chromium and set SEDAI_CHROMIUM=/usr/bin/chromium)'
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/sedai/', import.meta.url))

export interface ChromiumExecutable {
  executablePath: string
  /** the environment to launch it with */
  env: Record<string, string | undefined>
}

/** The installed @sparticuz/chromium and the folder its browser is inflated into. */
export async function packagedChromium (): Promise<{ version: string, bin: string, dir: string }> {
  // the package's exports hide its package.json from require.resolve
  const pkgJson = findPackageJSON('@sparticuz/chromium', import.meta.url)
  if (pkgJson === undefined) throw new Error(`@sparticuz/chromium is not installed: run npm ci, or ${INSTALL_HINT}`)
  const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string }
  return { version, bin: join(dirname(pkgJson), 'bin'), dir: join(CACHE, `chromium-${version}`) }
}

/** SEDAI_CHROMIUM when set, else the packaged browser, inflated on first use. */
export async function chromiumExecutable (): Promise<ChromiumExecutable> {
  const own = process.env.SEDAI_CHROMIUM
  if (own !== undefined && own !== '') {
    if (!existsSync(own)) throw new Error(`SEDAI_CHROMIUM names ${own}, which does not exist: ${INSTALL_HINT}`)
    return { executablePath: own, env: { ...process.env } }
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the npm-packaged Chromium (@sparticuz/chromium) is built for linux-x64 only, not ${process.platform}-${process.arch}: ${INSTALL_HINT}`)
  }
  const dir = await inflated()
  const executablePath = join(dir, 'chromium')
  // fontconfig reads the folder's fonts.conf (see inflated())
  const env: ChromiumExecutable['env'] = { ...process.env, FONTCONFIG_PATH: dir }
  // The package carries the NSS, NSPR and expat the binary links against for hosts without them (its AL2023 Lambda
  // images). Only then are they put on LD_LIBRARY_PATH: a directory there is searched before the system's, so adding
  // it always would swap a host's own libnss3 for the packaged one.
  if ((await missingLibraries(executablePath)).length > 0) {
    env.LD_LIBRARY_PATH = [process.env.LD_LIBRARY_PATH, join(dir, 'al2023', 'lib')].filter(Boolean).join(':')
  }
  return { executablePath, env }
}

/** A persistent headless context on `profileDir`; fails (never skips) with what to install when no browser runs. */
export async function launchChromium (profileDir: string, opts: { viewport: { width: number, height: number } }): Promise<BrowserContext> {
  const { executablePath, env } = await chromiumExecutable()
  try {
    return await chromium.launchPersistentContext(profileDir, { executablePath, env, headless: true, args: CHROMIUM_ARGS, viewport: opts.viewport })
  } catch (err) {
    const missing = await missingLibraries(executablePath)
    const libs = missing.length > 0 ? ` (missing libraries: ${missing.join(', ')})` : ''
    throw new Error(`Chromium at ${executablePath} does not start${libs}: ${INSTALL_HINT}\n${(err as Error).message}`, { cause: err })
  }
}

/**
 * The inflated folder, made on first use. Test processes run side by side, so each inflates into a folder of its own
 * and renames it into place: the rename is atomic, so the final folder exists only once complete, and whoever loses
 * the race drops its copy and takes the winner's. (A process killed mid-way leaves its *.tmp-* folder behind.)
 */
async function inflated (): Promise<string> {
  const { bin, dir } = await packagedChromium()
  if (existsSync(dir)) return dir
  await mkdir(CACHE, { recursive: true })
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`
  try {
    await mkdir(tmp)
    const unbrotli = async (file: string, to: NodeJS.WritableStream): Promise<void> =>
      await pipeline(createReadStream(join(bin, file)), createBrotliDecompress(), to)
    await Promise.all([
      unbrotli('chromium.br', createWriteStream(join(tmp, 'chromium'), { mode: 0o755 })),
      // SwiftShader's libGLESv2.so and friends are looked for beside the binary
      unbrotli('swiftshader.tar.br', extract(tmp)),
      unbrotli('fonts.tar.br', extract(tmp)),
      // lib/libnss3.so and the rest, used only where the host lacks them
      unbrotli('al2023.tar.br', extract(join(tmp, 'al2023')))
    ])
    // The packaged fonts.conf names only Lambda's folders (/tmp/fonts, /opt/fonts), none of them here, and with it
    // Chromium drew no text at all. Ours keeps the host's fonts and adds the packaged Open Sans for hosts without any;
    // it names the folder as it will be after the rename.
    await writeFile(join(tmp, 'fonts.conf'), [
      '<?xml version="1.0"?>',
      '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
      '<fontconfig>',
      '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
      `  <dir>${join(dir, 'fonts')}</dir>`,
      '</fontconfig>',
      ''
    ].join('\n'))
    await rename(tmp, dir)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    // another process renamed its copy into place first
    if (existsSync(dir)) return dir
    throw new Error(`could not inflate @sparticuz/chromium into ${dir}: ${INSTALL_HINT}`, { cause: err })
  }
  return dir
}

/** The shared libraries `ldd` cannot find for `executable` on this host (none known when there is no ldd). */
async function missingLibraries (executable: string): Promise<string[]> {
  const ldd = spawn('ldd', [executable], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  ldd.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  try { await once(ldd, 'close') } catch { return [] }
  return out.split('\n').filter(line => line.includes('not found')).map(line => line.trim().split(' ')[0])
}
