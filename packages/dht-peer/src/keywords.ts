import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

/**
 * Keyword search on top of a hash table that only finds exact keys (the
 * scheme of eMule's Kad, docs/DHT.md): a file name is normalized and cut into
 * keywords; each keyword is hashed into a DHT key under which the holder
 * publishes a provider record ("I have files matching this keyword").
 *
 * Normalization: NFKC (full-width ASCII and half-width katakana fold to
 * their usual forms), then lower case. Tokens: runs of letters and digits;
 * a run of Japanese script (kanji, hiragana, katakana, the long vowel mark)
 * has no spaces between words, so it is cut into overlapping character
 * bigrams, the usual n-gram indexing of CJK text (as in Lucene's CJKAnalyzer):
 * "ピアツーピア入門" -> ピア, アツ, ツー, ーピ, 入門 ... A query is cut the same
 * way and a file matches when it has every query token, so "入門" and "ピアツ"
 * (ピア + アツ) both find it. A lone Japanese character is kept as a unigram.
 * Latin words shorter than MIN_WORD_CHARS are dropped (too common to be a
 * useful key: every peer would provide "a").
 */
export const MIN_WORD_CHARS = 2
/** Longest token kept, in characters; longer words are cut (a DHT key does not need more). */
export const MAX_TOKEN_CHARS = 64

const JAPANESE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u30fc\u3005]/u
const WORD_RUN = /[\p{L}\p{N}\u30fc\u3005]+/gu

export function normalize (text: string): string {
  return text.normalize('NFKC').toLowerCase()
}

/** The keywords of `text`, normalized, without duplicates, in order of first appearance. */
export function keywords (text: string, max = Infinity): string[] {
  const out = new Set<string>()
  const add = (token: string): void => {
    if (out.size < max) out.add([...token].slice(0, MAX_TOKEN_CHARS).join(''))
  }
  for (const [run] of normalize(text).matchAll(WORD_RUN)) {
    // split a run where it switches between Japanese and other script
    let segment: string[] = []
    let japanese = false
    const flush = (): void => {
      if (segment.length === 0) return
      if (japanese) {
        if (segment.length === 1) add(segment[0])
        for (let i = 0; i + 1 < segment.length; i++) add(segment[i] + segment[i + 1])
      } else if (segment.length >= MIN_WORD_CHARS) {
        add(segment.join(''))
      }
      segment = []
    }
    for (const ch of run) {
      const isJa = JAPANESE.test(ch)
      if (segment.length > 0 && isJa !== japanese) flush()
      japanese = isJa
      segment.push(ch)
    }
    flush()
  }
  return [...out]
}

/** True when `fileKeywords` holds every keyword of the query (an AND search). */
export function matches (fileKeywords: Iterable<string>, query: string[]): boolean {
  const have = new Set(fileKeywords)
  return query.length > 0 && query.every(k => have.has(k))
}

/** Multicodec `raw`: the keyword key is a hash, not the CID of any content. */
export const RAW_CODEC = 0x55
/** Multihash sha2-256. */
export const SHA256_CODE = 0x12
/** Prefix of the hashed string, so a keyword key can never equal a content or peer key. */
export const KEYWORD_KEY_PREFIX = 'kw:'

/** The DHT key of a (normalized) keyword: CIDv1(raw, sha2-256("kw:" + keyword)). */
export function keywordCid (keyword: string): CID {
  const hash = createHash('sha256').update(KEYWORD_KEY_PREFIX + keyword, 'utf8').digest()
  return CID.createV1(RAW_CODEC, Digest.create(SHA256_CODE, new Uint8Array(hash)))
}
