/** docker and docker-compose commands, each with a deadline and a DockerError that quotes stderr. */
import { execFile } from 'node:child_process'
import { DEFAULTS } from '../config.ts'
import { DockerError } from '../errors.ts'

export async function run (cmd: string, args: string[], timeoutMs: number = DEFAULTS.dockerCommandTimeoutMs): Promise<string> {
  return await new Promise((resolve, reject) => {
    // docker-compose v1 gives up on a slow engine after COMPOSE_HTTP_TIMEOUT (60 s): bringing up 30 containers on a
    // loaded 2-core machine with the vfs driver took longer; our own deadline (timeoutMs) is the one that counts
    const env = { ...process.env, COMPOSE_HTTP_TIMEOUT: process.env.COMPOSE_HTTP_TIMEOUT ?? String(Math.ceil(timeoutMs / 1000)) }
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not installed` : (stderr.trim().split('\n').slice(-3).join(' / ') || err.message)
      reject(new DockerError(`'${cmd} ${args.join(' ')}' failed: ${why}`))
    })
  })
}

let composeCommand: string[] | undefined
/** SEDAI_COMPOSE (e.g. 'docker-compose'), else the v2 plugin when present, else docker-compose v1. */
export async function compose (): Promise<string[]> {
  if (composeCommand !== undefined) return composeCommand
  const env = process.env.SEDAI_COMPOSE?.trim()
  if (env !== undefined && env !== '') composeCommand = env.split(/\s+/)
  else composeCommand = await run('docker', ['compose', 'version'], 30_000).then(() => ['docker', 'compose'], () => ['docker-compose'])
  return composeCommand
}

/** The host port that `container`'s `port`/tcp is published on (127.0.0.1). */
export async function publishedPort (container: string, port: number): Promise<number> {
  const out = await run('docker', ['port', container, `${port}/tcp`], 30_000)
  const m = /:(\d+)\s*$/m.exec(out.trim().split('\n')[0] ?? '')
  if (m === null) throw new DockerError(`${container}: port ${port} is not published (docker port said '${out.trim()}')`)
  return Number(m[1])
}
