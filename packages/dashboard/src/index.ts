/**
 * @sedai/dashboard: the daemon's web dashboard. The server side (served by
 * the control API on its own address) is here; the front end is ui/, bundled
 * into dist/ by `npm run build:dashboard` (docs/DASHBOARD.md).
 */
export { createDashboard, DEFAULT_DIST } from './serve.ts'
export type { Dashboard, DashboardInit } from './serve.ts'
export { DASHBOARD_HEADERS, DASHBOARD_PATHS } from './constants.ts'
export { DashboardNotBuiltError } from './errors.ts'
