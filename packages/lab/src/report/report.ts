import { renderSvg } from './svg.ts'
import type { Chart, LineChart, Series } from './svg.ts'
import type { RunResult } from '../experiment.ts'
import { conditionsLabel } from '../topology.ts'
import type { Conditions, Topology } from '../topology.ts'

export interface ReportInput {
  topology: Topology
  results: RunResult[]
  /** the command line that made the report, quoted in it */
  command: string
  /** runs that failed to complete, with why */
  failed: Array<{ id: string, error: string }>
  machine: string
  startedAt: Date
  durationMs: number
  /** the command that rebuilt this report from results.json, if it was */
  rebuiltBy?: string
}

export interface Report {
  markdown: string
  /** file name -> SVG text */
  charts: Map<string, string>
}

const fmt = (v: number | undefined, digits = 1): string => v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits)
const pct = (v: number | undefined): string => v === undefined || !Number.isFinite(v) ? '–' : `${Math.round(v * 100)}%`

export function markdownTable (headers: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|')
  return [`| ${headers.map(esc).join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map(r => `| ${r.map(esc).join(' | ')} |`)].join('\n')
}

/** The runs of one label that differ only in `key`, sorted by it; empty when the label does not sweep `key`. */
function sweepOf (results: RunResult[], label: string, key: 'peers' | 'ttl'): RunResult[] {
  const runs = results.filter(r => r.spec.label === label && r.spec[key] !== undefined)
  const values = new Set(runs.map(r => r.spec[key]))
  if (values.size < 2) return []
  return [...runs].sort((a, b) => (a.spec[key] as number) - (b.spec[key] as number))
}

function lineBy (results: RunResult[], key: 'peers' | 'ttl', y: (r: RunResult) => number | undefined): Series[] {
  const labels = [...new Set(results.map(r => r.spec.label))]
  return labels.map(label => ({
    name: label,
    points: sweepOf(results, label, key).map(r => ({ x: r.spec[key] as number, y: y(r) ?? NaN }))
  })).filter(s => s.points.length > 0)
}

/** Success over the search phase in windows of `w` searches, for a run with faults. */
function timeline (r: RunResult, w: number): Series {
  const points = []
  for (let i = 0; i + w <= r.searches.length; i += Math.max(1, Math.floor(w / 2))) {
    const win = r.searches.slice(i, i + w)
    points.push({ x: Math.round(win[win.length - 1].atMs) / 1000, y: win.filter(s => s.ok).length / win.length })
  }
  return { name: r.spec.id, points }
}

/**
 * The report: a table of every run, the seed's claims each with the figures
 * that bear on it (computed from this run's data, never written in advance),
 * and the charts.
 */
/** The searches that had time to recover: those with a reachable holder, started settleMs or more after the last fault event. */
function settledText (r: RunResult, settleMs: number): string {
  if (r.summary.settledSuccess === undefined) return ''
  const last = [...r.faults].sort((a, b) => (a.restartedAtMs ?? a.atMs) - (b.restartedAtMs ?? b.atMs)).at(-1)
  const event = last === undefined ? 'fault' : last.partition !== undefined ? (last.restartedAtMs !== undefined ? 'heal' : 'partition') : (last.restartedAtMs !== undefined ? 'restart' : 'kill')
  return ` Searches with a reachable holder that started ${fmt(settleMs / 1000, 0)} s or more after the ${event}: ${pct(r.summary.settledSuccess)} of ${r.summary.settledSearches}.`
}

/** Where the peers ran: results without a runner predate the docker runner and ran on loopback. */
function placementText (results: RunResult[], perProcess: number): string {
  const docker = results.filter(r => r.runner === 'docker').length
  const local = results.length - docker
  const parts: string[] = []
  if (local > 0) parts.push(`${docker > 0 ? `${local} runs: ` : ''}peers run as real sedai daemons on 127.0.0.1, ${perProcess} per process`)
  if (docker > 0) parts.push(`${local > 0 ? `${docker} runs: ` : ''}every peer runs in its own container (docker runner: one docker-compose service per peer, its own network namespace, peers dialing each other by service name)`)
  const text = parts.join('; ')
  return text === '' ? '' : `${text[0].toUpperCase()}${text.slice(1)}.`
}

export function buildReport (input: ReportInput): Report {
  const { results, topology } = input
  const charts = new Map<string, string>()
  const add = (file: string, chart: Chart): string => { charts.set(file, renderSvg(chart)); return `![${chart.title}](${file})` }
  const lines: string[] = []
  lines.push(`# Lab report: ${topology.name}`, '')
  lines.push(`Made by \`${input.command}\` on ${input.startedAt.toISOString()} (${Math.round(input.durationMs / 1000)} s; ${input.machine})${input.rebuiltBy !== undefined ? `; this page rebuilt from its results.json by \`${input.rebuiltBy}\`` : ''}.`, '')
  lines.push(`Workload, the same for every run: ${topology.files.count} files of ${topology.files.bytes} bytes, ${topology.files.replicas === 1 ? 'one holder' : `${topology.files.replicas} holders`} each at the start; ${topology.workload.searches} searches (Zipf s = ${topology.workload.zipf} over the files, ${topology.workload.concurrency} at a time, ${topology.workload.searchTimeoutMs} ms deadline), then ${topology.workload.downloads} downloads one at a time; seed ${topology.seed}. ${placementText(results, topology.peersPerProcess)}`, '')
  for (const r of results.filter(x => x.spec.conditions !== undefined)) {
    const how = r.conditionsMethod === 'netem' ? 'with tc netem' : r.conditionsMethod === 'iptables+tbf' ? 'without netem (this kernel has none): loss by an iptables statistic rule, rate by a tbf qdisc' : 'by an unknown method'
    lines.push(`Network conditions of ${r.spec.id}: ${conditionsLabel(r.spec.conditions as Conditions)} on every container's eth0, applied ${how}; each container shapes what it sends, so a round trip crosses two shaped links.`, '')
  }

  lines.push('## Runs', '')
  lines.push(markdownTable(
    ['run', 'peers', 'search success', 'msgs/query', 'first hit p50 ms', 'p95', 'downloads ok', 'download p50 ms', 'busiest max/mean', 'busiest share', 'DHT hops', 'conns/peer', 'RSS/peer MB', 'setup s'],
    results.map(r => {
      const s = r.summary
      return [r.spec.id, String(r.spec.peers), pct(s.successRate), fmt(s.messagesPerQuery), fmt(s.firstHitP50Ms, 0), fmt(s.firstHitP95Ms, 0), pct(s.downloadSuccess), fmt(s.downloadP50Ms, 0), fmt(s.busiestMaxOverMean), pct(s.busiestShare), fmt(s.hopsMean, 2), fmt(s.connectionsPerPeer), fmt(s.rssPerPeerMB), fmt(s.setupMs / 1000, 0)]
    })
  ), '')
  lines.push('- **msgs/query**: query traffic over all nodes during the search phase divided by the searches. Directory: SEARCH requests and replies at the server. Flood and supernode: QUERY and QUERY_HIT messages sent (each crosses one overlay link). DHT: kad-dht RPCs (request and reply per queried peer) plus keyword-protocol messages. Maintenance (pings, heartbeats, index uploads, DHT republishing) is not counted.')
  const dropped = results.filter(r => (r.summary.queriesDropped ?? 0) > 0)
  if (dropped.length > 0) lines.push(`- **Queries dropped under load** (shed or throttled by a peer, so the flood reached fewer peers than the TTL allows): ${dropped.map(r => `${r.spec.id} ${r.summary.queriesDropped}`).join('; ')}.`)
  lines.push('- **busiest max/mean**: bytes served in the download phase by the busiest node over the mean of all nodes; **busiest share**: its share of all bytes served.')
  lines.push('- **conns/peer**: libp2p connections per peer, mean over all peers at the end of the search phase.')
  lines.push('- **RSS/peer**: the resident memory of the processes that host the peers (loopback workers, or each container\'s one agent) summed, over the peers they host; the peak of samples taken when the network was ready and after each phase.', '')
  if (input.failed.length > 0) {
    lines.push('### Runs that did not complete', '')
    for (const f of input.failed) lines.push(`- ${f.id}: ${f.error}`)
    lines.push('')
  }

  lines.push('## What the seed claims, and what this run shows', '')
  // 1. flooding cost grows with the network
  const floodN = [...new Set(results.filter(r => r.spec.generation === 'flood').map(r => r.spec.label))].map(l => sweepOf(results, l, 'peers')).find(x => x.length > 0)
  if (floodN !== undefined) {
    lines.push(`**Flooding cost grows with network size.** ${floodN.map(r => `N = ${r.spec.peers}: ${fmt(r.summary.messagesPerQuery)} msgs/query`).join('; ')}. ` +
      `From the smallest to the largest network, messages per query grew ${fmt(floodN[floodN.length - 1].summary.messagesPerQuery / floodN[0].summary.messagesPerQuery, 2)}x for ${fmt(floodN[floodN.length - 1].spec.peers / floodN[0].spec.peers, 2)}x the peers.`, '')
  }
  const mpqN = lineBy(results, 'peers', r => r.summary.messagesPerQuery)
  if (mpqN.length > 0) lines.push(add('messages-vs-n.svg', { kind: 'line', title: 'Messages per query vs network size', xLabel: 'peers (N)', yLabel: 'messages per query', series: mpqN, logX: true }), '')
  // 2. a small TTL misses files
  const ttlRuns = [...new Set(results.map(r => r.spec.label))].map(l => sweepOf(results, l, 'ttl')).filter(x => x.length > 0)
  for (const runs of ttlRuns) {
    lines.push(`**A small TTL misses files** (${runs[0].spec.label}, N = ${runs[0].spec.peers}). ${runs.map(r => `TTL ${r.spec.ttl}: ${pct(r.summary.successRate)} found, ${fmt(r.summary.messagesPerQuery)} msgs/query`).join('; ')}.`, '')
  }
  if (ttlRuns.length > 0) {
    lines.push(add('success-vs-ttl.svg', { kind: 'line', title: 'Search success vs TTL', xLabel: 'TTL', yLabel: 'searches that found the file', series: lineBy(results, 'ttl', r => r.summary.successRate), yMin: 0, yMax: 1 }), '')
    lines.push(add('messages-vs-ttl.svg', { kind: 'line', title: 'Messages per query vs TTL', xLabel: 'TTL', yLabel: 'messages per query', series: lineBy(results, 'ttl', r => r.summary.messagesPerQuery) }), '')
  }
  // 3. a dead directory server stops search
  const faulted = results.filter(r => r.faults.length > 0)
  for (const r of faulted) {
    const p = r.summary.successByPhase
    const f = r.faults[0]
    const cut = f.partition !== undefined
    const [during, after, event] = cut ? ['while partitioned', 'after the heal', 'heal'] : ['while down', 'after the restart', 'restart']
    const title = cut ? `A partition (${f.peers.length} of ${r.spec.peers} peers cut off)` : f.kill === 'server' ? 'A dead directory server stops search' : `Recovery after killing ${f.kill} (${f.peers.length} peers)`
    const reach = r.summary.reachableSuccessByPhase
    const reachText = reach !== undefined && (reach.down !== p.down || reach.restarted !== p.restarted)
      ? ` Counting only searches whose file had a reachable holder (up, and on the searcher's side of a partition): ${pct(reach.normal)} / ${pct(reach.down)}${reach.restarted !== undefined ? ` / ${pct(reach.restarted)}` : ''}.`
      : ''
    const m = r.summary.messagesPerQueryByPhase
    const msgText = m !== undefined && m.normal !== undefined && m.down !== undefined
      ? ` Query traffic per search: ${fmt(m.normal)} before, ${fmt(m.down)} ${during}${m.restarted !== undefined ? `, ${fmt(m.restarted)} ${after}` : ''}.`
      : ''
    lines.push(`**${title}** (${r.spec.id}). Search success before the ${cut ? 'partition' : 'kill'} ${pct(p.normal)}, ${during} ${pct(p.down)}${p.restarted !== undefined ? `, ${after} ${pct(p.restarted)}` : ''}` +
      `${r.summary.recoveryMs !== undefined ? `; the first search to succeed after the ${event} finished ${fmt(r.summary.recoveryMs / 1000, 1)} s after it` : ''}.${reachText}${settledText(r, topology.workload.settleMs)}${msgText}`, '')
  }
  if (faulted.length > 0) {
    const markers = faulted.flatMap(r => r.faults.flatMap(f => [{ x: f.atMs / 1000, label: f.partition !== undefined ? 'partition' : `kill ${f.kill}` }, ...(f.restartedAtMs !== undefined ? [{ x: f.restartedAtMs / 1000, label: f.partition !== undefined ? 'heal' : 'restart' }] : [])]))
    const chart: LineChart = { kind: 'line', title: 'Search success around a fault', xLabel: 'seconds into the search phase', yLabel: 'success (window of 6 searches)', series: faulted.map(r => timeline(r, 6)), markers, yMin: 0, yMax: 1 }
    lines.push(add('fault-timeline.svg', chart), '')
  }
  // 4. caches take load off a hot holder
  const withLoad = results.filter(r => r.summary.busiestShare !== undefined)
  if (withLoad.length > 0) {
    const gen3 = withLoad.filter(r => r.spec.generation === 'supernode')
    const on = gen3.find(r => r.spec.cache)
    const off = gen3.find(r => !r.spec.cache && r.spec.peers === on?.spec.peers)
    const pair = on !== undefined && off !== undefined
      ? `With the supernodes' path cache on (${on.spec.id}) the busiest node served ${pct(on.summary.busiestShare)} of all bytes; with it off (${off.spec.id}), ${pct(off.summary.busiestShare)}. `
      : ''
    lines.push(`**Caches take load off a hot holder.** ${pair}The busiest node's share of the bytes served under Zipf popularity, every run: ${withLoad.map(r => `${r.spec.id} ${pct(r.summary.busiestShare)}`).join('; ')}. ` +
      'Every generation also spreads load through downloaders that share what they fetched; Gen 3 adds the caches on the query path. A share that rests on few downloads (a run whose downloads mostly failed) says little.', '')
    lines.push(add('busiest-node.svg', { kind: 'bar', title: 'Load on the busiest node (download phase)', yLabel: 'share of all bytes served', categories: withLoad.map(r => r.spec.id), series: [{ name: 'busiest node share', values: withLoad.map(r => r.summary.busiestShare as number) }] }), '')
  }
  // 5. DHT lookups grow like log N
  const dhtN = [...new Set(results.filter(r => r.spec.generation === 'dht').map(r => r.spec.label))].map(l => sweepOf(results, l, 'peers')).find(x => x.length > 0)
  const dhtAll = results.filter(r => r.summary.hopsMean !== undefined)
  if (dhtAll.length > 0) {
    lines.push(`**DHT lookups grow like log N.** ${dhtAll.map(r => `N = ${r.spec.peers}: ${fmt(r.summary.hopsMean, 2)} hops, ${fmt(r.summary.queriedMean, 1)} peers queried per lookup (log2 N = ${fmt(Math.log2(r.spec.peers), 1)})`).join('; ')}. ` +
      'With k = 20, a network of at most 20 nodes answers lookups from the local store (0 hops).', '')
    if (dhtN !== undefined) {
      const xs = dhtN.map(r => r.spec.peers)
      lines.push(add('dht-hops-vs-n.svg', {
        kind: 'line',
        title: 'DHT lookup hops vs network size',
        xLabel: 'peers (N)',
        yLabel: 'hops / peers queried',
        logX: true,
        series: [
          { name: 'hops (mean)', points: dhtN.map(r => ({ x: r.spec.peers, y: r.summary.hopsMean ?? NaN })) },
          { name: 'peers queried (mean)', points: dhtN.map(r => ({ x: r.spec.peers, y: r.summary.queriedMean ?? NaN })) },
          { name: 'log2 N', dashed: true, points: xs.map(x => ({ x, y: Math.log2(x) })) }
        ]
      }), '')
    }
  }
  // the comparison on the same workload
  lines.push('## Side by side', '')
  lines.push(add('success.svg', { kind: 'bar', title: 'Search and download success', yLabel: 'fraction', categories: results.map(r => r.spec.id), series: [{ name: 'searches', values: results.map(r => r.summary.successRate ?? NaN) }, { name: 'downloads', values: results.map(r => r.summary.downloadSuccess ?? NaN) }] }), '')
  lines.push(add('first-hit.svg', { kind: 'bar', title: 'Time to first hit (p50)', yLabel: 'ms', categories: results.map(r => r.spec.id), series: [{ name: 'first hit p50', values: results.map(r => r.summary.firstHitP50Ms ?? NaN) }] }), '')
  lines.push(add('download-time.svg', { kind: 'bar', title: 'Download time (p50)', yLabel: 'ms', categories: results.map(r => r.spec.id), series: [{ name: 'download p50', values: results.map(r => r.summary.downloadP50Ms ?? NaN) }] }), '')
  lines.push(add('messages.svg', { kind: 'bar', title: 'Messages per query', yLabel: 'messages', categories: results.map(r => r.spec.id), series: [{ name: 'messages per query', values: results.map(r => r.summary.messagesPerQuery ?? NaN) }] }), '')
  return { markdown: lines.join('\n') + '\n', charts }
}
