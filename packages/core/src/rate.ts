import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A token bucket over bytes, shared by every stream of a service: an upload
 * cap as file-sharing clients have (and the lab's way to make a slow peer).
 * Callers take what they are about to send; the bucket may go negative by one
 * message, which the next callers wait out, so the long-run rate holds for
 * messages of any size.
 */
export class RateLimiter {
  private readonly bytesPerSecond: number
  private readonly burst: number
  private tokens: number
  private last = performance.now()

  constructor (bytesPerSecond: number, burst = Math.max(64 * 1024, bytesPerSecond / 10)) {
    this.bytesPerSecond = bytesPerSecond
    this.burst = burst
    this.tokens = burst
  }

  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
    const wait = this.tokens < 0 ? -this.tokens * 1000 / this.bytesPerSecond : 0
    this.tokens -= bytes
    if (wait > 0) await sleep(wait, undefined, { signal })
  }
}
