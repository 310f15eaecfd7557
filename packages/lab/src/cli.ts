import { parseArgs } from 'node:util'
import { dirname, resolve } from 'node:path'
import { LabError } from './errors.ts'
import { loadResults, loadTopology, runLab, writeReport } from './run.ts'
import { parseDashboardAddress, startLabDashboard } from './dashboard.ts'
import type { LabDashboard } from './dashboard.ts'

const USAGE = `usage: sedai lab run TOPOLOGY.json [--out DIR] [--only TEXT] [--keep] [--runner local|docker] [--image NAME] [--dashboard [HOST:]PORT]
       sedai lab check TOPOLOGY.json
       sedai lab report RESULTS.json [--out DIR]

run    starts every network of the topology, runs the same workload on each and
       writes DIR/report.md, SVG plots and results.json (DIR default:
       lab-report/<topology name>); --runner local (the default unless the
       file says otherwise): real daemons, many per process, on 127.0.0.1;
       --runner docker: one container per peer (docker-compose, image
       --image, default $SEDAI_IMAGE or sedai:dev from 'npm run lab:image'),
       which can also apply the networks' delay/loss/rate conditions;
       --dashboard: while it runs, serve the lab view (every node, its links
       and rates, the faults) on a loopback address; it prints the address
       and a token to paste into the page (also in DIR/dashboard.json, 0600)
check  validates the file and lists the runs it expands to
report rebuilds report.md and the plots from a run's results.json (DIR default:
       the folder of RESULTS.json)
`

/** `sedai lab ...` / `sedai-lab ...`; resolves to the exit code (0 ok, 1 failed, 2 usage). */
export async function labMain (argv: string[], argv0 = 'sedai lab'): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, only: { type: 'string' }, runner: { type: 'string' }, image: { type: 'string' }, keep: { type: 'boolean', default: false }, dashboard: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } })
  } catch (err: any) {
    process.stderr.write(`error: ${err.message}\n${USAGE}`)
    return 2
  }
  const [cmd, file, ...extra] = parsed.positionals
  if (parsed.values.help || cmd === 'help') { process.stdout.write(USAGE); return 0 }
  if ((cmd !== 'run' && cmd !== 'check' && cmd !== 'report') || file === undefined || extra.length > 0) {
    process.stderr.write(`error: expected 'run TOPOLOGY.json', 'check TOPOLOGY.json' or 'report RESULTS.json'\n${USAGE}`)
    return 2
  }
  try {
    if (cmd === 'report') {
      const out = resolve(parsed.values.out ?? dirname(file))
      process.stdout.write(`${await writeReport(out, await loadResults(file), [argv0, ...argv].join(' '))}\n`)
      return 0
    }
    const runner = parsed.values.runner
    if (runner !== undefined && runner !== 'local' && runner !== 'docker') {
      process.stderr.write(`error: --runner must be local or docker, not '${runner}'\n${USAGE}`)
      return 2
    }
    const topology = await loadTopology(file)
    if (cmd === 'check') {
      process.stdout.write(`${topology.name}: ${topology.runs.length} runs\n${topology.runs.map(r => `  ${r.id}\n`).join('')}`)
      return 0
    }
    const out = resolve(parsed.values.out ?? `lab-report/${topology.name}`)
    let dashboard: LabDashboard | undefined
    if (parsed.values.dashboard !== undefined) {
      const { host, port } = parseDashboardAddress(parsed.values.dashboard)
      dashboard = await startLabDashboard({ host, port, out, log: (msg) => { process.stderr.write(`lab: ${msg}\n`) } })
      // stderr: stdout is the report's path, for scripts
      process.stderr.write(`lab: dashboard at ${dashboard.url}/ (sign in with the token: ${dashboard.token}; also in ${dashboard.file}, mode 0600)\n`)
    }
    try {
      const res = await runLab(topology, { out, command: [argv0, ...argv].join(' '), keep: parsed.values.keep, only: parsed.values.only, runner, image: parsed.values.image, ...(dashboard !== undefined ? { observer: dashboard.observer } : {}) })
      process.stdout.write(`${res.reportPath}\n`)
      return res.failed.length === 0 ? 0 : 1
    } finally {
      await dashboard?.close()
    }
  } catch (err: any) {
    process.stderr.write(`error: ${err.message}\n`)
    return err instanceof LabError || err.code === 'ENOENT' ? (err.code === 'ERR_INVALID_TOPOLOGY' || err.code === 'ERR_LAB_CONDITIONS' || err.code === 'ERR_LAB_DASHBOARD' || err.code === 'ENOENT' ? 2 : 1) : 1
  }
}
