import { Status } from '@sedai/core'
import { InvalidMessageError } from '@sedai/core/errors'
import {
  MAX_CID_BYTES, MAX_ERROR_TEXT_BYTES, MAX_KEYWORD_BYTES, MAX_NAME_BYTES, MAX_QUERY_KEYWORDS, MAX_RESULTS
} from './constants.ts'

/**
 * /sedai/dht-keywords/1.0.0 messages: one QUERY, one RESULT, then both sides
 * close. Every frame starts with a type byte; integers are big-endian.
 *
 *   QUERY   [1][count u8][ keyword: len u8, UTF-8 bytes ] x count
 *   RESULT  [2][status u8] then, if OK:
 *             [count u16][ file: cidLen u8, cid bytes, size u64, nameLen u16, UTF-8 name ] x count
 *           else: [error text, UTF-8]
 */
export const MessageType = {
  QUERY: 1,
  RESULT: 2
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]

export { Status }

export interface Query { type: typeof MessageType.QUERY, keywords: string[] }
export interface ResultFile { cid: Uint8Array, size: number, name: string }
export interface Result { type: typeof MessageType.RESULT, status: Status, files: ResultFile[], error?: string }

const encoder = new TextEncoder()
const strict = new TextDecoder('utf-8', { fatal: true })
const lenient = new TextDecoder('utf-8', { fatal: false })

function utf8 (bytes: Uint8Array, what: string): string {
  try {
    return strict.decode(bytes)
  } catch {
    throw new InvalidMessageError(`${what} is not valid UTF-8`)
  }
}

function view (bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function encodeQuery (keywords: string[]): Uint8Array {
  if (keywords.length === 0 || keywords.length > MAX_QUERY_KEYWORDS) throw new InvalidMessageError(`QUERY with ${keywords.length} keywords (1 to ${MAX_QUERY_KEYWORDS})`)
  const parts = keywords.map(k => encoder.encode(k))
  let length = 2
  for (const p of parts) {
    if (p.byteLength === 0 || p.byteLength > MAX_KEYWORD_BYTES) throw new InvalidMessageError(`keyword of ${p.byteLength} bytes (1 to ${MAX_KEYWORD_BYTES})`)
    length += 1 + p.byteLength
  }
  const out = new Uint8Array(length)
  out[0] = MessageType.QUERY
  out[1] = parts.length
  let at = 2
  for (const p of parts) {
    out[at++] = p.byteLength
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

export function decodeQuery (bytes: Uint8Array): Query {
  if (bytes.byteLength < 2) throw new InvalidMessageError('QUERY too short')
  if (bytes[0] !== MessageType.QUERY) throw new InvalidMessageError(`unexpected message type ${bytes[0]} from requester`)
  const count = bytes[1]
  if (count === 0 || count > MAX_QUERY_KEYWORDS) throw new InvalidMessageError(`QUERY with ${count} keywords (1 to ${MAX_QUERY_KEYWORDS})`)
  const keywords: string[] = []
  let at = 2
  for (let i = 0; i < count; i++) {
    if (at >= bytes.byteLength) throw new InvalidMessageError('QUERY truncated')
    const len = bytes[at++]
    if (len === 0) throw new InvalidMessageError('empty keyword')
    if (at + len > bytes.byteLength) throw new InvalidMessageError('QUERY truncated')
    keywords.push(utf8(bytes.subarray(at, at + len), 'keyword'))
    at += len
  }
  if (at !== bytes.byteLength) throw new InvalidMessageError(`${bytes.byteLength - at} trailing bytes after QUERY`)
  return { type: MessageType.QUERY, keywords }
}

export function encodeResult (msg: Omit<Result, 'type' | 'files'> & { files?: ResultFile[] }): Uint8Array {
  if (msg.status !== Status.OK) {
    let text = encoder.encode(msg.error ?? '')
    if (text.byteLength > MAX_ERROR_TEXT_BYTES) text = text.subarray(0, MAX_ERROR_TEXT_BYTES)
    const out = new Uint8Array(2 + text.byteLength)
    out[0] = MessageType.RESULT
    out[1] = msg.status
    out.set(text, 2)
    return out
  }
  const files = msg.files ?? []
  if (files.length > MAX_RESULTS) throw new InvalidMessageError(`RESULT with ${files.length} files exceeds ${MAX_RESULTS}`)
  const names = files.map(f => encoder.encode(f.name))
  let length = 4
  for (const [i, f] of files.entries()) {
    if (f.cid.byteLength === 0 || f.cid.byteLength > MAX_CID_BYTES) throw new InvalidMessageError(`cid of ${f.cid.byteLength} bytes`)
    if (names[i].byteLength > MAX_NAME_BYTES) throw new InvalidMessageError(`name of ${names[i].byteLength} bytes exceeds ${MAX_NAME_BYTES}`)
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new InvalidMessageError(`size ${f.size}`)
    length += 1 + f.cid.byteLength + 8 + 2 + names[i].byteLength
  }
  const out = new Uint8Array(length)
  const dv = view(out)
  out[0] = MessageType.RESULT
  out[1] = Status.OK
  dv.setUint16(2, files.length)
  let at = 4
  for (const [i, f] of files.entries()) {
    out[at++] = f.cid.byteLength
    out.set(f.cid, at)
    at += f.cid.byteLength
    dv.setBigUint64(at, BigInt(f.size))
    at += 8
    dv.setUint16(at, names[i].byteLength)
    at += 2
    out.set(names[i], at)
    at += names[i].byteLength
  }
  return out
}

export function decodeResult (bytes: Uint8Array): Result {
  if (bytes.byteLength < 2) throw new InvalidMessageError('RESULT too short')
  if (bytes[0] !== MessageType.RESULT) throw new InvalidMessageError(`unexpected message type ${bytes[0]} from server`)
  const status = bytes[1]
  if (status !== Status.OK && status !== Status.NOT_FOUND && status !== Status.ERROR) throw new InvalidMessageError(`unknown status ${status}`)
  if (status !== Status.OK) {
    const rest = bytes.subarray(2)
    if (rest.byteLength > MAX_ERROR_TEXT_BYTES) throw new InvalidMessageError('error text too long')
    return { type: MessageType.RESULT, status, files: [], error: lenient.decode(rest) }
  }
  if (bytes.byteLength < 4) throw new InvalidMessageError('RESULT too short')
  const dv = view(bytes)
  const count = dv.getUint16(2)
  if (count > MAX_RESULTS) throw new InvalidMessageError(`RESULT with ${count} files exceeds ${MAX_RESULTS}`)
  const files: ResultFile[] = []
  let at = 4
  const need = (n: number): void => { if (at + n > bytes.byteLength) throw new InvalidMessageError('RESULT truncated') }
  for (let i = 0; i < count; i++) {
    need(1)
    const cidLen = bytes[at++]
    if (cidLen === 0 || cidLen > MAX_CID_BYTES) throw new InvalidMessageError(`cid of ${cidLen} bytes`)
    need(cidLen + 10)
    const cid = bytes.slice(at, at + cidLen)
    at += cidLen
    const size = dv.getBigUint64(at)
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidMessageError(`size ${size} too large`)
    at += 8
    const nameLen = dv.getUint16(at)
    at += 2
    if (nameLen > MAX_NAME_BYTES) throw new InvalidMessageError(`name of ${nameLen} bytes exceeds ${MAX_NAME_BYTES}`)
    need(nameLen)
    const name = utf8(bytes.subarray(at, at + nameLen), 'file name')
    at += nameLen
    files.push({ cid, size: Number(size), name })
  }
  if (at !== bytes.byteLength) throw new InvalidMessageError(`${bytes.byteLength - at} trailing bytes after RESULT`)
  return { type: MessageType.RESULT, status, files }
}
