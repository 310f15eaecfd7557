/**
 * `npm run bench`: moves a file between two sedai daemons on loopback and
 * prints MB/s of `sedai get` next to MB/s of a raw libp2p stream over the same
 * transport in the same run, their ratio, and the daemons' memory.
 *
 * Sizes: BENCH_MIB (default 256) for throughput, BENCH_MEM_MIB (default 1024)
 * for the large download whose peak RSS is reported; BENCH_RUNS (default 3)
 * alternating runs of each, medians printed.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { startDaemon } from '../test/helpers/testnet.ts'
import { writeRandomFile } from '../test/helpers/files.ts'
import type { TestDaemon } from '../test/helpers/testnet.ts'

const MiB = 1024 * 1024
const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB
const MEM_SIZE = Number(process.env.BENCH_MEM_MIB ?? 1024) * MiB
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const RAW_PEER = fileURLToPath(new URL('./raw-peer.ts', import.meta.url))

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000)

async function rss (pid: number): Promise<{ rss: number, hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

async function rawStreamMs (bytes: number): Promise<number> {
  const sink = spawn(process.execPath, [RAW_PEER, 'sink'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const [line] = await once(sink.stdout, 'data') as [Buffer]
    const addr = line.toString().trim()
    const source = spawn(process.execPath, [RAW_PEER, 'source', addr, String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    source.stdout.on('data', d => { out += d })
    const [code] = await once(source, 'close') as [number]
    if (code !== 0) throw new Error(`raw source exited with ${code}`)
    return Number(out.trim())
  } finally {
    sink.kill('SIGTERM')
  }
}

/** One `get` through the daemon's control API, timed from request to verified file in place. */
async function getMs (downloader: TestDaemon, seeder: TestDaemon, cid: string, out: string): Promise<{ ms: number, fetched: number }> {
  const client = await ApiClient.fromRepo(downloader.repo)
  const started = performance.now()
  const result = await client.get({ cid, out, from: seeder.addrs }, () => {}, new AbortController().signal)
  const ms = performance.now() - started
  if (result.fetched !== result.size) throw new Error(`fetched ${result.fetched} of ${result.size}`)
  return { ms, fetched: result.fetched }
}

/**
 * The daemons run no mode (--mode none): the bench measures the transfer
 * against a raw stream, and the default mode's DHT (its join, lookups and
 * provides on the same connection) would be noise the raw stream does not pay.
 */
const PLAIN = { args: ['--mode', 'none'], env: { SEDAI_LOG_LEVEL: 'warn' } }

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-bench-'))
  const daemons: TestDaemon[] = []
  try {
    const src = join(dir, 'bench.bin')
    await writeRandomFile(src, SIZE)
    const seeder = await startDaemon(undefined, PLAIN)
    daemons.push(seeder)
    const shared = await seeder.cli(['share', src])
    const cid = shared.json.cid as string

    const sedaiMs: number[] = []
    const rawMs: number[] = []
    let idleRss = 0
    for (let run = 0; run < RUNS; run++) {
      // a fresh downloader each run, so nothing is already on disk
      const downloader = await startDaemon(undefined, PLAIN)
      daemons.push(downloader)
      if (run === 0) idleRss = (await rss(downloader.process.pid as number)).rss
      sedaiMs.push((await getMs(downloader, seeder, cid, join(dir, `out-${run}.bin`))).ms)
      await downloader.stop()
      await rm(join(dir, `out-${run}.bin`), { force: true })
      rawMs.push(await rawStreamMs(SIZE))
    }
    const sedaiMBps = mbps(SIZE, median(sedaiMs))
    const rawMBps = mbps(SIZE, median(rawMs))

    // memory: a large download must not buffer the file
    const big = join(dir, 'big.bin')
    await writeRandomFile(big, MEM_SIZE)
    const bigShared = await seeder.cli(['share', big])
    const downloader = await startDaemon(undefined, PLAIN)
    daemons.push(downloader)
    const big1 = await getMs(downloader, seeder, bigShared.json.cid, join(dir, 'big-out.bin'))
    const dl = await rss(downloader.process.pid as number)
    const sd = await rss(seeder.process.pid as number)

    const rows: Array<[string, string]> = [
      ['file', `${SIZE / MiB} MiB random, ${RUNS} alternating runs each, medians`],
      ['sedai get', `${sedaiMBps.toFixed(1)} MB/s (runs: ${sedaiMs.map(ms => mbps(SIZE, ms).toFixed(0)).join(', ')})`],
      ['raw libp2p stream', `${rawMBps.toFixed(1)} MB/s (runs: ${rawMs.map(ms => mbps(SIZE, ms).toFixed(0)).join(', ')})`],
      ['ratio get/raw', (sedaiMBps / rawMBps).toFixed(2)],
      ['idle daemon RSS', `${(idleRss / MiB).toFixed(0)} MiB`],
      [`${MEM_SIZE / MiB} MiB get`, `${mbps(MEM_SIZE, big1.ms).toFixed(1)} MB/s`],
      ['  downloader peak RSS', `${(dl.hwm / MiB).toFixed(0)} MiB`],
      ['  seeder peak RSS', `${(sd.hwm / MiB).toFixed(0)} MiB`]
    ]
    for (const [k, v] of rows) console.log(`${k.padEnd(24)} ${v}`)
  } finally {
    await Promise.all(daemons.map(async d => { await d.stop() }))
    await Promise.all(daemons.map(async d => { await rm(d.repo, { recursive: true, force: true }) }))
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
