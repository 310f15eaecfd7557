/**
 * The status every sedai reply carries (STYLE: no exception crosses the
 * wire). Protocols may add their own codes above these (the directory adds
 * RATE_LIMITED = 3).
 */
export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  ERROR: 2
} as const
export type Status = typeof Status[keyof typeof Status]
