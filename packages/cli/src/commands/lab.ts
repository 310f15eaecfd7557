import { InvalidOptionError } from '@sedai/core/errors'
import type { Command } from '../context.ts'

/**
 * `sedai lab ...` runs the lab (@sedai/lab, also the `sedai-lab` command).
 * Loaded only when asked for: the lab embeds daemons from this package, so
 * the CLI does not depend on it; a build without it says so.
 */
export const lab: Command = {
  name: 'lab',
  usage: 'lab run TOPOLOGY.json [--out DIR] [--only TEXT] [--keep] | lab check TOPOLOGY.json | lab report RESULTS.json [--out DIR]',
  summary: 'run a lab experiment on loopback and write a comparison report (docs/LAB.md)',
  async run (argv) {
    let mod: { labMain: (argv: string[], argv0?: string) => Promise<number> }
    try {
      const spec: string = '@sedai/lab'
      mod = await import(spec)
    } catch (err: any) {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err
      throw new InvalidOptionError('the lab is not available in this build (@sedai/lab is not installed)')
    }
    return await mod.labMain(argv, 'sedai lab')
  }
}
