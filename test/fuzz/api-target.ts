/**
 * The control API's JSON bodies as a fuzz target: a real api-server (the unit
 * under test) in front of a DaemonApi that accepts anything valid, fed
 * mutated request bodies over HTTP, written in random pieces. Passing: every
 * answer is a clear 2xx/4xx with the error document, never a 500, and the
 * server keeps answering.
 *
 * Also the api file the daemon leaves in its repo ({url, token}), read back by
 * the CLI's readApiFile: a state file anyone with access to the repo can edit.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../packages/core/src/logger.ts'
import { REPO_FILES } from '../../packages/core/src/config.ts'
import { ApiError, NoDaemonError, readApiFile } from '../../packages/cli/src/api-client.ts'
import { startApiServer } from '../../packages/cli/src/api-server.ts'
import type { DaemonApi } from '../../packages/cli/src/daemon-api.ts'
import type { Target } from './targets.ts'

const CID = 'bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4'
const ROUTES = ['share', 'connect', 'get', 'search', 'stop']
const enc = new TextEncoder()

/** Accepts every request the server lets through; what is fuzzed is the server's parsing. */
const acceptingApi: DaemonApi = {
  id: async () => ({ peerId: 'p', addrs: [], modes: [] }),
  share: async (path) => ({ cid: CID, name: 'x', size: 1, path }),
  ls: async () => ({ files: [] }),
  connect: async () => ({ peerId: 'p' }),
  get: async (req) => ({ cid: req.cid, path: req.out ?? '/x', size: 1, sources: [], fetched: 1, resumed: 0, badPeers: [] }),
  search: async () => ({ results: [] }),
  peers: async () => ({ peers: [] }),
  stats: async () => ({}),
  stop: async () => {}
}

export async function apiTarget (): Promise<{ target: Target, close: () => Promise<void> }> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-fuzz-api-'))
  const server = await startApiServer({ api: acceptingApi, host: '127.0.0.1', port: 0, repo, logger: silentLogger() })
  const url = new URL(server.url)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const post = async (route: string, body: Uint8Array, rng: () => number): Promise<number> => await new Promise((resolve, reject) => {
    const req = request({
      agent, host: url.hostname, port: url.port, method: 'POST', path: `/api/v1/${route}`,
      headers: { authorization: `Bearer ${server.token}`, host: url.host, 'content-type': 'application/json', 'content-length': body.byteLength }
    }, res => { res.resume(); res.on('end', () => { resolve(res.statusCode ?? 0) }) })
    req.on('error', reject)
    // one write per piece, so the server's
    // body reader sees cuts inside UTF-8 sequences and JSON tokens; TCP may
    // still merge some
    const maxPiece = 1 + Math.floor(rng() * Math.max(1, body.byteLength))
    for (let at = 0; at < body.byteLength;) {
      const n = 1 + Math.floor(rng() * maxPiece)
      req.write(body.subarray(at, at + n))
      at += n
    }
    req.end()
  })
  const seeds = [
    { path: '/tmp/a.bin' },
    { multiaddr: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA' },
    { cid: CID, out: '/tmp/out', from: ['/ip4/127.0.0.1/tcp/4001'], timeoutMs: 5000 },
    { query: 'ピアツーピア 入門', timeoutMs: 1000, ttl: 3 },
    {}
  ].map(s => enc.encode(JSON.stringify(s)))
  const target: Target = {
    name: 'api.jsonBodies',
    seeds,
    decode: async (input, rng) => {
      const route = ROUTES[Math.floor(rng() * ROUTES.length)]
      if (route === 'stop' && input.byteLength === 2) return // a valid stop would only count a call
      const status = await post(route, input, rng)
      if (status >= 500 || status === 0) {
        throw Object.assign(new Error(`POST /api/v1/${route} answered ${status}`), { code: 'CRASH' })
      }
      // a clear refusal, counted as rejected
      if (status >= 400) throw Object.assign(new Error(`answered ${status}`), { code: `ERR_HTTP_${status}` })
      return status
    }
  }
  return {
    target,
    close: async () => {
      agent.destroy()
      await server.close()
      await rm(repo, { recursive: true, force: true })
    }
  }
}

/** readApiFile on a repo whose api file holds the input; an ApiError (or NoDaemonError) is its refusal. */
export async function apiFileTarget (): Promise<{ target: Target, close: () => Promise<void> }> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-fuzz-apifile-'))
  const file = join(repo, REPO_FILES.api)
  const seeds = [
    { url: 'http://127.0.0.1:5001', token: 'c2VkYWktdG9rZW4' },
    { url: 'http://[::1]:5001/', token: 'x', extra: [1, 2, { a: null }] },
    { url: 'https://example.org', token: '' }
  ].map(s => enc.encode(JSON.stringify(s)))
  const target: Target = {
    name: 'state.readApiFile',
    seeds,
    decode: async (input) => {
      await writeFile(file, input)
      try {
        return await readApiFile(repo)
      } catch (err: any) {
        if (err instanceof ApiError || err instanceof NoDaemonError) throw err
        throw Object.assign(new Error(`readApiFile threw ${err?.name}: ${err?.message}`), { code: 'CRASH' })
      }
    }
  }
  return { target, close: async () => { await rm(repo, { recursive: true, force: true }) } }
}
