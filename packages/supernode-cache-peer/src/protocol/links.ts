import { InvalidMessageError, InvalidOptionError, TimeoutError } from '@sedai/core'
import { BYE_NAMES, ByeCode, CLOSE_GRACE_MS, LinkTable, MessageType, count, openNeighbour, readLink, untilLinkUp } from '@sedai/flooding-peer'
import { LinkRefusedError, NotStartedError } from '../errors.ts'
import { SUPERNODE_PROTOCOL } from './constants.ts'
import { MESSAGE_NAMES, Role, SuperType, WELCOME_NAMES, Want, Welcome, decodeMessage, encodeHello, encodeWelcome } from './messages.ts'
import type { SupernodeConfig } from '../config.ts'
import type { SupernodeHosts } from '../hosts.ts'
import type { RoleElection } from '../role.ts'
import type { Message, Status } from './messages.ts'
import type { BanList, HitFile, Neighbour, Outgoing, OverlayComponents, OverlayContext } from '@sedai/flooding-peer'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * What a link is to us: 'pending' until HELLO/WELCOME; then 'supernode' = our
 * supernode (we are its leaf), 'leaf' = our leaf, 'peer' = supernode to
 * supernode. (Not to be mixed up with our role, RoleName 'super' | 'leaf'.)
 */
export type LinkKind = 'pending' | 'supernode' | 'leaf' | 'peer'

/** The names `peerInfo().link` and the `lost.*` counters have always used for a link's kind. */
export const LINK_NAMES: Record<LinkKind, string> = { pending: 'pending', supernode: 'super', leaf: 'leaf', peer: 'peer' }

/** A link and what we know over it. */
export interface Link {
  neighbour: Neighbour
  kind: LinkKind
  /** what we asked for, on a link we dialled */
  want?: Want
  status?: Status
  /** a leaf's shares, as it indexed them here */
  index?: Map<string, HitFile>
  /** why the remote refused the link (its WELCOME result) */
  refused?: string
  /** its relayed requests we are working on */
  relaying: number
}

export interface SupernodeLinksInit {
  components: OverlayComponents
  config: SupernodeConfig
  ctx: OverlayContext
  hosts: SupernodeHosts
  bans: BanList
  election: RoleElection
  isStarted: () => boolean
  /** our STATUS now (HELLO and WELCOME carry it) */
  status: () => Status
  /** after each message written (the service counts queries per link) */
  onSent: (neighbour: Neighbour, msg: Outgoing) => void
  /** a message on a link past its handshake, other than STATUS and BYE; returns why the link ends, if it does */
  onMessage: (link: Link, msg: Message, bytes: Uint8Array) => string | undefined
  /** we were welcomed as a leaf: the link to our supernode is up */
  onSupernode: (link: Link) => void
}

/**
 * The supernode generation's links on the overlay link layer: the HELLO /
 * WELCOME handshake that makes a link a leaf, supernode or peer link (or
 * refuses it with other supernodes to try), STATUS, and link loss.
 */
export class SupernodeLinks {
  readonly table: LinkTable<Link>
  private readonly init: SupernodeLinksInit

  constructor (init: SupernodeLinksInit) {
    this.init = init
    this.table = new LinkTable(init.ctx.self, link => link.neighbour)
  }

  private inc (key: string): void {
    count(this.init.ctx, key)
  }

  /** The links of one kind. */
  of (kind: LinkKind): Link[] {
    return this.table.filter(link => link.kind === kind)
  }

  private openNeighbour (peer: string, stream: Stream, outbound: boolean): Neighbour {
    return openNeighbour(this.init.ctx, this.init.config, peer, stream, outbound, this.init.onSent)
  }

  /**
   * Dials `target` and asks for a link (`want`: attach as its leaf, or link
   * two supernodes). Resolves with the remote's peer id once WELCOME OK
   * arrives; rejects with LinkRefusedError on a refusal (whose status still
   * taught us other supernodes).
   */
  async connect (target: Multiaddr | Multiaddr[], want: Want): Promise<string> {
    if (!this.init.isStarted()) throw new NotStartedError('supernode service not started')
    const deadline = AbortSignal.timeout(this.init.config.connectTimeoutMs)
    const conn = await this.init.components.dial(target, { signal: deadline })
    const peer = conn.remotePeer.toString()
    if (peer === this.init.ctx.self) throw new InvalidOptionError('that is this node')
    if (this.table.has(peer)) return peer
    if (this.init.bans.isBanned(peer)) throw new InvalidOptionError(`peer ${peer} is banned for flooding`)
    const stream = await conn.newStream(SUPERNODE_PROTOCOL, { signal: deadline })
    const neighbour = this.openNeighbour(peer, stream, true)
    const link: Link = { neighbour, kind: 'pending', want, relaying: 0 }
    if (!this.attach(peer, link)) throw new LinkRefusedError(`already linked to ${peer}`)
    neighbour.send({ type: SuperType.HELLO, bytes: encodeHello(want, this.init.status()) })
    try {
      await untilLinkUp(neighbour, deadline, `${peer} did not answer HELLO`)
    } catch (err: any) {
      if (!neighbour.isClosing) neighbour.abort(err)
      throw link.refused !== undefined ? new LinkRefusedError(`${peer} refused: ${link.refused}`) : err
    }
    return peer
  }

  /** An inbound link stream: pending until its HELLO. */
  accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (!this.init.isStarted()) { stream.abort(new NotStartedError('not started')); return }
    if (this.init.bans.isBanned(peer)) { this.refuseBanned(peer, stream); return }
    this.attach(peer, { neighbour: this.openNeighbour(peer, stream, false), kind: 'pending', relaying: 0 })
  }

  /** Registers a link (the link table's tie-break settles a duplicate) and starts reading it; false when it lost. */
  private attach (peer: string, link: Link): boolean {
    if (!this.table.attach(peer, link)) return false
    link.neighbour.run().catch(err => { this.init.ctx.log.debug({ peer, err: err.message }, 'link writer ended') })
    void readLink({
      ctx: this.init.ctx,
      neighbour: link.neighbour,
      readTurnMs: this.init.config.readTurnMs,
      decode: decodeMessage,
      handle: (msg: Message, bytes) => this.onMessage(link, msg, bytes)
    }).then(why => { this.unlink(link, why) })
    return true
  }

  /** A peer banned for flooding queries gets BYE BANNED before any handshake (as a flooding peer's). */
  private refuseBanned (peer: string, stream: Stream): void {
    const neighbour = this.openNeighbour(peer, stream, false)
    neighbour.close(ByeCode.BANNED, 'banned for flooding')
    this.inc(`refused.${BYE_NAMES[ByeCode.BANNED]}`)
    setTimeout(() => { neighbour.abort(new TimeoutError('refused link')) }, CLOSE_GRACE_MS).unref()
  }

  /** Answers a HELLO: the link becomes a leaf link or a supernode peer link, or is refused with other supernodes to try. */
  private onHello (link: Link, want: Want, status: Status): void {
    this.init.hosts.learn(status, true)
    link.status = status
    let result: Welcome = Welcome.OK
    if (!this.init.election.isSupernode) result = Welcome.NOT_SUPER
    else if (want === Want.PEER && status.role !== Role.SUPER) result = Welcome.WRONG_ROLE
    else if (want === Want.LEAF && this.of('leaf').length >= this.init.election.maxLeaves()) result = Welcome.FULL
    else if (want === Want.PEER && this.of('peer').length >= this.init.config.maxPeers) result = Welcome.FULL
    if (result !== Welcome.OK) {
      this.inc(`refused.${WELCOME_NAMES[result]}`)
      link.neighbour.send({ type: SuperType.WELCOME, bytes: encodeWelcome(result, this.init.status()) })
      link.neighbour.close(ByeCode.FULL, WELCOME_NAMES[result])
      setTimeout(() => { link.neighbour.abort(new TimeoutError('refused link')) }, CLOSE_GRACE_MS).unref()
      return
    }
    link.kind = want === Want.LEAF ? 'leaf' : 'peer'
    if (link.kind === 'leaf') link.index = new Map()
    link.neighbour.confirm()
    link.neighbour.send({ type: SuperType.WELCOME, bytes: encodeWelcome(Welcome.OK, this.init.status()) })
    this.inc(link.kind === 'leaf' ? 'leavesAdded' : 'peersAdded')
    this.init.ctx.log.info({ peer: link.neighbour.peerId, kind: link.kind, leaves: this.of('leaf').length, peers: this.of('peer').length }, 'link accepted')
  }

  private onWelcome (link: Link, result: Welcome, status: Status): void {
    this.init.hosts.learn(status, true)
    link.status = status
    if (result !== Welcome.OK) {
      link.refused = WELCOME_NAMES[result]
      if (status.role !== Role.SUPER) this.init.hosts.delete(link.neighbour.peerId)
      else this.init.hosts.failed(link.neighbour.peerId)
      link.neighbour.fail(new LinkRefusedError(link.refused))
      return
    }
    link.kind = link.want === Want.LEAF ? 'supernode' : 'peer'
    link.neighbour.confirm()
    this.inc(link.kind === 'supernode' ? 'supernodesJoined' : 'peersAdded')
    this.init.ctx.log.info({ peer: link.neighbour.peerId, kind: link.kind }, 'link up')
    if (link.kind === 'supernode') this.init.onSupernode(link)
  }

  /**
   * One message on a link; returns why the link ends (a BYE, a protocol
   * error), else undefined. Until HELLO/WELCOME only the handshake (or BYE)
   * may come; after it, the service handles what is not STATUS or BYE.
   */
  private onMessage (link: Link, msg: Message, bytes: Uint8Array): string | undefined {
    const neighbour = link.neighbour
    if (link.kind === 'pending' && msg.type !== SuperType.HELLO && msg.type !== SuperType.WELCOME && msg.type !== MessageType.BYE) {
      const why = `${MESSAGE_NAMES[msg.type]} before the handshake`
      neighbour.close(ByeCode.PROTOCOL_ERROR, why, true)
      return why
    }
    switch (msg.type) {
      case SuperType.HELLO:
        if (neighbour.outbound || link.kind !== 'pending') throw new InvalidMessageError('unexpected HELLO')
        this.onHello(link, msg.want, msg.status)
        return undefined
      case SuperType.WELCOME:
        if (!neighbour.outbound || link.kind !== 'pending') throw new InvalidMessageError('unexpected WELCOME')
        this.onWelcome(link, msg.result, msg.status)
        return undefined
      case SuperType.STATUS:
        link.status = msg.status
        this.init.hosts.learn(msg.status, true)
        // our supernode stepped down (or our peer did): drop the link, the maintenance loop re-homes
        if ((link.kind === 'supernode' || link.kind === 'peer') && msg.status.role !== Role.SUPER) neighbour.close(ByeCode.SHUTDOWN, 'no longer a supernode', true)
        return undefined
      case MessageType.BYE:
        neighbour.end()
        return `BYE: ${msg.reason}`
      default:
        return this.init.onMessage(link, msg, bytes)
    }
  }

  private unlink (link: Link, why: string): void {
    const neighbour = link.neighbour
    neighbour.fail(new LinkRefusedError(link.refused ?? `link to ${neighbour.peerId} ended: ${why}`))
    if (!this.table.remove(neighbour.peerId, link)) return
    if (!neighbour.isClosing) neighbour.abort(new TimeoutError(why))
    if (link.kind === 'pending') return
    this.inc(`lost.${LINK_NAMES[link.kind]}`)
    if (link.kind === 'supernode' || link.kind === 'peer') this.init.hosts.failed(neighbour.peerId)
    this.init.ctx.log.info({ peer: neighbour.peerId, kind: link.kind, why }, 'link lost')
  }
}
