/**
 * Every decoder that takes bytes from outside the process, with seeds (valid
 * inputs) for the structure-aware mutator. A decoder passes an input when it
 * returns, or throws one of the project's errors with an ERR_ code; anything
 * else (a TypeError, a RangeError, an unbounded allocation) is a crash.
 */
import { readFileSync } from 'node:fs'
import { decodeManifest } from '../../packages/core/src/store/manifest.ts'
import { readFrames, frame } from '../../packages/core/src/framing.ts'
import { decodeReply, decodeRequest } from '../../packages/core/src/transfer/messages.ts'
import { Bitfield } from '../../packages/core/src/store/bitfield.ts'
import { decodeReply as decodeDirectoryReply, decodeRequest as decodeDirectoryRequest } from '../../packages/directory-server/src/messages.ts'
import { decodeMessage as decodeFloodMessage } from '../../packages/flooding-peer/src/protocol/messages.ts'
import { decodeMessage as decodeSupernodeMessage } from '../../packages/supernode-cache-peer/src/protocol/messages.ts'

export interface Target {
  name: string
  seeds: Uint8Array[]
  /** synchronous or asynchronous decode of one input */
  decode: (input: Uint8Array, rng: () => number) => unknown
}

const fixtures = new URL('../../packages/core/test/fixtures/', import.meta.url)
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.trim(), 'hex'))
const transferGolden = Object.values(JSON.parse(readFileSync(new URL('transfer-messages.json', fixtures), 'utf8')) as Record<string, string>).map(hex)
const manifestGolden = hex(readFileSync(new URL('manifest-v1.hex', fixtures), 'utf8'))

const floodGolden = Object.values(JSON.parse(readFileSync(new URL('../../packages/flooding-peer/test/fixtures/flood-messages.json', import.meta.url), 'utf8')) as Record<string, string>).map(hex)
const supernodeGolden = Object.values(JSON.parse(readFileSync(new URL('../../packages/supernode-cache-peer/test/fixtures/supernode-messages.json', import.meta.url), 'utf8')) as Record<string, string>).map(hex)
const directoryGolden = (JSON.parse(readFileSync(new URL('../../packages/directory-server/test/fixtures/directory-messages.json', import.meta.url), 'utf8')) as Array<{ text: string }>).map(m => new TextEncoder().encode(m.text))
const DIRECTORY_LIMITS = { maxFilesPerRegister: 1000, maxUnregister: 1000, maxAddrs: 16 }

/** Feeds `input` to readFrames cut at random boundaries. */
async function framesOf (input: Uint8Array, rng: () => number): Promise<number> {
  async function * pieces (): AsyncGenerator<Uint8Array> {
    let at = 0
    while (at < input.byteLength) {
      const n = 1 + Math.floor(rng() * 64)
      yield input.subarray(at, at + n)
      at += n
    }
  }
  let n = 0
  for await (const f of readFrames(pieces(), 4096)) n += f.byteLength
  return n
}

export const TARGETS: Target[] = [
  { name: 'transfer.decodeRequest', seeds: transferGolden, decode: (b) => decodeRequest(b) },
  { name: 'transfer.decodeReply', seeds: transferGolden, decode: (b) => decodeReply(b) },
  { name: 'manifest.decodeManifest', seeds: [manifestGolden], decode: (b) => decodeManifest(b) },
  {
    name: 'framing.readFrames',
    seeds: [frame(...transferGolden.slice(0, 3)).subarray(), new Uint8Array([...frame(transferGolden[0]).subarray(), ...frame(manifestGolden).subarray()])],
    decode: async (b, rng) => await framesOf(b, rng)
  },
  { name: 'directory.decodeRequest', seeds: directoryGolden, decode: (b) => decodeDirectoryRequest(b, DIRECTORY_LIMITS) },
  { name: 'directory.decodeReply', seeds: directoryGolden, decode: (b) => decodeDirectoryReply(b) },
  { name: 'flood.decodeMessage', seeds: floodGolden, decode: (b) => decodeFloodMessage(b) },
  { name: 'supernode.decodeMessage', seeds: [...supernodeGolden, ...floodGolden], decode: (b) => decodeSupernodeMessage(b) },
  {
    name: 'store.Bitfield',
    seeds: [Uint8Array.of(0xff, 0x80), Uint8Array.of(0xf0)],
    // a stored bitfield read back for a manifest of (first byte) chunks
    decode: (b) => new Bitfield(b[0] ?? 0, b.subarray(1))
  }
]
