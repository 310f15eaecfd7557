import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { freePorts } from '../src/ports.ts'

test('freePorts: distinct ports below the kernel\'s ephemeral range, free to listen on', async () => {
  const low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768')).trim().split(/\s+/)[0])
  const ports = await freePorts(200)
  assert.equal(new Set(ports).size, 200)
  for (const p of ports) assert.ok(p >= 20_000 && p < low, `${p} outside 20000..${low - 1}`)
})
