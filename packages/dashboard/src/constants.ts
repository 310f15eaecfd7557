/** Where the dashboard lives on the API's address: the page at `/`, its files under `/dashboard/`. */
export const DASHBOARD_PATHS = {
  page: '/',
  script: '/dashboard/app.js',
  style: '/dashboard/style.css',
  /** browsers ask for it unprompted; answered 204 rather than the API's 401 */
  favicon: '/favicon.ico'
} as const

/**
 * Headers of every dashboard response: only this origin's own files, no
 * framing (clickjacking), no MIME sniffing, no referrer, no CORS (the
 * default: no Access-Control-* header at all), nothing cached.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store'
}
