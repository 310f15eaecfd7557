import type { ServerResponse } from 'node:http'
import type { DaemonApi } from './daemon-api.ts'

/** The topics of the event stream: each is sent at once, then whenever its JSON changes. */
export type EventTopic = 'node' | 'files' | 'overlay' | 'downloads'

export const EVENTS_DEFAULTS = {
  /** how often the stream wakes up to look for changes (ms) */
  intervalMs: 500,
  /** how often each topic is read (ms, rounded up to whole intervals): a big share makes `files` the costly one */
  everyMs: { downloads: 500, overlay: 1_000, node: 2_000, files: 3_000 } satisfies Record<EventTopic, number>,
  /** a comment line this often keeps proxies and idle timers from closing the stream (ms) */
  heartbeatMs: 15_000
} as const

type Topic = EventTopic

export interface EventStreamInit {
  api: DaemonApi
  res: ServerResponse
  /** headers every API response carries */
  headers: Record<string, string>
  /** ends the stream (the client went away, the daemon stops) */
  signal: AbortSignal
  intervalMs?: number
  everyMs?: Partial<Record<EventTopic, number>>
  heartbeatMs?: number
}

/**
 * `GET /api/v1/events`: server-sent events (text/event-stream) for the
 * dashboard. Events `node` (id), `files` (ls), `overlay` and `downloads`
 * come at once and then whenever they change; the daemon is polled (each
 * topic at its own pace: EVENTS_DEFAULTS.everyMs), so a burst of changes
 * costs one event per period. A topic the daemon cannot
 * report is left out. While the socket is backed up nothing is written; the
 * latest state goes out once it drains.
 */
export async function streamEvents (init: EventStreamInit): Promise<void> {
  const { api, res, signal } = init
  const intervalMs = init.intervalMs ?? EVENTS_DEFAULTS.intervalMs
  const heartbeatMs = init.heartbeatMs ?? EVENTS_DEFAULTS.heartbeatMs
  const readers: Record<Topic, (() => Promise<unknown>) | undefined> = {
    node: async () => await api.id(),
    files: async () => await api.ls(),
    overlay: api.overlay === undefined ? undefined : async () => await api.overlay?.(),
    downloads: api.downloads === undefined ? undefined : async () => await api.downloads?.()
  }
  const everyMs = { ...EVENTS_DEFAULTS.everyMs, ...init.everyMs }
  const sent = new Map<Topic, string>()
  const readAt = new Map<Topic, number>()
  res.writeHead(200, { ...init.headers, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
  // the reconnection delay EventSource-style clients use
  res.write('retry: 2000\n\n')

  let lastWrite = Date.now()
  const closed = new Promise<void>((resolve) => {
    if (signal.aborted) resolve()
    signal.addEventListener('abort', () => { resolve() }, { once: true })
    res.once('close', () => { resolve() })
  })
  let open = true
  void closed.then(() => { open = false })

  while (open && !res.destroyed) {
    if (!res.writableNeedDrain) {
      for (const [topic, read] of Object.entries(readers) as Array<[Topic, (() => Promise<unknown>) | undefined]>) {
        if (read === undefined || Date.now() - (readAt.get(topic) ?? -Infinity) < everyMs[topic]) continue
        readAt.set(topic, Date.now())
        let json: string
        try {
          json = JSON.stringify(await read())
        } catch {
          continue // the next poll tries again; the stream is a view
        }
        if (!open || res.destroyed) break
        if (sent.get(topic) === json) continue
        sent.set(topic, json)
        res.write(`event: ${topic}\ndata: ${json}\n\n`)
        lastWrite = Date.now()
      }
      if (open && Date.now() - lastWrite >= heartbeatMs) {
        res.write(': keep-alive\n\n')
        lastWrite = Date.now()
      }
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([closed, new Promise<void>((resolve) => { timer = setTimeout(resolve, intervalMs) })])
    clearTimeout(timer)
  }
  if (!res.writableEnded) res.end()
}
