import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import type { TestContext } from 'node:test'

/** The real CLI entry point; tests drive sedai only through it. */
export const SEDAI_BIN = fileURLToPath(new URL('../../packages/cli/bin/sedai.js', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  json: any
}

/** Runs `sedai <args> --repo <repo> --json` as a child process. */
export async function sedai (repo: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [SEDAI_BIN, ...args, '--repo', repo, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', d => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', d => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
  const [code] = await once(child, 'close') as [number | null]
  clearTimeout(timer)
  let json: any
  try { json = JSON.parse(stdout) } catch {}
  return { code, stdout, stderr, json }
}

export interface TestDaemon {
  repo: string
  peerId: string
  /** dialable loopback multiaddrs ending in /p2p/<peerId> */
  addrs: string[]
  process: ChildProcess
  /** everything the daemon logged (JSON lines) */
  logs: () => string
  /** runs the CLI against this daemon */
  cli: (args: string[], opts?: { timeoutMs?: number }) => Promise<CliResult>
  /** SIGKILL, no cleanup: a crash */
  kill: () => Promise<void>
  /** SIGTERM and wait */
  stop: () => Promise<void>
}

export interface StartDaemonOptions {
  repo?: string
  args?: string[]
  env?: Record<string, string>
}

/**
 * Starts `sedai daemon` on 127.0.0.1 with free ports and waits until its API
 * answers. Without --mode in `args` it runs the default mode (dht).
 */
export async function startDaemon (t: TestContext | undefined, opts: StartDaemonOptions = {}): Promise<TestDaemon> {
  const repo = opts.repo ?? await mkdtemp(join(tmpdir(), 'sedai-test-'))
  const child = spawn(process.execPath, [SEDAI_BIN, 'daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', ...(opts.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SEDAI_LOG_LEVEL: process.env.SEDAI_LOG_LEVEL ?? 'info', ...opts.env }
  })
  let logs = ''
  child.stderr.setEncoding('utf8').on('data', d => { logs += d })
  const exited = once(child, 'exit')
  let alive = true
  void exited.then(() => { alive = false })

  const kill = async (): Promise<void> => {
    if (!alive) return
    child.kill('SIGKILL')
    await exited
  }
  const stop = async (): Promise<void> => {
    if (!alive) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  t?.after(async () => {
    await stop()
    if (opts.repo === undefined) await rm(repo, { recursive: true, force: true })
  })

  // the api file appears once the API listens; `id` then gives the addresses
  const deadline = Date.now() + 30_000
  while (true) {
    if (!alive) throw new Error(`daemon exited during start:\n${logs}`)
    if (Date.now() > deadline) { await kill(); throw new Error(`daemon did not start in 30 s:\n${logs}`) }
    const api = await readFile(join(repo, 'api'), 'utf8').catch(() => undefined)
    if (api !== undefined) {
      const id = await sedai(repo, ['id'])
      if (id.code === 0) {
        const addrs = (id.json.addrs as string[]).filter(a => a.startsWith('/ip4/127.0.0.1/'))
        return {
          repo,
          peerId: id.json.peerId,
          addrs,
          process: child,
          logs: () => logs,
          cli: async (args, o) => await sedai(repo, args, o),
          kill,
          stop
        }
      }
    }
    await sleep(50)
  }
}

export interface Testnet {
  nodes: TestDaemon[]
}

/**
 * A whole network of real daemons on loopback, torn down with the test
 * (after hyperdht's testnet.js). `mode` is passed as --mode when given; else
 * the daemons run the default mode (dht), and `mode: 'none'` runs none.
 */
export async function createTestnet (opts: { size: number, mode?: string, args?: string[] }, t: TestContext): Promise<Testnet> {
  const args = [...(opts.mode !== undefined ? ['--mode', opts.mode] : []), ...(opts.args ?? [])]
  const nodes = await Promise.all(Array.from({ length: opts.size }, async () => await startDaemon(t, { args })))
  return { nodes }
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs` naming `what` and the last error. */
export async function until<T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) { last = err }
    await sleep(everyMs)
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last !== undefined ? ` (${String(last)})` : ''}`)
}
