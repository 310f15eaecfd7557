/**
 * The runner-agent link of the docker runner: one TCP connection per
 * container, lines of JSON both ways. A request is `{ id, token, req }` (a
 * messages.ts Request), a reply `{ id, ok, result }` or `{ id, ok: false,
 * error, code }`. Lines are capped (DEFAULTS.agentMaxLineBytes) and the agent
 * refuses a wrong token, so nothing else on the lab network can drive a peer.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import { AgentProtocolError } from '../errors.ts'
import type { Reply, Request } from '../messages.ts'

export interface AgentRequest { id: number, token: string, req: Request }

/** Splits a byte stream into JSON lines; throws AgentProtocolError on a line over `maxBytes` or one that is not JSON. */
export class LineDecoder {
  private readonly maxBytes: number
  private parts: Buffer[] = []
  private size = 0

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  push (chunk: Buffer): unknown[] {
    const out: unknown[] = []
    let start = 0
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl))
      const line = Buffer.concat(this.parts).toString('utf8')
      this.parts = []
      this.size = 0
      start = nl + 1
      if (line.trim() === '') continue
      try {
        out.push(JSON.parse(line))
      } catch {
        throw new AgentProtocolError('a line that is not JSON')
      }
    }
    this.add(chunk.subarray(start))
    return out
  }

  private add (b: Buffer): void {
    if (b.length === 0) return
    this.size += b.length
    // checked before the line is complete: a peer cannot make us buffer more than the cap
    if (this.size > this.maxBytes) throw new AgentProtocolError(`a line longer than ${this.maxBytes} bytes`)
    this.parts.push(b)
  }
}

export function encodeLine (msg: AgentRequest | Reply): string {
  return JSON.stringify(msg) + '\n'
}

/** Constant-time token check (hashes first, so lengths may differ). */
export function sameToken (a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(h(a), h(b))
}

/** An AgentRequest's shape, checked before anything is done with it. */
export function isAgentRequest (v: unknown): v is AgentRequest {
  const r = v as Partial<AgentRequest> | null
  return typeof r === 'object' && r !== null && Number.isSafeInteger(r.id) && typeof r.token === 'string' &&
    typeof r.req === 'object' && r.req !== null && typeof (r.req as { op?: unknown }).op === 'string'
}
