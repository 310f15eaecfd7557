import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatTick, log2Ticks, niceTicks, renderSvg } from '../../src/report/svg.ts'
import type { BarChart, LineChart } from '../../src/report/svg.ts'

// ---------------------------------------------------------------- a small XML parser
// Strict enough for what the renderer emits: no comments, CDATA or processing
// instructions, attributes always double-quoted. It fails on unbalanced tags,
// raw '<' or a bare '&' in text, and duplicate attributes.

interface El { name: string, attrs: Record<string, string>, children: El[], text: string }

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decode (s: string, where: string): string {
  return s.replace(/&([^;]*);|&/g, (m, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare & in ${where}`)
    if (ENTITY[name] !== undefined) return ENTITY[name]
    if (/^#\d+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)))
    throw new Error(`unknown entity &${name}; in ${where}`)
  })
}

function parseXml (src: string): El {
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y
  const attr = /([\w:.-]+)="([^"<]*)"/g
  const root: El = { name: '#root', attrs: {}, children: [], text: '' }
  const stack: El[] = [root]
  let i = 0
  while (i < src.length) {
    const lt = src.indexOf('<', i)
    const chunk = src.slice(i, lt === -1 ? src.length : lt)
    if (chunk.includes('>')) throw new Error(`raw > in text at ${i}`)
    stack[stack.length - 1].text += decode(chunk, `text at ${i}`)
    if (lt === -1) break
    tag.lastIndex = lt
    const m = tag.exec(src)
    if (m === null) throw new Error(`malformed tag at ${lt}: ${src.slice(lt, lt + 40)}`)
    const [whole, close, name, attrText, selfClose] = m
    if (close === '/') {
      const top = stack.pop()
      if (top === undefined || top.name !== name) throw new Error(`</${name}> closes <${top?.name ?? 'nothing'}> at ${lt}`)
    } else {
      const el: El = { name, attrs: {}, children: [], text: '' }
      for (const a of attrText.matchAll(attr)) {
        if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`)
        el.attrs[a[1]] = decode(a[2], `attribute ${a[1]}`)
      }
      stack[stack.length - 1].children.push(el)
      if (selfClose !== '/') stack.push(el)
    }
    i = lt + whole.length
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`)
  if (root.text.trim() !== '') throw new Error('text outside the root element')
  if (root.children.length !== 1) throw new Error(`expected one root element, got ${root.children.length}`)
  return root.children[0]
}

function all (el: El, pred: (e: El) => boolean, out: El[] = []): El[] {
  if (pred(el)) out.push(el)
  for (const c of el.children) all(c, pred, out)
  return out
}
const byName = (root: El, name: string): El[] => all(root, e => e.name === name)
const byClass = (root: El, cls: string): El[] => all(root, e => (e.attrs.class ?? '').split(' ').includes(cls))
const texts = (root: El): string[] => byName(root, 'text').map(e => e.text)
/** The tick labels of an axis group, in order. */
const tickTexts = (root: El, axis: 'x-ticks' | 'y-ticks'): string[] => byClass(root, axis).flatMap(g => byName(g, 'text').map(e => e.text))

/** Parse and check the document-level promises: root element, namespace, size, a <title> first. */
function svgDoc (svg: string): El {
  assert.ok(svg.startsWith('<svg'), 'starts with <svg')
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>')
  const root = parseXml(svg)
  assert.equal(root.name, 'svg')
  assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg')
  assert.match(root.attrs.width, /^\d+(\.\d)?$/)
  assert.match(root.attrs.height, /^\d+(\.\d)?$/)
  assert.equal(root.attrs.viewBox, `0 0 ${root.attrs.width} ${root.attrs.height}`)
  assert.equal(root.children[0].name, 'title')
  return root
}

// ---------------------------------------------------------------- fixtures

const sizes = [16, 64, 256, 1000]
const messagesVsN: LineChart = {
  kind: 'line',
  title: 'Messages per query vs network size',
  xLabel: 'peers (N)',
  yLabel: 'messages per query',
  logX: true,
  series: [
    { name: 'directory', points: sizes.map(x => ({ x, y: 2 })) },
    { name: 'flood', points: sizes.map(x => ({ x, y: x * 0.24 })) },
    { name: 'supernode', points: sizes.map(x => ({ x, y: Math.sqrt(x) * 3 })) },
    { name: 'dht', points: sizes.map(x => ({ x, y: Math.log2(x) * 4 })) },
    { name: 'log2 N', dashed: true, points: sizes.map(x => ({ x, y: Math.log2(x) })) }
  ]
}

const faultTimeline: LineChart = {
  kind: 'line',
  title: 'Search success around a fault',
  xLabel: 'seconds into the search phase',
  yLabel: 'success',
  yMin: 0,
  yMax: 1,
  markers: [{ x: 10, label: 'kill server' }, { x: 12, label: 'restart' }],
  series: [
    { name: 'directory', points: Array.from({ length: 25 }, (_, i) => ({ x: i, y: i >= 10 && i < 14 ? 0 : 1 })) },
    { name: 'flood', points: Array.from({ length: 25 }, (_, i) => ({ x: i, y: i === 11 ? NaN : 0.9 })) }
  ]
}

const busiest: BarChart = {
  kind: 'bar',
  title: 'Bytes served by the busiest node',
  yLabel: 'max / mean',
  categories: ['directory', 'flood', 'supernode', 'dht'],
  series: [{ name: 'max/mean', values: [7.5, 5.25, 2.1, 1.8] }, { name: 'share', values: [0.6, NaN, 0.2, 0.1] }]
}

// ---------------------------------------------------------------- tests

test('a line chart is a well-formed standalone SVG with axes, legend and a title', () => {
  const svg = renderSvg(messagesVsN)
  const root = svgDoc(svg)
  assert.equal(root.children[0].text, messagesVsN.title)
  assert.equal(root.attrs.width, '640')
  assert.equal(root.attrs.height, '400')
  const t = texts(root)
  for (const label of ['peers (N)', 'messages per query', 'directory', 'flood', 'supernode', 'dht', 'log2 N']) assert.ok(t.includes(label), `has text ${label}`)
  assert.equal(byClass(root, 'series').length, 5)
  assert.equal(byName(root, 'polyline').length, 5)
  assert.equal(byClass(root, 'legend').length, 1)
  // every <text has a closing tag (the parser checks too; this is the literal promise)
  assert.equal(svg.match(/<text\b/g)?.length, svg.match(/<\/text>/g)?.length)
})

test('custom size shows in width, height and viewBox', () => {
  const root = svgDoc(renderSvg(messagesVsN, { width: 800, height: 300 }))
  assert.equal(root.attrs.width, '800')
  assert.equal(root.attrs.height, '300')
  assert.equal(root.attrs.viewBox, '0 0 800 300')
})

test('every text is XML-escaped: title, labels, series names, categories, markers', () => {
  const evil = '<script>alert("x") & \'y\'</script>'
  const line = renderSvg({ ...faultTimeline, title: evil, xLabel: evil, yLabel: evil, series: [{ name: evil, points: [{ x: 1, y: 1 }, { x: 2, y: 2 }] }], markers: [{ x: 1.5, label: evil }] }, { width: 2000 })
  const bar = renderSvg({ kind: 'bar', title: evil, yLabel: evil, categories: [evil], series: [{ name: evil, values: [1] }] }, { width: 2000 })
  for (const svg of [line, bar]) {
    assert.ok(!svg.includes('<script'), 'no raw <script')
    assert.ok(svg.includes('&lt;script&gt;alert(&quot;x&quot;) &amp; &apos;y&apos;&lt;/script&gt;'))
    const root = svgDoc(svg)
    assert.equal(root.children[0].text, evil)
    assert.ok(byName(root, 'script').length === 0)
  }
  // title, x label, y label, marker label, legend entry: all whole at this width
  assert.equal(texts(svgDoc(line)).filter(s => s === evil).length, 5)
  // and an empty chart, which takes another code path
  assert.ok(!renderSvg({ ...faultTimeline, title: evil, series: [] }).includes('<script'))
})

test('control characters that XML forbids even escaped are dropped', () => {
  const svg = renderSvg({ ...messagesVsN, title: 'a\u0000b\u0007c' })
  assert.equal(svgDoc(svg).children[0].text, 'abc')
})

test('nice ticks: [0, 0.97] -> 0 .. 1 by 0.2, exact decimals', () => {
  const ax = niceTicks(0, 0.97, 7)
  assert.deepEqual(ax, { lo: 0, hi: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] })
  const root = svgDoc(renderSvg({ kind: 'line', title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [{ x: 0, y: 0.5 }, { x: 1, y: 0.97 }] }] }))
  assert.deepEqual(tickTexts(root, 'y-ticks'), ['0', '0.2', '0.4', '0.6', '0.8', '1'])
})

test('nice ticks: [0, 243] -> 0 .. 250 by 50', () => {
  assert.deepEqual(niceTicks(0, 243, 7), { lo: 0, hi: 250, ticks: [0, 50, 100, 150, 200, 250] })
  const root = svgDoc(renderSvg({ kind: 'line', title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [{ x: 1, y: 12 }, { x: 2, y: 243 }] }] }))
  assert.deepEqual(tickTexts(root, 'y-ticks'), ['0', '50', '100', '150', '200', '250'])
})

test('nice ticks: steps are 1, 2 or 5 x 10^k for many ranges', () => {
  for (const [lo, hi] of [[0, 1], [0, 7], [1, 7], [0, 13], [-3.2, 9.9], [0, 0.0031], [0, 1e6 - 1], [0, 123456789], [1000, 1003]]) {
    const ax = niceTicks(lo, hi, 7)
    assert.ok(ax.lo <= lo && ax.hi >= hi, `[${lo}, ${hi}] covered by [${ax.lo}, ${ax.hi}]`)
    assert.ok(ax.ticks.length >= 2 && ax.ticks.length <= 8, `[${lo}, ${hi}]: ${ax.ticks.length} ticks`)
    const step = ax.ticks[1] - ax.ticks[0]
    const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6))
    assert.ok([1, 2, 5].includes(mantissa), `[${lo}, ${hi}] step ${step}`)
    for (const t of ax.ticks) assert.ok(String(t).length <= 12, `tick ${t} is printed exactly`)
  }
  // a fixed range keeps its ends and only draws ticks inside
  assert.deepEqual(niceTicks(0.05, 0.95, 5, { lo: true, hi: true }), { lo: 0.05, hi: 0.95, ticks: [0.2, 0.4, 0.6, 0.8] })
})

test('log2 ticks: [3, 1000] -> powers of two from 4 to 512', () => {
  assert.deepEqual(log2Ticks(3, 1000, 12), [4, 8, 16, 32, 64, 128, 256, 512])
  // too many powers for the room: every 2nd one
  assert.deepEqual(log2Ticks(3, 1000, 4), [4, 16, 64, 256])
  // no power of two in range: the ends, so the axis still has labels
  assert.deepEqual(log2Ticks(5, 7, 5), [5, 7])
  const root = svgDoc(renderSvg({ kind: 'line', title: 't', xLabel: 'N', yLabel: 'y', logX: true, series: [{ name: 's', points: [{ x: 3, y: 1 }, { x: 1000, y: 2 }] }] }, { width: 900 }))
  assert.deepEqual(tickTexts(root, 'x-ticks'), ['4', '8', '16', '32', '64', '128', '256', '512'])
})

test('log2 axis places the powers of two evenly', () => {
  const root = svgDoc(renderSvg(messagesVsN))
  const xs = byClass(root, 'x-ticks')[0].children.filter(e => e.name === 'text').map(e => Number(e.attrs.x))
  const gaps = xs.slice(1).map((x, i) => x - xs[i])
  for (const g of gaps) assert.ok(Math.abs(g - gaps[0]) <= 0.2, `even spacing: ${gaps.join(', ')}`)
})

test('tick labels are compact: 1k / 1M style or up to 3 significant digits', () => {
  assert.equal(formatTick(0), '0')
  assert.equal(formatTick(0.1 + 0.2), '0.3')
  assert.equal(formatTick(0.0625), '0.0625')
  assert.equal(formatTick(12.345), '12.3')
  assert.equal(formatTick(250), '250')
  assert.equal(formatTick(1000), '1k')
  assert.equal(formatTick(1500), '1.5k')
  assert.equal(formatTick(-2500), '-2.5k')
  assert.equal(formatTick(250000), '250k')
  assert.equal(formatTick(999999), '1M')
  assert.equal(formatTick(1234567), '1.23M')
  assert.equal(formatTick(3e9), '3G')
  // ticks that 3 digits would print the same get more digits
  const root = svgDoc(renderSvg({ kind: 'line', title: 't', xLabel: 'x', yLabel: 'y', yMin: 1000, yMax: 1003, series: [{ name: 's', points: [{ x: 0, y: 1001 }, { x: 1, y: 1002 }] }] }))
  const labels = tickTexts(root, 'y-ticks')
  assert.equal(new Set(labels).size, labels.length, labels.join(' '))
})

test('all coordinates are rounded to one decimal', () => {
  for (const svg of [renderSvg(messagesVsN), renderSvg(faultTimeline), renderSvg(busiest), renderSvg(messagesVsN, { width: 333.33, height: 217.77 })]) {
    assert.ok(!/\d\.\d{2,}/.test(svg.replace(/font-family="[^"]*"/, '')), 'no long decimals')
    assert.ok(!svg.includes('NaN') && !svg.includes('Infinity') && !svg.includes('undefined'))
  }
})

test('points with a non-finite y are skipped and split the line', () => {
  const chart: LineChart = {
    kind: 'line',
    title: 'gaps',
    xLabel: 'x',
    yLabel: 'y',
    series: [{ name: 'a', points: [{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: NaN }, { x: 4, y: 3 }, { x: 5, y: Infinity }, { x: 6, y: 4 }, { x: 7, y: 5 }] }]
  }
  const svg = renderSvg(chart)
  const root = svgDoc(svg)
  const lines = byName(root, 'polyline').map(p => p.attrs.points.split(' ').length)
  assert.deepEqual(lines, [2, 2]) // 1-2, (4 alone: marker only), 6-7
  assert.equal(byName(byClass(root, 'series')[0], 'circle').length, 5)
  assert.ok(!svg.includes('NaN'))
})

test('a series with no finite points is still in the legend', () => {
  const root = svgDoc(renderSvg({ ...messagesVsN, series: [...messagesVsN.series, { name: 'not measured', points: [{ x: 16, y: NaN }] }] }))
  const legend = byClass(root, 'legend')[0]
  assert.ok(byName(legend, 'text').some(t => t.text === 'not measured'))
  assert.equal(byName(legend, 'text').length, 6)
})

test('an empty chart renders "no data" instead of throwing', () => {
  const cases: Array<Parameters<typeof renderSvg>[0]> = [
    { kind: 'line', title: 'empty', xLabel: 'x', yLabel: 'y', series: [] },
    { kind: 'line', title: 'empty', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [] }, { name: 'b', points: [{ x: 1, y: NaN }] }] },
    { kind: 'line', title: 'empty', xLabel: 'x', yLabel: 'y', logX: true, series: [{ name: 'a', points: [{ x: 0, y: 1 }] }] },
    { kind: 'line', title: 'empty', xLabel: 'x', yLabel: 'y', series: [], markers: [{ x: 3, label: 'kill' }] },
    { kind: 'bar', title: 'empty', yLabel: 'y', categories: [], series: [] },
    { kind: 'bar', title: 'empty', yLabel: 'y', categories: ['a', 'b'], series: [{ name: 's', values: [NaN, NaN] }] },
    { kind: 'bar', title: 'empty', yLabel: 'y', categories: ['a'], series: [] }
  ]
  for (const chart of cases) {
    const root = svgDoc(renderSvg(chart))
    assert.equal(root.children[0].text, 'empty')
    assert.ok(texts(root).includes('no data'), JSON.stringify(chart))
  }
})

test('degenerate data still draws: one point, all zeros', () => {
  for (const chart of [
    { kind: 'line', title: 'one', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [{ x: 5, y: 3 }] }] },
    { kind: 'line', title: 'one', xLabel: 'x', yLabel: 'y', logX: true, series: [{ name: 'a', points: [{ x: 64, y: 0 }] }] },
    { kind: 'line', title: 'zeros', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [{ x: 0, y: 0 }, { x: 0, y: 0 }] }] },
    { kind: 'line', title: 'above', xLabel: 'x', yLabel: 'y', yMin: 10, series: [{ name: 'a', points: [{ x: 0, y: 1 }, { x: 1, y: 2 }] }] },
    { kind: 'bar', title: 'zeros', yLabel: 'y', categories: ['a'], series: [{ name: 's', values: [0] }] },
    { kind: 'bar', title: 'neg', yLabel: 'y', categories: ['a', 'b'], series: [{ name: 's', values: [-3, 4] }] }
  ] satisfies Array<Parameters<typeof renderSvg>[0]>) {
    const svg = renderSvg(chart)
    const root = svgDoc(svg)
    assert.ok(!texts(root).includes('no data'))
    assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'), chart.title)
  }
})

test('a bar chart draws one bar per finite value, coloured by series', () => {
  const root = svgDoc(renderSvg(busiest))
  const bars = byClass(root, 'bar')
  assert.equal(bars.length, 7)
  assert.deepEqual([...new Set(bars.map(b => b.attrs.fill))], ['#0072B2', '#D55E00'])
  assert.deepEqual(tickTexts(root, 'x-ticks'), busiest.categories)
  // the tallest bar (7.5) reaches above the shortest one
  const tall = bars[0]
  const short = bars[3]
  assert.ok(Number(tall.attrs.height) > Number(short.attrs.height))
  assert.deepEqual(byName(byClass(root, 'legend')[0], 'text').map(t => t.text), ['max/mean', 'share'])
})

test('a bar chart with many long categories slants their labels', () => {
  const categories = Array.from({ length: 14 }, (_, i) => `flood-n${16 * (i + 1)}-ttl${i % 7}`)
  const root = svgDoc(renderSvg({ kind: 'bar', title: 'many', yLabel: 'ms', categories, series: [{ name: 'p50', values: categories.map((_, i) => i * 10) }] }))
  const labels = byName(byClass(root, 'x-ticks')[0], 'text')
  assert.equal(labels.length, 14)
  for (const l of labels) assert.match(l.attrs.transform, /^rotate\(45 /)
})

test('a bar series whose values length differs from categories throws RangeError naming it', () => {
  assert.throws(() => renderSvg({ ...busiest, series: [busiest.series[0], { name: 'short', values: [1, 2] }] }), (err: unknown) => {
    assert.ok(err instanceof RangeError)
    assert.match(err.message, /series\[1\]\.values/)
    assert.match(err.message, /categories/)
    return true
  })
})

test('bad input throws RangeError naming the field', () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => renderSvg(busiest, { width: 0 }), /width/],
    [() => renderSvg(busiest, { width: -5 }), /width/],
    [() => renderSvg(busiest, { height: NaN }), /height/],
    [() => renderSvg(busiest, { height: Infinity }), /height/],
    [() => renderSvg({ ...faultTimeline, yMin: 1, yMax: 1 }), /yMin/],
    [() => renderSvg({ ...faultTimeline, yMax: NaN }), /yMax/],
    [() => renderSvg({ ...faultTimeline, markers: [{ x: NaN, label: 'kill' }] }), /markers\[0\]\.x/],
    [() => renderSvg({ ...faultTimeline, series: [{ name: 'a', points: [{ x: 1, y: null as unknown as number }] }] }), /series\[0\]\.points\[0\]\.y/],
    [() => renderSvg({ ...busiest, categories: [...busiest.categories.slice(0, 3), 7 as unknown as string] }), /categories\[3\]/],
    [() => renderSvg({ ...busiest, series: [{ name: 'a', values: [1, 2, '3' as unknown as number, 4] }] }), /series\[0\]\.values\[2\]/],
    [() => renderSvg({ kind: 'pie' } as unknown as LineChart), /kind/]
  ]
  for (const [fn, re] of cases) assert.throws(fn, (err: unknown) => err instanceof RangeError && re.test(err.message), String(re))
})

test('output is deterministic', () => {
  for (const chart of [messagesVsN, faultTimeline, busiest]) {
    const a = renderSvg(chart)
    const copy = JSON.parse(JSON.stringify(chart, (_k, v: unknown) => typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v), (_k, v: unknown) => v === 'NaN' ? NaN : v) as typeof chart
    assert.equal(renderSvg(chart), a)
    assert.equal(renderSvg(copy), a)
  }
})

test('a dashed series has stroke-dasharray on its line and its legend key; solid ones do not', () => {
  const root = svgDoc(renderSvg(messagesVsN))
  const series = byClass(root, 'series')
  assert.equal(series.length, 5)
  for (let i = 0; i < 4; i++) assert.equal(byName(series[i], 'polyline')[0].attrs['stroke-dasharray'], undefined)
  assert.ok(byName(series[4], 'polyline')[0].attrs['stroke-dasharray'] !== undefined)
  const keys = byName(byClass(root, 'legend')[0], 'line')
  assert.equal(keys.filter(l => l.attrs['stroke-dasharray'] !== undefined).length, 1)
})

test('series colours follow the palette in series order', () => {
  const root = svgDoc(renderSvg(messagesVsN))
  assert.deepEqual(byClass(root, 'series').map(g => g.attrs.stroke), ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00'])
})

test('markers are dashed vertical lines with their labels at the top, inside the x range', () => {
  const root = svgDoc(renderSvg(faultTimeline))
  const lines = byClass(root, 'marker')
  assert.equal(lines.length, 2)
  for (const l of lines) {
    assert.equal(l.attrs.x1, l.attrs.x2)
    assert.ok(l.attrs['stroke-dasharray'] !== undefined)
    assert.ok(Number(l.attrs.y1) < Number(l.attrs.y2))
  }
  const labels = byClass(root, 'marker-label')
  assert.deepEqual(labels.map(l => l.text), ['kill server', 'restart'])
  // labels sit near the top of their line
  for (const [i, l] of labels.entries()) assert.ok(Number(l.attrs.y) < Number(lines[i].attrs.y1) + 30)
  // two events 2 s apart: the labels go on different rows rather than overprint
  assert.notEqual(labels[0].attrs.y, labels[1].attrs.y)
  // a marker beyond the data widens the x axis so it stays on the chart
  const wide = svgDoc(renderSvg({ ...faultTimeline, markers: [{ x: 40, label: 'late' }] }))
  const axisRight = Math.max(...byName(byClass(wide, 'x-ticks')[0], 'text').map(t => Number(t.text)))
  assert.ok(axisRight >= 40)
})

test('a fixed y range keeps data inside a clip path', () => {
  const root = svgDoc(renderSvg({ ...faultTimeline, yMax: 0.5 }))
  assert.deepEqual(tickTexts(root, 'y-ticks'), ['0', '0.1', '0.2', '0.3', '0.4', '0.5'])
  const clip = byName(root, 'clipPath')
  assert.equal(clip.length, 1)
  assert.ok(all(root, e => e.attrs['clip-path'] === `url(#${clip[0].attrs.id})`).length === 1)
})

test('a long series renders (no argument spreading into Math.min/max)', () => {
  // 150k is past V8's limit for Math.max(...array) with the default stack
  const points = Array.from({ length: 150_000 }, (_, i) => ({ x: i, y: Math.sin(i / 1000) }))
  const svg = renderSvg({ kind: 'line', title: 'long', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points }] })
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'))
})
