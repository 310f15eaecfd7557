/**
 * The baseline of `npm run bench`: one raw libp2p stream between two
 * processes, over the very transport sedai uses (createNode: TCP + Noise +
 * yamux, same settings), moving N bytes in 1 MiB messages with backpressure.
 *
 *   node bench/raw-peer.ts sink            prints its multiaddr, counts bytes
 *   node bench/raw-peer.ts source ADDR N   sends N bytes, prints elapsed ms
 */
import { multiaddr } from '@multiformats/multiaddr'
import { createNode } from '@sedai/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/sedai-bench/raw/1.0.0'
const [role, addr, total] = process.argv.slice(2)

const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })

if (role === 'sink') {
  await node.handle(PROTOCOL, async (stream: Stream) => {
    let n = 0
    for await (const buf of stream) n += buf.byteLength
    // report the count back, then close
    stream.send(new TextEncoder().encode(String(n)))
    await stream.close()
  }, { maxInboundStreams: 4 })
  process.stdout.write(`${node.getMultiaddrs()[0].toString()}\n`)
  process.on('SIGTERM', () => { void Promise.resolve(node.stop()).then(() => process.exit(0)) })
} else {
  const size = Number(total)
  const conn = await node.dial(multiaddr(addr))
  const stream = await conn.newStream(PROTOCOL)
  const block = crypto.getRandomValues(new Uint8Array(65536))
  const message = new Uint8Array(Number(process.env.RAW_MSG ?? (1 << 20)))
  for (let i = 0; i < message.byteLength; i += block.byteLength) message.set(block, i)
  const started = performance.now()
  let sent = 0
  while (sent < size) {
    const n = Math.min(message.byteLength, size - sent)
    // a fresh buffer per message, as a sender of file data would have
    if (!stream.send(message.slice(0, n))) await stream.onDrain()
    sent += n
  }
  await stream.close()
  let reply = ''
  for await (const buf of stream) reply += new TextDecoder().decode(buf.subarray())
  const elapsed = performance.now() - started
  if (Number(reply) !== size) throw new Error(`sink counted ${reply} of ${size} bytes`)
  process.stdout.write(`${elapsed}\n`)
  await node.stop()
}
