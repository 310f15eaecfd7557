import { InvalidMessageError } from '@sedai/core/errors'

/**
 * How file names become FTS5 terms, and queries FTS5 expressions.
 *
 * The FTS5 table uses the `unicode61` tokenizer (words split at spaces and
 * punctuation, case folded, Latin diacritics removed); this module only
 * prepares the text it sees:
 *
 * - Everything is NFKC-normalised first, so full-width Latin letters and
 *   half-width katakana index like their usual forms.
 * - Latin (and any other spaced script) stays as words: `love` matches the
 *   word "love" in "Love Song.mp3", not "glove". Napster matched words too.
 * - A run of CJK characters (Han, kana, Hangul: written without spaces) is cut
 *   into overlapping bigrams, plus the run's last character alone:
 *   "ピアツーピア入門" -> ピア アツ ツー ーピ ピア ア入 入門 門. A CJK keyword then
 *   becomes the phrase of its own bigrams, which matches exactly the names
 *   containing it as a substring, of any length >= 2 (the trigram tokenizer
 *   cannot match the many two-character words, such as 入門); a single
 *   character is a prefix query over the bigrams and trailing characters.
 */

const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]/u
const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u
/** splits text into runs of CJK letters, other letters/digits, and separators */
const RUNS = /([\p{L}\p{N}\p{M}]+)/u

function isCjk (ch: string): boolean {
  return CJK.test(ch) && WORD_CHAR.test(ch)
}

interface Run { cjk: boolean, text: string }

/** Splits normalised text into runs of word characters, each all-CJK or all-other; separators are dropped. */
function runs (text: string): Run[] {
  const out: Run[] = []
  for (const part of text.split(RUNS)) {
    if (part === '' || !WORD_CHAR.test(part)) continue
    let current: Run | undefined
    for (const ch of part) {
      const cjk = isCjk(ch)
      if (current === undefined || current.cjk !== cjk) {
        current = { cjk, text: '' }
        out.push(current)
      }
      current.text += ch
    }
  }
  return out
}

function bigrams (chars: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i] + chars[i + 1])
  return out
}

export function normalize (text: string): string {
  return text.normalize('NFKC').toLowerCase()
}

/** The text the FTS5 table indexes for a file name. */
export function indexText (name: string): string {
  const tokens: string[] = []
  for (const run of runs(normalize(name))) {
    if (!run.cjk) {
      tokens.push(run.text)
      continue
    }
    const chars = [...run.text]
    tokens.push(...bigrams(chars), chars[chars.length - 1])
  }
  return tokens.join(' ')
}

function quote (s: string): string {
  return `"${s.replaceAll('"', '""')}"`
}

export interface QueryLimits {
  maxQueryChars: number
  maxKeywords: number
}

/**
 * An FTS5 MATCH expression for a user's query: every keyword must match (AND).
 * Throws InvalidMessageError for a query that is too long, has too many
 * keywords, or nothing searchable (only punctuation).
 */
export function matchExpression (query: string, limits: QueryLimits): string {
  if (query.length > limits.maxQueryChars) throw new InvalidMessageError(`query longer than ${limits.maxQueryChars} characters`)
  const keywords = normalize(query).split(/\s+/u).filter(k => k !== '')
  const terms: string[] = []
  for (const keyword of keywords) {
    for (const run of runs(keyword)) {
      if (!run.cjk) {
        terms.push(quote(run.text))
        continue
      }
      const chars = [...run.text]
      terms.push(chars.length === 1 ? `${quote(chars[0])}*` : quote(bigrams(chars).join(' ')))
    }
  }
  if (terms.length === 0) throw new InvalidMessageError('the query has no searchable words')
  const unique = [...new Set(terms)]
  if (unique.length > limits.maxKeywords) throw new InvalidMessageError(`more than ${limits.maxKeywords} keywords`)
  return unique.join(' AND ')
}
