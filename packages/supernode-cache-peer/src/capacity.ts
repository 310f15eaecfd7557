import { availableParallelism, loadavg } from 'node:os'
import type { SupernodeConfig } from './config.ts'

/** What a node knows of its own capacity. */
export interface CapacityInputs {
  /** measured upload bandwidth (bytes/s), capped by the configured upload rate; undefined = not measured yet */
  uploadBytesPerSec?: number
  /** CPU cores not busy (cores - 1-minute load average) */
  idleCpus: number
  uptimeMs: number
  /** listening on an address others can dial */
  dialable: boolean
}

/**
 * One capacity score in 0..1 (the seed: "each node's class is determined
 * automatically from its processing power and bandwidth"): a weighted sum of
 * normalised terms, weights and references in DEFAULTS. An unmeasured
 * bandwidth counts as 0, so the score stays below the threshold until the
 * probe has run.
 */
export function capacityScore (inputs: CapacityInputs, config: Pick<SupernodeConfig, 'weightBandwidth' | 'weightCpu' | 'weightUptime' | 'weightDialable' | 'bandwidthRef' | 'cpuRef' | 'uptimeRefMs'>): number {
  const norm = (x: number, ref: number): number => ref <= 0 ? 0 : Math.max(0, Math.min(1, x / ref))
  const score = config.weightBandwidth * norm(inputs.uploadBytesPerSec ?? 0, config.bandwidthRef) +
    config.weightCpu * norm(inputs.idleCpus, config.cpuRef) +
    config.weightUptime * norm(inputs.uptimeMs, config.uptimeRefMs) +
    config.weightDialable * (inputs.dialable ? 1 : 0)
  return Math.round(Math.max(0, Math.min(1, score)) * 1000) / 1000
}

/** CPU and uptime as this process sees them. */
export function localCapacity (startedAt: number): { idleCpus: number, uptimeMs: number } {
  const cores = availableParallelism()
  return { idleCpus: Math.max(0, cores - loadavg()[0]), uptimeMs: Date.now() - startedAt }
}

/** Leaves a supernode of this score takes: more capacity, more leaves (at least 1). */
export function leafCapacity (score: number, maxLeaves: number): number {
  return Math.max(1, Math.round(maxLeaves * score))
}
