/**
 * Network conditions inside a container: the runner enters the container's
 * network namespace from the host (nsenter; needs root) and shapes eth0 there
 * with the host's tc, so the image needs neither iproute2 nor NET_ADMIN.
 *
 * The tool is `tc qdisc ... netem` (delay, jitter, loss, rate). A kernel built
 * without sch_netem (as this project's CI machines are) refuses it; then loss
 * is an iptables `statistic` rule that drops that share of what eth0 sends,
 * the rate a tbf qdisc, and delay cannot be emulated: a ConditionsError says
 * so instead of running without it.
 */
import { ConditionsError } from '../errors.ts'
import { run } from './docker.ts'
import type { Conditions } from '../topology.ts'

/** How conditions were applied: by netem, or by the fallback without it. */
export type ConditionsMethod = 'netem' | 'iptables+tbf'

const DEV = 'eth0'

/** Applies `c` to `container`'s eth0; resolves to the method used and what tc / iptables show afterwards. */
export async function applyConditions (container: string, c: Conditions): Promise<{ method: ConditionsMethod, shown: string }> {
  const ns = async (args: string[]): Promise<string> => await inNetns(container, args)
  const netem = ['tc', 'qdisc', 'replace', 'dev', DEV, 'root', 'netem']
  if (c.delayMs > 0) netem.push('delay', `${c.delayMs}ms`, ...(c.jitterMs > 0 ? [`${c.jitterMs}ms`] : []))
  if (c.lossPct > 0) netem.push('loss', `${c.lossPct}%`)
  if (c.rateKbit > 0) netem.push('rate', `${c.rateKbit}kbit`)
  try {
    await ns(netem)
    return { method: 'netem', shown: (await ns(['tc', 'qdisc', 'show', 'dev', DEV])).trim() }
  } catch (err: any) {
    if (!/qdisc kind is unknown/i.test(err.message)) throw err
  }
  if (c.delayMs > 0) {
    throw new ConditionsError(`this kernel has no sch_netem (tc: 'Specified qdisc kind is unknown'), so delay cannot be emulated; loss and rate can (iptables statistic, tbf): drop delayMs or run on a kernel with netem`)
  }
  if (c.lossPct > 0) {
    await ns(['iptables', '-A', 'OUTPUT', '-o', DEV, '-m', 'statistic', '--mode', 'random', '--probability', String(c.lossPct / 100), '-j', 'DROP'])
  }
  if (c.rateKbit > 0) {
    // burst: at least one full-size packet, else tbf stalls; latency bounds the queue
    const burst = Math.max(1600, Math.ceil(c.rateKbit * 1000 / 8 / 100))
    await ns(['tc', 'qdisc', 'replace', 'dev', DEV, 'root', 'tbf', 'rate', `${c.rateKbit}kbit`, 'burst', String(burst), 'latency', '400ms'])
  }
  const shown = [(await ns(['tc', 'qdisc', 'show', 'dev', DEV])).trim(), c.lossPct > 0 ? (await ns(['iptables', '-S', 'OUTPUT'])).trim() : ''].filter(x => x !== '').join(' | ')
  return { method: 'iptables+tbf', shown }
}

const CHAIN = 'SEDAI_PARTITION'

/** Runs the host's `args[0]` (tc, iptables) inside `container`'s network namespace. */
async function inNetns (container: string, args: string[]): Promise<string> {
  const pid = (await run('docker', ['inspect', '-f', '{{.State.Pid}}', container], 30_000)).trim()
  if (!/^[1-9]\d*$/.test(pid)) throw new ConditionsError(`${container} is not running (pid '${pid}')`)
  try {
    return await run('nsenter', ['-t', pid, '-n', ...args], 30_000)
  } catch (err: any) {
    throw new ConditionsError(`${container}: ${err.message}${process.getuid?.() !== 0 ? ' (nsenter needs root)' : ''}`)
  }
}

/** The container's address on its (one) network. */
export async function containerIp (container: string): Promise<string> {
  const ip = (await run('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', container], 30_000)).trim().split(/\s+/)[0] ?? ''
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new ConditionsError(`${container} has no IPv4 address ('${ip}')`)
  return ip
}

/**
 * Cuts `container` off from `ips`: its own chain, jumped to from OUTPUT,
 * drops what it sends them (the other side does the same, so nothing crosses
 * either way). DROP, not REJECT: a partition looks like a dead link, and TCP
 * finds out only by its timeouts.
 */
export async function cutOff (container: string, ips: string[]): Promise<void> {
  await inNetns(container, ['iptables', '-N', CHAIN]).catch(() => {}) // exists after a first partition
  await inNetns(container, ['iptables', '-F', CHAIN])
  const jumps = await inNetns(container, ['iptables', '-S', 'OUTPUT'])
  if (!jumps.includes(`-j ${CHAIN}`)) await inNetns(container, ['iptables', '-I', 'OUTPUT', '-j', CHAIN])
  // iptables expands a comma-separated -d into one rule per address
  for (let i = 0; i < ips.length; i += 64) await inNetns(container, ['iptables', '-A', CHAIN, '-d', ips.slice(i, i + 64).join(','), '-j', 'DROP'])
}

/** Lifts `container`'s side of a partition. */
export async function reconnect (container: string): Promise<void> {
  await inNetns(container, ['iptables', '-F', CHAIN])
}
