import { InvalidOptionError } from '@sedai/core/errors'
import type { ModeFactory } from '@sedai/core'

/**
 * Which package provides each `--mode`, loaded only when a daemon runs it.
 * A mode whose package is missing or does not export its factory yet is
 * refused at start with a clear error.
 */
const REGISTRY: Record<string, { pkg: string, factory: string }> = {
  'directory-server': { pkg: '@sedai/directory-server', factory: 'directoryServerMode' },
  directory: { pkg: '@sedai/directory-server', factory: 'directoryMode' },
  flood: { pkg: '@sedai/flooding-peer', factory: 'floodMode' },
  supernode: { pkg: '@sedai/supernode-cache-peer', factory: 'supernodeMode' },
  dht: { pkg: '@sedai/dht-peer', factory: 'dhtMode' }
}

export async function loadModeFactory (name: string): Promise<ModeFactory> {
  const entry = REGISTRY[name]
  if (entry === undefined) throw new InvalidOptionError(`unknown mode '${name}'`)
  let mod: Record<string, unknown>
  try {
    const spec: string = entry.pkg
    mod = await import(spec)
  } catch (err: any) {
    if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new InvalidOptionError(`mode '${name}' is not available in this build (${entry.pkg} is not installed)`)
  }
  const factory = mod[entry.factory]
  if (typeof factory !== 'function') throw new InvalidOptionError(`mode '${name}' is not available in this build yet (${entry.pkg} has no ${entry.factory})`)
  return factory as ModeFactory
}
