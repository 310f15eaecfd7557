import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { REPO_FILES } from './config.ts'
import { InvalidOptionError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Loads the node's Ed25519 key from `<repo>/identity.key` (libp2p protobuf
 * encoding, as kubo keeps it), creating it on first run. The file is 0600:
 * whoever reads it can impersonate the peer.
 */
export async function loadOrCreateIdentity (repo: string): Promise<PrivateKey> {
  const file = join(repo, REPO_FILES.identity)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err
  }
  if (bytes !== undefined) {
    try {
      const key = privateKeyFromProtobuf(bytes)
      if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`)
      return key
    } catch (err: any) {
      throw new InvalidOptionError(`identity file ${file} is not an Ed25519 libp2p key (${err.message}); move it away to create a new identity`)
    }
  }
  await mkdir(repo, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, file)
  return key
}
