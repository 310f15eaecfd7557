import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { DEFAULTS } from '../src/config.ts'
import { freePorts } from '../src/local/cluster.ts'

test('freePorts: distinct ports below the kernel\'s ephemeral range, free to listen on', async () => {
  const low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768')).trim().split(/\s+/)[0])
  const ports = await freePorts(200)
  assert.equal(new Set(ports).size, 200)
  for (const p of ports) assert.ok(p >= DEFAULTS.portRangeStart && p < low, `${p} outside ${DEFAULTS.portRangeStart}..${low - 1}`)
})
