import { InvalidMessageError } from '../errors.ts'
import { MAX_CID_BYTES, MAX_ERROR_TEXT_BYTES } from './constants.ts'
import { Status } from '../status.ts'

/**
 * /sedai/transfer/1.0.0 messages. Every frame starts with a type byte; all
 * integers are big-endian. A stream is bound to one CID by its first message.
 *
 *   OPEN          [1][flags u8: bit 0 = send the manifest][cid bytes]
 *   OPEN_REPLY    [2][status u8][manifest bytes | error text]
 *   CHUNK_REQUEST [3][index u32]
 *   CHUNK_REPLY   [4][status u8][index u32][chunk bytes | error text]
 */
export const MessageType = {
  OPEN: 1,
  OPEN_REPLY: 2,
  CHUNK_REQUEST: 3,
  CHUNK_REPLY: 4
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]

export { Status }

export const OpenFlags = {
  WANT_MANIFEST: 1
} as const

export interface Open { type: typeof MessageType.OPEN, cid: Uint8Array, wantManifest: boolean }
export interface OpenReply { type: typeof MessageType.OPEN_REPLY, status: Status, manifest?: Uint8Array, error?: string }
export interface ChunkRequest { type: typeof MessageType.CHUNK_REQUEST, index: number }
export interface ChunkReply { type: typeof MessageType.CHUNK_REPLY, status: Status, index: number, data?: Uint8Array, error?: string }

export type Request = Open | ChunkRequest
export type Reply = OpenReply | ChunkReply

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: false })

function errorText (text: string): Uint8Array {
  const bytes = encoder.encode(text)
  return bytes.byteLength <= MAX_ERROR_TEXT_BYTES ? bytes : bytes.subarray(0, MAX_ERROR_TEXT_BYTES)
}

function isStatus (n: number): n is Status {
  return n === Status.OK || n === Status.NOT_FOUND || n === Status.ERROR
}

/**
 * Encoders return the frame body as parts; a chunk's bytes are passed on
 * without being copied into a new buffer.
 */
export function encodeOpen (msg: Omit<Open, 'type'>): Uint8Array[] {
  if (msg.cid.byteLength === 0 || msg.cid.byteLength > MAX_CID_BYTES) throw new InvalidMessageError(`cid of ${msg.cid.byteLength} bytes`)
  return [Uint8Array.of(MessageType.OPEN, msg.wantManifest ? OpenFlags.WANT_MANIFEST : 0), msg.cid]
}

export function encodeOpenReply (msg: Omit<OpenReply, 'type'>): Uint8Array[] {
  const head = Uint8Array.of(MessageType.OPEN_REPLY, msg.status)
  if (msg.status === Status.OK) return msg.manifest === undefined ? [head] : [head, msg.manifest]
  return [head, errorText(msg.error ?? '')]
}

export function encodeChunkRequest (index: number): Uint8Array[] {
  const out = new Uint8Array(5)
  out[0] = MessageType.CHUNK_REQUEST
  new DataView(out.buffer).setUint32(1, index)
  return [out]
}

export function encodeChunkReply (msg: Omit<ChunkReply, 'type'>): Uint8Array[] {
  const head = new Uint8Array(6)
  head[0] = MessageType.CHUNK_REPLY
  head[1] = msg.status
  new DataView(head.buffer).setUint32(2, msg.index)
  if (msg.status === Status.OK) return [head, msg.data ?? new Uint8Array(0)]
  return [head, errorText(msg.error ?? '')]
}

function view (bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Decodes what a requester may send. Throws InvalidMessageError on anything else. */
export function decodeRequest (bytes: Uint8Array): Request {
  if (bytes.byteLength < 1) throw new InvalidMessageError('empty frame')
  switch (bytes[0]) {
    case MessageType.OPEN: {
      if (bytes.byteLength < 3) throw new InvalidMessageError('OPEN too short')
      const flags = bytes[1]
      if ((flags & ~OpenFlags.WANT_MANIFEST) !== 0) throw new InvalidMessageError(`OPEN has unknown flags ${flags}`)
      const cid = bytes.subarray(2)
      if (cid.byteLength > MAX_CID_BYTES) throw new InvalidMessageError(`OPEN cid of ${cid.byteLength} bytes exceeds ${MAX_CID_BYTES}`)
      return { type: MessageType.OPEN, cid, wantManifest: (flags & OpenFlags.WANT_MANIFEST) !== 0 }
    }
    case MessageType.CHUNK_REQUEST: {
      if (bytes.byteLength !== 5) throw new InvalidMessageError(`CHUNK_REQUEST of ${bytes.byteLength} bytes, expected 5`)
      return { type: MessageType.CHUNK_REQUEST, index: view(bytes).getUint32(1) }
    }
    default:
      throw new InvalidMessageError(`unexpected message type ${bytes[0]} from requester`)
  }
}

/** Decodes what a server may send. Throws InvalidMessageError on anything else. */
export function decodeReply (bytes: Uint8Array): Reply {
  if (bytes.byteLength < 2) throw new InvalidMessageError('reply too short')
  const status = bytes[1]
  if (!isStatus(status)) throw new InvalidMessageError(`unknown status ${status}`)
  switch (bytes[0]) {
    case MessageType.OPEN_REPLY: {
      const rest = bytes.subarray(2)
      if (status === Status.OK) return { type: MessageType.OPEN_REPLY, status, manifest: rest.byteLength > 0 ? rest : undefined }
      if (rest.byteLength > MAX_ERROR_TEXT_BYTES) throw new InvalidMessageError('error text too long')
      return { type: MessageType.OPEN_REPLY, status, error: decoder.decode(rest) }
    }
    case MessageType.CHUNK_REPLY: {
      if (bytes.byteLength < 6) throw new InvalidMessageError('CHUNK_REPLY too short')
      const index = view(bytes).getUint32(2)
      const rest = bytes.subarray(6)
      if (status === Status.OK) return { type: MessageType.CHUNK_REPLY, status, index, data: rest }
      if (rest.byteLength > MAX_ERROR_TEXT_BYTES) throw new InvalidMessageError('error text too long')
      return { type: MessageType.CHUNK_REPLY, status, index, error: decoder.decode(rest) }
    }
    default:
      throw new InvalidMessageError(`unexpected message type ${bytes[0]} from server`)
  }
}
