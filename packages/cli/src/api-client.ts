import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { REPO_FILES } from '@sedai/core/config'
import { SedaiError } from '@sedai/core/errors'
import { API_LIMITS, API_PREFIX } from './api-common.ts'
import type { ApiEndpoint } from './api-common.ts'
import type {
  DaemonApi, GetProgress, GetRequest, GetResult, IdInfo, PeerInfo, SearchRequest, SearchResponse, SearchResult, SharedFileInfo
} from './daemon-api.ts'

/** No daemon answers for this repo: no api file, or nothing listens at its address. */
export class NoDaemonError extends SedaiError {
  override readonly code = 'ERR_NO_DAEMON'
  override name = 'NoDaemonError'
}

/** An error the daemon reported (its `code` and `message`), or a broken exchange with it. */
export class ApiError extends SedaiError {
  override readonly code: string
  override name = 'ApiError'
  /** HTTP status, 0 when the failure was not an HTTP answer */
  readonly status: number

  constructor (code: string, message: string, status: number) {
    super(message)
    this.code = code
    this.status = status
  }
}

/** Reads and checks the api file the daemon wrote into `repo`. */
export async function readApiFile (repo: string): Promise<ApiEndpoint> {
  const file = join(repo, REPO_FILES.api)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NoDaemonError(`no daemon running (no api file in ${repo}); start one with 'sedai daemon'`)
    }
    throw new ApiError('ERR_API_FILE', `cannot read ${file}: ${(err as Error).message}`, 0)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = undefined
  }
  const { url, token } = (value ?? {}) as Partial<Record<string, unknown>>
  if (typeof url !== 'string' || !url.startsWith('http://') || typeof token !== 'string' || token === '') {
    throw new ApiError('ERR_API_FILE', `${file} is not a valid api file; restart the daemon`, 0)
  }
  return { url, token }
}

/**
 * The DaemonApi of a running daemon, over its control API. Each call is one
 * HTTP request on a fresh connection (nothing keeps the CLI process alive).
 */
export class ApiClient implements DaemonApi {
  readonly endpoint: ApiEndpoint
  /** the repo named in "no daemon" errors */
  readonly repo: string
  private readonly base: URL

  constructor (endpoint: ApiEndpoint, repo: string) {
    this.endpoint = endpoint
    this.repo = repo
    this.base = new URL(endpoint.url)
  }

  /** A client for the daemon of `repo`; throws NoDaemonError when there is no api file. */
  static async fromRepo (repo: string): Promise<ApiClient> {
    return new ApiClient(await readApiFile(repo), repo)
  }

  async id (): Promise<IdInfo> {
    return await this.call('GET', 'id') as IdInfo
  }

  async share (path: string): Promise<SharedFileInfo | { shared: SharedFileInfo[] }> {
    return await this.call('POST', 'share', { path }) as SharedFileInfo | { shared: SharedFileInfo[] }
  }

  async ls (): Promise<{ files: SharedFileInfo[] }> {
    return await this.call('GET', 'ls') as { files: SharedFileInfo[] }
  }

  async connect (multiaddr: string): Promise<{ peerId: string }> {
    return await this.call('POST', 'connect', { multiaddr }) as { peerId: string }
  }

  /** With `onResult`, results are streamed (NDJSON) as the daemon finds them; the response comes at the end. */
  async search (req: SearchRequest, onResult?: (r: SearchResult) => void): Promise<SearchResponse> {
    if (onResult === undefined) {
      return await this.call('POST', 'search', req) as SearchResponse
    }
    const res = await this.send('POST', 'search', { ...req, stream: true })
    const status = res.statusCode ?? 0
    if (!String(res.headers['content-type'] ?? '').startsWith('application/x-ndjson')) {
      // an error before the first hit, or a search that found nothing: one document
      const value = await readJson(res)
      if (status >= 400 || (value as { error?: unknown } | null)?.error !== undefined) {
        throw errorFrom(value, status)
      }
      return value as SearchResponse
    }
    return await readNdjson<SearchResult, SearchResponse>(res, 'hit', onResult, 'search')
  }

  async peers (): Promise<{ peers: PeerInfo[] }> {
    return await this.call('GET', 'peers') as { peers: PeerInfo[] }
  }

  async stats (): Promise<Record<string, unknown>> {
    return await this.call('GET', 'stats') as Record<string, unknown>
  }

  async stop (): Promise<void> {
    await this.call('POST', 'stop', {})
  }

  /** Streams the download: progress lines go to `onProgress`, the last line is the result or the error. */
  async get (req: GetRequest, onProgress: (p: GetProgress) => void, signal?: AbortSignal): Promise<GetResult> {
    const res = await this.send('POST', 'get', req, signal)
    if (res.statusCode !== 200) {
      throw errorFrom(await readJson(res), res.statusCode ?? 0)
    }
    return await readNdjson<GetProgress, GetResult>(res, 'progress', onProgress, 'download', signal)
  }

  private async call (method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
    const res = await this.send(method, route, body)
    const value = await readJson(res)
    const status = res.statusCode ?? 0
    if (status >= 400 || (value as { error?: unknown } | null)?.error !== undefined) {
      throw errorFrom(value, status)
    }
    return value
  }

  private async send (method: 'GET' | 'POST', route: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const data = body === undefined ? undefined : JSON.stringify(body)
    const port = this.base.port === '' ? 80 : Number(this.base.port)
    const headers: Record<string, string | number> = {
      host: `${this.base.hostname}:${port}`,
      authorization: `Bearer ${this.endpoint.token}`,
      accept: 'application/json, application/x-ndjson'
    }
    if (data !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(data)
    }
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({
        // URL.hostname keeps IPv6 brackets; the socket wants the bare address
        hostname: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
        port,
        method,
        path: `${API_PREFIX}/${route}`,
        headers,
        agent: false,
        signal
      }, resolve)
      req.on('error', (err) => { reject(this.failure(err, signal)) })
      req.end(data)
    })
  }

  private failure (err: unknown, signal?: AbortSignal): Error {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ECONNREFUSED') {
      return new NoDaemonError(`no daemon running (nothing listens at ${this.endpoint.url}, stale api file in ${this.repo}); start one with 'sedai daemon'`)
    }
    return connectionError(err, signal)
  }
}

function connectionError (err: unknown, signal?: AbortSignal): Error {
  if (err instanceof SedaiError) {
    return err
  }
  if (signal?.aborted === true) {
    return new ApiError('ERR_ABORTED', 'aborted', 0)
  }
  return new ApiError('ERR_API_CONNECTION', `lost the connection to the daemon: ${(err as Error).message}`, 0)
}

async function readJson (res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length
      if (size > API_LIMITS.maxResponseBytes) {
        throw new ApiError('ERR_API_RESPONSE', `the daemon's answer exceeds ${API_LIMITS.maxResponseBytes} bytes`, res.statusCode ?? 0)
      }
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    throw connectionError(err)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  const value = parseJson(text)
  if (value === undefined) {
    throw new ApiError('ERR_API_RESPONSE', `the daemon answered ${res.statusCode ?? 0} with a body that is not JSON`, res.statusCode ?? 0)
  }
  return value
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The ApiError for an `{"error":{code,message}}` document (or anything else that is not a success). */
function errorFrom (value: unknown, status: number): ApiError {
  const error = (value as { error?: { code?: unknown, message?: unknown } } | null)?.error
  const code = typeof error?.code === 'string' ? error.code : 'ERR_API_RESPONSE'
  const message = typeof error?.message === 'string' ? error.message : `the daemon answered ${status} without an error document`
  return new ApiError(code, message, status)
}

/**
 * Reads an NDJSON answer (get, streamed search): `{ [itemKey]: item }` lines
 * go to `onItem`; the last line is `{ result }` or `{ error }`.
 */
async function readNdjson<Item, Result> (res: IncomingMessage, itemKey: string, onItem: (item: Item) => void, what: string, signal?: AbortSignal): Promise<Result> {
  let buffered = ''
  res.setEncoding('utf8')
  try {
    for await (const chunk of res) {
      buffered += chunk as string
      let newline: number
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (line === '') {
          continue
        }
        const message = parseJson(line) as Record<string, unknown> | null
        if (message?.[itemKey] !== undefined) {
          onItem(message[itemKey] as Item)
        } else if (message?.result !== undefined) {
          return message.result as Result
        } else {
          throw errorFrom(message, 200)
        }
      }
      if (buffered.length > API_LIMITS.maxResponseBytes) {
        throw new ApiError('ERR_API_RESPONSE', `the daemon sent an overlong ${what} line`, 200)
      }
    }
  } catch (err) {
    throw connectionError(err, signal)
  } finally {
    res.destroy()
  }
  throw new ApiError('ERR_API_RESPONSE', `the daemon ended the ${what} stream without a result`, 200)
}
