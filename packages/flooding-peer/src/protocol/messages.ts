import { multiaddr } from '@multiformats/multiaddr'
import { InvalidMessageError } from '@sedai/core'
import {
  MAX_REASON_BYTES as MAX_ERROR_BYTES, RELAY_RANGE_BYTES,
  MAX_ADDR_BYTES, MAX_ADDRS, MAX_CID_BYTES, MAX_HIT_FILES, MAX_NAME_BYTES, MAX_PEER_ID_BYTES, MAX_PONG_ENTRIES,
  MAX_QUERY_BYTES, MAX_REASON_BYTES, QUERY_ID_BYTES
} from './constants.ts'

/**
 * /sedai/flood/1.0.0 messages (Gnutella 0.6's descriptors). Every frame
 * starts with a type byte; integers are big-endian.
 *
 *   PING      [1][nonce u32]
 *   PONG      [2][nonce u32][n u8] n x entry                      (n <= 16)
 *   QUERY     [3][id 16][ttl u8][hops u8][text: 1..256 bytes UTF-8]
 *   QUERY_HIT [4][id 16][entry][n u8] n x file                    (1 <= n <= 32)
 *   BYE       [5][code u8][reason: 0..256 bytes UTF-8]
 *   RELAY_REQUEST [6][req id 16][ttl u8][target peer id len u8][target][cid len u8][cid][index u32][offset u32][length u32]
 *   RELAY_REPLY   [7][req id 16][status u8][total u32][data (OK, <= 32 KiB) | reason (<= 256 bytes)]
 *
 *   entry = [peer id len u8][peer id UTF-8][addr count u8] count x ([len u8][binary multiaddr])
 *   file  = [cid len u8][cid UTF-8][name len u16][name UTF-8][size u64]
 */
export const MessageType = {
  PING: 1,
  PONG: 2,
  QUERY: 3,
  QUERY_HIT: 4,
  BYE: 5,
  RELAY_REQUEST: 6,
  RELAY_REPLY: 7
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]

export const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]))

/** Why a link is closed; BYE is the status a refused or dropped neighbour gets. */
export const ByeCode = {
  SHUTDOWN: 0,
  FULL: 1,
  DUPLICATE: 2,
  FLOODING: 3,
  PROTOCOL_ERROR: 4,
  BANNED: 5
} as const
export type ByeCode = typeof ByeCode[keyof typeof ByeCode]
export const BYE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ByeCode).map(([k, v]) => [v, k]))

export interface PeerEntry { peerId: string, addrs: string[] }
export interface HitFile { cid: string, name: string, size: number }

export interface Ping { type: typeof MessageType.PING, nonce: number }
export interface Pong { type: typeof MessageType.PONG, nonce: number, entries: PeerEntry[] }
export interface Query { type: typeof MessageType.QUERY, id: Uint8Array, ttl: number, hops: number, text: string }
export interface QueryHit { type: typeof MessageType.QUERY_HIT, id: Uint8Array, responder: PeerEntry, files: HitFile[] }
export interface Bye { type: typeof MessageType.BYE, code: ByeCode, reason: string }
/** A range of a chunk (or of the manifest, index MANIFEST_INDEX) asked of `target` along the hits' path. */
export interface RelayRequest { type: typeof MessageType.RELAY_REQUEST, id: Uint8Array, ttl: number, target: string, cid: string, index: number, offset: number, length: number }
export const RelayStatus = { OK: 0, NOT_FOUND: 1, ERROR: 2 } as const
export type RelayStatus = typeof RelayStatus[keyof typeof RelayStatus]
/** `total` = the length of the whole chunk (or manifest), so the requester knows how many ranges to ask. */
export interface RelayReply { type: typeof MessageType.RELAY_REPLY, id: Uint8Array, status: RelayStatus, total: number, data?: Uint8Array, error?: string }
export type Message = Ping | Pong | Query | QueryHit | Bye | RelayRequest | RelayReply

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$|^b[a-z2-7]+$/

function fail (message: string): never {
  throw new InvalidMessageError(message)
}

/** Grows as it is written; one copy at the end. Exported for the supernode codec, which extends this protocol. */
export class Writer {
  private buf: Uint8Array
  private view: DataView
  length = 0

  /** `size`: the expected length, so a large message (a RELAY_REPLY's 32 KiB) is not regrown and copied on the way */
  constructor (size = 256) {
    this.buf = new Uint8Array(size)
    this.view = new DataView(this.buf.buffer)
  }

  private room (n: number): void {
    if (this.length + n <= this.buf.byteLength) return
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n))
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8 (n: number): this { this.room(1); this.view.setUint8(this.length, n); this.length += 1; return this }
  u16 (n: number): this { this.room(2); this.view.setUint16(this.length, n); this.length += 2; return this }
  u32 (n: number): this { this.room(4); this.view.setUint32(this.length, n); this.length += 4; return this }
  u64 (n: number): this { this.room(8); this.view.setBigUint64(this.length, BigInt(n)); this.length += 8; return this }
  bytes (b: Uint8Array): this { this.room(b.byteLength); this.buf.set(b, this.length); this.length += b.byteLength; return this }
  /** the bytes written: the buffer itself when it was sized exactly, else a copy of the written part */
  done (): Uint8Array { return this.length === this.buf.byteLength ? this.buf : this.buf.slice(0, this.length) }
}

/** Reads fields with bounds checks; every shortfall is an InvalidMessageError naming the field. */
export class Reader {
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private offset = 0
  private readonly what: string

  constructor (bytes: Uint8Array, what: string) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.what = what
  }

  get left (): number { return this.bytes.byteLength - this.offset }
  private need (n: number, field: string): void { if (this.left < n) fail(`${this.what} truncated in ${field}`) }
  u8 (field: string): number { this.need(1, field); return this.view.getUint8(this.offset++) }
  u16 (field: string): number { this.need(2, field); const v = this.view.getUint16(this.offset); this.offset += 2; return v }
  u32 (field: string): number { this.need(4, field); const v = this.view.getUint32(this.offset); this.offset += 4; return v }
  u64 (field: string): number {
    this.need(8, field)
    const v = this.view.getBigUint64(this.offset)
    this.offset += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${this.what} ${field} ${v} is too large`)
    return Number(v)
  }

  take (n: number, field: string): Uint8Array { this.need(n, field); const b = this.bytes.subarray(this.offset, this.offset + n); this.offset += n; return b }
  rest (): Uint8Array { return this.take(this.left, 'rest') }
  text (n: number, field: string): string {
    try {
      return decoder.decode(this.take(n, field))
    } catch (err) {
      if (err instanceof InvalidMessageError) throw err
      return fail(`${this.what} ${field} is not valid UTF-8`)
    }
  }

  end (): void { if (this.left !== 0) fail(`${this.what} has ${this.left} trailing bytes`) }
}

export function utf8 (text: string, max: number, field: string, min = 0): Uint8Array {
  const b = encoder.encode(text)
  if (b.byteLength < min || b.byteLength > max) fail(`${field} of ${b.byteLength} bytes (allowed ${min}..${max})`)
  return b
}

export function checkPeerId (id: string, what: string): string {
  if (id.length === 0 || id.length > MAX_PEER_ID_BYTES || !PEER_ID.test(id)) fail(`${what} has an invalid peer id`)
  return id
}

function checkId (id: Uint8Array): void {
  if (id.byteLength !== QUERY_ID_BYTES) fail(`query id of ${id.byteLength} bytes, expected ${QUERY_ID_BYTES}`)
}

export function writeEntry (w: Writer, e: PeerEntry): void {
  checkPeerId(e.peerId, 'entry')
  const id = utf8(e.peerId, MAX_PEER_ID_BYTES, 'peer id', 1)
  const addrs: Uint8Array[] = []
  for (const a of e.addrs) {
    if (addrs.length === MAX_ADDRS) break
    let bytes: Uint8Array
    try {
      bytes = multiaddr(a).bytes
    } catch {
      continue // an address we cannot encode is left out, not sent broken
    }
    if (bytes.byteLength <= MAX_ADDR_BYTES) addrs.push(bytes)
  }
  w.u8(id.byteLength).bytes(id).u8(addrs.length)
  for (const a of addrs) w.u8(a.byteLength).bytes(a)
}

export function readEntry (r: Reader, what: string): PeerEntry {
  const peerId = checkPeerId(r.text(r.u8('peer id length'), 'peer id'), what)
  const count = r.u8('address count')
  if (count > MAX_ADDRS) fail(`${what} lists ${count} addresses (at most ${MAX_ADDRS})`)
  const addrs: string[] = []
  for (let i = 0; i < count; i++) {
    const bytes = r.take(r.u8('address length'), 'address')
    try {
      addrs.push(multiaddr(bytes).toString())
    } catch {
      fail(`${what} has an invalid multiaddr`)
    }
  }
  return { peerId, addrs }
}

export function encodePing (nonce: number): Uint8Array {
  return new Writer().u8(MessageType.PING).u32(nonce >>> 0).done()
}

export function encodePong (nonce: number, entries: PeerEntry[]): Uint8Array {
  if (entries.length > MAX_PONG_ENTRIES) fail(`PONG of ${entries.length} entries (at most ${MAX_PONG_ENTRIES})`)
  const w = new Writer().u8(MessageType.PONG).u32(nonce >>> 0).u8(entries.length)
  for (const e of entries) writeEntry(w, e)
  return w.done()
}

export function encodeQuery (q: Omit<Query, 'type'>): Uint8Array {
  checkId(q.id)
  if (!Number.isInteger(q.ttl) || q.ttl < 0 || q.ttl > 255) fail(`ttl ${q.ttl} out of range`)
  if (!Number.isInteger(q.hops) || q.hops < 0 || q.hops > 255) fail(`hops ${q.hops} out of range`)
  return new Writer().u8(MessageType.QUERY).bytes(q.id).u8(q.ttl).u8(q.hops).bytes(utf8(q.text, MAX_QUERY_BYTES, 'query text', 1)).done()
}

export function encodeQueryHit (h: Omit<QueryHit, 'type'>): Uint8Array {
  checkId(h.id)
  if (h.files.length < 1 || h.files.length > MAX_HIT_FILES) fail(`QUERY_HIT of ${h.files.length} files (allowed 1..${MAX_HIT_FILES})`)
  const w = new Writer().u8(MessageType.QUERY_HIT).bytes(h.id)
  writeEntry(w, h.responder)
  w.u8(h.files.length)
  for (const f of h.files) writeFile(w, f)
  return w.done()
}

/** file = [cid len u8][cid UTF-8][name len u16][name UTF-8][size u64] */
export function writeFile (w: Writer, f: HitFile): void {
  const cid = utf8(f.cid, MAX_CID_BYTES, 'cid', 1)
  const name = utf8(f.name, MAX_NAME_BYTES, 'file name', 1)
  if (!Number.isSafeInteger(f.size) || f.size < 0) fail(`file size ${f.size} out of range`)
  w.u8(cid.byteLength).bytes(cid).u16(name.byteLength).bytes(name).u64(f.size)
}

export function readFile (r: Reader, what: string): HitFile {
  const cidLength = r.u8('cid length')
  if (cidLength < 1 || cidLength > MAX_CID_BYTES) fail(`${what} cid of ${cidLength} bytes`)
  const cid = r.text(cidLength, 'cid')
  const nameLength = r.u16('name length')
  if (nameLength < 1 || nameLength > MAX_NAME_BYTES) fail(`${what} name of ${nameLength} bytes`)
  const name = r.text(nameLength, 'name')
  const size = r.u64('size')
  return { cid, name, size }
}

export function encodeBye (code: ByeCode, reason = ''): Uint8Array {
  let text = encoder.encode(reason)
  if (text.byteLength > MAX_REASON_BYTES) text = encoder.encode(decoder.decode(text.subarray(0, MAX_REASON_BYTES - 3), { stream: true }) + '...')
  return new Writer().u8(MessageType.BYE).u8(code).bytes(text).done()
}

export function encodeRelayRequest (r: Omit<RelayRequest, 'type'>): Uint8Array {
  checkId(r.id)
  checkPeerId(r.target, 'RELAY_REQUEST')
  if (r.length < 1 || r.length > RELAY_RANGE_BYTES) fail(`RELAY_REQUEST length ${r.length} (allowed 1..${RELAY_RANGE_BYTES})`)
  const target = utf8(r.target, MAX_PEER_ID_BYTES, 'target', 1)
  const cid = utf8(r.cid, MAX_CID_BYTES, 'cid', 1)
  return new Writer().u8(MessageType.RELAY_REQUEST).bytes(r.id).u8(r.ttl).u8(target.byteLength).bytes(target)
    .u8(cid.byteLength).bytes(cid).u32(r.index).u32(r.offset).u32(r.length).done()
}

export function encodeRelayReply (r: Omit<RelayReply, 'type'>): Uint8Array {
  checkId(r.id)
  const w = new Writer(22 + (r.data?.byteLength ?? MAX_ERROR_BYTES)).u8(MessageType.RELAY_REPLY).bytes(r.id).u8(r.status).u32(r.total)
  if (r.status === RelayStatus.OK) {
    const data = r.data ?? new Uint8Array(0)
    if (data.byteLength > RELAY_RANGE_BYTES) fail(`RELAY_REPLY of ${data.byteLength} bytes`)
    return w.bytes(data).done()
  }
  let text = encoder.encode(r.error ?? '')
  if (text.byteLength > MAX_ERROR_BYTES) text = text.subarray(0, MAX_ERROR_BYTES)
  return w.bytes(text).done()
}

/** Decodes one frame. Throws InvalidMessageError on anything that breaks the rules above. */
export function decodeMessage (bytes: Uint8Array): Message {
  if (bytes.byteLength < 1) fail('empty frame')
  const type = bytes[0]
  const name = MESSAGE_NAMES[type]
  if (name === undefined) fail(`unknown message type ${type}`)
  const r = new Reader(bytes.subarray(1), name)
  switch (type) {
    case MessageType.PING: {
      const nonce = r.u32('nonce')
      r.end()
      return { type, nonce }
    }
    case MessageType.PONG: {
      const nonce = r.u32('nonce')
      const count = r.u8('entry count')
      if (count > MAX_PONG_ENTRIES) fail(`PONG of ${count} entries (at most ${MAX_PONG_ENTRIES})`)
      const entries: PeerEntry[] = []
      for (let i = 0; i < count; i++) entries.push(readEntry(r, 'PONG entry'))
      r.end()
      return { type, nonce, entries }
    }
    case MessageType.QUERY: {
      const id = r.take(QUERY_ID_BYTES, 'id')
      const ttl = r.u8('ttl')
      const hops = r.u8('hops')
      if (r.left < 1 || r.left > MAX_QUERY_BYTES) fail(`QUERY text of ${r.left} bytes (allowed 1..${MAX_QUERY_BYTES})`)
      const text = r.text(r.left, 'text')
      return { type, id, ttl, hops, text }
    }
    case MessageType.QUERY_HIT: {
      const id = r.take(QUERY_ID_BYTES, 'id')
      const responder = readEntry(r, 'QUERY_HIT responder')
      const count = r.u8('file count')
      if (count < 1 || count > MAX_HIT_FILES) fail(`QUERY_HIT of ${count} files (allowed 1..${MAX_HIT_FILES})`)
      const files: HitFile[] = []
      for (let i = 0; i < count; i++) files.push(readFile(r, 'QUERY_HIT'))
      r.end()
      return { type, id, responder, files }
    }
    case MessageType.BYE: {
      const code = r.u8('code')
      if (BYE_NAMES[code] === undefined) fail(`unknown BYE code ${code}`)
      if (r.left > MAX_REASON_BYTES) fail('BYE reason too long')
      const reason = r.text(r.left, 'reason')
      return { type, code: code as ByeCode, reason }
    }
    case MessageType.RELAY_REQUEST: {
      const id = r.take(QUERY_ID_BYTES, 'id')
      const ttl = r.u8('ttl')
      const target = checkPeerId(r.text(r.u8('target length'), 'target'), 'RELAY_REQUEST')
      const cidLength = r.u8('cid length')
      if (cidLength < 1 || cidLength > MAX_CID_BYTES) fail(`RELAY_REQUEST cid of ${cidLength} bytes`)
      const cid = r.text(cidLength, 'cid')
      const index = r.u32('index')
      const offset = r.u32('offset')
      const length = r.u32('length')
      if (length < 1 || length > RELAY_RANGE_BYTES) fail(`RELAY_REQUEST length ${length} (allowed 1..${RELAY_RANGE_BYTES})`)
      r.end()
      return { type, id, ttl, target, cid, index, offset, length }
    }
    case MessageType.RELAY_REPLY: {
      const id = r.take(QUERY_ID_BYTES, 'id')
      const status = r.u8('status')
      if (status !== RelayStatus.OK && status !== RelayStatus.NOT_FOUND && status !== RelayStatus.ERROR) fail(`unknown RELAY_REPLY status ${status}`)
      const total = r.u32('total')
      if (status === RelayStatus.OK) {
        if (r.left > RELAY_RANGE_BYTES) fail(`RELAY_REPLY of ${r.left} bytes`)
        return { type, id, status, total, data: r.rest() }
      }
      if (r.left > MAX_ERROR_BYTES) fail('RELAY_REPLY error text too long')
      return { type, id, status, total, error: r.text(r.left, 'error') }
    }
  }
  return fail(`unknown message type ${type}`)
}

/** The id as lowercase hex, the key of the seen cache and of stats. */
export function idHex (id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}
