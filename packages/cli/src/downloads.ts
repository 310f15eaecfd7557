import type { DownloadProgress } from '@sedai/core'
import type { DownloadInfo, GetResult } from './daemon-api.ts'

export const DOWNLOAD_LOG_DEFAULTS = {
  /** finished downloads kept for the dashboard; the oldest goes first */
  keepFinished: 20,
  /** the speed of a running download is measured over this window (ms) */
  rateWindowMs: 3_000
} as const

/** One download in the log; the daemon feeds it progress and its end. */
export interface DownloadEntry {
  progress: (p: DownloadProgress) => void
  done: (result: GetResult) => void
  failed: (err: unknown) => void
}

/**
 * The daemon's running and recent downloads (whoever started them: the CLI
 * or the dashboard), with their speed and sources, for the dashboard.
 */
export class DownloadLog {
  private readonly running = new Map<string, DownloadInfo>()
  private readonly finished: DownloadInfo[] = []
  private readonly samples = new Map<string, Array<{ at: number, fetched: number }>>()
  private next = 1

  start (cid: string): DownloadEntry {
    const info: DownloadInfo = { id: String(this.next++), cid, have: 0, fetched: 0, rate: 0, sources: [], state: 'running', startedAt: Date.now() }
    this.running.set(info.id, info)
    this.samples.set(info.id, [{ at: info.startedAt, fetched: 0 }])
    const end = (): void => {
      info.endedAt = Date.now()
      const seconds = (info.endedAt - info.startedAt) / 1000
      info.rate = seconds > 0 ? Math.round(info.fetched / seconds) : info.fetched
      this.running.delete(info.id)
      this.samples.delete(info.id)
      this.finished.push(info)
      while (this.finished.length > DOWNLOAD_LOG_DEFAULTS.keepFinished) this.finished.shift()
    }
    return {
      progress: (p) => {
        if (info.state !== 'running') return
        info.name = p.name
        info.size = p.size
        info.have = p.have
        info.fetched = p.fetched
        info.sources = [...p.sources]
        const now = Date.now()
        const window = this.samples.get(info.id) ?? []
        window.push({ at: now, fetched: p.fetched })
        while (window.length > 2 && now - window[1].at >= DOWNLOAD_LOG_DEFAULTS.rateWindowMs) window.shift()
        const first = window[0]
        info.rate = now > first.at ? Math.round((p.fetched - first.fetched) * 1000 / (now - first.at)) : 0
      },
      done: (result) => {
        if (info.state !== 'running') return
        info.state = 'done'
        info.size = result.size
        info.have = result.size
        info.fetched = result.fetched
        info.sources = [...result.sources]
        info.path = result.path
        info.name ??= result.path.split(/[\\/]/).at(-1)
        end()
      },
      failed: (err) => {
        if (info.state !== 'running') return
        info.state = 'failed'
        info.error = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500)
        end()
      }
    }
  }

  /** Running downloads first (oldest first), then finished ones (newest first). */
  list (): DownloadInfo[] {
    return [...this.running.values(), ...[...this.finished].reverse()].map(d => ({ ...d, sources: [...d.sources] }))
  }
}
