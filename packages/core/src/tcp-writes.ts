/**
 * TCP with one socket write per connection per turn of the event loop.
 *
 * Why: with @chainsafe/libp2p-noise 17 and @libp2p/tcp 11, each Noise message
 * reaches the socket as a list of four buffers (the 2-byte length, the
 * encrypted yamux header, the encrypted body, the 16-byte tag) and @libp2p/tcp
 * calls `socket.write` once per buffer. With TCP_NODELAY (libp2p's default)
 * that is four syscalls and four TCP segments per message, and as many
 * wake-ups of the reader. noise had fixed this once (js-libp2p-noise #387,
 * "concatenate encrypted data length prefix with data before sending"); the
 * stream rewrite of libp2p 3 brought it back. Besides, yamux answers every
 * data frame it receives with a window update of its own, so a request and
 * its reply cost four messages where two carry data.
 *
 * So the connection's socket is corked at its first write in a turn and
 * uncorked at the end of the turn (turn.ts: after the protocol writers have
 * flushed), and Node sends everything written meanwhile in one writev: the
 * window update for a request and the reply to it leave together, and the
 * four buffers of a message (joined into one) are one segment. The delay is the rest of the
 * current turn. A send that fills the socket's buffer (its write returns
 * false: bulk transfers) uncorks at once, so streams never wait a turn for
 * room. The hook is the multiaddr connection the transport hands its
 * upgrader; a connection without the expected shape is left alone.
 */
import { Socket } from 'node:net'
import { tcp } from '@libp2p/tcp'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterTurnWrites } from './turn.ts'
import type { CreateListenerOptions, DialTransportOptions, Listener, MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import type { TCPComponents, TCPOptions } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'

type SendData = (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean }

/** Makes `maConn` send what it is given during a turn in one socket write. Returns false when its shape is unknown (left as it is). */
export function coalesceWrites (maConn: MultiaddrConnection): boolean {
  const conn = maConn as unknown as { sendData?: SendData, socket?: unknown }
  const send = conn.sendData
  const socket = conn.socket
  if (typeof send !== 'function' || !(socket instanceof Socket)) return false
  let corked = false
  const uncork = (): void => {
    if (!corked) return
    corked = false
    socket.uncork()
  }
  conn.sendData = function (this: unknown, data: Uint8ArrayList) {
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork()
      afterTurnWrites(uncork)
    }
    // one buffer: @libp2p/tcp stops at the first write the socket refuses, which could split a message
    const result = send.call(this, new Uint8ArrayList(data.subarray()))
    // the socket's buffer is full: send now rather than make the stream wait a turn for 'drain'
    if (!result.canSendMore) uncork()
    return result
  }
  return true
}

function coalescingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        return async (maConn: MultiaddrConnection, opts: any) => {
          coalesceWrites(maConn)
          return await (target[prop] as (c: MultiaddrConnection, o: any) => Promise<any>).call(target, maConn, opts)
        }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** `tcp(init)` whose connections send what a turn of the event loop wrote in one socket write. */
export function coalescedTcp (init: TCPOptions = {}): (components: TCPComponents) => Transport {
  const make = tcp(init)
  return (components: TCPComponents) => {
    const inner = make(components)
    return new Proxy(inner, {
      get (target, prop) {
        if (prop === 'dial') {
          return async (ma: Multiaddr, options: DialTransportOptions) => await target.dial(ma, { ...options, upgrader: coalescingUpgrader(options.upgrader) })
        }
        if (prop === 'createListener') {
          return (options: CreateListenerOptions): Listener => target.createListener({ ...options, upgrader: coalescingUpgrader(options.upgrader) })
        }
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
  }
}
