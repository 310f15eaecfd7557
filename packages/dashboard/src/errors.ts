import { SedaiError } from '@sedai/core/errors'

/** The front end's bundle (dist/) is missing: `npm run build:dashboard` was not run. */
export class DashboardNotBuiltError extends SedaiError {
  override readonly code = 'ERR_DASHBOARD_NOT_BUILT'
  override name = 'DashboardNotBuiltError'
}
