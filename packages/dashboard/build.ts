/**
 * Builds the dashboard's front end into dist/: ui/main.ts (with cytoscape)
 * bundled and minified by esbuild into app.js, next to index.html and
 * style.css; and the lab view (`sedai lab run --dashboard`), ui/lab.ts into
 * lab.js next to lab.html, with the same style.css. Run by `npm run build:dashboard`, which `npm install`/`npm ci`
 * run on their own (the root's `prepare`).
 */
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ui = fileURLToPath(new URL('./ui/', import.meta.url))
const dist = fileURLToPath(new URL('./dist/', import.meta.url))

await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
const result = await build({
  entryPoints: [{ in: `${ui}main.ts`, out: 'app' }, { in: `${ui}lab.ts`, out: 'lab' }],
  outdir: dist,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  // cytoscape's licence stays with it, in a file of its own
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning'
})
await copyFile(`${ui}index.html`, `${dist}index.html`)
await copyFile(`${ui}lab.html`, `${dist}lab.html`)
await copyFile(`${ui}style.css`, `${dist}style.css`)
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.log(`dashboard built into ${dist} (${Math.round(bytes / 1024)} KiB)`)
