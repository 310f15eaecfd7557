import { parseDaemonArgs } from '../args.ts'
import type { Command } from '../context.ts'
import { EXIT } from '../output.ts'

export const daemon: Command = {
  name: 'daemon',
  usage: 'daemon [--mode M[,M...]|none] [--listen MULTIADDR]... [--api HOST:PORT] [--bootstrap MULTIADDR]... [--mdns] ' +
    '[--directory MULTIADDR] [--fault-corrupt RATE] [--upload-rate N[K|M|G]] [--role auto|super|leaf] [--interest WORD]... ' +
    '[--limit-loopback] [--repo DIR] [--json]',
  summary: 'run a node (modes: dht by default, directory-server, directory, flood, supernode, or none) until stopped',
  async run (argv, ctx) {
    const options = parseDaemonArgs(argv, ctx)
    // loaded on demand: the other commands never pay for libp2p
    await (await import('../daemon.ts')).runDaemon(options)
    return EXIT.ok
  }
}
