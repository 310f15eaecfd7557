import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { runNetwork } from './experiment.ts'
import { buildReport } from './report/report.ts'
import { ConditionsError, InvalidTopologyError } from './errors.ts'
import { isPartition, parseTopology } from './topology.ts'
import { fileSet, writeFiles } from './workload.ts'
import type { RunResult, Runner } from './experiment.ts'
import type { Topology } from './topology.ts'
import type { LabObserver } from './observer.ts'

export interface LabRunOptions {
  /** where report.md, the SVGs and results.json go */
  out: string
  /** the command line quoted in the report */
  command: string
  /** keep the peers' repos (in a temp folder) for inspection */
  keep?: boolean
  /** only the runs whose id contains this */
  only?: string
  /** overrides the topology's runner */
  runner?: Runner
  /** docker runner: the image (default SEDAI_IMAGE, else DEFAULTS.dockerImage) */
  image?: string
  log?: (msg: string) => void
  /** watches each run as it goes (the lab dashboard, `--dashboard`) */
  observer?: LabObserver
}

/** How a lab run was made, kept in results.json so a report can be rebuilt from it. */
export interface RunMeta { command: string, machine: string, startedAt: string, durationMs: number }

export interface SavedResults { meta: RunMeta, topology: Topology, results: RunResult[], failed: Array<{ id: string, error: string }> }

/** Writes report.md and its SVGs into `out`; resolves to report.md's path. */
export async function writeReport (out: string, saved: SavedResults, rebuiltBy?: string): Promise<string> {
  const { meta, topology, results, failed } = saved
  const report = buildReport({ topology, results, failed, command: meta.command, machine: meta.machine, startedAt: new Date(meta.startedAt), durationMs: meta.durationMs, rebuiltBy })
  await mkdir(out, { recursive: true })
  for (const [file, svg] of report.charts) await writeFile(join(out, file), svg)
  const reportPath = join(out, 'report.md')
  await writeFile(reportPath, report.markdown)
  return reportPath
}

/** Reads a results.json that `sedai lab run` wrote; the topology in it is checked again. */
export async function loadResults (path: string): Promise<SavedResults> {
  let doc: any
  try {
    doc = JSON.parse(await readFile(path, 'utf8'))
  } catch (err: any) {
    if (err.code === 'ENOENT') throw err
    throw new InvalidTopologyError(`${path}: not JSON: ${err.message}`)
  }
  const t = doc?.topology
  if (typeof doc?.meta?.command !== 'string' || typeof doc.meta.startedAt !== 'string' || !Array.isArray(doc.results) || !Array.isArray(doc.failed) ||
      typeof t?.name !== 'string' || typeof t.files !== 'object' || typeof t.workload !== 'object' || !Array.isArray(t.runs)) {
    throw new InvalidTopologyError(`${path}: not a results.json written by sedai lab run (meta, topology, results, failed)`)
  }
  return { meta: doc.meta, topology: t, results: doc.results, failed: doc.failed }
}

export async function loadTopology (path: string): Promise<Topology> {
  return parseTopology(await readFile(path, 'utf8'))
}

/**
 * Runs every network of a topology, one after the other (each gets the whole
 * machine), and writes the report. A run that fails is reported as such; the
 * others still run.
 */
export async function runLab (topology: Topology, opts: LabRunOptions): Promise<{ results: RunResult[], failed: Array<{ id: string, error: string }>, reportPath: string }> {
  const log = opts.log ?? ((msg: string) => { process.stderr.write(`lab: ${msg}\n`) })
  const runner = opts.runner ?? topology.runner
  const runs = topology.runs.filter(r => opts.only === undefined || r.id.includes(opts.only))
  const shaped = runs.find(r => r.conditions !== undefined)
  if (runner !== 'docker' && shaped !== undefined) {
    throw new ConditionsError(`'${shaped.id}' sets network conditions: they need the docker runner (tc inside each container), not ${runner}`)
  }
  const cut = runs.find(r => r.faults.some(isPartition))
  if (runner !== 'docker' && cut !== undefined) {
    throw new ConditionsError(`'${cut.id}' has a partition fault: it needs the docker runner (iptables inside each container), not ${runner}`)
  }
  const startedAt = new Date()
  const t0 = performance.now()
  await mkdir(opts.out, { recursive: true })
  const scratch = await mkdtemp(join(tmpdir(), `sedai-lab-${topology.name}-`))
  const results: RunResult[] = []
  const failed: Array<{ id: string, error: string }> = []
  try {
    const files = fileSet(topology.files)
    const paths = await writeFiles(join(scratch, 'files'), files, topology.seed)
    for (const [i, spec] of runs.entries()) {
      log(`run ${i + 1}/${runs.length}: ${spec.id}`)
      const dir = join(scratch, `run-${i}`)
      try {
        results.push(await runNetwork(spec, { topology, files, paths, dir, log, runner, image: opts.image ?? process.env.SEDAI_IMAGE, ...(opts.observer !== undefined ? { observer: opts.observer } : {}) }))
      } catch (err: any) {
        log(`${spec.id} failed: ${err.message}`)
        failed.push({ id: spec.id, error: err.message })
      }
      if (opts.keep !== true) await rm(dir, { recursive: true, force: true })
    }
    const meta: RunMeta = { command: opts.command, machine: `${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`, startedAt: startedAt.toISOString(), durationMs: performance.now() - t0 }
    await writeFile(join(opts.out, 'results.json'), JSON.stringify({ meta, topology, results, failed }, null, 1) + '\n')
    const reportPath = await writeReport(opts.out, { meta, topology, results, failed })
    return { results, failed, reportPath }
  } finally {
    if (opts.keep !== true) await rm(scratch, { recursive: true, force: true }); else log(`peers' repos kept in ${scratch}`)
  }
}
