import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'

/** Ports are drawn from here up to the start of the kernel's ephemeral range. */
const RANGE_START = 20_000

/**
 * `count` distinct TCP ports on 127.0.0.1 that were free a moment ago, for
 * labs and tests that must know every daemon's address before any starts.
 * They are drawn below the kernel's ephemeral range (ip_local_port_range): a
 * port the OS hands out between our check and the daemon's listen (as the
 * source port of any outbound connection on a busy machine) would make the
 * listen fail with EADDRINUSE.
 */
export async function freePorts (count: number): Promise<number[]> {
  const [low] = await ephemeralRange()
  const last = Math.min(low, 65536) - 1
  const ports: number[] = []
  const servers = []
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > count * 20 + 100) throw new Error(`could not find ${count} free ports in ${RANGE_START}..${last}`)
      const port = RANGE_START + Math.floor(Math.random() * (last - RANGE_START + 1))
      if (ports.includes(port)) continue
      const s = createServer()
      const ok = await new Promise<boolean>(resolve => { s.once('error', () => { resolve(false) }); s.listen(port, '127.0.0.1', () => { resolve(true) }) })
      if (!ok) continue
      servers.push(s)
      ports.push(port)
    }
  } finally {
    await Promise.all(servers.map(async s => { await new Promise(resolve => { s.close(resolve) }) }))
  }
  return ports
}

/** The kernel's ephemeral port range; Linux's default when it cannot be read. */
async function ephemeralRange (): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999')
  const [a, b] = text.trim().split(/\s+/).map(Number)
  return Number.isInteger(a) && Number.isInteger(b) && a > RANGE_START + 1000 ? [a, b] : [32768, 60999]
}
