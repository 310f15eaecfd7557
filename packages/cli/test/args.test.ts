import assert from 'node:assert/strict'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { DEFAULTS } from '@sedai/core/config'
import { parseApiAddress, parseDaemonArgs } from '../src/args.ts'
import type { ArgsEnv } from '../src/args.ts'
import { main } from '../src/bin.ts'
import { parseConnectArgs } from '../src/commands/connect.ts'
import { parseGetArgs } from '../src/commands/get.ts'
import { parseSearchArgs } from '../src/commands/search.ts'
import { parseShareArgs } from '../src/commands/share.ts'
import { parseNoArgs } from '../src/commands/simple.ts'
import type { Context } from '../src/context.ts'

const at: ArgsEnv = { cwd: '/work/here', env: {} }
const usage = { code: 'ERR_INVALID_OPTION' }
const PEER = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

test('parseDaemonArgs defaults', () => {
  assert.deepEqual(parseDaemonArgs([], at), {
    repo: join(homedir(), '.sedai'),
    json: false,
    modes: ['dht'],
    listen: [...DEFAULTS.listen],
    api: { host: '127.0.0.1', port: 5080 },
    bootstrap: [],
    faultCorrupt: 0,
    uploadRate: 0,
    role: 'auto',
    interests: [],
    limitLoopback: false,
    mdns: false
  })
  assert.equal(parseDaemonArgs([], { cwd: '/c', env: { SEDAI_REPO: '/srv/repo' } }).repo, '/srv/repo')
})

test('parseDaemonArgs: no --mode runs the DHT; --mode none runs no mode at all; --mdns turns LAN discovery on', () => {
  assert.deepEqual(parseDaemonArgs([], at).modes, ['dht'])
  // the default is only for no --mode: naming modes replaces it
  assert.deepEqual(parseDaemonArgs(['--mode', 'flood'], at).modes, ['flood'])
  assert.deepEqual(parseDaemonArgs(['--mode', 'none'], at).modes, [])
  assert.deepEqual(parseDaemonArgs(['--mode', 'none', '--mode', 'none'], at).modes, [])
  for (const mixed of [['--mode', 'none,dht'], ['--mode', 'flood', '--mode', 'none'], ['--mode', 'dht,none']]) {
    assert.throws(() => parseDaemonArgs(mixed, at), { code: 'ERR_INVALID_OPTION', message: /'none' cannot be combined/ }, mixed.join(' '))
  }
  assert.equal(parseDaemonArgs([], at).mdns, false)
  assert.equal(parseDaemonArgs(['--mdns'], at).mdns, true)
  assert.deepEqual(parseDaemonArgs(['--mdns', '--mode', 'none'], at), { ...parseDaemonArgs(['--mode', 'none'], at), mdns: true })
  assert.throws(() => parseDaemonArgs(['--mdns=yes'], at), usage)
  assert.throws(() => parseDaemonArgs(['--mode', 'nothing'], at), { code: 'ERR_INVALID_OPTION', message: /expected .*dht or none/ })
})

test('parseDaemonArgs reads every flag', () => {
  const options = parseDaemonArgs([
    '--repo', 'rel/repo',
    '--mode', 'flood,dht', '--mode', 'directory', '--mode', 'flood',
    '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip6/::1/tcp/0',
    '--api', '[::1]:0',
    '--bootstrap', PEER,
    '--directory', PEER,
    '--fault-corrupt', '0.25',
    '--upload-rate', '1.5M',
    '--limit-loopback',
    '--mdns',
    '--json'
  ], at)
  assert.deepEqual(options, {
    repo: '/work/here/rel/repo',
    json: true,
    modes: ['flood', 'dht', 'directory'],
    listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'],
    api: { host: '::1', port: 0 },
    bootstrap: [PEER],
    directory: PEER,
    faultCorrupt: 0.25,
    uploadRate: 1572864,
    role: 'auto',
    interests: [],
    limitLoopback: true,
    mdns: true
  })
  assert.deepEqual(parseDaemonArgs(['--mode', 'directory-server,supernode'], at).modes, ['directory-server', 'supernode'])
  assert.equal(parseDaemonArgs(['--fault-corrupt', '1'], at).faultCorrupt, 1)
  assert.equal(parseDaemonArgs(['--fault-corrupt', '0'], at).faultCorrupt, 0)
  assert.equal(parseDaemonArgs(['--upload-rate', '500K'], at).uploadRate, 512000)
  assert.equal(parseDaemonArgs(['--upload-rate', '2048'], at).uploadRate, 2048)
  for (const bad of ['-1', 'fast', '1T', '']) {
    assert.throws(() => parseDaemonArgs(['--upload-rate', bad], at), usage, bad)
  }
  assert.equal(parseDaemonArgs(['--role', 'super'], at).role, 'super')
  assert.deepEqual(parseDaemonArgs(['--interest', 'Jazz', '--interest', 'ｱﾆﾒ'], at).interests, ['jazz', 'アニメ'])
  for (const bad of [['--role', 'boss'], ['--interest', 'two words'], ['--interest', ''], ['--interest', 'x'.repeat(33)]]) {
    assert.throws(() => parseDaemonArgs(bad, at), usage, bad.join(' '))
  }
})

test('parseDaemonArgs rejects bad values as usage errors', () => {
  const bad = [
    ['--mode', 'gnutella'],
    ['--mode', 'flood,'],
    ['--mode', ''],
    ['--api', '0.0.0.0:5080'],
    ['--api', '192.168.1.2:5080'],
    ['--api', 'example.com:5080'],
    ['--api', '127.0.0.1:65536'],
    ['--api', '127.0.0.1'],
    ['--api', '::1:5080'],
    ['--api', '127.0.0.1:-1'],
    ['--listen', '0.0.0.0:4001'],
    ['--listen', '/ip4/1.2.3.4/tcp/x'],
    ['--bootstrap', 'peer'],
    ['--directory', '/foo/bar'],
    ['--fault-corrupt', '1.5'],
    ['--fault-corrupt', '-0.1'],
    ['--fault-corrupt', 'lots'],
    ['--fault-corrupt', ''],
    ['--fault-corrupt', '0x1'],
    ['--unknown'],
    ['--api'],
    ['stray'],
    ['--repo', '']
  ]
  for (const argv of bad) {
    assert.throws(() => parseDaemonArgs(argv, at), usage, argv.join(' '))
  }
})

test('parseApiAddress accepts loopback hosts only', () => {
  assert.deepEqual(parseApiAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
  assert.deepEqual(parseApiAddress('127.1.2.3:65535'), { host: '127.1.2.3', port: 65535 })
  assert.deepEqual(parseApiAddress('localhost:5080'), { host: 'localhost', port: 5080 })
  assert.deepEqual(parseApiAddress('[::1]:5080'), { host: '::1', port: 5080 })
  assert.deepEqual(parseApiAddress('[0:0:0:0:0:0:0:1]:1'), { host: '0:0:0:0:0:0:0:1', port: 1 })
  assert.throws(() => parseApiAddress('[::]:5080'), usage)
  assert.throws(() => parseApiAddress('[::2]:5080'), usage)
  assert.throws(() => parseApiAddress('127.0.0.256:5080'), usage)
})

test('get: CID, -o resolved against cwd, repeated --from, --timeout-ms', () => {
  assert.deepEqual(parseGetArgs(['bafyx', '-o', 'out/a.bin', '--from', PEER, '--from', '/ip4/10.0.0.1/tcp/4001', '--timeout-ms', '5000', '--json'], at), {
    repo: join(homedir(), '.sedai'),
    json: true,
    request: { cid: 'bafyx', out: '/work/here/out/a.bin', from: [PEER, '/ip4/10.0.0.1/tcp/4001'], timeoutMs: 5000 }
  })
  assert.deepEqual(parseGetArgs(['bafyx', '--output', '/abs/file'], at).request, { cid: 'bafyx', out: '/abs/file' })
  assert.deepEqual(parseGetArgs(['bafyx'], at).request, { cid: 'bafyx' })
  for (const argv of [[], ['a', 'b'], ['a', '--from', 'nope'], ['a', '--timeout-ms', '0'], ['a', '--timeout-ms', '1.5'],
    ['a', '--timeout-ms', 'soon'], ['a', '-o'], ['a', '-o', ''], ['a', '--to', 'x'],
    ['a', ...Array.from({ length: 65 }, () => ['--from', PEER]).flat()]]) {
    assert.throws(() => parseGetArgs(argv, at), usage, argv.join(' '))
  }
})

test('get --in-band: a request flag; not with --from', () => {
  assert.deepEqual(parseGetArgs(['bafyx', '--in-band'], at).request, { cid: 'bafyx', inBand: true })
  assert.throws(() => parseGetArgs(['bafyx', '--in-band', '--from', PEER], at), usage)
})

test('share resolves PATH against the CLI cwd', () => {
  assert.equal(parseShareArgs(['docs/a.txt'], at).path, '/work/here/docs/a.txt')
  assert.equal(parseShareArgs(['.'], at).path, '/work/here')
  assert.equal(parseShareArgs(['/abs/a.txt', '--repo', '/r'], at).repo, '/r')
  assert.throws(() => parseShareArgs([], at), usage)
  assert.throws(() => parseShareArgs(['a', 'b'], at), usage)
})

test('search joins the words of QUERY', () => {
  assert.deepEqual(parseSearchArgs(['free', 'software', 'song', '--timeout-ms', '300'], at).request,
    { query: 'free software song', timeoutMs: 300 })
  assert.deepEqual(parseSearchArgs(['--', '-dashed'], at).request, { query: '-dashed' })
  assert.throws(() => parseSearchArgs([], at), usage)
  assert.throws(() => parseSearchArgs(['  '], at), usage)
})

test('connect needs one multiaddr; simple commands take no arguments', () => {
  assert.equal(parseConnectArgs([PEER], at).multiaddr, PEER)
  assert.throws(() => parseConnectArgs(['12D3KooW'], at), usage)
  assert.throws(() => parseConnectArgs([], at), usage)
  assert.deepEqual(parseNoArgs('ls', ['--json', '--repo', 'r'], at), { repo: '/work/here/r', json: true })
  assert.throws(() => parseNoArgs('ls', ['extra'], at), usage)
  assert.throws(() => parseNoArgs('ls', ['--verbose'], at), usage)
})

/** A Context that records output; `connect` fails the test if a command reaches for the daemon. */
function captureContext (): Context & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return {
    out,
    err,
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
    cwd: '/work/here',
    env: {},
    connect: async () => { throw new Error('no daemon in this test') }
  }
}

test('main: usage errors exit 2 with one error line', async () => {
  for (const argv of [[], ['frobnicate'], ['--json', 'ls'], ['ls', '--bogus'], ['get'], ['share', 'a', 'b'], ['help', 'nope'],
    ['daemon', '--mode', 'nope'], ['daemon', '--api', '10.1.1.1:1']]) {
    const ctx = captureContext()
    assert.equal(await main(argv, ctx), 2, argv.join(' '))
    assert.equal(ctx.err.length, 1)
    assert.match(ctx.err[0], /^error: [^\n]+\n$/)
    if (argv.includes('--json')) {
      assert.equal(JSON.parse(ctx.out.join('')).error.code, 'ERR_INVALID_OPTION')
    } else {
      assert.deepEqual(ctx.out, [])
    }
  }
})

test('main: --json adds the error document on stdout', async () => {
  const ctx = captureContext()
  assert.equal(await main(['get', '--json', '--nope'], ctx), 2)
  assert.deepEqual(JSON.parse(ctx.out.join('')), { error: { code: 'ERR_INVALID_OPTION', message: "unknown option '--nope' for 'sedai get'" } })
  assert.equal(ctx.err.join(''), "error: unknown option '--nope' for 'sedai get'\n")
})

test('main: help and version exit 0', async () => {
  for (const argv of [['help'], ['--help'], ['-h'], ['help', 'get'], ['get', '--help'], ['--version']]) {
    const ctx = captureContext()
    assert.equal(await main(argv, ctx), 0, argv.join(' '))
    assert.notEqual(ctx.out.join(''), '')
    assert.deepEqual(ctx.err, [])
  }
})
