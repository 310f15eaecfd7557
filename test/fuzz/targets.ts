/**
 * Every decoder that takes bytes from outside the process, with seeds (valid
 * inputs) for the structure-aware mutator. A decoder passes an input when it
 * returns, or throws one of the project's errors with an ERR_ code; anything
 * else (a TypeError, a RangeError, an unbounded allocation) is a crash.
 *
 * A target with `maxFrameBytes` is a wire message: the harness also sends each
 * input through frame() + readFrames() cut at random points, with the frame
 * limit its protocol reads with, as a stream delivers it.
 */
import { readFileSync } from 'node:fs'
import { decodeManifest } from '../../packages/core/src/store/manifest.ts'
import { readFrames, frame } from '../../packages/core/src/framing.ts'
import { MAX_REPLY_FRAME_BYTES, MAX_REQUEST_FRAME_BYTES } from '../../packages/core/src/transfer/constants.ts'
import { decodeReply, decodeRequest } from '../../packages/core/src/transfer/messages.ts'
import { Bitfield } from '../../packages/core/src/store/bitfield.ts'
import { Status } from '../../packages/core/src/status.ts'
import { MAX_QUERY_FRAME_BYTES, MAX_RESULT_FRAME_BYTES } from '../../packages/dht-peer/src/protocol/constants.ts'
import { decodeQuery, decodeResult, encodeQuery, encodeResult } from '../../packages/dht-peer/src/protocol/messages.ts'
import { directoryConfig } from '../../packages/directory-server/src/config.ts'
import { decodeReply as decodeDirectoryReply, decodeRequest as decodeDirectoryRequest } from '../../packages/directory-server/src/messages.ts'
import { MAX_FRAME_BYTES as FLOOD_MAX_FRAME_BYTES } from '../../packages/flooding-peer/src/protocol/constants.ts'
import { decodeMessage as decodeFloodMessage } from '../../packages/flooding-peer/src/protocol/messages.ts'
import { MAX_FRAME_BYTES as SUPERNODE_MAX_FRAME_BYTES } from '../../packages/supernode-cache-peer/src/protocol/constants.ts'
import { decodeMessage as decodeSupernodeMessage } from '../../packages/supernode-cache-peer/src/protocol/messages.ts'
import { apiFileTarget, apiTarget } from './api-target.ts'

export interface Target {
  name: string
  seeds: Uint8Array[]
  /** synchronous or asynchronous decode of one input; `rng` is seeded per input, so a replay sees the same draws */
  decode: (input: Uint8Array, rng: () => number) => unknown
  /** a wire message read with this frame limit (see the header comment) */
  maxFrameBytes?: number
}

const fixtures = new URL('../../packages/core/test/fixtures/', import.meta.url)
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.trim(), 'hex'))
const json = (path: string): any => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'))
const transferGolden = Object.values(JSON.parse(readFileSync(new URL('transfer-messages.json', fixtures), 'utf8')) as Record<string, string>).map(hex)
const manifestGolden = hex(readFileSync(new URL('manifest-v1.hex', fixtures), 'utf8'))

const floodGolden = Object.values(json('../../packages/flooding-peer/test/fixtures/flood-messages.json') as Record<string, string>).map(hex)
const supernodeGolden = Object.values(json('../../packages/supernode-cache-peer/test/fixtures/supernode-messages.json') as Record<string, string>).map(hex)
const directoryGolden = (json('../../packages/directory-server/test/fixtures/directory-messages.json') as Array<{ text: string }>).map(m => new TextEncoder().encode(m.text))
// every fixture entry with a `hex` is a golden QUERY or RESULT
const keywordGolden = Object.values(json('../../packages/dht-peer/test/fixtures/keyword-messages.json') as Record<string, { hex?: string }>)
  .flatMap(m => typeof m.hex === 'string' ? [hex(m.hex)] : [])
  .concat([
    // the shapes the fixture lacks: most keywords, several files, an ERROR, an empty OK
    encodeQuery(Array.from({ length: 16 }, (_, i) => `k${i}`)),
    encodeResult({ status: Status.OK, files: [1, 2, 3].map(i => ({ cid: new Uint8Array(36).fill(i), size: i * 1e9, name: `ファイル${i}.bin` })) }),
    encodeResult({ status: Status.ERROR, error: 'internal error' }),
    encodeResult({ status: Status.OK, files: [] })
  ])
// the limits the server decodes with (it passes its whole config); an empty
// environment so a SEDAI_DIRECTORY_* variable on this machine changes nothing
const DIRECTORY = directoryConfig({}, {})

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
  { name: 'transfer.decodeRequest', seeds: transferGolden, decode: (b) => decodeRequest(b), maxFrameBytes: MAX_REQUEST_FRAME_BYTES },
  { name: 'transfer.decodeReply', seeds: transferGolden, decode: (b) => decodeReply(b), maxFrameBytes: MAX_REPLY_FRAME_BYTES },
  // a state file (the content store's row) and, inside a transfer reply, a wire message
  { name: 'manifest.decodeManifest', seeds: [manifestGolden], decode: (b) => decodeManifest(b), maxFrameBytes: MAX_REPLY_FRAME_BYTES },
  {
    // the framing itself, with corrupted headers (the other targets only see valid ones)
    name: 'framing.readFrames',
    seeds: [frame(...transferGolden.slice(0, 3)).subarray(), new Uint8Array([...frame(transferGolden[0]).subarray(), ...frame(manifestGolden).subarray()])],
    decode: async (b, rng) => await framesOf(b, rng)
  },
  { name: 'directory.decodeRequest', seeds: directoryGolden, decode: (b) => decodeDirectoryRequest(b, DIRECTORY), maxFrameBytes: DIRECTORY.maxRequestFrameBytes },
  { name: 'directory.decodeReply', seeds: directoryGolden, decode: (b) => decodeDirectoryReply(b), maxFrameBytes: DIRECTORY.maxReplyFrameBytes },
  { name: 'flood.decodeMessage', seeds: floodGolden, decode: (b) => decodeFloodMessage(b), maxFrameBytes: FLOOD_MAX_FRAME_BYTES },
  { name: 'supernode.decodeMessage', seeds: [...supernodeGolden, ...floodGolden], decode: (b) => decodeSupernodeMessage(b), maxFrameBytes: SUPERNODE_MAX_FRAME_BYTES },
  { name: 'dht.decodeQuery', seeds: keywordGolden, decode: (b) => decodeQuery(b), maxFrameBytes: MAX_QUERY_FRAME_BYTES },
  { name: 'dht.decodeResult', seeds: keywordGolden, decode: (b) => decodeResult(b), maxFrameBytes: MAX_RESULT_FRAME_BYTES },
  {
    name: 'store.Bitfield',
    seeds: [Uint8Array.of(0xff, 0x80), Uint8Array.of(0xf0)],
    // a stored bitfield read back for a manifest of (first byte) chunks
    decode: (b) => new Bitfield(b[0] ?? 0, b.subarray(1))
  }
]

/**
 * Targets that misbehave on purpose, one way each, so test/fuzz.test.ts can
 * show that every guard of the harness fails a run. Never part of a real run.
 */
const leaked: Uint8Array[] = []
export const BROKEN_TARGETS: Target[] = [
  { name: 'broken.typeError', seeds: [Uint8Array.of(1)], decode: (b) => { if (b.byteLength > 0) (undefined as any).x = 1 } },
  { name: 'broken.exit', seeds: [Uint8Array.of(1)], decode: () => process.exit(0) },
  { name: 'broken.block', seeds: [Uint8Array.of(1)], decode: () => { const end = performance.now() + 80; while (performance.now() < end); } },
  { name: 'broken.hang', seeds: [Uint8Array.of(1)], decode: () => { while (true); } },
  { name: 'broken.uncaught', seeds: [Uint8Array.of(1)], decode: () => { setImmediate(() => { throw new Error('thrown later') }) } },
  { name: 'broken.unhandled', seeds: [Uint8Array.of(1)], decode: () => { void Promise.reject(new Error('nobody listens')) } },
  { name: 'broken.leak', seeds: [Uint8Array.of(1)], decode: () => { leaked.push(new Uint8Array(2 << 20).fill(1)) } },
  {
    // decodes differently when the bytes sit inside a larger buffer (as readFrames hands them)
    name: 'broken.offset',
    seeds: [Uint8Array.of(1)],
    decode: (b) => b.byteLength === 0 ? 0 : new DataView(b.buffer).getUint8(0),
    maxFrameBytes: 1 << 16
  }
]

/** Every target of a real run, in the order the table lists them. */
export const TARGET_NAMES = [...TARGETS.map(t => t.name), 'api.jsonBodies', 'state.readApiFile']

/** A target by name, set up (the API ones start a server or make a repo); undefined for an unknown name. */
export async function loadTarget (name: string): Promise<{ target: Target, close: () => Promise<void> } | undefined> {
  const plain = [...TARGETS, ...BROKEN_TARGETS].find(t => t.name === name)
  if (plain !== undefined) return { target: plain, close: async () => {} }
  if (name === 'api.jsonBodies') return await apiTarget()
  if (name === 'state.readApiFile') return await apiFileTarget()
  return undefined
}
