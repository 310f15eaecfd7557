/**
 * A file as content: fixed-size chunks, each with its SHA-256, listed in a
 * dag-cbor manifest whose CID names the file on the network. Peers fetch the
 * manifest first, check it against the CID, then check every chunk against it.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { DEFAULTS } from '../config.ts'
import { ContentChangedError, HashMismatchError, InvalidCidError, InvalidManifestError, InvalidOptionError, InvalidPathError } from '../errors.ts'

export interface Manifest {
  version: 1
  /** file name, no path: see `safeFileName` */
  name: string
  /** bytes */
  size: number
  /** bytes; every chunk but the last is this long */
  chunkSize: number
  /** chunkCount * 32 bytes: SHA-256 of each chunk, in order */
  hashes: Uint8Array
}

/** What a foreign manifest may claim; defaults in DEFAULTS. */
export interface ManifestLimits {
  maxManifestBytes: number
  maxNameBytes: number
  minChunkSize: number
  maxChunkSize: number
  maxChunks: number
}

/** Size, mtime and inode of a file when it was hashed, to notice later changes. */
export interface FileStat {
  size: number
  mtimeMs: number
  ino: number
}

/** Multicodec of manifests: dag-cbor. */
export const MANIFEST_CODEC = 0x71
/** Multihash of manifest CIDs and chunk hashes: sha2-256. */
export const SHA256_CODE = 0x12
export const HASH_BYTES = 32

const LIMITS: ManifestLimits = {
  maxManifestBytes: DEFAULTS.maxManifestBytes,
  maxNameBytes: DEFAULTS.maxNameBytes,
  minChunkSize: DEFAULTS.minChunkSize,
  maxChunkSize: DEFAULTS.maxChunkSize,
  maxChunks: DEFAULTS.maxChunks
}

/** The manifest's keys on the wire, and nothing else. */
const KEYS = ['chunkSize', 'hashes', 'name', 'size', 'v']

/** SHA-256 of `bytes`: the one hash function of chunks and manifests. */
export function sha256 (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** ceil(size / chunkSize); a 0-byte file has no chunks. */
export function chunkCount (m: Manifest): number {
  return Math.ceil(m.size / m.chunkSize)
}

/** Length of chunk `index`; the last one may be short. */
export function chunkLength (m: Manifest, index: number): number {
  return Math.min(m.chunkSize, m.size - index * m.chunkSize)
}

/** The 32-byte hash of chunk `index` (a view into `m.hashes`, not a copy). */
export function chunkHash (m: Manifest, index: number): Uint8Array {
  return m.hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES)
}

/**
 * `name` if it is safe to use as a file name in any folder, else
 * InvalidManifestError: non-empty, at most `maxNameBytes` of UTF-8, no path
 * separator or NUL, not '.' or '..'. Downloaders write files under this name.
 */
export function safeFileName (name: string, maxNameBytes: number = LIMITS.maxNameBytes): string {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidManifestError('name must be a non-empty string')
  }
  // lone surrogates would not survive UTF-8 and so not the round trip through the manifest
  if (/\p{Cs}/u.test(name)) {
    throw new InvalidManifestError('name is not well-formed Unicode')
  }
  if (Buffer.byteLength(name, 'utf8') > maxNameBytes) {
    throw new InvalidManifestError(`name is longer than ${maxNameBytes} UTF-8 bytes`)
  }
  if (/[/\\\0]/.test(name) || name === '.' || name === '..') {
    throw new InvalidManifestError(`name ${JSON.stringify(name)} is not a plain file name`)
  }
  return name
}

/** Deterministic dag-cbor of `m` (the bytes its CID hashes); throws InvalidManifestError if `m` breaks the rules. */
export function encodeManifest (m: Manifest): Uint8Array {
  check(m, LIMITS)
  return encode(m)
}

function encode (m: Manifest): Uint8Array {
  return dagCbor.encode({ v: m.version, name: m.name, size: m.size, chunkSize: m.chunkSize, hashes: m.hashes })
}

/**
 * Decode and validate manifest bytes from anywhere (a peer, the database).
 * Every problem, including malformed CBOR, is an InvalidManifestError.
 */
export function decodeManifest (bytes: Uint8Array, limits: Partial<ManifestLimits> = {}): Manifest {
  const l = { ...LIMITS, ...limits }
  // before decoding: the decoder would allocate for whatever the bytes announce
  if (bytes.byteLength > l.maxManifestBytes) {
    throw new InvalidManifestError(`manifest of ${bytes.byteLength} bytes exceeds the limit of ${l.maxManifestBytes}`)
  }
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError(`manifest is not valid dag-cbor: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || CID.asCID(value) != null) {
    throw new InvalidManifestError('manifest is not a map')
  }
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).sort()
  if (keys.join() !== KEYS.join()) {
    throw new InvalidManifestError(`manifest has keys [${keys.join(', ')}], expected [${KEYS.join(', ')}]`)
  }
  const m = { version: obj.v, name: obj.name, size: obj.size, chunkSize: obj.chunkSize, hashes: obj.hashes } as Manifest
  check(m, l)
  // one manifest, one encoding, one CID: refuse unsorted keys, floats for integers and the like
  if (!equalBytes(encode(m), bytes)) {
    throw new InvalidManifestError('manifest is not in canonical dag-cbor form')
  }
  return m
}

/** The field rules shared by encode and decode. */
function check (m: Manifest, l: ManifestLimits): void {
  if (m.version !== 1) {
    throw new InvalidManifestError(`unknown manifest version (${typeof m.version === 'number' ? m.version : typeof m.version})`)
  }
  safeFileName(m.name, l.maxNameBytes)
  if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0) {
    throw new InvalidManifestError('size must be a non-negative safe integer')
  }
  if (typeof m.chunkSize !== 'number' || !Number.isSafeInteger(m.chunkSize) || m.chunkSize < l.minChunkSize || m.chunkSize > l.maxChunkSize) {
    throw new InvalidManifestError(`chunkSize must be an integer in [${l.minChunkSize}, ${l.maxChunkSize}]`)
  }
  const n = chunkCount(m)
  if (n > l.maxChunks) {
    throw new InvalidManifestError(`manifest lists ${n} chunks, more than the limit of ${l.maxChunks}`)
  }
  if (!(m.hashes instanceof Uint8Array) || m.hashes.byteLength !== n * HASH_BYTES) {
    throw new InvalidManifestError(`hashes must be ${n * HASH_BYTES} bytes (${n} chunks)`)
  }
}

/** CIDv1 of encoded manifest bytes: dag-cbor, sha2-256. */
export async function manifestCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(MANIFEST_CODEC, Digest.create(SHA256_CODE, sha256(bytes)))
}

/** A manifest CID from user or peer input; InvalidCidError for anything else. */
export function parseCid (s: string): CID {
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch (err) {
    throw new InvalidCidError(`${JSON.stringify(s)} is not a CID: ${(err as Error).message}`)
  }
  checkCid(cid)
  return cid
}

function checkCid (cid: CID): void {
  if (cid.version !== 1 || cid.code !== MANIFEST_CODEC || cid.multihash.code !== SHA256_CODE || cid.multihash.size !== HASH_BYTES) {
    throw new InvalidCidError(`${cid.toString()} is not a sedai manifest CID (CIDv1, dag-cbor, sha2-256)`)
  }
}

/** Decode manifest bytes fetched for `cid`, after checking that they are the ones it names. */
export async function verifyManifest (cid: CID, bytes: Uint8Array): Promise<Manifest> {
  checkCid(cid)
  if (bytes.byteLength > LIMITS.maxManifestBytes) {
    throw new InvalidManifestError(`manifest of ${bytes.byteLength} bytes exceeds the limit of ${LIMITS.maxManifestBytes}`)
  }
  if (!equalBytes(sha256(bytes), cid.multihash.digest)) {
    throw new HashMismatchError(`manifest bytes do not hash to ${cid.toString()}`)
  }
  return decodeManifest(bytes)
}

export interface BuildManifestOptions {
  /** name in the manifest; default basename(path) */
  name?: string
  /** bytes; default DEFAULTS.chunkSize */
  chunkSize?: number
  signal?: AbortSignal
}

export interface BuiltManifest {
  manifest: Manifest
  bytes: Uint8Array
  cid: CID
  /** the file as it was hashed, for the store's change detection */
  stat: FileStat
}

/**
 * Hash the file at `path` chunk by chunk (one chunk in memory at a time) into
 * a manifest. ContentChangedError if the file changes while it is read.
 */
export async function buildManifest (path: string, opts: BuildManifestOptions = {}): Promise<BuiltManifest> {
  const name = safeFileName(opts.name ?? basename(path))
  const chunkSize = opts.chunkSize ?? DEFAULTS.chunkSize
  if (!Number.isSafeInteger(chunkSize) || chunkSize < LIMITS.minChunkSize || chunkSize > LIMITS.maxChunkSize) {
    throw new InvalidOptionError(`chunkSize must be an integer in [${LIMITS.minChunkSize}, ${LIMITS.maxChunkSize}]`)
  }
  opts.signal?.throwIfAborted()

  const fh = await open(path, 'r')
  try {
    const before = await fh.stat()
    if (!before.isFile()) {
      throw new InvalidPathError(`${path} is not a regular file`)
    }
    const size = before.size
    const n = Math.ceil(size / chunkSize)
    if (n > LIMITS.maxChunks) {
      throw new InvalidPathError(`${path} is too large: ${n} chunks of ${chunkSize} bytes, the limit is ${LIMITS.maxChunks}`)
    }
    const hashes = new Uint8Array(n * HASH_BYTES)
    const buf = Buffer.allocUnsafe(chunkSize)
    for (let i = 0; i < n; i++) {
      opts.signal?.throwIfAborted()
      const len = Math.min(chunkSize, size - i * chunkSize)
      if (await readFully(fh, buf, len, i * chunkSize) !== len) {
        throw new ContentChangedError(`${path} shrank while it was hashed`)
      }
      hashes.set(createHash('sha256').update(buf.subarray(0, len)).digest(), i * HASH_BYTES)
    }
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== before.mtimeMs) {
      throw new ContentChangedError(`${path} changed while it was hashed`)
    }
    const manifest: Manifest = { version: 1, name, size, chunkSize, hashes }
    const bytes = encodeManifest(manifest)
    return { manifest, bytes, cid: await manifestCid(bytes), stat: { size, mtimeMs: before.mtimeMs, ino: before.ino } }
  } finally {
    await fh.close()
  }
}

/** Read `length` bytes at `position` into `buf` (reads may come back short); returns bytes read, less only at EOF. */
export async function readFully (fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}
