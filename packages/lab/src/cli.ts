import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { LabError } from './errors.ts'
import { loadTopology, runLab } from './run.ts'

const USAGE = `usage: sedai lab run TOPOLOGY.json [--out DIR] [--only TEXT] [--keep]
       sedai lab check TOPOLOGY.json

run    starts every network of the topology on 127.0.0.1 (real daemons, many per
       process), runs the same workload on each and writes DIR/report.md, SVG
       plots and results.json (DIR default: lab-report/<topology name>)
check  validates the file and lists the runs it expands to
`

/** `sedai lab ...` / `sedai-lab ...`; resolves to the exit code (0 ok, 1 failed, 2 usage). */
export async function labMain (argv: string[], argv0 = 'sedai lab'): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, only: { type: 'string' }, keep: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } })
  } catch (err: any) {
    process.stderr.write(`error: ${err.message}\n${USAGE}`)
    return 2
  }
  const [cmd, file, ...extra] = parsed.positionals
  if (parsed.values.help || cmd === 'help') { process.stdout.write(USAGE); return 0 }
  if ((cmd !== 'run' && cmd !== 'check') || file === undefined || extra.length > 0) {
    process.stderr.write(`error: expected 'run TOPOLOGY.json' or 'check TOPOLOGY.json'\n${USAGE}`)
    return 2
  }
  try {
    const topology = await loadTopology(file)
    if (cmd === 'check') {
      process.stdout.write(`${topology.name}: ${topology.runs.length} runs\n${topology.runs.map(r => `  ${r.id}\n`).join('')}`)
      return 0
    }
    const out = resolve(parsed.values.out ?? `lab-report/${topology.name}`)
    const res = await runLab(topology, { out, command: [argv0, ...argv].join(' '), keep: parsed.values.keep, only: parsed.values.only })
    process.stdout.write(`${res.reportPath}\n`)
    return res.failed.length === 0 ? 0 : 1
  } catch (err: any) {
    process.stderr.write(`error: ${err.message}\n`)
    return err instanceof LabError || err.code === 'ENOENT' ? (err.code === 'ERR_INVALID_TOPOLOGY' || err.code === 'ENOENT' ? 2 : 1) : 1
  }
}
