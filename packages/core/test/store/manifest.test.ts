import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base58btc } from 'multiformats/bases/base58'
import { DEFAULTS } from '../../src/config.ts'
import {
  buildManifest, chunkCount, chunkHash, chunkLength, decodeManifest, encodeManifest, manifestCid,
  parseCid, safeFileName, sha256, verifyManifest
} from '../../src/store/manifest.ts'
import type { Manifest } from '../../src/store/manifest.ts'

const fixtures = new URL('../fixtures/', import.meta.url)
const KiB = 1024

/** The manifest of the golden fixture: three made-up chunk hashes, a Japanese name. */
function goldenManifest (): Manifest {
  const hashes = new Uint8Array(96)
  for (let i = 0; i < 3; i++) hashes.set(createHash('sha256').update(`sedai chunk ${i}`).digest(), i * 32)
  return { version: 1, name: 'ピアツーピア入門.pdf', size: 40000, chunkSize: 16 * KiB, hashes }
}

async function golden (): Promise<{ bytes: Uint8Array, cid: string }> {
  const hex = (await readFile(new URL('manifest-v1.hex', fixtures), 'utf8')).trim()
  const cid = (await readFile(new URL('manifest-v1.cid', fixtures), 'utf8')).trim()
  return { bytes: Uint8Array.from(Buffer.from(hex, 'hex')), cid }
}

/** The fields of a manifest map on the wire, to break one at a time. */
function fields (): Record<string, unknown> {
  const m = goldenManifest()
  return { v: 1, name: m.name, size: m.size, chunkSize: m.chunkSize, hashes: m.hashes }
}

function assertInvalid (bytes: Uint8Array, limits?: Parameters<typeof decodeManifest>[1], message?: RegExp): void {
  assert.throws(() => decodeManifest(bytes, limits), (err: any) => {
    assert.equal(err.code, 'ERR_INVALID_MANIFEST', `${String(err.code)}: ${String(err.message)}`)
    if (message !== undefined) assert.match(err.message, message)
    return true
  })
}

async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-manifest-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('encodeManifest matches the golden bytes and CID', async () => {
  const { bytes, cid } = await golden()
  const encoded = encodeManifest(goldenManifest())
  assert.equal(Buffer.from(encoded).toString('hex'), Buffer.from(bytes).toString('hex'))
  assert.equal((await manifestCid(encoded)).toString(), cid)
  assert.deepEqual(decodeManifest(bytes), goldenManifest())
})

test('manifestCid is CIDv1, dag-cbor, sha2-256 of the bytes', async () => {
  const { bytes, cid } = await golden()
  const parsed = CID.parse(cid)
  assert.equal(parsed.version, 1)
  assert.equal(parsed.code, 0x71)
  assert.equal(parsed.multihash.code, 0x12)
  assert.deepEqual(parsed.multihash.digest, new Uint8Array(sha256(bytes)))
})

test('chunk helpers', () => {
  const m = goldenManifest()
  assert.equal(chunkCount(m), 3)
  assert.deepEqual([0, 1, 2].map(i => chunkLength(m, i)), [16384, 16384, 40000 - 32768])
  const h = chunkHash(m, 1)
  assert.equal(h.byteLength, 32)
  assert.equal(h.buffer, m.hashes.buffer, 'a view, not a copy')
  assert.deepEqual(h, m.hashes.slice(32, 64))
  assert.equal(chunkCount({ ...m, size: 0, hashes: new Uint8Array(0) }), 0)
  assert.equal(chunkCount({ ...m, size: 16384, hashes: new Uint8Array(32) }), 1)
})

test('decodeManifest rejects every truncation and trailing bytes', async () => {
  const { bytes } = await golden()
  for (let len = 0; len < bytes.byteLength; len++) assertInvalid(bytes.subarray(0, len))
  assertInvalid(Uint8Array.from([...bytes, 0]))
})

test('decodeManifest rejects oversized input before decoding it', async () => {
  const { bytes } = await golden()
  assertInvalid(bytes, { maxManifestBytes: bytes.byteLength - 1 }, /exceeds/)
  decodeManifest(bytes, { maxManifestBytes: bytes.byteLength })
  // not CBOR at all, but too large is what is reported: the decoder never ran
  assertInvalid(new Uint8Array(DEFAULTS.maxManifestBytes + 1).fill(0xff), undefined, /exceeds/)
})

test('decodeManifest rejects wrong shapes and types', () => {
  const bad: Array<[string, unknown]> = [
    ['array', [1, 2, 3]],
    ['string', 'manifest'],
    ['number', 1],
    ['bytes', new Uint8Array(8)],
    ['null', null],
    ['CID', CID.parse('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4')],
    ['version 2', { ...fields(), v: 2 }],
    ['version "1"', { ...fields(), v: '1' }],
    ['extra key', { ...fields(), extra: 1 }],
    ['missing key', (({ size, ...rest }) => rest)(fields())],
    ['name number', { ...fields(), name: 5 }],
    ['name empty', { ...fields(), name: '' }],
    ['name with /', { ...fields(), name: 'a/b.pdf' }],
    ['name with \\', { ...fields(), name: 'a\\b.pdf' }],
    ['name with NUL', { ...fields(), name: 'a\0b.pdf' }],
    ['name .', { ...fields(), name: '.' }],
    ['name ..', { ...fields(), name: '..' }],
    ['name too long', { ...fields(), name: 'あ'.repeat(342) }],
    ['size negative', { ...fields(), size: -1 }],
    ['size float', { ...fields(), size: 39999.5 }],
    ['size string', { ...fields(), size: '40000' }],
    ['size beyond 2^53', { ...fields(), size: 2n ** 60n }],
    ['chunkSize too small', { ...fields(), chunkSize: 16 * KiB - 1 }],
    ['chunkSize too large', { ...fields(), chunkSize: DEFAULTS.maxChunkSize + 1 }],
    ['hashes string', { ...fields(), hashes: 'ab'.repeat(48) }],
    ['hashes list', { ...fields(), hashes: [new Uint8Array(32), new Uint8Array(32), new Uint8Array(32)] }],
    ['hashes short', { ...fields(), hashes: new Uint8Array(95) }],
    ['hashes one chunk too many', { ...fields(), hashes: new Uint8Array(128) }]
  ]
  for (const [what, value] of bad) {
    assert.throws(() => decodeManifest(dagCbor.encode(value)), { code: 'ERR_INVALID_MANIFEST' }, what)
  }
  // the shape itself is fine
  decodeManifest(dagCbor.encode(fields()))
})

test('decodeManifest enforces maxChunks before looking at the hashes', () => {
  const many = { ...fields(), size: (DEFAULTS.maxChunks + 1) * 16 * KiB, chunkSize: 16 * KiB, hashes: new Uint8Array(32) }
  assertInvalid(dagCbor.encode(many), undefined, /more than the limit/)
  assertInvalid(dagCbor.encode(fields()), { maxChunks: 2 }, /more than the limit/)
  decodeManifest(dagCbor.encode(fields()), { maxChunks: 3 })
})

test('decodeManifest accepts only the canonical encoding', async () => {
  const { bytes } = await golden()
  // swap the first two entries ("v", then "name"): same map, keys out of order
  const v = bytes.subarray(1, 4)
  const nameLen = 5 + 2 + Buffer.byteLength(goldenManifest().name)
  const name = bytes.subarray(4, 4 + nameLen)
  assert.equal(Buffer.from(v).toString('hex'), '617601')
  assertInvalid(Uint8Array.from([0xa5, ...name, ...v, ...bytes.subarray(4 + nameLen)]), undefined, /canonical/)
  // size 40000 as a float64 instead of uint16 (19 9c 40)
  const hex = Buffer.from(bytes).toString('hex')
  const float = Buffer.alloc(9)
  float[0] = 0xfb
  float.writeDoubleBE(40000, 1)
  assert.ok(hex.includes('199c40'))
  assertInvalid(Buffer.from(hex.replace('199c40', float.toString('hex')), 'hex'))
})

test('decodeManifest wraps every decoder failure in InvalidManifestError', () => {
  // deterministic junk (xorshift), some of it starting like a 5-entry map
  let x = 0x9e3779b9
  const next = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) & 0xff }
  for (let i = 0; i < 2000; i++) {
    const junk = Uint8Array.from({ length: next() }, next)
    if (i % 2 === 0 && junk.byteLength > 0) junk[0] = 0xa5
    assertInvalid(junk)
  }
})

test('encodeManifest refuses a manifest that would not decode', () => {
  assert.throws(() => encodeManifest({ ...goldenManifest(), name: '../etc/passwd' }), { code: 'ERR_INVALID_MANIFEST' })
  assert.throws(() => encodeManifest({ ...goldenManifest(), hashes: new Uint8Array(64) }), { code: 'ERR_INVALID_MANIFEST' })
})

test('safeFileName', () => {
  for (const ok of ['a', 'ピアツーピア入門.pdf', '.hidden', '...', 'a b.txt', 'x'.repeat(1024)]) assert.equal(safeFileName(ok), ok)
  for (const bad of ['', '.', '..', 'a/b', '/', 'a\\b', 'a\0', 'x'.repeat(1025), 'bad\ud800half']) {
    assert.throws(() => safeFileName(bad), { code: 'ERR_INVALID_MANIFEST' }, JSON.stringify(bad))
  }
})

test('parseCid', async () => {
  const { cid } = await golden()
  assert.equal(parseCid(cid).toString(), cid)
  // another base of the same CID is the same CID
  assert.equal(parseCid(CID.parse(cid).toString(base58btc)).toString(), cid)
  const digest = CID.parse(cid).multihash
  const bad = [
    '', 'junk', `${cid}x`, cid.slice(0, -1), ` ${cid}`,
    'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', // CIDv0
    CID.createV1(0x55, digest).toString(), // raw codec
    CID.createV1(0x71, Digest.create(0x13, new Uint8Array(64))).toString(), // sha2-512
    CID.createV1(0x71, Digest.create(0x12, new Uint8Array(20))).toString() // truncated sha2-256
  ]
  for (const s of bad) assert.throws(() => parseCid(s), { code: 'ERR_INVALID_CID' }, s)
})

test('verifyManifest checks the bytes against the CID', async () => {
  const { bytes, cid } = await golden()
  assert.deepEqual(await verifyManifest(parseCid(cid), bytes), goldenManifest())
  const other = await manifestCid(encodeManifest({ ...goldenManifest(), name: 'other.pdf' }))
  await assert.rejects(verifyManifest(other, bytes), { code: 'ERR_HASH_MISMATCH' })
  const tampered = Uint8Array.from(bytes)
  tampered[tampered.byteLength - 1] ^= 1
  await assert.rejects(verifyManifest(parseCid(cid), tampered), { code: 'ERR_HASH_MISMATCH' })
  // bytes matching the CID but not a manifest
  const junk = dagCbor.encode({ hello: 'world' })
  await assert.rejects(verifyManifest(await manifestCid(junk), junk), { code: 'ERR_INVALID_MANIFEST' })
})

test('buildManifest hashes each chunk of files around chunk boundaries', async (t) => {
  const dir = await tempDir(t)
  const chunkSize = 16 * KiB
  for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 5]) {
    const data = randomBytes(size)
    const path = join(dir, `file-${size}.bin`)
    await writeFile(path, data)
    const { manifest, bytes, cid, stat } = await buildManifest(path, { chunkSize })
    const n = Math.ceil(size / chunkSize)
    assert.equal(manifest.size, size)
    assert.equal(manifest.name, `file-${size}.bin`)
    assert.equal(chunkCount(manifest), n)
    assert.equal(manifest.hashes.byteLength, n * 32)
    for (let i = 0; i < n; i++) {
      const slice = data.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize))
      assert.equal(chunkLength(manifest, i), slice.byteLength)
      assert.deepEqual(Buffer.from(chunkHash(manifest, i)), createHash('sha256').update(slice).digest(), `size ${size} chunk ${i}`)
    }
    assert.equal(stat.size, size)
    assert.deepEqual(bytes, encodeManifest(manifest))
    assert.equal(cid.toString(), (await manifestCid(bytes)).toString())
    assert.deepEqual(await verifyManifest(cid, bytes), manifest)
  }
})

test('buildManifest names, options and refusals', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'ピアツーピア入門.pdf')
  await writeFile(path, 'p2p')
  assert.equal((await buildManifest(path)).manifest.name, 'ピアツーピア入門.pdf')
  assert.equal((await buildManifest(path)).manifest.chunkSize, DEFAULTS.chunkSize)
  assert.equal((await buildManifest(path, { name: 'renamed.pdf' })).manifest.name, 'renamed.pdf')
  await assert.rejects(buildManifest(path, { name: 'a/b' }), { code: 'ERR_INVALID_MANIFEST' })
  await assert.rejects(buildManifest(path, { chunkSize: 1000 }), { code: 'ERR_INVALID_OPTION' })
  await assert.rejects(buildManifest(path, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  await mkdir(join(dir, 'folder'))
  await assert.rejects(buildManifest(join(dir, 'folder')), { code: 'ERR_INVALID_PATH' })
  await assert.rejects(buildManifest(join(dir, 'missing')), { code: 'ENOENT' })
})
