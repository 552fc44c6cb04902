/**
 * A linear pre-scan of a hostile JSON request body, before the strict parser
 * (s15 red team, service finding 3). The strict parser
 * (src/collateral/strict-json.ts) costs about 4 us per object member, 0.5 us
 * per array value and 0.3 us per string escape, against ~4 ns per byte of a
 * plain string: a 512 KiB body of 60 000 members, or of arrays nested and
 * repeated, took 75–150 ms of the event loop to parse (and as much again to
 * canonicalise as runtime data), about 30 times a junk body of the same size,
 * before any limit applied. A genuine body is a few long base64 strings in a
 * handful of small objects (and at most a policy document), so bounding the
 * counts bounds the parse to a few milliseconds whatever the bytes.
 *
 * The scan follows string state (with escapes) and counts, outside strings,
 * the nesting depth, the containers (`[`, `{`), the object members (`:`) and
 * the separators (`,`), and inside strings the backslashes. It stops at the
 * first bound passed. It runs on the bytes (UTF-8: the structural bytes are
 * ASCII and never occur inside a multi-byte sequence) and skips each string
 * with Buffer.indexOf (about 1 ms for 512 KiB of any shape). It does not validate JSON: malformed text is left to
 * the parser, which refuses it.
 *
 * (src/gateway/json-guard.ts applies it to the gateway client's answers and chat stream items, with its own bounds and no
 * escape counts.)
 */

export interface JsonShapeBounds {
  /** Nesting depth of arrays and objects (the top level is 1). */
  maxDepth: number;
  /** `[` and `{` outside strings. */
  maxContainers: number;
  /** `:` outside strings: object members. */
  maxMembers: number;
  /** `,` outside strings (one fewer than the values of each array and object). */
  maxSeparators: number;
  /** Backslashes inside strings (escapes). */
  maxEscapes: number;
}

/** Why a body must not reach the parser: `depth` (nested too deep) or `count` (too many of something). */
export interface JsonShapeRefusal {
  kind: 'depth' | 'count';
  message: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * The first bound `body` passes, or undefined. Linear in the bytes: each string is skipped with
 * indexOf, backslashes are found with indexOf (each byte searched once over the whole body), and a
 * quote's preceding backslashes are counted back only as far as the previous quote.
 */
export function jsonShapeRefusal(body: Uint8Array, bounds: JsonShapeBounds): JsonShapeRefusal | undefined {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length);
  const n = bytes.length;
  let depth = 0;
  let containers = 0;
  let members = 0;
  let separators = 0;
  let escapes = 0;
  const countEscapes = Number.isFinite(bounds.maxEscapes);
  /** The position of the next backslash at or after the current string's start; -1 when there is none left. */
  let nextBackslash = -2;
  const count = (message: string): JsonShapeRefusal => ({ kind: 'count', message });
  let i = 0;
  while (i < n) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      // The closing quote: the next one preceded by an even number of backslashes.
      let j = bytes.indexOf(QUOTE, i + 1);
      for (;;) {
        // Unterminated: the parser refuses it, but only after decoding its escapes, so they are
        // counted to the end first (s15 change review: 262 000 escapes in an unclosed string cost
        // the parser 100-200 ms).
        if (j < 0) {
          j = n;
          break;
        }
        let k = j - 1;
        while (k > i && bytes[k] === BACKSLASH) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = bytes.indexOf(QUOTE, j + 1);
      }
      // The backslashes inside it; the next one found is kept across strings, so the searches together read each byte once.
      // (Not counted at all under an infinite bound: the gateway's answers, whose PEM strings hold many.)
      if (countEscapes && nextBackslash !== -1 && nextBackslash <= i) nextBackslash = bytes.indexOf(BACKSLASH, i + 1);
      while (countEscapes && nextBackslash !== -1 && nextBackslash < j) {
        if (++escapes > bounds.maxEscapes) return count(`more than ${bounds.maxEscapes} escapes in JSON strings`);
        nextBackslash = bytes.indexOf(BACKSLASH, nextBackslash + 1);
      }
      i = j + 1;
      continue;
    }
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > bounds.maxDepth) return { kind: 'depth', message: `JSON nested deeper than ${bounds.maxDepth} levels` };
      if (++containers > bounds.maxContainers) return count(`more than ${bounds.maxContainers} JSON arrays and objects`);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    } else if (c === COLON) {
      if (++members > bounds.maxMembers) return count(`more than ${bounds.maxMembers} JSON object members`);
    } else if (c === COMMA) {
      if (++separators > bounds.maxSeparators) return count(`more than ${bounds.maxSeparators} JSON values`);
    }
    i++;
  }
  return undefined;
}
