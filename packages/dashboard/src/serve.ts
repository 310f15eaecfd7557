import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DASHBOARD_HEADERS, DASHBOARD_PATHS } from './constants.ts'
import { DashboardNotBuiltError } from './errors.ts'

/** The bundle `npm run build:dashboard` writes (packages/dashboard/dist). */
export const DEFAULT_DIST = fileURLToPath(new URL('../dist/', import.meta.url))

export interface DashboardInit {
  /** the built front end; default DEFAULT_DIST */
  dist?: string
}

export interface Dashboard {
  /** whether a GET of `path` (no query string) is the dashboard's: the API server answers it without a token */
  handles: (path: string) => boolean
  /**
   * Answers a GET of one of the dashboard's paths: static files that carry
   * no secret (the user gives the page the API token; docs/DASHBOARD.md).
   * The caller has already refused foreign Hosts and Origins. Without a
   * build it answers 503 with what to run.
   */
  serve: (path: string, res: ServerResponse) => Promise<void>
}

interface Bundle {
  page: Buffer
  script: Buffer
  style: Buffer
}

/**
 * The dashboard's server side: three files from dist/, read once and kept in
 * memory. A missing build is retried on every request, so building while the
 * daemon runs is enough.
 */
export function createDashboard (init: DashboardInit = {}): Dashboard {
  const dist = init.dist ?? DEFAULT_DIST
  let bundle: Bundle | undefined
  const paths = new Set<string>(Object.values(DASHBOARD_PATHS))

  async function load (): Promise<Bundle> {
    if (bundle !== undefined) return bundle
    let page: Buffer, script: Buffer, style: Buffer
    try {
      [page, script, style] = await Promise.all([
        readFile(join(dist, 'index.html')),
        readFile(join(dist, 'app.js')),
        readFile(join(dist, 'style.css'))
      ])
    } catch (err: any) {
      throw new DashboardNotBuiltError(`the dashboard is not built (${err.code ?? err.message} in ${dist}): run \`npm run build:dashboard\` in the sedai checkout`)
    }
    bundle = { page, script, style }
    return bundle
  }

  return {
    handles: (path) => paths.has(path),
    serve: async (path, res) => {
      if (path === DASHBOARD_PATHS.favicon) {
        send(res, 204, 'text/plain; charset=utf-8', '')
        return
      }
      let b: Bundle
      try {
        b = await load()
      } catch (err) {
        if (!(err instanceof DashboardNotBuiltError)) throw err
        send(res, 503, 'text/plain; charset=utf-8', `sedai: ${err.message}\n`)
        return
      }
      if (path === DASHBOARD_PATHS.script) {
        send(res, 200, 'text/javascript; charset=utf-8', b.script)
      } else if (path === DASHBOARD_PATHS.style) {
        send(res, 200, 'text/css; charset=utf-8', b.style)
      } else {
        send(res, 200, 'text/html; charset=utf-8', b.page)
      }
    }
  }
}

function send (res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { ...DASHBOARD_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
