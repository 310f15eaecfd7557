/**
 * Writes docs/LIMITS.md: every limit a sedai daemon puts on what peers and
 * API clients send, read from the code's DEFAULTS objects and protocol
 * constants (so the table cannot drift: test/limits-doc.test.ts compares the
 * file with this output).
 *
 *   node scripts/limits.ts > docs/LIMITS.md
 */
import { fileURLToPath } from 'node:url'
import { DEFAULTS as CORE } from '../packages/core/src/config.ts'
import * as TRANSFER from '../packages/core/src/transfer/constants.ts'
import { DIRECTORY_DEFAULTS as DIR } from '../packages/directory-server/src/config.ts'
import { DIRECTORY_PROTOCOL } from '../packages/directory-server/src/constants.ts'
import { DEFAULTS as FLOOD } from '../packages/flooding-peer/src/config.ts'
import * as FLOOD_WIRE from '../packages/flooding-peer/src/protocol/constants.ts'
import { DEFAULTS as SUPER } from '../packages/supernode-cache-peer/src/config.ts'
import * as SUPER_WIRE from '../packages/supernode-cache-peer/src/protocol/constants.ts'
import { DEFAULTS as DHT } from '../packages/dht-peer/src/config.ts'
import * as DHT_WIRE from '../packages/dht-peer/src/protocol/constants.ts'
import { API_LIMITS as API } from '../packages/cli/src/api-common.ts'

/** A limit: where it is set (object.key, or a constant), its value, and what happens past it. */
interface Row { name: string, key: string, value: number, source: string, past: string }

const KiB = 1024

function bytes (n: number): string {
  if (n >= KiB * KiB && n % (KiB * KiB) === 0) return `${n / KiB / KiB} MiB`
  if (n >= KiB * KiB) return `${(n / KiB / KiB).toFixed(2)} MiB (${n.toLocaleString('en-US')} B)`
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`
  return `${n.toLocaleString('en-US')} B`
}

function duration (ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms >= 1_000) return `${(ms / 1_000).toLocaleString('en-US')} s`
  return `${ms} ms`
}

function show (key: string, value: number): string {
  if (/bytes|BYTES|cacheBytes/i.test(key)) return bytes(value)
  if (/Ms$|_MS$/.test(key)) return duration(value)
  if (value === 0) return '0 (off)'
  return value.toLocaleString('en-US')
}

// one helper per source object: the key is checked to exist there
function from<T extends Record<string, unknown>> (object: T, name: string) {
  return (key: keyof T & string, label: string, past: string): Row => {
    const value = object[key]
    if (typeof value !== 'number') throw new Error(`${name}.${key} is not a number`)
    return { name: label, key, value, source: `\`${name}.${key}\``, past }
  }
}

const core = from(CORE, 'core DEFAULTS')
const transfer = from(TRANSFER as unknown as Record<string, unknown>, 'transfer/constants')
const dir = from(DIR, 'DIRECTORY_DEFAULTS')
const flood = from(FLOOD, 'flooding-peer DEFAULTS')
const floodWire = from(FLOOD_WIRE as unknown as Record<string, unknown>, 'flooding-peer protocol/constants')
const sup = from(SUPER as unknown as Record<string, unknown>, 'supernode-cache-peer DEFAULTS')
const supWire = from(SUPER_WIRE as unknown as Record<string, unknown>, 'supernode-cache-peer protocol/constants')
const dht = from(DHT, 'dht-peer DEFAULTS')
const dhtWire = from(DHT_WIRE as unknown as Record<string, unknown>, 'dht-peer protocol/constants')
const api = from(API, 'API_LIMITS')

const REFUSE_FRAME = 'ERROR status where the protocol has one, then the stream is closed (a frame cannot be skipped)'
const RESET = 'the new stream is reset (libp2p registrar)'

export const SECTIONS: Array<{ title: string, rows: Row[] }> = [
  {
    title: 'Connections (libp2p, every daemon)',
    rows: [
      core('maxConnections', 'open connections', 'libp2p prunes the least valuable; allow-listed (loopback, by default) connections are never pruned'),
      core('maxIncomingPendingConnections', 'inbound connections still in the Noise/yamux upgrade', 'further sockets are closed at once'),
      core('inboundConnectionThreshold', 'inbound connections per second from one host', 'further sockets are closed at once; loopback is exempt unless `--limit-loopback`'),
      core('dialTimeoutMs', 'dial (TCP + Noise + yamux)', 'the dial fails'),
      core('connectionPingTimeoutMs', 'connection monitor ping', 'the connection is closed'),
      { name: 'streams per connection (yamux)', key: 'maxInboundStreams', value: 1_000, source: '@chainsafe/libp2p-yamux default `maxInboundStreams`', past: 'the new stream is reset' }
    ]
  },
  {
    title: `Transfer (\`${TRANSFER.TRANSFER_PROTOCOL}\`)`,
    rows: [
      core('maxInboundTransferStreams', 'inbound transfer streams per connection', RESET),
      core('maxOutboundTransferStreams', 'outbound transfer streams per peer', 'the download waits for a free stream'),
      transfer('MAX_REQUEST_FRAME_BYTES', 'request frame', 'stream closed'),
      transfer('MAX_REPLY_FRAME_BYTES', 'reply frame (a manifest or a chunk)', 'the source is dropped from the download'),
      transfer('MAX_WINDOW', 'largest per-source window a download may ask for', 'clamped'),
      core('windowPerPeer', 'chunk requests a downloader keeps in flight per source', '(the downloader\'s own pace)'),
      core('maxChunks', 'chunks listed in one manifest', 'manifest refused (ERR_INVALID_MANIFEST)'),
      core('maxManifestBytes', 'encoded manifest', 'manifest refused'),
      core('maxChunkSize', 'largest chunk size in a foreign manifest', 'manifest refused'),
      core('minChunkSize', 'smallest chunk size in a foreign manifest', 'manifest refused'),
      core('maxNameBytes', 'file name in a manifest (UTF-8)', 'manifest refused'),
      core('maxBadChunksPerPeer', 'chunks failing their hash from one source', 'the source is dropped and listed in badPeers'),
      core('streamIdleTimeoutMs', 'transfer stream without a frame', 'stream aborted'),
      core('manifestTimeoutMs', 'fetching a manifest from one peer', 'that peer is skipped'),
      core('chunkTimeoutMs', 'one chunk request', 'that source fails; its chunks go to others')
    ]
  },
  {
    title: `Directory (\`${DIRECTORY_PROTOCOL}\`, server side)`,
    rows: [
      dir('maxRequestFrameBytes', 'request frame', REFUSE_FRAME),
      dir('maxReplyFrameBytes', 'reply frame (peer side)', 'the peer closes the session'),
      dir('maxStreamsPerConnection', 'directory sessions per connection', RESET),
      dir('maxFilesPerRegister', 'files in one REGISTER', 'ERROR status, nothing indexed'),
      dir('maxUnregister', 'CIDs in one UNREGISTER', 'ERROR status'),
      dir('maxFilesPerPeer', 'files one peer has registered', 'the excess is not indexed (reported in the reply)'),
      dir('maxPeers', 'peers in the index', 'REGISTER/HELLO from a new peer: ERROR status'),
      dir('maxPeerStates', 'per-peer states (rate buckets, sessions)', 'idle unregistered states dropped first; else the session is refused with an ERROR'),
      dir('maxNameBytes', 'file name (UTF-8)', 'that entry is skipped and reported'),
      dir('maxCidChars', 'CID string', 'that entry is skipped and reported'),
      dir('maxAddrs', 'addresses a peer registers', 'ERROR status'),
      dir('maxAddrChars', 'one address', 'ERROR status'),
      dir('maxQueryChars', 'search query', 'ERROR status'),
      dir('maxKeywords', 'keywords in one query', 'ERROR status'),
      dir('maxResults', 'results per SEARCH', 'capped'),
      dir('maxBrowse', 'files per BROWSE reply', 'capped (the peer pages)'),
      dir('queryRate', 'SEARCH/LOOKUP/BROWSE per second per peer', 'RATE_LIMITED status with retryAfterMs; the stream is not read meanwhile'),
      dir('queryBurst', 'query burst', 'as above'),
      dir('controlRate', 'HELLO/REGISTER/UNREGISTER/PING per second per peer', 'as above'),
      dir('controlBurst', 'control burst', 'as above'),
      dir('maxThrottleMs', 'pause of a throttled stream per refused message', '(the pause itself)'),
      dir('graceMs', 'session without a message; a gone peer\'s entries kept', 'stream aborted; entries dropped'),
      dir('searchCacheEntries', 'cached search answers', 'least recently used dropped'),
      dir('hitCacheEntries', 'files kept encoded for search replies', 'oldest dropped'),
      dir('maxSessionPeers', 'peer-table entries a session is known to hold', 'all forgotten; the next reply says peersReset and resends'),
      dir('latencyWindow', 'search latencies kept for stats', 'oldest dropped')
    ]
  },
  {
    title: `Flooding (\`${FLOOD_WIRE.FLOOD_PROTOCOL}\`)`,
    rows: [
      floodWire('MAX_FRAME_BYTES', 'frame', 'BYE PROTOCOL_ERROR, link closed'),
      floodWire('MAX_STREAMS_PER_CONNECTION', 'flood streams per connection', RESET),
      floodWire('MAX_QUERY_BYTES', 'query text', 'BYE PROTOCOL_ERROR, link closed'),
      floodWire('MAX_HIT_FILES', 'files in one QUERY_HIT', 'BYE PROTOCOL_ERROR, link closed'),
      floodWire('MAX_PONG_ENTRIES', 'hosts in one PONG', 'BYE PROTOCOL_ERROR, link closed'),
      floodWire('MAX_ADDRS', 'addresses per host entry', 'BYE PROTOCOL_ERROR, link closed'),
      flood('maxTtl', 'TTL', 'clamped (Gnutella 0.6 drops above 7-10; we clamp)'),
      flood('maxNeighbours', 'neighbours', 'BYE FULL with a PONG of other hosts'),
      flood('hostCacheSize', 'host cache', 'oldest dropped'),
      flood('seenCacheSize', 'remembered query ids (reverse paths)', 'oldest dropped'),
      flood('seenTtlMs', 'age of a remembered query id', 'dropped'),
      flood('maxHitsPerQuery', 'QUERY_HITs routed back per query', 'dropped'),
      flood('sendQueueSize', 'messages queued to one neighbour', 'queries shed first'),
      flood('queryRatePerSec', 'queries per second per neighbour', 'dropped, neighbour throttled'),
      flood('queryBurst', 'query burst', 'as above'),
      flood('maxThrottledPerWindow', 'throttled queries per window', 'BYE FLOODING, banned for banMs'),
      flood('floodWindowMs', 'the window', '(the window itself)'),
      flood('banMs', 'ban', '(the ban itself)'),
      flood('maxBanned', 'bans remembered', 'expired bans, then the oldest, dropped'),
      flood('idleTimeoutMs', 'link with nothing received', 'link closed'),
      flood('providerCacheSize', 'remembered hit sources', 'oldest dropped')
    ]
  },
  {
    title: `Supernodes (\`${SUPER_WIRE.SUPERNODE_PROTOCOL}\`)`,
    rows: [
      supWire('MAX_FRAME_BYTES', 'frame', 'BYE and the link is closed'),
      supWire('MAX_STREAMS_PER_CONNECTION', 'supernode streams per connection', RESET),
      supWire('MAX_INDEX_FILES_PER_MESSAGE', 'files in one leaf INDEX message', 'BYE PROTOCOL_ERROR, link closed'),
      supWire('MAX_STATUS_SUPERS', 'supernodes in one STATUS', 'BYE PROTOCOL_ERROR, link closed'),
      supWire('MAX_INTERESTS', 'interest keywords', 'BYE PROTOCOL_ERROR, link closed'),
      supWire('PROBE_MAX_BYTES', 'capacity probe', 'probe stream closed'),
      supWire('PROBE_TIMEOUT_MS', 'capacity probe', 'probe fails'),
      sup('maxLeaves', 'leaves per supernode', 'BYE FULL'),
      sup('maxPeers', 'supernode-to-supernode links', 'BYE FULL'),
      sup('maxFilesPerLeaf', 'files a leaf may index on its supernode', 'excess not indexed'),
      sup('sendQueueSize', 'messages queued to one link', 'queries shed first'),
      sup('maxRelayPerLink', 'in-band relays in flight per link', 'RELAY answered ERROR (busy)'),
      sup('relayTimeoutMs', 'one in-band relay', 'relay fails'),
      sup('cacheBytes', 'path cache on disk', 'evicted (LFU by default)'),
      sup('idleTimeoutMs', 'link with nothing received', 'link closed'),
      sup('queryRatePerSec', 'queries per second per link (flooding rules)', 'dropped, throttled, then banned')
    ]
  },
  {
    title: `DHT keyword search (\`${DHT_WIRE.KEYWORD_PROTOCOL}\`) and records`,
    rows: [
      dhtWire('MAX_QUERY_FRAME_BYTES', 'query frame', 'stream closed'),
      dhtWire('MAX_RESULT_FRAME_BYTES', 'result frame', 'the answer is dropped'),
      dhtWire('MAX_QUERY_KEYWORDS', 'keywords per query', 'ERROR status'),
      dhtWire('MAX_RESULTS', 'results per answer', 'capped'),
      dhtWire('MAX_INBOUND_STREAMS', 'keyword streams per connection', RESET),
      dhtWire('QUERY_TIMEOUT_MS', 'one keyword query', 'that peer is skipped'),
      dht('maxProviders', 'providers collected per lookup', 'the lookup stops'),
      dht('maxKeywordsPerFile', 'keyword records provided per file name', 'the rest of the name is not indexed'),
      dht('maxSearchPeers', 'peers asked per keyword search', 'the rest not asked'),
      dht('rpcTimeoutMaxMs', 'one kad-dht RPC (adaptive, from rpcTimeoutMinMs up to this)', 'that peer is skipped in this walk'),
      dht('kBucketSize', 'contacts per k-bucket (Kademlia k)', 'kad-dht replaces or drops')
    ]
  },
  {
    title: 'Control API (HTTP on loopback)',
    rows: [
      api('maxBodyBytes', 'request body', '413'),
      api('maxStringLength', 'string field', '400'),
      api('maxFromAddrs', '`from` addresses of one get', '400'),
      api('maxTtl', 'search TTL', '400'),
      api('headersTimeoutMs', 'request line and headers', '408, connection closed'),
      api('requestTimeoutMs', 'whole request', '408, connection closed'),
      api('handlerTimeoutMs', 'short routes', '504'),
      api('maxResponseBytes', 'response the CLI reads', 'the CLI fails with a clear error')
    ]
  }
]

export function limitsMarkdown (): string {
  const out = [
    '# Limits',
    '',
    'Every limit a daemon puts on what peers and API clients send, with its',
    'default. Generated from the code by `node scripts/limits.ts > docs/LIMITS.md`',
    '(test/limits-doc.test.ts fails when this file and the code disagree); the',
    'source column names the DEFAULTS key or constant that sets it. Wire tests:',
    'test/wire-limits.test.ts, test/hostile-transfer.test.ts, the fuzz harness',
    '(docs/RELIABILITY.md).',
    ''
  ]
  for (const s of SECTIONS) {
    out.push(`## ${s.title}`, '', '| Limit | Default | Set by | Past it |', '|---|---|---|---|')
    for (const r of s.rows) out.push(`| ${r.name} | ${show(r.key, r.value)} | ${r.source} | ${r.past} |`)
    out.push('')
  }
  return out.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(limitsMarkdown())
