/** Small DOM and formatting helpers: text goes in as text, never as HTML. */

type Child = Node | string | number | undefined

export function el<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  for (const c of children) if (c !== undefined) node.append(typeof c === 'number' ? String(c) : c)
  return node
}

export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`#${id} is missing from the page`)
  return node as T
}

export function bytes (n: number | undefined): string {
  if (n === undefined) return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export function rate (n: number): string {
  return `${bytes(n)}/s`
}

/** A peer id shortened for a table or a graph label; the whole id goes in a title. */
export function shortId (id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id
}
