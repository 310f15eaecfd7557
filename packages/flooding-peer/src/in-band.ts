import { open } from 'node:fs/promises'
import { DEFAULTS as CORE, HashMismatchError, InvalidMessageError, chunkCount, chunkHash, chunkLength, parseCid, sameBytes, sha256, verifyManifest } from '@sedai/core'
import { MANIFEST_INDEX, RANGE_WINDOW, RELAY_RANGE_BYTES, RELAY_WINDOW } from './protocol/constants.ts'
import type { ContentStore, Destination, DownloadProgress, DownloadResult, Manifest } from '@sedai/core'

/** Fetches one range from the responder along the overlay path (FloodService.relayFetch). */
export type RangeFetch = (index: number, offset: number, length: number, signal?: AbortSignal) => Promise<{ total: number, data: Uint8Array }>

export interface InBandInit {
  cid: string
  /** the responder, for the result's `sources` */
  target: string
  fetch: RangeFetch
  store: ContentStore
  resolveDest: (manifest: Manifest) => Promise<string | Destination> | string | Destination
  signal?: AbortSignal
  onProgress?: (p: DownloadProgress) => void
}


/**
 * A whole chunk (or the manifest) in ranges: the first range tells its length,
 * the others follow RANGE_WINDOW at a time (one at a time, each hop's round
 * trip would bound the throughput). `limit` bounds what the responder may
 * claim; inconsistent ranges are an InvalidMessageError.
 */
export async function fetchWhole (fetch: RangeFetch, index: number, limit: number, signal?: AbortSignal): Promise<Uint8Array> {
  const first = await fetch(index, 0, RELAY_RANGE_BYTES, signal)
  if (first.total > limit) throw new InvalidMessageError(`responder claims ${first.total} bytes (at most ${limit})`)
  if (first.data.byteLength > first.total) throw new InvalidMessageError('range longer than the whole')
  const out = new Uint8Array(first.total)
  out.set(first.data, 0)
  const offsets: number[] = []
  for (let offset = first.data.byteLength; offset < first.total; offset += RELAY_RANGE_BYTES) offsets.push(offset)
  await Promise.all(Array.from({ length: Math.min(RANGE_WINDOW, offsets.length) }, async () => {
    while (offsets.length > 0) {
      const offset = offsets.shift() as number
      const length = Math.min(RELAY_RANGE_BYTES, first.total - offset)
      const next = await fetch(index, offset, length, signal)
      if (next.total !== first.total || next.data.byteLength !== length) throw new InvalidMessageError('inconsistent ranges from the responder')
      out.set(next.data, offset)
    }
  }))
  return out
}

/**
 * Downloads a file along the overlay path, range by range: every hop relays
 * the bytes, and the bytes are still verified end to end: the manifest
 * against the CID, each chunk against the manifest's hash, before it is
 * written. Partial downloads resume like direct ones (the same store record).
 */
export async function downloadInBand (init: InBandInit): Promise<DownloadResult> {
  const { store, signal } = init
  const key = parseCid(init.cid).toString()
  const shared = store.list().find(f => f.cid === key)
  if (shared !== undefined) {
    return { cid: key, name: shared.name, path: shared.path, size: shared.size, sources: [], fetched: 0, resumed: shared.size, badPeers: [] }
  }

  const whole = async (index: number, limit: number): Promise<Uint8Array> => await fetchWhole(init.fetch, index, limit, signal)

  let record = store.getDownload(key)
  // the store re-verified every partial download when it opened; a partial from an earlier get in this process is checked here
  if (record !== undefined && !store.verifiedSinceStart(key)) {
    await store.verifyPartial(key)
    record = store.getDownload(key)
  }
  if (record === undefined) {
    const bytes = await whole(MANIFEST_INDEX, CORE.maxManifestBytes)
    const manifest = await verifyManifest(parseCid(key), bytes)
    record = store.beginDownload(key, bytes, manifest, await init.resolveDest(manifest))
  }
  const rec = record
  const manifest = rec.manifest
  const todo: number[] = []
  for (let i = 0; i < chunkCount(manifest); i++) if (!rec.have.get(i)) todo.push(i)
  let have = 0
  for (let i = 0; i < chunkCount(manifest); i++) if (rec.have.get(i)) have += chunkLength(manifest, i)
  const resumed = have
  let fetched = 0
  const fh = await open(rec.tmpPath, 'r+')
  try {
    // a few chunks at once, each fetched range by range
    let failed = false
    const workers = Array.from({ length: Math.min(RELAY_WINDOW, todo.length) }, async () => {
      while (todo.length > 0 && !failed) {
        signal?.throwIfAborted()
        const i = todo.shift() as number
        let data: Uint8Array
        try {
          data = await whole(i, manifest.chunkSize)
        } catch (err) {
          failed = true
          throw err
        }
        if (data.byteLength !== chunkLength(manifest, i) || !sameBytes(sha256(data), chunkHash(manifest, i))) {
          failed = true
          throw new HashMismatchError(`chunk ${i} relayed from ${init.target} failed verification`)
        }
        // recorded before the write (write-ahead, as download.ts): a chunk written whole before a crash is never fetched
        // again, and one torn by the crash is caught by the store's check at the next start
        rec.have.set(i)
        store.saveProgress(key, rec.have)
        await fh.write(data, 0, data.byteLength, i * manifest.chunkSize)
        fetched += data.byteLength
        have += data.byteLength
        init.onProgress?.({ cid: key, name: manifest.name, size: manifest.size, have, fetched, sources: [init.target] })
      }
    })
    await Promise.all(workers)
  } finally {
    store.saveProgress(key, rec.have)
    await fh.close()
  }
  const file = await store.completeDownload(key)
  return { cid: key, name: manifest.name, path: file.path, size: manifest.size, sources: [init.target], fetched, resumed, badPeers: [] }
}
