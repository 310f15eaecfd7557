import { FramedStream, InvalidMessageError, RemoteError, TimeoutError } from '@sedai/core'
import { MAX_QUERY_FRAME_BYTES, MAX_RESULT_FRAME_BYTES, MAX_RESULTS, QUERY_TIMEOUT_MS } from './constants.ts'
import { MessageType, Status, decodeQuery, decodeResult, encodeQuery, encodeResult } from './messages.ts'
import type { ResultFile } from './messages.ts'
import type { Stats } from '@sedai/core'
import type { Stream } from '@libp2p/interface'

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]))

export interface ServeInit {
  /** the local files matching every keyword */
  match: (keywords: string[]) => ResultFile[]
  stats?: Stats
  timeoutMs?: number
}

/**
 * Answers one inbound /sedai/dht-keywords/1.0.0 stream: reads a QUERY,
 * replies RESULT (OK with the matching files, NOT_FOUND, or ERROR for a
 * malformed query) and closes. The whole exchange runs under one deadline.
 */
export async function serveKeywordQuery (stream: Stream, init: ServeInit): Promise<void> {
  const timeoutMs = init.timeoutMs ?? QUERY_TIMEOUT_MS
  const framed = new FramedStream(stream, { maxFrameBytes: MAX_QUERY_FRAME_BYTES, idleTimeoutMs: timeoutMs })
  const deadline = setTimeout(() => { framed.abort(new TimeoutError(`keyword query not answered in ${timeoutMs} ms`)) }, timeoutMs)
  const send = async (bytes: Uint8Array): Promise<void> => {
    init.stats?.message('dhtKeywords', 'out', NAMES[bytes[0]] ?? 'UNKNOWN', bytes.byteLength)
    await framed.write(bytes)
  }
  try {
    let bytes: Uint8Array | undefined
    try {
      bytes = await framed.read()
    } catch (err: any) {
      if (!(err instanceof InvalidMessageError)) throw err
      await send(encodeResult({ status: Status.ERROR, error: err.message }))
      await framed.close()
      return
    }
    if (bytes === undefined) { await framed.close(); return }
    init.stats?.message('dhtKeywords', 'in', NAMES[bytes[0]] ?? 'UNKNOWN', bytes.byteLength)
    let keywords: string[]
    try {
      keywords = decodeQuery(bytes).keywords
    } catch (err: any) {
      await send(encodeResult({ status: Status.ERROR, error: err.message }))
      await framed.close()
      return
    }
    const files = init.match(keywords).slice(0, MAX_RESULTS)
    await send(files.length > 0 ? encodeResult({ status: Status.OK, files }) : encodeResult({ status: Status.NOT_FOUND, error: 'no matching files' }))
    await framed.close()
  } catch (err: any) {
    framed.abort(err)
    throw err
  } finally {
    clearTimeout(deadline)
  }
}

export interface AskInit {
  signal?: AbortSignal
  stats?: Stats
  timeoutMs?: number
}

/**
 * Sends a QUERY on an outbound stream and returns the remote's matching
 * files ([] for NOT_FOUND). Throws RemoteError for an ERROR reply,
 * InvalidMessageError for a malformed one, TimeoutError past the deadline.
 */
export async function askKeywords (stream: Stream, keywords: string[], init: AskInit = {}): Promise<ResultFile[]> {
  const timeoutMs = init.timeoutMs ?? QUERY_TIMEOUT_MS
  const framed = new FramedStream(stream, { maxFrameBytes: MAX_RESULT_FRAME_BYTES, idleTimeoutMs: timeoutMs })
  const abort = (): void => { framed.abort(init.signal?.reason ?? new TimeoutError('keyword query aborted')) }
  const deadline = setTimeout(() => { framed.abort(new TimeoutError(`keyword query not answered in ${timeoutMs} ms`)) }, timeoutMs)
  init.signal?.addEventListener('abort', abort, { once: true })
  try {
    const query = encodeQuery(keywords)
    init.stats?.message('dhtKeywords', 'out', 'QUERY', query.byteLength)
    await framed.write(query)
    const bytes = await framed.read()
    if (bytes === undefined) throw new InvalidMessageError('stream closed before RESULT')
    init.stats?.message('dhtKeywords', 'in', NAMES[bytes[0]] ?? 'UNKNOWN', bytes.byteLength)
    const result = decodeResult(bytes)
    // the RESULT is in hand: the close (our FIN, then the remote's) need not be waited for before it is used
    framed.close().catch(() => {})
    if (result.status === Status.NOT_FOUND) return []
    if (result.status === Status.ERROR) throw new RemoteError(`peer refused the keyword query: ${result.error ?? ''}`)
    return result.files
  } catch (err: any) {
    framed.abort(err)
    throw err
  } finally {
    clearTimeout(deadline)
    init.signal?.removeEventListener('abort', abort)
  }
}
