import { InvalidMessageError } from '@sedai/core/errors'

/**
 * /sedai/directory/1.1.0 messages: one UTF-8 JSON object per frame (the
 * 4-byte length-prefixed frames every sedai protocol uses). A peer keeps one
 * session stream open to the server; every request carries an `id` (a whole
 * number the peer chooses), and the server answers each request with one reply
 * carrying the same `id`, in order. docs/DIRECTORY.md has the full table.
 */
export { DIRECTORY_PROTOCOL } from './constants.ts'

export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  ERROR: 2,
  /** the peer sends faster than its rate limit; `retryAfterMs` says when to try again */
  RATE_LIMITED: 3
} as const
export type Status = typeof Status[keyof typeof Status]

export const REQUEST_TYPES = ['HELLO', 'REGISTER', 'UNREGISTER', 'PING', 'SEARCH', 'LOOKUP', 'BROWSE'] as const
export type RequestType = typeof REQUEST_TYPES[number]
/** Types counted against the query rate limit; the rest against the control one. */
export const QUERY_TYPES: ReadonlySet<string> = new Set(['SEARCH', 'LOOKUP', 'BROWSE'])

/** A file as a peer registers it: [cid, name, size]. */
export type FileTuple = [cid: string, name: string, size: number]

export interface Hello { type: 'HELLO', id: number, addrs: string[], peerId?: string, digest?: string }
export interface Register { type: 'REGISTER', id: number, files: FileTuple[], reset?: boolean, digest?: string, addrs?: string[], peerId?: string }
export interface Unregister { type: 'UNREGISTER', id: number, cids: string[], digest?: string }
export interface Ping { type: 'PING', id: number, digest?: string }
export interface Search { type: 'SEARCH', id: number, q: string, max?: number }
export interface Lookup { type: 'LOOKUP', id: number, cid: string, max?: number }
export interface Browse { type: 'BROWSE', id: number, peerId: string, offset?: number, max?: number }
export type Request = Hello | Register | Unregister | Ping | Search | Lookup | Browse

/** A provider as replies carry it. */
export interface ProviderInfo { peerId: string, addrs: string[], live: boolean }

/**
 * Replies: `{ id, status, error?, retryAfterMs?, ...payload }`. Payloads by request:
 *   HELLO      { known, heartbeatMs, graceMs, limits }
 *   REGISTER   { files }              (files now registered for the peer)
 *   UNREGISTER { files }
 *   PING       { known }
 *   SEARCH     { hits: [[cid, name, size, providerCount, [peerKey...]]...], peers: { peerKey: ProviderInfo }, peersReset? }
 *              (peers: only the entries this session has not been sent, or that changed;
 *               peersReset: the server forgot what it sent, the peer drops its table first)
 *   LOOKUP     { providers: ProviderInfo[], count }
 *   BROWSE     { files: FileTuple[], addrs, total }
 */
export interface Reply {
  id: number
  status: Status
  error?: string
  retryAfterMs?: number
  [key: string]: unknown
}

export type SearchHitTuple = [cid: string, name: string, size: number, providers: number, peers: number[]]

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeMessage (msg: object): Uint8Array {
  return encoder.encode(JSON.stringify(msg))
}

/** A reply assembled from pre-encoded JSON parts (the server builds search replies this way). */
export function encodeRaw (json: string): Uint8Array {
  return encoder.encode(json)
}

const PEERS_OPEN = encoder.encode(',"peers":{')
const COMMA = encoder.encode(',')
const CLOSE = encoder.encode('}}')

/**
 * A SEARCH reply (status OK) from its parts already in UTF-8: `hits`, the JSON
 * list of hit tuples, and `peers`, the `"key":{...}` entries of its peer table
 * that the session has not had (all of them after a `peersReset`).
 * The server keeps both encoded (hits with a cached search, an entry per
 * provider), so a reply is copied together instead of stringified and encoded.
 */
export function encodeSearchReply (id: number, hits: Uint8Array, peers: Uint8Array[], peersReset = false): Uint8Array {
  const head = encoder.encode(`{"id":${id},"status":0,${peersReset ? '"peersReset":true,' : ''}"hits":`)
  let length = head.byteLength + hits.byteLength + PEERS_OPEN.byteLength + Math.max(0, peers.length - 1) + CLOSE.byteLength
  for (const p of peers) length += p.byteLength
  const out = new Uint8Array(length)
  let at = 0
  for (const part of [head, hits, PEERS_OPEN]) { out.set(part, at); at += part.byteLength }
  for (const [i, p] of peers.entries()) {
    if (i > 0) { out.set(COMMA, at); at += COMMA.byteLength }
    out.set(p, at)
    at += p.byteLength
  }
  out.set(CLOSE, at)
  return out
}

function parse (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new InvalidMessageError('not a UTF-8 JSON message')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidMessageError('a message must be a JSON object')
  return value as Record<string, unknown>
}

/** The `id` of a message that failed to decode, when it has one, so the error reply can name it. */
export function peekId (bytes: Uint8Array): number {
  try {
    const id = (parse(bytes)).id
    return isId(id) ? id : 0
  } catch {
    return 0
  }
}

function isId (v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new InvalidMessageError(`${what} must be a string`)
  return v
}
const optStr = (v: unknown, what: string): string | undefined => v === undefined ? undefined : str(v, what)
const count = (v: unknown, what: string): number | undefined => {
  if (v === undefined) return undefined
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new InvalidMessageError(`${what} must be a whole number`)
  return v as number
}
const list = (v: unknown, what: string, max: number): unknown[] => {
  if (!Array.isArray(v)) throw new InvalidMessageError(`${what} must be a list`)
  if (v.length > max) throw new InvalidMessageError(`${what}: ${v.length} entries, at most ${max} allowed`)
  return v
}
const strings = (v: unknown, what: string, max: number): string[] => list(v, what, max).map((x, i) => str(x, `${what}[${i}]`))

export interface DecodeLimits {
  maxFilesPerRegister: number
  maxUnregister: number
  maxAddrs: number
}

/**
 * A request from a peer, checked for shape and list lengths (names, CIDs and
 * addresses are checked by the server, which may accept part of a REGISTER).
 * Throws InvalidMessageError.
 */
export function decodeRequest (bytes: Uint8Array, limits: DecodeLimits): Request {
  const m = parse(bytes)
  if (!isId(m.id)) throw new InvalidMessageError('id must be a whole number')
  const id = m.id
  switch (m.type) {
    case 'HELLO':
      return { type: 'HELLO', id, addrs: strings(m.addrs ?? [], 'addrs', limits.maxAddrs), peerId: optStr(m.peerId, 'peerId'), digest: optStr(m.digest, 'digest') }
    case 'REGISTER': {
      const files = list(m.files, 'files', limits.maxFilesPerRegister).map((f, i): FileTuple => {
        if (!Array.isArray(f) || f.length !== 3) throw new InvalidMessageError(`files[${i}] must be [cid, name, size]`)
        return [str(f[0], `files[${i}].cid`), str(f[1], `files[${i}].name`), count(f[2], `files[${i}].size`) as number]
      })
      if (m.reset !== undefined && typeof m.reset !== 'boolean') throw new InvalidMessageError('reset must be true or false')
      return {
        type: 'REGISTER',
        id,
        files,
        reset: m.reset,
        digest: optStr(m.digest, 'digest'),
        addrs: m.addrs === undefined ? undefined : strings(m.addrs, 'addrs', limits.maxAddrs),
        peerId: optStr(m.peerId, 'peerId')
      }
    }
    case 'UNREGISTER':
      return { type: 'UNREGISTER', id, cids: strings(m.cids, 'cids', limits.maxUnregister), digest: optStr(m.digest, 'digest') }
    case 'PING':
      return { type: 'PING', id, digest: optStr(m.digest, 'digest') }
    case 'SEARCH':
      return { type: 'SEARCH', id, q: str(m.q, 'q'), max: count(m.max, 'max') }
    case 'LOOKUP':
      return { type: 'LOOKUP', id, cid: str(m.cid, 'cid'), max: count(m.max, 'max') }
    case 'BROWSE':
      return { type: 'BROWSE', id, peerId: str(m.peerId, 'peerId'), offset: count(m.offset, 'offset'), max: count(m.max, 'max') }
    default:
      throw new InvalidMessageError(`unknown message type ${JSON.stringify(m.type)?.slice(0, 32) ?? 'undefined'}`)
  }
}

/** A reply from the server, checked for its id and status; the payload is checked by whoever reads it. */
export function decodeReply (bytes: Uint8Array): Reply {
  const m = parse(bytes)
  if (!isId(m.id)) throw new InvalidMessageError('reply without a valid id')
  if (m.status !== 0 && m.status !== 1 && m.status !== 2 && m.status !== 3) throw new InvalidMessageError('reply with an unknown status')
  return m as Reply
}
