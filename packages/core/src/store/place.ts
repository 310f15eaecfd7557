/**
 * Putting a verified file under the name a user asked for: the finished
 * download's .part, or a copy of a file the store already holds. A name is
 * never left holding a partial or unverified file, and an existing file is
 * replaced only when the caller says so.
 */
import { constants as fsConstants } from 'node:fs'
import { copyFile, link, open, rename, stat, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DestinationExistsError } from '../errors.ts'
import { Bitfield } from './bitfield.ts'
import { chunkCount, chunkHash, chunkLength, readFully, sha256 } from './manifest.ts'
import type { Manifest } from './manifest.ts'

/** link() errors that mean "no hard links here": fall back to copying. */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'])

/** Where a finished file goes: a path, and whether a different file already there may be replaced. */
export interface Destination {
  path: string
  replace: boolean
}

/**
 * The chunks set in `have` whose bytes in `fh` do not match the manifest
 * (short reads included), lowest first.
 */
export async function badChunks (fh: FileHandle, manifest: Manifest, have: Bitfield, signal?: AbortSignal): Promise<number[]> {
  const bad: number[] = []
  const buf = Buffer.allocUnsafe(manifest.chunkSize)
  for (let i = 0; i < have.length; i++) {
    if (!have.get(i)) continue
    signal?.throwIfAborted()
    const len = chunkLength(manifest, i)
    const ok = await readFully(fh, buf, len, i * manifest.chunkSize) === len &&
      Buffer.compare(sha256(buf.subarray(0, len)), chunkHash(manifest, i)) === 0
    if (!ok) bad.push(i)
  }
  return bad
}

/** Whether the file at `path` is exactly the manifest's content (size, then every chunk's hash); false if it is missing. */
export async function fileMatches (path: string, manifest: Manifest, signal?: AbortSignal): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined)
  if (fh === undefined) return false
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size !== manifest.size) return false
    const all = new Bitfield(chunkCount(manifest))
    for (let i = 0; i < all.length; i++) all.set(i)
    return (await badChunks(fh, manifest, all, signal)).length === 0
  } finally {
    await fh.close()
  }
}

/** Whether anything (a file, a folder, a dangling link) has the name `path`. */
export async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, (err: NodeJS.ErrnoException) => err.code !== 'ENOENT')
}

/**
 * Gives `from`'s file the name `to` as well (the caller unlinks `from`
 * afterwards). Without `replace` an existing `to` is never touched
 * (DestinationExistsError), unless it is `from` itself: a crash between the
 * link and the caller's commit. Across filesystems the file is copied under a
 * hidden name in `to`'s folder and synced first: a crash mid-copy never
 * leaves a partial file under the final name.
 */
export async function placeFile (from: string, to: string, replace: boolean): Promise<void> {
  if (!replace) {
    try {
      // link fails on an existing `to` (rename would silently replace it)
      await link(from, to)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (code === 'EEXIST') {
        const [a, b] = await Promise.all([stat(from), stat(to)])
        if (a.ino !== b.ino || a.dev !== b.dev) throw existsError(to)
        return
      }
      if (!NO_LINK.has(code)) throw err
    }
  }
  const tmp = await hiddenName(to)
  try {
    await link(from, tmp).catch(async (err: NodeJS.ErrnoException) => {
      if (!NO_LINK.has(err.code ?? '')) throw err
      await copyFile(from, tmp, fsConstants.COPYFILE_FICLONE)
      await syncFile(tmp)
    })
    await commit(tmp, to, replace)
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/**
 * A copy of `from` under the name `to`, checked against `manifest` after it
 * was written (so what lands at `to` is verified, whatever happened to `from`
 * on the way): a reflink where the filesystem has them (btrfs, XFS), else a
 * byte copy. Never a hard link: the two names would then be one file, and a
 * later edit of either would change both. False, and nothing placed, when
 * the copy does not match (`from` changed since it was shared).
 */
export async function placeVerifiedCopy (from: string, to: string, manifest: Manifest, replace: boolean, signal?: AbortSignal): Promise<boolean> {
  const tmp = await hiddenName(to)
  try {
    await copyFile(from, tmp, fsConstants.COPYFILE_FICLONE)
    if (!await fileMatches(tmp, manifest, signal)) return false
    await syncFile(tmp)
    await commit(tmp, to, replace)
    return true
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** `tmp` (complete, synced) becomes `to`: renamed over it when replacing, else linked (never over an existing file). */
async function commit (tmp: string, to: string, replace: boolean): Promise<void> {
  if (replace) {
    await rename(tmp, to)
    return
  }
  await link(tmp, to).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw existsError(to)
    if (!NO_LINK.has(err.code ?? '')) throw err
    // no hard links at all here (FAT): copy under the final name, exclusively
    await copyFile(tmp, to, fsConstants.COPYFILE_EXCL).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? existsError(to) : err
    })
    await syncFile(to)
  })
}

/**
 * Refuses, before anything is fetched or written, a destination that holds
 * a different file the caller did not ask to replace (identical bytes are
 * fine: the download then keeps them).
 */
export async function checkDestination (dest: Destination, manifest: Manifest, signal?: AbortSignal): Promise<void> {
  if (dest.replace || !await exists(dest.path)) return
  if (!await fileMatches(dest.path, manifest, signal)) throw existsError(dest.path)
}

export function existsError (path: string): DestinationExistsError {
  return new DestinationExistsError(`${path} already exists and is a different file; not overwriting it (--force replaces it)`)
}

/** A hidden name beside `to` (on its filesystem, so the final rename or link is atomic); a leftover of a crash is removed. */
async function hiddenName (to: string): Promise<string> {
  const tmp = join(dirname(to), `.${basename(to)}.sedai-tmp`)
  await unlink(tmp).catch(() => {})
  return tmp
}

async function syncFile (path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try { await fh.sync() } finally { await fh.close() }
}
