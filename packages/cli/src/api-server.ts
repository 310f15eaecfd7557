import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isAbsolute, join } from 'node:path'
import { REPO_FILES } from '@sedai/core/config'
import { InvalidOptionError, SedaiError, TimeoutError } from '@sedai/core/errors'
import type { Logger } from '@sedai/core/logger'
import type { Dashboard } from '@sedai/dashboard'
import { API_LIMITS, API_PREFIX, formatHostPort, isLoopbackHost } from './api-common.ts'
import type { ApiEndpoint, ApiErrorBody } from './api-common.ts'
import type { DaemonApi, GetProgress, GetRequest, SearchRequest, SearchResult } from './daemon-api.ts'
import { streamEvents } from './events.ts'

export interface ApiServerInit {
  api: DaemonApi
  /** a loopback address: 127.x.x.x, ::1 or localhost */
  host: string
  /** 0 = any free port */
  port: number
  /** the repo folder; the api file goes to `join(repo, 'api')` */
  repo: string
  logger: Logger
  /** the web dashboard to serve at `/` (@sedai/dashboard); none by default */
  dashboard?: Dashboard
}

export interface ApiServer {
  /** http://HOST:PORT */
  url: string
  /** the bearer token every request must carry */
  token: string
  /** stop listening, end open requests, remove the api file; idempotent */
  close(): Promise<void>
}

/** HTTP status of each SedaiError code the API reports; anything else is 500. */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_NOT_FOUND: 404,
  ERR_INVALID_OPTION: 400,
  ERR_INVALID_PATH: 400,
  ERR_DESTINATION_EXISTS: 409,
  ERR_INVALID_CID: 400,
  ERR_INVALID_MESSAGE: 400,
  // the peers answered, with a manifest that breaks the rules (a hostile file name): a bad upstream answer
  ERR_INVALID_MANIFEST: 502,
  ERR_TIMEOUT: 504
}

/** An error that already knows its HTTP status (raised by the HTTP layer itself). */
class HttpError extends Error {
  readonly status: number
  readonly code: string
  readonly headers: Record<string, string>

  constructor (status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

type Body = Record<string, unknown>

interface Route {
  method: 'GET' | 'POST'
  /** validates the body and calls the daemon; the result is the JSON response */
  run?: (body: Body) => Promise<unknown>
  /** deadline of `run` in ms; undefined = none */
  deadline?: (body: Body) => number | undefined
  /** a streaming route writes the response itself */
  stream?: (body: Body, res: ServerResponse) => Promise<void>
}

/**
 * Serves a DaemonApi as JSON over HTTP on a loopback address, guarded by a
 * bearer token (written to the repo's api file) and Host/Origin checks.
 */
export async function startApiServer (init: ApiServerInit): Promise<ApiServer> {
  const { api, repo } = init
  const log = init.logger.child({ component: 'api' })
  if (!isLoopbackHost(init.host)) {
    throw new InvalidOptionError(`the control API must listen on a loopback address, not ${init.host}`)
  }
  if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65_535) {
    throw new InvalidOptionError(`invalid API port ${init.port}`)
  }

  const token = randomBytes(32).toString('base64url')
  const expectedAuth = digest(`Bearer ${token}`)
  const activeGets = new Set<AbortController>()
  let allowedHosts = new Set<string>()

  const routes: Record<string, Route> = {
    id: { method: 'GET', run: async () => await api.id(), deadline: shortDeadline },
    ls: { method: 'GET', run: async () => await api.ls(), deadline: shortDeadline },
    peers: { method: 'GET', run: async () => await api.peers(), deadline: shortDeadline },
    stats: { method: 'GET', run: async () => await api.stats(), deadline: shortDeadline },
    overlay: {
      method: 'GET',
      run: async () => {
        if (api.overlay === undefined) throw new HttpError(501, 'ERR_NOT_IMPLEMENTED', 'this daemon does not report its overlay')
        return await api.overlay()
      },
      deadline: shortDeadline
    },
    downloads: {
      method: 'GET',
      run: async () => {
        if (api.downloads === undefined) throw new HttpError(501, 'ERR_NOT_IMPLEMENTED', 'this daemon does not report its downloads')
        return await api.downloads()
      },
      deadline: shortDeadline
    },
    events: { method: 'GET', stream: async (_body, res) => { await streamEventsRoute(res) } },
    share: {
      method: 'POST',
      run: async (body) => {
        onlyFields(body, ['path'])
        return await api.share(absolutePath(body, 'path', true) as string)
      }
    },
    connect: {
      method: 'POST',
      run: async (body) => {
        onlyFields(body, ['multiaddr'])
        return await api.connect(multiaddrField(body.multiaddr, 'multiaddr'))
      },
      deadline: shortDeadline
    },
    search: { method: 'POST', stream: async (body, res) => { await streamSearch(body, res) } },
    stop: {
      method: 'POST',
      run: async (body) => {
        onlyFields(body, [])
        await api.stop()
        return { ok: true }
      },
      deadline: shortDeadline
    },
    get: { method: 'POST', stream: async (body, res) => { await streamGet(getRequest(body), res) } }
  }

  /**
   * `search`: one JSON document, or with `"stream": true` NDJSON lines
   * `{"hit": SearchResult}` as results arrive (flooding modes), then
   * `{"result": SearchResponse}` or an error document. A search that fails
   * before its first hit answers with the error's own HTTP status; one that
   * finds nothing before it ends answers with a plain JSON document.
   */
  async function streamSearch (body: Body, res: ServerResponse): Promise<void> {
    const stream = body.stream
    if (stream !== undefined && typeof stream !== 'boolean') {
      throw invalid('"stream" must be a boolean')
    }
    const { stream: _stream, ...rest } = body
    const request = searchRequest(rest)
    const deadline = Math.max(API_LIMITS.handlerTimeoutMs, (request.timeoutMs ?? 0) + API_LIMITS.searchGraceMs)
    if (stream !== true) {
      sendJson(res, 200, await withDeadline(api.search(request), deadline, 'search'))
      return
    }
    let streaming = false
    const writeLine = (value: unknown): void => {
      if (!res.writableEnded && !res.destroyed) {
        res.write(JSON.stringify(value) + '\n')
      }
    }
    const onResult = (hit: SearchResult): void => {
      if (!streaming) {
        streaming = true
        res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/x-ndjson; charset=utf-8' })
        res.flushHeaders()
      }
      writeLine({ hit })
    }
    let response
    try {
      response = await withDeadline(api.search(request, onResult), deadline, 'search')
    } catch (err) {
      if (!streaming) {
        throw err
      }
      const { status, body: errorBody } = errorResponse(err)
      logFailure(status, 'search', err)
      writeLine(errorBody)
      res.end()
      return
    }
    if (!streaming) {
      sendJson(res, 200, response)
      return
    }
    writeLine({ result: response })
    res.end()
  }

  async function streamGet (request: GetRequest, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    activeGets.add(controller)
    res.on('close', () => {
      if (!res.writableFinished) {
        controller.abort(new SedaiError('the client went away'))
      }
    })
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/x-ndjson; charset=utf-8' })
    res.flushHeaders()

    const writeLine = (value: unknown): void => {
      if (!res.writableEnded && !res.destroyed) {
        res.write(JSON.stringify(value) + '\n')
      }
    }
    // progress is lossy: at most one line per interval, the latest wins, none while the socket is backed up
    let lastSent = 0
    let pending: GetProgress | undefined
    let timer: NodeJS.Timeout | undefined
    const flush = (): void => {
      timer = undefined
      if (pending === undefined) {
        return
      }
      lastSent = Date.now()
      const progress = pending
      pending = undefined
      if (!res.writableNeedDrain) {
        writeLine({ progress })
      }
    }
    const onProgress = (progress: GetProgress): void => {
      pending = progress
      if (timer !== undefined) {
        return
      }
      const wait = lastSent + API_LIMITS.progressIntervalMs - Date.now()
      if (wait <= 0) {
        flush()
      } else {
        timer = setTimeout(flush, wait)
      }
    }

    try {
      const result = await api.get(request, onProgress, controller.signal)
      clearTimeout(timer)
      writeLine({ result })
    } catch (err) {
      clearTimeout(timer)
      if (res.destroyed) {
        log.debug({ cid: request.cid, err }, 'get ended after the client went away')
        return
      }
      const { status, body } = errorResponse(err)
      logFailure(status, 'get', err)
      writeLine(body)
    } finally {
      activeGets.delete(controller)
      res.end()
    }
  }

  /** `events`: server-sent events for the dashboard (events.ts), until the client goes or the daemon stops. */
  async function streamEventsRoute (res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    activeGets.add(controller)
    try {
      await streamEvents({ api, res, headers: COMMON_HEADERS, signal: controller.signal })
    } finally {
      activeGets.delete(controller)
    }
  }

  /**
   * `GET /metrics`: the Prometheus text format (metrics.ts), where Prometheus
   * looks by default rather than under API_PREFIX; the same token as every route.
   */
  async function sendMetrics (method: string, res: ServerResponse): Promise<void> {
    if (method !== 'GET') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'metrics accepts GET only', { allow: 'GET' })
    if (api.metrics === undefined) throw new HttpError(501, 'ERR_NOT_IMPLEMENTED', 'this daemon does not report metrics')
    const { contentType, text } = await withDeadline(api.metrics(), shortDeadline(), 'metrics')
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  function logFailure (status: number, route: string, err: unknown): void {
    if (status >= 500 && status !== 504) {
      log.error({ route, err }, 'request failed')
    } else {
      log.debug({ route, err }, 'request failed')
    }
  }

  /** Refuses a foreign Host (DNS rebinding), a foreign Origin, and what a browser marks as a cross-site request. */
  function checkOrigin (req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase()
    if (!allowedHosts.has(host)) {
      log.warn({ host }, 'refused a request for a foreign Host (DNS rebinding?)')
      throw new HttpError(403, 'ERR_FORBIDDEN', 'Host header does not name this API')
    }
    const origin = req.headers.origin
    if (origin !== undefined && !(origin.toLowerCase().startsWith('http://') && allowedHosts.has(origin.slice(7).toLowerCase()))) {
      log.warn({ origin }, 'refused a cross-origin request')
      throw new HttpError(403, 'ERR_FORBIDDEN', 'cross-origin requests are not allowed')
    }
    if (req.headers['sec-fetch-site'] === 'cross-site') {
      log.warn({ referer: req.headers.referer }, 'refused a cross-site request')
      throw new HttpError(403, 'ERR_FORBIDDEN', 'cross-site requests are not allowed')
    }
  }

  function checkAccess (req: IncomingMessage): void {
    checkOrigin(req)
    const auth = req.headers.authorization
    if (auth === undefined || !timingSafeEqual(digest(auth), expectedAuth)) {
      throw new HttpError(401, 'ERR_UNAUTHORIZED', 'missing or wrong bearer token (see the api file in the repo)',
        { 'www-authenticate': 'Bearer realm="sedai"' })
    }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now()
    const method = req.method ?? 'GET'
    const rawUrl = req.url ?? ''
    const path = rawUrl.startsWith('/') ? rawUrl.split('?')[0] : ''
    let routeName = path
    try {
      if (init.dashboard !== undefined && method === 'GET' && init.dashboard.handles(path)) {
        // static files without a secret (the user gives the page the token): Host and Origin checks, no token (docs/DASHBOARD.md)
        routeName = 'dashboard'
        checkOrigin(req)
        await init.dashboard.serve(path, res)
        log.debug({ method, route: routeName, path, status: res.statusCode, ms: Date.now() - started }, 'request')
        return
      }
      checkAccess(req)
      if (path === '/metrics') {
        routeName = 'metrics'
        await sendMetrics(method, res)
        log.debug({ method, route: routeName, status: res.statusCode, ms: Date.now() - started }, 'request')
        return
      }
      const name = path.startsWith(API_PREFIX + '/') ? path.slice(API_PREFIX.length + 1) : ''
      const route = Object.hasOwn(routes, name) ? routes[name] : undefined
      if (route === undefined) {
        throw new HttpError(404, 'ERR_UNKNOWN_ROUTE', `no such route: ${method} ${path === '' ? rawUrl : path}`)
      }
      routeName = name
      if (method !== route.method) {
        throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `${name} accepts ${route.method} only`, { allow: route.method })
      }
      const body = route.method === 'POST' ? await readJsonBody(req) : {}
      if (route.stream !== undefined) {
        await route.stream(body, res)
      } else if (route.run !== undefined) {
        const result = await withDeadline(route.run(body), route.deadline?.(body), name)
        sendJson(res, 200, result)
      }
      log.debug({ method, route: name, status: res.statusCode, ms: Date.now() - started }, 'request')
    } catch (err) {
      const { status, body, headers } = errorResponse(err)
      logFailure(status, routeName, err)
      if (status === 413) {
        // the rest of the body is not worth reading
        headers.connection = 'close'
      }
      sendJson(res, status, body, headers)
    }
  }

  const server = createServer({
    headersTimeout: API_LIMITS.headersTimeoutMs,
    requestTimeout: API_LIMITS.requestTimeoutMs
  }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request handler crashed')
      res.destroy()
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: init.host, port: init.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => { log.error({ err }, 'control API server error') })

  const address = server.address() as AddressInfo
  const own = formatHostPort(address.address, address.port)
  allowedHosts = new Set([own.toLowerCase()])
  if (address.address === '127.0.0.1' || address.address === '::1') {
    allowedHosts.add(`localhost:${address.port}`)
  }
  const url = `http://${own}`
  const apiFile = join(repo, REPO_FILES.api)

  try {
    await writeApiFile(apiFile, { url, token })
  } catch (err) {
    server.close()
    throw err
  }
  log.info({ url, apiFile }, 'control API listening')

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      await removeApiFile(apiFile, token).catch((err: unknown) => { log.warn({ err, apiFile }, 'could not remove the api file') })
      for (const controller of activeGets) {
        controller.abort(new SedaiError('the daemon is shutting down'))
      }
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      server.closeIdleConnections()
      const force = setTimeout(() => { server.closeAllConnections() }, API_LIMITS.closeGraceMs)
      await closed
      clearTimeout(force)
      log.info('control API closed')
    })()
    await closing
  }

  return { url, token, close }
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff'
} as const

function shortDeadline (): number {
  return API_LIMITS.handlerTimeoutMs
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

async function withDeadline<T> (work: Promise<T>, ms: number | undefined, route: string): Promise<T> {
  if (ms === undefined) {
    return await work
  }
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new TimeoutError(`the daemon did not answer ${route} within ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const data = JSON.stringify(body) ?? 'null'
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(data)
  })
  res.end(data)
}

/** The status, JSON error document and extra headers for any thrown value; never a stack trace. */
function errorResponse (err: unknown): { status: number, body: ApiErrorBody, headers: Record<string, string> } {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message } }, headers: { ...err.headers } }
  }
  const code = errorCode(err)
  const raw = err instanceof Error ? err.message : String(err)
  // one line, bounded: messages are for people, details go to the daemon's log
  const message = (raw.split('\n')[0] ?? '').slice(0, 1000) || 'internal error'
  return { status: STATUS_BY_CODE[code] ?? 500, body: { error: { code, message } }, headers: {} }
}

function errorCode (err: unknown): string {
  if (err instanceof SedaiError) {
    return err.code
  }
  // a SedaiError from another copy of @sedai/core, or a libp2p/Node error with an ERR_ code
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^ERR_[A-Z0-9_]+$/.test(code) ? code : 'ERR_INTERNAL'
}

function readJsonBody (req: IncomingMessage): Promise<Body> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (type !== 'application/json') {
      reject(new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'request bodies must be application/json'))
      return
    }
    const tooLarge = new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body larger than ${API_LIMITS.maxBodyBytes} bytes`)
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > API_LIMITS.maxBodyBytes) {
      reject(tooLarge)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > API_LIMITS.maxBodyBytes) {
        req.off('data', onData)
        req.off('end', onEnd)
        reject(tooLarge)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      const text = Buffer.concat(chunks).toString('utf8')
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (err) {
        reject(new HttpError(400, 'ERR_INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`))
        return
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        reject(new HttpError(400, 'ERR_INVALID_JSON', 'request body must be a JSON object'))
        return
      }
      resolve(value as Body)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', reject)
  })
}

function invalid (message: string): HttpError {
  return new HttpError(400, 'ERR_INVALID_REQUEST', message)
}

function onlyFields (body: Body, allowed: string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw invalid(`unknown field "${key}"${allowed.length > 0 ? ` (expected ${allowed.join(', ')})` : ''}`)
    }
  }
}

function stringField (value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw invalid(`"${name}" must be a string`)
  }
  if (value.length === 0 || value.length > API_LIMITS.maxStringLength) {
    throw invalid(`"${name}" must have 1 to ${API_LIMITS.maxStringLength} characters`)
  }
  if (value.includes('\0')) {
    throw invalid(`"${name}" must not contain NUL`)
  }
  return value
}

function absolutePath (body: Body, name: string, required: boolean): string | undefined {
  const value = body[name]
  if (value === undefined && !required) {
    return undefined
  }
  const path = stringField(value, name)
  if (!isAbsolute(path)) {
    throw invalid(`"${name}" must be an absolute path (the daemon's working directory is not yours)`)
  }
  return path
}

function multiaddrField (value: unknown, name: string): string {
  const addr = stringField(value, name)
  if (!addr.startsWith('/')) {
    throw invalid(`"${name}" must be a multiaddr (starting with "/")`)
  }
  return addr
}

function timeoutField (value: unknown): number | undefined {
  if (value === undefined) {
    return undefined
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > API_LIMITS.maxTimeoutMs) {
    throw invalid(`"timeoutMs" must be an integer from 1 to ${API_LIMITS.maxTimeoutMs}`)
  }
  return value
}

function getRequest (body: Body): GetRequest {
  onlyFields(body, ['cid', 'out', 'from', 'timeoutMs', 'inBand', 'force'])
  const request: GetRequest = { cid: stringField(body.cid, 'cid') }
  const out = absolutePath(body, 'out', false)
  if (out !== undefined) {
    request.out = out
  }
  if (body.force !== undefined) {
    if (typeof body.force !== 'boolean') {
      throw invalid('"force" must be a boolean')
    }
    if (body.force) request.force = true
  }
  if (body.from !== undefined) {
    if (!Array.isArray(body.from)) {
      throw invalid('"from" must be an array of multiaddr strings')
    }
    if (body.from.length > API_LIMITS.maxFromAddrs) {
      throw invalid(`"from" may name at most ${API_LIMITS.maxFromAddrs} multiaddrs`)
    }
    request.from = body.from.map((addr: unknown, i: number) => multiaddrField(addr, `from[${i}]`))
  }
  const timeoutMs = timeoutField(body.timeoutMs)
  if (timeoutMs !== undefined) {
    request.timeoutMs = timeoutMs
  }
  if (body.inBand !== undefined) {
    if (typeof body.inBand !== 'boolean') {
      throw invalid('"inBand" must be a boolean')
    }
    if (body.inBand && request.from !== undefined) {
      throw invalid('"inBand" and "from" exclude each other (in-band follows the overlay path of the hits)')
    }
    if (body.inBand) {
      request.inBand = true
    }
  }
  return request
}

function searchRequest (body: Body): SearchRequest {
  onlyFields(body, ['query', 'timeoutMs', 'ttl'])
  const query = stringField(body.query, 'query')
  if (query.trim() === '') {
    throw invalid('"query" must not be blank')
  }
  const request: SearchRequest = { query }
  const timeoutMs = timeoutField(body.timeoutMs)
  if (timeoutMs !== undefined) {
    request.timeoutMs = timeoutMs
  }
  if (body.ttl !== undefined) {
    if (typeof body.ttl !== 'number' || !Number.isInteger(body.ttl) || body.ttl < 1 || body.ttl > API_LIMITS.maxTtl) {
      throw invalid(`"ttl" must be a whole number from 1 to ${API_LIMITS.maxTtl}`)
    }
    request.ttl = body.ttl
  }
  return request
}

/** Writes the api file atomically (a private temp file, then rename) with mode 0600. */
async function writeApiFile (file: string, endpoint: ApiEndpoint): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, JSON.stringify(endpoint) + '\n', { mode: 0o600, flag: 'wx' })
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** Removes the api file unless another daemon has replaced it since. */
async function removeApiFile (file: string, token: string): Promise<void> {
  let current: unknown
  try {
    current = JSON.parse(await readFile(file, 'utf8'))
  } catch {
    return // gone or not ours to judge
  }
  if ((current as { token?: unknown } | null)?.token === token) {
    await rm(file, { force: true })
  }
}
