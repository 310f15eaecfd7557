/**
 * Sign-in, shared by the node dashboard (main.ts) and the lab view (lab.ts).
 * The server never puts its token in the page (any local process can fetch
 * the page; the token's file is readable by its owner only): the user pastes
 * it. It is kept in sessionStorage, which only this origin (scheme, host and
 * port) can read, until the tab closes; a token the server refuses is dropped.
 */
import { ApiClient } from './api.ts'
import { byId } from './dom.ts'

/**
 * An ApiClient with a token the server accepts: the saved one, else one the
 * user types into the page's #login form. `refused` is shown under the form
 * when the server says no.
 */
export async function signIn (key: string, refused: string): Promise<ApiClient> {
  const saved = sessionStorage.getItem(key)
  if (saved !== null) {
    const c = new ApiClient(saved)
    if (await c.accepted()) return c
    sessionStorage.removeItem(key)
  }
  const panel = byId('login')
  panel.hidden = false
  const input = byId<HTMLInputElement>('login-token')
  input.focus()
  return await new Promise((resolve) => {
    byId<HTMLFormElement>('login-form').addEventListener('submit', (e) => {
      e.preventDefault()
      const token = input.value.trim()
      if (token === '') return
      const c = new ApiClient(token)
      void c.accepted().then((ok) => {
        if (!ok) {
          byId('login-status').textContent = refused
          return
        }
        sessionStorage.setItem(key, token)
        input.value = ''
        panel.hidden = true
        resolve(c)
      })
    })
  })
}

/** The header's status badge. */
export function setStatus (text: string, kind: 'connecting' | 'live' | 'error'): void {
  const status = byId('status')
  status.textContent = text
  status.dataset.state = kind
}
