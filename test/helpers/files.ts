import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

/** Writes `size` random bytes to `path`, 1 MiB at a time. */
export async function writeRandomFile (path: string, size: number): Promise<void> {
  const fh = await open(path, 'w')
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(1 << 20, size - done)
      await fh.write(randomBytes(n))
      done += n
    }
  } finally {
    await fh.close()
  }
}

export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk)
  return hash.digest('hex')
}
