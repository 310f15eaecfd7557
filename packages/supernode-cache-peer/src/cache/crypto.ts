/**
 * Content-hash-keyed encryption of cached blobs (Freenet CHK style): the key
 * and the on-disk locator are both derived from the binary CID, so a cache
 * holder who does not know a CID can neither find nor read its blobs. Anyone
 * who knows the CID can do both, and can confirm that the cache holds it: that
 * is inherent to convergent encryption and is what lets the cache serve.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto'
import { InvalidOptionError, parseCid } from '@sedai/core'

/** Domain separation of everything derived here; bump with the disk format. */
const LABEL = 'sedai/cache/v1'
const KEY_BYTES = 32
const NONCE_BYTES = 12
/** AES-GCM tag appended to every sealed blob: a blob is plaintext + this many bytes. */
export const SEAL_OVERHEAD = 16
/** Index under which a file's manifest is sealed; chunk indices stay below it. */
export const MANIFEST_INDEX = 0xffffffff

/** AES-256 key of the content named by `cid`: HKDF-SHA256(binary CID, salt 'sedai/cache/v1', info 'key'). */
export function cacheKey (cid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', parseCid(cid).bytes, LABEL, 'key', KEY_BYTES))
}

/**
 * Name of the content's folder on disk: hex SHA-256('sedai/cache/v1/locator' || binary CID).
 * A different derivation from the key, so the locator gives away neither the key nor the CID.
 */
export function locator (cid: string): string {
  return createHash('sha256').update(`${LABEL}/locator`).update(parseCid(cid).bytes).digest('hex')
}

/**
 * AES-256-GCM of `plaintext` as blob `index` of the content keyed `key`;
 * returns ciphertext || 16-byte tag.
 *
 * The nonce is the 4-byte big-endian index followed by 8 zero bytes. A fixed
 * nonce per index is safe here because the key is per content (convergent
 * encryption) and the plaintext for (key, index) is always the same verified
 * chunk (or the manifest, at MANIFEST_INDEX): a (key, nonce) pair never
 * encrypts two different plaintexts, which is the only thing GCM forbids. The
 * cache therefore stores only chunks checked against their manifest's hash.
 */
export function sealChunk (key: Uint8Array, index: number, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', checkKey(key), nonce(index))
  const body = cipher.update(plaintext)
  const tail = cipher.final()
  return Buffer.concat([body, tail, cipher.getAuthTag()])
}

/** Plaintext of a blob sealed by `sealChunk(key, index, …)`; undefined if it fails authentication (tampered, wrong key or wrong index). */
export function openChunk (key: Uint8Array, index: number, sealed: Uint8Array): Buffer | undefined {
  if (sealed.byteLength < SEAL_OVERHEAD) return undefined
  const decipher = createDecipheriv('aes-256-gcm', checkKey(key), nonce(index))
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - SEAL_OVERHEAD))
  try {
    const body = decipher.update(sealed.subarray(0, sealed.byteLength - SEAL_OVERHEAD))
    return Buffer.concat([body, decipher.final()])
  } catch {
    return undefined
  }
}

function nonce (index: number): Buffer {
  if (!Number.isInteger(index) || index < 0 || index > MANIFEST_INDEX) {
    throw new InvalidOptionError(`blob index ${index} is not an integer in [0, ${MANIFEST_INDEX}]`)
  }
  const n = Buffer.alloc(NONCE_BYTES)
  n.writeUInt32BE(index, 0)
  return n
}

function checkKey (key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_BYTES) {
    throw new InvalidOptionError(`cache key must be ${KEY_BYTES} bytes`)
  }
  return key
}
