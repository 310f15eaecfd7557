import { InvalidMessageError } from '@sedai/core'
import { Reader, Writer, decodeMessage as decodeFloodMessage, readEntry, readFile, utf8, writeEntry, writeFile } from '@sedai/flooding-peer'
import { MAX_INDEX_FILES_PER_MESSAGE, MAX_INTEREST_BYTES, MAX_INTERESTS, MAX_STATUS_SUPERS } from './constants.ts'
import type { HitFile, Message as FloodMessage, PeerEntry } from '@sedai/flooding-peer'

/**
 * /sedai/supernode/1.0.0 messages. Types 1-7 are the flooding protocol's
 * (QUERY, QUERY_HIT, BYE, RELAY_REQUEST, RELAY_REPLY ...), unchanged; the
 * hierarchy adds four. Integers are big-endian.
 *
 *   HELLO   [16][want u8][status]        the dialer's first message: attach as a leaf, or link two supernodes
 *   WELCOME [17][result u8][status]      the answer; a refusal (result != OK) lists other supernodes, then BYE
 *   STATUS  [18][status]                 sent on every link now and then (keepalive, load and host discovery)
 *   INDEX   [19][reset u8][n u16] n x file     a leaf's shares (n <= 128 per message; reset = first of a new list)
 *
 *   status = [role u8][score u16][leaves u16][max leaves u16][entry][interests]
 *            [m u8] m x ([entry][score u16][leaves u16][max leaves u16][interests])    (m <= 16)
 *   interests = [k u8] k x ([len u8][interest UTF-8])             (k <= 16, len <= 32)
 *   entry, file: as in /sedai/flood/1.0.0
 *
 * The score is the capacity score in thousandths (0..1000).
 */
export const SuperType = {
  HELLO: 16,
  WELCOME: 17,
  STATUS: 18,
  INDEX: 19
} as const
export type SuperType = typeof SuperType[keyof typeof SuperType]

export const Role = { LEAF: 1, SUPER: 2 } as const
export type Role = typeof Role[keyof typeof Role]
export const ROLE_NAMES: Record<number, 'leaf' | 'super'> = { [Role.LEAF]: 'leaf', [Role.SUPER]: 'super' }

/** What the dialer asks for. */
export const Want = { LEAF: 1, PEER: 2 } as const
export type Want = typeof Want[keyof typeof Want]

/** WELCOME's result: the link's status. */
export const Welcome = { OK: 0, FULL: 1, NOT_SUPER: 2, WRONG_ROLE: 3 } as const
export type Welcome = typeof Welcome[keyof typeof Welcome]
export const WELCOME_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Welcome).map(([k, v]) => [v, k]))

/** A supernode as others see it; its interests travel with it, so clustering can pick peers it is not linked to yet. */
export interface SuperEntry { entry: PeerEntry, score: number, leaves: number, maxLeaves: number, interests: string[] }

export interface Status {
  role: Role
  /** capacity score, 0..1 (sent in thousandths) */
  score: number
  leaves: number
  maxLeaves: number
  entry: PeerEntry
  interests: string[]
  supers: SuperEntry[]
}

export interface Hello { type: typeof SuperType.HELLO, want: Want, status: Status }
export interface WelcomeMsg { type: typeof SuperType.WELCOME, result: Welcome, status: Status }
export interface StatusMsg { type: typeof SuperType.STATUS, status: Status }
export interface IndexMsg { type: typeof SuperType.INDEX, reset: boolean, files: HitFile[] }
export type SuperMessage = Hello | WelcomeMsg | StatusMsg | IndexMsg
export type Message = SuperMessage | FloodMessage

export const MESSAGE_NAMES: Record<number, string> = {
  1: 'PING', 2: 'PONG', 3: 'QUERY', 4: 'QUERY_HIT', 5: 'BYE', 6: 'RELAY_REQUEST', 7: 'RELAY_REPLY',
  ...Object.fromEntries(Object.entries(SuperType).map(([k, v]) => [v, k]))
}

function fail (message: string): never {
  throw new InvalidMessageError(message)
}

function u16 (n: number, field: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) fail(`${field} ${n} out of range`)
  return n
}

function writeScore (w: Writer, score: number): void {
  if (!(score >= 0 && score <= 1)) fail(`score ${score} outside 0..1`)
  w.u16(Math.round(score * 1000))
}

function readScore (r: Reader): number {
  const milli = r.u16('score')
  if (milli > 1000) fail(`score ${milli} above 1000`)
  return milli / 1000
}

function writeStatus (w: Writer, s: Status): void {
  if (ROLE_NAMES[s.role] === undefined) fail(`unknown role ${s.role}`)
  if (s.supers.length > MAX_STATUS_SUPERS) fail(`${s.supers.length} supernode entries (at most ${MAX_STATUS_SUPERS})`)
  w.u8(s.role)
  writeScore(w, s.score)
  w.u16(u16(s.leaves, 'leaves')).u16(u16(s.maxLeaves, 'max leaves'))
  writeEntry(w, s.entry)
  writeInterests(w, s.interests)
  w.u8(s.supers.length)
  for (const e of s.supers) {
    writeEntry(w, e.entry)
    writeScore(w, e.score)
    w.u16(u16(e.leaves, 'leaves')).u16(u16(e.maxLeaves, 'max leaves'))
    writeInterests(w, e.interests)
  }
}

function writeInterests (w: Writer, interests: string[]): void {
  if (interests.length > MAX_INTERESTS) fail(`${interests.length} interests (at most ${MAX_INTERESTS})`)
  w.u8(interests.length)
  for (const i of interests) {
    const b = utf8(i, MAX_INTEREST_BYTES, 'interest', 1)
    w.u8(b.byteLength).bytes(b)
  }
}

function readInterests (r: Reader): string[] {
  const k = r.u8('interest count')
  if (k > MAX_INTERESTS) fail(`${k} interests (at most ${MAX_INTERESTS})`)
  const interests: string[] = []
  for (let i = 0; i < k; i++) {
    const len = r.u8('interest length')
    if (len < 1 || len > MAX_INTEREST_BYTES) fail(`interest of ${len} bytes`)
    interests.push(r.text(len, 'interest'))
  }
  return interests
}

function readStatus (r: Reader): Status {
  const role = r.u8('role')
  if (ROLE_NAMES[role] === undefined) fail(`unknown role ${role}`)
  const score = readScore(r)
  const leaves = r.u16('leaves')
  const maxLeaves = r.u16('max leaves')
  const entry = readEntry(r, 'status entry')
  const interests = readInterests(r)
  const m = r.u8('supernode count')
  if (m > MAX_STATUS_SUPERS) fail(`${m} supernode entries (at most ${MAX_STATUS_SUPERS})`)
  const supers: SuperEntry[] = []
  for (let i = 0; i < m; i++) {
    const e = readEntry(r, 'supernode entry')
    const s = readScore(r)
    const leaves = r.u16('leaves')
    const maxLeaves = r.u16('max leaves')
    supers.push({ entry: e, score: s, leaves, maxLeaves, interests: readInterests(r) })
  }
  return { role: role as Role, score, leaves, maxLeaves, entry, interests, supers }
}

export function encodeHello (want: Want, status: Status): Uint8Array {
  if (want !== Want.LEAF && want !== Want.PEER) fail(`unknown want ${want}`)
  const w = new Writer().u8(SuperType.HELLO).u8(want)
  writeStatus(w, status)
  return w.done()
}

export function encodeWelcome (result: Welcome, status: Status): Uint8Array {
  if (WELCOME_NAMES[result] === undefined) fail(`unknown WELCOME result ${result}`)
  const w = new Writer().u8(SuperType.WELCOME).u8(result)
  writeStatus(w, status)
  return w.done()
}

export function encodeStatus (status: Status): Uint8Array {
  const w = new Writer().u8(SuperType.STATUS)
  writeStatus(w, status)
  return w.done()
}

export function encodeIndex (reset: boolean, files: HitFile[]): Uint8Array {
  if (files.length > MAX_INDEX_FILES_PER_MESSAGE) fail(`INDEX of ${files.length} files (at most ${MAX_INDEX_FILES_PER_MESSAGE})`)
  const w = new Writer().u8(SuperType.INDEX).u8(reset ? 1 : 0).u16(files.length)
  for (const f of files) writeFile(w, f)
  return w.done()
}

/** Decodes one frame: the hierarchy's messages here, the rest by the flooding codec. Throws InvalidMessageError. */
export function decodeMessage (bytes: Uint8Array): Message {
  if (bytes.byteLength < 1) fail('empty frame')
  const type = bytes[0]
  if (type < SuperType.HELLO) return decodeFloodMessage(bytes)
  const name = MESSAGE_NAMES[type]
  if (name === undefined) fail(`unknown message type ${type}`)
  const r = new Reader(bytes.subarray(1), name)
  let msg: SuperMessage
  switch (type) {
    case SuperType.HELLO: {
      const want = r.u8('want')
      if (want !== Want.LEAF && want !== Want.PEER) fail(`unknown want ${want}`)
      msg = { type, want: want as Want, status: readStatus(r) }
      break
    }
    case SuperType.WELCOME: {
      const result = r.u8('result')
      if (WELCOME_NAMES[result] === undefined) fail(`unknown WELCOME result ${result}`)
      msg = { type, result: result as Welcome, status: readStatus(r) }
      break
    }
    case SuperType.STATUS:
      msg = { type, status: readStatus(r) }
      break
    case SuperType.INDEX: {
      const reset = r.u8('reset')
      if (reset > 1) fail(`INDEX reset flag ${reset}`)
      const n = r.u16('file count')
      if (n > MAX_INDEX_FILES_PER_MESSAGE) fail(`INDEX of ${n} files (at most ${MAX_INDEX_FILES_PER_MESSAGE})`)
      const files: HitFile[] = []
      for (let i = 0; i < n; i++) files.push(readFile(r, 'INDEX'))
      msg = { type, reset: reset === 1, files }
      break
    }
    default:
      return fail(`unknown message type ${type}`)
  }
  r.end()
  return msg
}
