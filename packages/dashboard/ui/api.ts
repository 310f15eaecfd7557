/**
 * The page's client of the control API. The bearer token comes from the
 * user (main.ts signIn) and goes only into the
 * Authorization header of same-origin fetches: never into a URL, so not into
 * history, logs or a Referer. The event stream is read with fetch() for the
 * same reason: EventSource cannot set headers.
 */
import type { ApiError } from './types.ts'

export const API = '/api/v1'

/** The daemon refused the token (401). */
export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError'
}

export class ApiClient {
  private readonly token: string

  constructor (token: string) {
    this.token = token
  }

  private async request (route: string, init: { method?: 'GET' | 'POST', body?: unknown, signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` }
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${API}/${route}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      signal: init.signal
    })
    if (res.status === 401) throw new UnauthorizedError(await errorText(res))
    if (!res.ok) throw new Error(await errorText(res))
    return res
  }

  /** Whether the daemon takes this token (a GET of `id`); false on 401, throws on anything else. */
  async accepted (): Promise<boolean> {
    try {
      await this.request('id')
      return true
    } catch (err) {
      if (err instanceof UnauthorizedError) return false
      throw err
    }
  }

  async json<T> (route: string, body?: unknown): Promise<T> {
    const res = await this.request(route, body === undefined ? {} : { method: 'POST', body })
    return await res.json() as T
  }

  /** POST a streaming route (search with stream, get) and hand each NDJSON line to `onLine`. */
  async lines (route: string, body: unknown, onLine: (value: any) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.request(route, { method: 'POST', body, signal })
    if (!(res.headers.get('content-type') ?? '').includes('ndjson')) {
      // an answer that came as one document (a search with no streamed hits)
      onLine(await res.json())
      return
    }
    await readChunks(res, '\n', (line) => { if (line.trim() !== '') onLine(JSON.parse(line)) })
  }

  /** Reads `GET /events` (server-sent events) until it ends; `onEvent` gets each event's name and parsed data. */
  async events (onOpen: () => void, onEvent: (name: string, data: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.request('events', { signal })
    onOpen()
    await readChunks(res, '\n\n', (block) => {
      let name = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')))
    })
  }
}

/** Splits a streamed body at `separator` (newline for NDJSON, a blank line for SSE). */
async function readChunks (res: Response, separator: string, onChunk: (chunk: string) => void): Promise<void> {
  if (res.body === null) return
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  while (true) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let at: number
    while ((at = buffer.indexOf(separator)) >= 0) {
      const chunk = buffer.slice(0, at)
      buffer = buffer.slice(at + separator.length)
      onChunk(chunk)
    }
  }
  if (buffer.trim() !== '') onChunk(buffer)
}

async function errorText (res: Response): Promise<string> {
  try {
    const body = await res.json() as ApiError
    return `${body.error.code}: ${body.error.message}`
  } catch {
    return `HTTP ${res.status}`
  }
}
