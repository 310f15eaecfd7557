/**
 * Dependency-free SVG charts for the lab report: line charts (a metric vs N or
 * TTL, or over time around a fault) and grouped bar charts (one group per
 * generation). The output is a standalone SVG document, readable in a Markdown
 * image on GitHub, and deterministic (same input, same string) so that reports
 * from two runs can be diffed.
 */

export interface Series {
  name: string
  points: Array<{ x: number, y: number }>
  /** drawn dashed (reference curves such as log2 N) */
  dashed?: boolean
}

export interface Marker { x: number, label: string }

export interface LineChart {
  kind: 'line'
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  /** log2 x axis (network sizes 16, 64, 256, 1000) */
  logX?: boolean
  /** vertical lines with labels (a fault at t) */
  markers?: Marker[]
  /** fixed y range, e.g. [0, 1] for rates; default from the data, starting at 0 */
  yMin?: number
  yMax?: number
}

export interface BarChart {
  kind: 'bar'
  title: string
  yLabel: string
  /** one group per category (e.g. a generation); one bar per series name inside each group */
  categories: string[]
  series: Array<{ name: string, values: number[] }> // values[i] belongs to categories[i]; NaN = no bar
}

export type Chart = LineChart | BarChart

const DEFAULT_WIDTH = 640
const DEFAULT_HEIGHT = 400
/** Okabe-Ito (colour-blind safe); yellow last because it is faint on white. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442']
/** 5 shapes against 8 colours: coprime, so the first 40 series all differ, also in greyscale print. */
const SHAPES = ['circle', 'square', 'diamond', 'triangle', 'triangle-down'] as const
type Shape = typeof SHAPES[number]
const FONT = 'Helvetica, Arial, sans-serif'
const DASH = '6 4'
const MARKER_DASH = '4 3'
const PAD = 12
const TITLE_SIZE = 15
const LABEL_SIZE = 12
const TICK_SIZE = 11
/** Plot area inset at the top: below the title. */
const PLOT_TOP = 42

// ---------------------------------------------------------------- numbers and text

/** Compact coordinate: 1 decimal, no float noise (0.30000000000000004), no "-0". */
function n (v: number): string {
  const r = Math.round(v * 10) / 10
  return String(r === 0 ? 0 : r)
}

/**
 * A tick label: 1k / 2.5M style above a thousand, otherwise up to `digits`
 * significant digits ("0.2", "12.5", "0.0625").
 */
export function formatTick (v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v)
  // round first so 999999 becomes "1M" and not "1000k"
  const r = Number(Math.abs(v).toPrecision(digits))
  if (r === 0) return '0'
  const sign = v < 0 ? '-' : ''
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]
  for (const [div, suffix] of units) {
    // division of an exact integer by a power of ten rounds to the shortest decimal
    if (r >= div) return `${sign}${String(Number((r / div).toPrecision(digits)))}${suffix}`
  }
  return sign + String(r)
}

/** Labels for a set of ticks, with more digits only when 3 would print two ticks the same. */
function tickLabels (ticks: number[], format: (v: number, digits: number) => string): string[] {
  let labels: string[] = []
  for (let digits = 3; digits <= 17; digits++) {
    labels = ticks.map(t => format(t, digits))
    if (new Set(labels).size === labels.length) break
  }
  return labels
}

/** Powers of two read better as integers (1024, not 1.02k) while they stay short. */
function formatLog2Tick (v: number, digits: number): string {
  return Number.isInteger(v) && v < 1e4 ? String(v) : formatTick(v, digits)
}

// XML 1.0 forbids these control characters even when escaped, so drop them.
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g

/** Escape text for element content and attribute values alike. */
export function escapeXml (s: string): string {
  return String(s).replace(INVALID_XML, '').replace(/[&<>"']/g, c => {
    switch (c) {
      case '&': return '&amp;'
      case '<': return '&lt;'
      case '>': return '&gt;'
      case '"': return '&quot;'
      default: return '&apos;'
    }
  })
}

/** Width estimate for layout; there is no font metrics source without a browser. */
function textWidth (s: string, size: number): number {
  return [...s].length * size * 0.6
}

/** Cut text to fit `maxPx` (estimated) with an ellipsis, so neighbours never overlap. */
function fit (s: string, maxPx: number, size: number): string {
  const chars = [...s]
  const max = Math.floor(maxPx / (size * 0.6))
  if (chars.length <= max) return s
  if (max <= 1) return '…'
  return chars.slice(0, max - 1).join('') + '…'
}

function text (x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs === '' ? '' : ' ' + attrs}>${escapeXml(content)}</text>`
}

/** FNV-1a: a short, deterministic id for the clip path, distinct per chart if several SVGs get inlined in one page. */
function hashId (s: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return 'c' + (h >>> 0).toString(36)
}

/** Min and max without spreading into Math.min, which overflows the stack on long series. */
function extent (vs: number[]): [number, number] {
  let lo = Infinity
  let hi = -Infinity
  for (const v of vs) {
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  return [lo, hi]
}

// ---------------------------------------------------------------- ticks

export interface Axis {
  /** domain actually drawn */
  lo: number
  hi: number
  ticks: number[]
}

/** step = m × 10^e, evaluated as an integer divided by a power of ten so ticks print exactly (0.6, not 0.6000000000000001). */
function stepValue (k: number, m: number, e: number): number {
  return e >= 0 ? k * m * 10 ** e : (k * m) / 10 ** -e
}

/**
 * Linear ticks at 1, 2 or 5 × 10^k, at most `maxIntervals` intervals. An end
 * that is not `fixed` is extended to the next tick (0..0.97 draws 0..1); a
 * fixed end stays where it is and only ticks inside it are drawn.
 */
export function niceTicks (lo: number, hi: number, maxIntervals: number, fixed: { lo?: boolean, hi?: boolean } = {}): Axis {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) throw new RangeError(`axis range must be finite with lo < hi, got [${lo}, ${hi}]`)
  const max = Math.max(1, Math.floor(maxIntervals))
  // tolerance against float error in lo/step (e.g. 0.6/0.2 = 2.9999999999999996)
  const eps = 1e-9
  const raw = (hi - lo) / max
  let e = Math.floor(Math.log10(raw)) - 1
  for (let tries = 0; tries < 60; tries++, e++) {
    for (const m of [1, 2, 5]) {
      const step = stepValue(1, m, e)
      const k0 = fixed.lo === true ? Math.ceil(lo / step - eps) : Math.floor(lo / step + eps)
      const k1 = fixed.hi === true ? Math.floor(hi / step + eps) : Math.ceil(hi / step - eps)
      if (k1 - k0 > max) continue
      const ticks: number[] = []
      for (let k = k0; k <= k1; k++) ticks.push(stepValue(k, m, e) + 0) // + 0 turns -0 into 0
      return {
        lo: fixed.lo === true ? lo : stepValue(k0, m, e),
        hi: fixed.hi === true ? hi : stepValue(k1, m, e),
        ticks
      }
    }
  }
  return { lo, hi, ticks: [lo, hi] }
}

/**
 * Log2 ticks: the powers of two inside [lo, hi], thinned to every 2nd, 3rd …
 * power when there would be more than `maxTicks`. A range holding no power of
 * two (5..7) gets its two ends instead, so the axis is never unlabelled.
 */
export function log2Ticks (lo: number, hi: number, maxTicks: number): number[] {
  if (!(lo > 0) || !Number.isFinite(hi) || !(hi >= lo)) throw new RangeError(`log2 axis range must be positive with lo <= hi, got [${lo}, ${hi}]`)
  const eps = 1e-9
  const e0 = Math.ceil(Math.log2(lo) - eps)
  const e1 = Math.floor(Math.log2(hi) + eps)
  if (e1 < e0) return lo === hi ? [lo] : [lo, hi]
  const stride = Math.max(1, Math.ceil((e1 - e0 + 1) / Math.max(1, Math.floor(maxTicks))))
  const ticks: number[] = []
  for (let e = e0; e <= e1; e++) if (((e % stride) + stride) % stride === 0) ticks.push(2 ** e)
  // thinning on multiples of the stride can leave nothing (e0 = 1, e1 = 2, stride 3)
  return ticks.length > 0 ? ticks : [2 ** e0]
}

// ---------------------------------------------------------------- validation

function checkSize (v: number | undefined, fallback: number, field: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`${field} must be a positive finite number, got ${String(v)}`)
  return v
}

function checkString (v: unknown, field: string): string {
  if (typeof v !== 'string') throw new RangeError(`${field} must be a string, got ${typeof v}`)
  return v
}

function checkArray (v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new RangeError(`${field} must be an array, got ${typeof v}`)
  return v
}

/** NaN is a legitimate "no value" in the data; anything not a number is a bug upstream (e.g. null from JSON). */
function checkNumber (v: unknown, field: string): number {
  if (typeof v !== 'number') throw new RangeError(`${field} must be a number (NaN for no value), got ${v === null ? 'null' : typeof v}`)
  return v
}

function checkLine (c: LineChart): void {
  checkString(c.title, 'title')
  checkString(c.xLabel, 'xLabel')
  checkString(c.yLabel, 'yLabel')
  checkArray(c.series, 'series').forEach((s, i) => {
    if (s === null || typeof s !== 'object') throw new RangeError(`series[${i}] must be an object`)
    const ser = s as Series
    checkString(ser.name, `series[${i}].name`)
    checkArray(ser.points, `series[${i}].points`).forEach((p, j) => {
      if (p === null || typeof p !== 'object') throw new RangeError(`series[${i}].points[${j}] must be an object`)
      checkNumber((p as { x: unknown }).x, `series[${i}].points[${j}].x`)
      checkNumber((p as { y: unknown }).y, `series[${i}].points[${j}].y`)
    })
  })
  if (c.markers !== undefined) {
    checkArray(c.markers, 'markers').forEach((m, i) => {
      if (m === null || typeof m !== 'object') throw new RangeError(`markers[${i}] must be an object`)
      const x = checkNumber((m as Marker).x, `markers[${i}].x`)
      // a marker is an event the caller placed on purpose, so a missing time is a bug, not a gap
      if (!Number.isFinite(x)) throw new RangeError(`markers[${i}].x must be finite, got ${x}`)
      checkString((m as Marker).label, `markers[${i}].label`)
    })
  }
  for (const field of ['yMin', 'yMax'] as const) {
    const v = c[field]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new RangeError(`${field} must be a finite number, got ${String(v)}`)
  }
  if (c.yMin !== undefined && c.yMax !== undefined && !(c.yMin < c.yMax)) throw new RangeError(`yMin must be below yMax, got yMin ${c.yMin} and yMax ${c.yMax}`)
}

function checkBar (c: BarChart): void {
  checkString(c.title, 'title')
  checkString(c.yLabel, 'yLabel')
  const categories = checkArray(c.categories, 'categories')
  categories.forEach((cat, i) => checkString(cat, `categories[${i}]`))
  checkArray(c.series, 'series').forEach((s, i) => {
    if (s === null || typeof s !== 'object') throw new RangeError(`series[${i}] must be an object`)
    checkString((s as { name: unknown }).name, `series[${i}].name`)
    const values = checkArray((s as { values: unknown }).values, `series[${i}].values`)
    if (values.length !== categories.length) {
      throw new RangeError(`series[${i}].values has ${values.length} value(s) but categories has ${categories.length}; values[i] belongs to categories[i] (NaN for no bar)`)
    }
    values.forEach((v, j) => checkNumber(v, `series[${i}].values[${j}]`))
  })
}

// ---------------------------------------------------------------- common parts

function open (width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" role="img" font-family="${FONT}" font-size="${LABEL_SIZE}">`,
    `<title>${escapeXml(title)}</title>`,
    // opaque background: GitHub's dark theme would otherwise show black text on near-black
    `<rect width="${n(width)}" height="${n(height)}" fill="#ffffff"/>`,
    text(width / 2, 24, fit(title, width - 2 * PAD, TITLE_SIZE), `class="title" text-anchor="middle" font-size="${TITLE_SIZE}" font-weight="bold" fill="#222222"`)
  ]
}

function noData (width: number, height: number, title: string): string {
  return [
    ...open(width, height, title),
    text(width / 2, height / 2, 'no data', `class="no-data" text-anchor="middle" font-size="${LABEL_SIZE + 2}" fill="#777777"`),
    '</svg>'
  ].join('\n') + '\n'
}

interface LegendEntry { name: string, color: string, dashed: boolean, shape: Shape | 'swatch' }

const LEGEND_ROW = 18
const LEGEND_KEY = 28

/** Legend width to reserve on the right: the longest name, but never more than 30% of the chart. */
function legendWidth (entries: LegendEntry[], width: number): number {
  if (entries.length === 0) return 0
  const longest = extent(entries.map(e => textWidth(e.name, LABEL_SIZE)))[1]
  return Math.min(longest + LEGEND_KEY + 4, width * 0.3)
}

function legend (entries: LegendEntry[], x: number, y: number, w: number): string[] {
  const out = ['<g class="legend">']
  entries.forEach((e, i) => {
    const cy = y + i * LEGEND_ROW + LEGEND_ROW / 2
    if (e.shape === 'swatch') {
      out.push(`<rect x="${n(x + 4)}" y="${n(cy - 6)}" width="12" height="12" fill="${e.color}"/>`)
    } else {
      out.push(`<line x1="${n(x)}" y1="${n(cy)}" x2="${n(x + 20)}" y2="${n(cy)}" stroke="${e.color}" stroke-width="2"${e.dashed ? ` stroke-dasharray="${DASH}"` : ''}/>`)
      out.push(pointMarker(e.shape, x + 10, cy, e.color))
    }
    out.push(text(x + LEGEND_KEY, cy + 4, fit(e.name, w - LEGEND_KEY, LABEL_SIZE), 'fill="#222222"'))
  })
  out.push('</g>')
  return out
}

function pointMarker (shape: Shape, x: number, y: number, color: string): string {
  const r = 3.5
  const style = `fill="${color}" stroke="#ffffff" stroke-width="1"`
  switch (shape) {
    case 'circle': return `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" ${style}/>`
    case 'square': return `<rect x="${n(x - 3.2)}" y="${n(y - 3.2)}" width="6.4" height="6.4" ${style}/>`
    case 'diamond': return `<path d="M${n(x)} ${n(y - 4.5)}L${n(x + 4.5)} ${n(y)}L${n(x)} ${n(y + 4.5)}L${n(x - 4.5)} ${n(y)}Z" ${style}/>`
    case 'triangle': return `<path d="M${n(x)} ${n(y - 4.5)}L${n(x + 4.5)} ${n(y + 3.5)}L${n(x - 4.5)} ${n(y + 3.5)}Z" ${style}/>`
    case 'triangle-down': return `<path d="M${n(x)} ${n(y + 4.5)}L${n(x + 4.5)} ${n(y - 3.5)}L${n(x - 4.5)} ${n(y - 3.5)}Z" ${style}/>`
  }
}

/** Horizontal grid, y axis with tick labels and the rotated y label. */
function yAxis (axis: Axis, labels: string[], sy: (v: number) => number, left: number, right: number, top: number, bottom: number, yLabel: string): string[] {
  const out = ['<g class="grid" stroke="#e6e6e6" stroke-width="1">']
  for (const t of axis.ticks) out.push(`<line x1="${n(left)}" y1="${n(sy(t))}" x2="${n(right)}" y2="${n(sy(t))}"/>`)
  out.push('</g>', '<g class="y-ticks" font-size="' + TICK_SIZE + '" fill="#333333" text-anchor="end">')
  axis.ticks.forEach((t, i) => {
    out.push(`<line x1="${n(left - 5)}" y1="${n(sy(t))}" x2="${n(left)}" y2="${n(sy(t))}" stroke="#333333"/>`)
    out.push(text(left - 8, sy(t) + 4, labels[i]))
  })
  out.push('</g>')
  const cy = (top + bottom) / 2
  out.push(text(PAD + 6, cy, fit(yLabel, bottom - top, LABEL_SIZE), `class="y-label" text-anchor="middle" transform="rotate(-90 ${n(PAD + 6)} ${n(cy)})" fill="#222222"`))
  return out
}

/** Left edge of the plot: room for the rotated y label and the widest tick label. */
function plotLeft (labels: string[]): number {
  return PAD + LABEL_SIZE + 8 + Math.max(0, ...labels.map(l => textWidth(l, TICK_SIZE))) + 8
}

// ---------------------------------------------------------------- line chart

function renderLine (c: LineChart, width: number, height: number): string {
  checkLine(c)
  const logX = c.logX === true
  // a point is drawable when both coordinates are finite (and x > 0 on a log axis)
  const ok = (p: { x: number, y: number }): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logX || p.x > 0)
  const finite = c.series.flatMap(s => s.points.filter(ok))
  if (finite.length === 0) return noData(width, height, c.title)
  const markers = (c.markers ?? []).filter(m => !logX || m.x > 0)

  // x domain covers the data and the markers, so a fault is never off the chart
  const xs = [...finite.map(p => p.x), ...markers.map(m => m.x)]
  const ys = finite.map(p => p.y)
  let [xLo, xHi] = extent(xs)
  if (xLo === xHi) {
    if (logX) { xLo /= 2; xHi *= 2 } else if (xLo === 0) { xHi = 1 } else { const d = Math.abs(xLo) / 2; xLo -= d; xHi += d }
  }
  const [dataLo, dataHi] = extent(ys)
  let yLo = c.yMin ?? Math.min(0, dataLo)
  let yHi = c.yMax ?? Math.max(0, dataHi)
  if (!(yHi > yLo)) {
    // all values equal (e.g. all 0), or a one-sided fixed bound above the data: open up a range on the free side
    const d = yLo === 0 ? 1 : Math.abs(yLo)
    if (c.yMax === undefined) yHi = yLo + d
    else yLo = yHi - d
  }

  const entries: LegendEntry[] = c.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], dashed: s.dashed === true, shape: SHAPES[i % SHAPES.length] }))
  const legendW = legendWidth(entries, width)
  const bottom = height - 46 // x tick labels and the x label
  const right = width - PAD - (legendW > 0 ? legendW + PAD : 0)

  const layout = (top: number): LineLayout => {
    const yAx = niceTicks(yLo, yHi, Math.max(2, Math.floor((bottom - top) / 40)), { lo: c.yMin !== undefined, hi: c.yMax !== undefined })
    const yLabels = tickLabels(yAx.ticks, formatTick)
    const left = plotLeft(yLabels)
    const plotW = Math.max(1, right - left)
    let xAx: Axis
    let xLabels: string[]
    if (logX) {
      xAx = { lo: xLo, hi: xHi, ticks: log2Ticks(xLo, xHi, Math.max(2, Math.floor(plotW / 45))) }
      xLabels = tickLabels(xAx.ticks, formatLog2Tick)
    } else {
      xAx = niceTicks(xLo, xHi, Math.max(2, Math.floor(plotW / 70)))
      xLabels = tickLabels(xAx.ticks, formatTick)
    }
    const tx = logX ? Math.log2 : (v: number): number => v
    const txLo = tx(xAx.lo)
    const txHi = tx(xAx.hi)
    const sx = (v: number): number => left + (tx(v) - txLo) / (txHi - txLo) * plotW
    const sy = (v: number): number => bottom - (v - yAx.lo) / (yAx.hi - yAx.lo) * (bottom - top)
    return { top, left, plotW, yAx, yLabels, xAx, xLabels, sx, sy, labels: placeMarkerLabels(markers, sx, left, left + plotW) }
  }
  // marker labels go above the plot, not over the data (rates often sit at 1.0, right under the top);
  // the rows they need depend on the x scale, so lay out once to count them, then again with the room
  const first = layout(PLOT_TOP)
  const rowsNeeded = Math.max(0, ...first.labels.map(l => l.row + 1))
  const { top, left, plotW, yAx, yLabels, xAx, xLabels, sx, sy, labels } = rowsNeeded === 0 ? first : layout(PLOT_TOP + rowsNeeded * MARKER_ROW)

  const out = open(width, height, c.title)
  const clip = hashId(JSON.stringify([c.title, c.series.map(x => x.name), width, height]))
  // clip to the plot (plus a marker's radius) so data outside a fixed yMin/yMax does not spill over the axes
  out.push(`<defs><clipPath id="${clip}"><rect x="${n(left - 6)}" y="${n(top - 6)}" width="${n(plotW + 12)}" height="${n(bottom - top + 12)}"/></clipPath></defs>`)
  out.push(...yAxis(yAx, yLabels, sy, left, left + plotW, top, bottom, c.yLabel))
  out.push('<g class="grid" stroke="#f0f0f0" stroke-width="1">')
  for (const t of xAx.ticks) out.push(`<line x1="${n(sx(t))}" y1="${n(top)}" x2="${n(sx(t))}" y2="${n(bottom)}"/>`)
  out.push('</g>', `<g class="x-ticks" font-size="${TICK_SIZE}" fill="#333333" text-anchor="middle">`)
  xAx.ticks.forEach((t, i) => {
    out.push(`<line x1="${n(sx(t))}" y1="${n(bottom)}" x2="${n(sx(t))}" y2="${n(bottom + 5)}" stroke="#333333"/>`)
    out.push(text(sx(t), bottom + 18, xLabels[i]))
  })
  out.push('</g>')
  out.push(`<path class="axes" d="M${n(left)} ${n(top)}V${n(bottom)}H${n(left + plotW)}" fill="none" stroke="#333333" stroke-width="1"/>`)
  out.push(text(left + plotW / 2, height - 10, fit(c.xLabel, plotW, LABEL_SIZE), 'class="x-label" text-anchor="middle" fill="#222222"'))

  // markers under the data, so a line crossing one stays visible
  out.push(...markerLines(labels, top, bottom))

  out.push(`<g clip-path="url(#${clip})">`)
  c.series.forEach((s, i) => {
    const e = entries[i]
    out.push(`<g class="series" stroke="${e.color}">`)
    // split at undrawable points: a missing value is a gap, not a straight line across it
    let run: string[] = []
    const flush = (): void => {
      if (run.length >= 2) out.push(`<polyline points="${run.join(' ')}" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${e.dashed ? ` stroke-dasharray="${DASH}"` : ''}/>`)
      run = []
    }
    for (const p of s.points) {
      if (ok(p)) run.push(`${n(sx(p.x))},${n(sy(p.y))}`)
      else flush()
    }
    flush()
    for (const p of s.points) if (ok(p)) out.push(pointMarker(e.shape as Shape, sx(p.x), sy(p.y), e.color))
    out.push('</g>')
  })
  out.push('</g>')
  out.push(...legend(entries, left + plotW + PAD, top, legendW))
  out.push('</svg>')
  return out.join('\n') + '\n'
}

interface LineLayout {
  top: number
  left: number
  plotW: number
  yAx: Axis
  yLabels: string[]
  xAx: Axis
  xLabels: string[]
  sx: (v: number) => number
  sy: (v: number) => number
  labels: MarkerLabel[]
}

interface MarkerLabel { x: number, label: string, row: number, atEnd: boolean }

const MARKER_ROW = 13

/**
 * Rows for marker labels (row 0 right above the plot), so close events such as
 * a kill and its restart do not overprint: each label goes right of its line,
 * else left of it, in the first row where it is free.
 */
function placeMarkerLabels (markers: Marker[], sx: (v: number) => number, left: number, right: number): MarkerLabel[] {
  const rows: Array<Array<[number, number]>> = []
  const placed: MarkerLabel[] = []
  // by x, ties in input order, so the result does not depend on how the caller listed events
  const order = markers.map((m, i) => ({ m, i })).sort((a, b) => a.m.x - b.m.x || a.i - b.i)
  for (const { m } of order) {
    const x = sx(m.x)
    const label = fit(m.label, (right - left) / 2, TICK_SIZE)
    const w = textWidth(label, TICK_SIZE)
    const after: [number, number] = [x + 4, x + 4 + w]
    const before: [number, number] = [x - 4 - w, x - 4]
    // widths are estimates, so a label may reach into the margin
    const sides = [after, before].filter(([a, b]) => a >= left - PAD && b <= right + PAD)
    if (sides.length === 0) sides.push(after)
    const free = (r: Array<[number, number]>, [a0, b0]: [number, number]): boolean => r.every(([a, b]) => b0 + 4 < a || a0 > b + 4)
    let row = rows.findIndex(r => sides.some(side => free(r, side)))
    if (row === -1) { rows.push([]); row = rows.length - 1 }
    const span = sides.find(side => free(rows[row], side)) ?? sides[0]
    rows[row].push(span)
    placed.push({ x, label, row, atEnd: span === before })
  }
  return placed
}

/** Vertical dashed lines from the label row down to the x axis. */
function markerLines (labels: MarkerLabel[], top: number, bottom: number): string[] {
  if (labels.length === 0) return []
  const out = ['<g class="markers">']
  const baseline = (l: MarkerLabel): number => top - 5 - l.row * MARKER_ROW
  for (const l of labels) {
    out.push(`<line class="marker" x1="${n(l.x)}" y1="${n(baseline(l) - 8)}" x2="${n(l.x)}" y2="${n(bottom)}" stroke="#555555" stroke-width="1.2" stroke-dasharray="${MARKER_DASH}"/>`)
  }
  // labels after all lines, with a white halo, so a line reaching up to a higher row does not strike through them
  for (const l of labels) {
    out.push(text(l.atEnd ? l.x - 4 : l.x + 4, baseline(l), l.label, `class="marker-label" text-anchor="${l.atEnd ? 'end' : 'start'}" font-size="${TICK_SIZE}" fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke"`))
  }
  out.push('</g>')
  return out
}

// ---------------------------------------------------------------- bar chart

function renderBar (c: BarChart, width: number, height: number): string {
  checkBar(c)
  const values = c.series.flatMap(s => s.values.filter(v => Number.isFinite(v)))
  if (c.categories.length === 0 || values.length === 0) return noData(width, height, c.title)

  const [dataLo, dataHi] = extent(values)
  let yLo = Math.min(0, dataLo)
  let yHi = Math.max(0, dataHi)
  if (yLo === yHi) yHi = 1 // all zero

  const entries: LegendEntry[] = c.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], dashed: false, shape: 'swatch' }))
  const legendW = legendWidth(entries, width)
  const right = width - PAD - (legendW > 0 ? legendW + PAD : 0)
  const top = PLOT_TOP

  // category labels: horizontal when they fit their group, else slanted (many runs side by side),
  // which needs a taller bottom margin; estimated with the plot width from a first pass
  const roughLeft = PAD + LABEL_SIZE + 8 + 5 * TICK_SIZE * 0.6 + 8
  const groupRough = Math.max(1, right - roughLeft) / c.categories.length
  const longest = extent(c.categories.map(cat => textWidth(cat, TICK_SIZE)))[1]
  const slant = longest > groupRough - 4
  const maxSlantW = Math.min(longest, height * 0.3 / Math.sin(Math.PI / 4))
  const bottom = height - (slant ? maxSlantW * Math.sin(Math.PI / 4) + 22 : 30)

  const yAx = niceTicks(yLo, yHi, Math.max(2, Math.floor((bottom - top) / 40)))
  yLo = yAx.lo
  yHi = yAx.hi
  const yLabels = tickLabels(yAx.ticks, formatTick)
  const left = plotLeft(yLabels)
  const plotW = Math.max(1, right - left)
  const sy = (v: number): number => bottom - (v - yLo) / (yHi - yLo) * (bottom - top)

  const out = open(width, height, c.title)
  out.push(...yAxis(yAx, yLabels, sy, left, left + plotW, top, bottom, c.yLabel))

  const groupW = plotW / c.categories.length
  const inner = groupW * 0.8
  const barW = inner / Math.max(1, c.series.length)
  // a 1 px gap between neighbouring bars when there is room for it
  const gap = barW > 4 ? 1 : 0
  out.push('<g class="bars">')
  c.series.forEach((s, j) => {
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return
      const x = left + i * groupW + (groupW - inner) / 2 + j * barW
      const y0 = sy(Math.max(v, 0))
      const y1 = sy(Math.min(v, 0))
      // a zero still gets a hairline, so 0 differs from "no value"
      const h = Math.max(1, y1 - y0)
      out.push(`<rect class="bar" x="${n(x + gap / 2)}" y="${n(v >= 0 ? y1 - h : y0)}" width="${n(Math.max(0.5, barW - gap))}" height="${n(h)}" fill="${entries[j].color}"/>`)
    })
  })
  out.push('</g>')

  out.push(`<g class="x-ticks" font-size="${TICK_SIZE}" fill="#333333">`)
  c.categories.forEach((cat, i) => {
    const cx = left + (i + 0.5) * groupW
    if (slant) {
      // slanted down to the right, into the free space under the legend; cut at the chart's edge
      const label = fit(cat, Math.min(maxSlantW, (width - cx - 2) / Math.cos(Math.PI / 4)), TICK_SIZE)
      out.push(text(cx, bottom + 12, label, `text-anchor="start" transform="rotate(45 ${n(cx)} ${n(bottom + 12)})"`))
    } else {
      out.push(text(cx, bottom + 18, fit(cat, groupW - 4, TICK_SIZE), 'text-anchor="middle"'))
    }
  })
  out.push('</g>')
  // the baseline at 0, which is the bottom axis unless some value is negative
  out.push(`<path class="axes" d="M${n(left)} ${n(top)}V${n(bottom)}" fill="none" stroke="#333333" stroke-width="1"/>`)
  out.push(`<line class="baseline" x1="${n(left)}" y1="${n(sy(0))}" x2="${n(left + plotW)}" y2="${n(sy(0))}" stroke="#333333" stroke-width="1"/>`)
  out.push(...legend(entries, left + plotW + PAD, top, legendW))
  out.push('</svg>')
  return out.join('\n') + '\n'
}

// ---------------------------------------------------------------- entry point

/**
 * Render a chart as a standalone SVG document. Bad input (mismatched lengths,
 * non-number values, a non-positive size) throws a RangeError naming the field;
 * a chart without any drawable value renders a "no data" SVG.
 */
export function renderSvg (chart: Chart, opts: { width?: number, height?: number } = {}): string {
  const width = checkSize(opts.width, DEFAULT_WIDTH, 'width')
  const height = checkSize(opts.height, DEFAULT_HEIGHT, 'height')
  if (chart === null || typeof chart !== 'object') throw new RangeError(`chart must be an object, got ${chart === null ? 'null' : typeof chart}`)
  switch (chart.kind) {
    case 'line': return renderLine(chart, width, height)
    case 'bar': return renderBar(chart, width, height)
    default: throw new RangeError(`kind must be 'line' or 'bar', got ${JSON.stringify((chart as { kind?: unknown }).kind)}`)
  }
}
