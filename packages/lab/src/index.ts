/**
 * @sedai/lab: experiments that run the generations side by side on the same
 * workload, on loopback with many daemons per process or in one container
 * per peer (docker-compose), and write a report
 * (docs/LAB.md).
 */
export { DEFAULTS } from './config.ts'
export * from './errors.ts'
export { GENERATIONS, FAULT_TARGETS, conditionsLabel, parseTopology } from './topology.ts'
export type { Conditions, Fault, FileSet, Generation, RunSpec, Topology, Workload } from './topology.ts'
export { fileSet, plan, writeFiles, zipfSampler } from './workload.ts'
export type { LabFile, Plan, PlannedSearch } from './workload.ts'
export { RUNNERS, bytesServed, messageCount, runNetwork } from './experiment.ts'
export type { DownloadRecord, FaultRecord, Runner, RunResult, RunSummary, SearchRecord } from './experiment.ts'
export type { Nodes, Placement } from './nodes.ts'
export { buildReport, markdownTable } from './report/report.ts'
export { renderSvg } from './report/svg.ts'
export { loadResults, loadTopology, runLab, writeReport } from './run.ts'
export type { RunMeta, SavedResults } from './run.ts'
export { labMain } from './cli.ts'
export { LAB_PATHS, parseDashboardAddress, startLabDashboard } from './dashboard.ts'
export type { LabDashboard, LabDashboardInit, LabEdge, LabNode, LabNodeKind, LabView } from './dashboard.ts'
export type { LabObserver, LabPhase } from './observer.ts'
