/**
 * The lab agent: the process a docker-runner container runs (PID 1). It hosts
 * the container's sedai daemon (host.ts) and takes the runner's commands over
 * TCP (wire.ts) on DEFAULTS.agentPort, which the compose file publishes on the
 * host's 127.0.0.1 only. Every request must carry the run's token
 * (SEDAI_LAB_TOKEN, set by the runner in the compose file).
 */
import { createServer } from 'node:net'
import { DEFAULTS } from '../config.ts'
import { handle } from '../host.ts'
import { LineDecoder, encodeLine, isAgentRequest, sameToken } from './wire.ts'
import type { Socket } from 'node:net'
import type { Reply } from '../messages.ts'

const token = process.env.SEDAI_LAB_TOKEN ?? ''
if (token.length < 16) {
  process.stderr.write('sedai lab agent: SEDAI_LAB_TOKEN must be set (16+ characters); the runner sets it\n')
  process.exit(2)
}
const port = Number(process.env.SEDAI_LAB_AGENT_PORT ?? DEFAULTS.agentPort)
// all interfaces in a container (the port is published on the host's 127.0.0.1 only); tests set 127.0.0.1
const host = process.env.SEDAI_LAB_AGENT_HOST ?? '0.0.0.0'

let stopping = false
async function shutdown (code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    await handle({ op: 'shutdown' }).catch(() => {})
  }
  process.exit(code)
}

function serve (socket: Socket): void {
  const decoder = new LineDecoder(DEFAULTS.agentMaxLineBytes)
  let inFlight = 0
  const reply = (r: Reply): void => { if (!socket.destroyed) socket.write(encodeLine(r)) }
  socket.on('data', (chunk: Buffer) => {
    let msgs: unknown[]
    try {
      msgs = decoder.push(chunk)
    } catch (err: any) {
      reply({ id: 0, ok: false, error: err.message, code: err.code })
      socket.destroy()
      return
    }
    for (const msg of msgs) {
      if (!isAgentRequest(msg) || !sameToken(msg.token, token)) {
        reply({ id: 0, ok: false, error: 'not a request of this run (shape or token)', code: 'ERR_LAB_AGENT_PROTOCOL' })
        socket.destroy()
        return
      }
      if (inFlight >= DEFAULTS.agentMaxInFlight) {
        reply({ id: msg.id, ok: false, error: `more than ${DEFAULTS.agentMaxInFlight} requests in flight`, code: 'ERR_LAB_AGENT_PROTOCOL' })
        continue
      }
      inFlight++
      handle(msg.req).then(
        (result) => {
          reply({ id: msg.id, ok: true, result })
          if (msg.req.op === 'shutdown') setImmediate(() => { process.exit(0) })
        },
        (err: any) => { reply({ id: msg.id, ok: false, error: String(err?.message ?? err), code: err?.code }) }
      ).finally(() => { inFlight-- })
    }
  })
  socket.on('error', () => {})
}

const server = createServer(serve)
server.listen(port, host, () => {
  const a = server.address()
  // the port actually bound (0 = any), for whoever started the agent by hand or in a test
  process.stdout.write(`sedai lab agent listening on ${typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a)}\n`)
})
// PID 1 in a container gets no default signal handlers: `docker stop` / `compose down` would wait out their grace period
process.on('SIGTERM', () => { void shutdown(0) })
process.on('SIGINT', () => { void shutdown(0) })
