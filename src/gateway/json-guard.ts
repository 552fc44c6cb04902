/**
 * A linear pre-scan of a hostile JSON body before JSON.parse (s15 red team,
 * gateway finding 1). The client reads up to 64 MiB of attestation answer
 * from whatever server the gateway URL reaches, before any check. JSON.parse
 * builds one heap object per container and one slot per value: nested
 * arrays cost ~29 bytes of heap per input byte, `[{},{},…]` ~22, and even a
 * flat `[0.5,0.5,…]` ~7 (measured on Node 20), so a 64 MiB answer could take
 * the process past a 1 GiB heap. A genuine answer is a few long base64 / hex
 * / PEM strings in a handful of small objects, which cost about their size.
 *
 * The scan (src/net/json-shape.ts, shared with `tee-verify serve`) follows string state (with escapes) and counts, outside strings,
 * the nesting depth, the containers (`[`, `{`) and the separators (`,`). It
 * refuses before JSON.parse when any bound is passed, so what JSON.parse
 * builds is bounded by those counts plus the strings: at most about twice
 * their bytes, because each invalid UTF-8 byte decodes to a U+FFFD, which
 * makes the decoded text (and the parsed string) two bytes per character.
 * With the decoded text itself that is about 4x the answer at worst (64 MiB
 * of 0xFF in one string: ~268 MB of heap, s15 change review), about 2x for
 * ASCII.
 * It runs on the bytes (UTF-8: the structural bytes are ASCII and never
 * occur inside a multi-byte sequence), skips each string with Buffer.indexOf,
 * and stops at the first bound passed. It does not validate JSON: malformed
 * text is left to JSON.parse, which fails on it.
 *
 * Bounds against the real answers:
 * - POST /v1/attestation (plain and vTPM): depth 5 (answer > vtpm > tpm >
 *   quotes > quote, or > pcrs > bank), a few dozen containers, a few hundred
 *   values (24 PCRs per bank, 4 banks).
 * - POST /aTLS: depth 6 (answer > evidence > quote > pcr_banks > bank >
 *   pcr_values); `module_load_order.order` lists the kernel modules found in
 *   the IMA list (a few hundred on a general-purpose kernel).
 */
import { jsonShapeRefusal as shapeRefusal, type JsonShapeBounds } from '../net/json-shape.js';

/**
 * Far above what any answer of the gateway's protocols holds, far below what costs memory. Members
 * are bounded only through the separators and escapes not at all: they cost the parser time, not
 * memory, and an answer's PEM strings hold many `\n` escapes.
 */
export const ANSWER_JSON_LIMITS: JsonShapeBounds = { maxDepth: 32, maxContainers: 10_000, maxSeparators: 100_000, maxMembers: 100_000, maxEscapes: Number.POSITIVE_INFINITY };

/** Why `body` must not reach JSON.parse (the first bound it passes), or undefined: the shared scan of src/net/json-shape.ts. */
export function jsonShapeRefusal(body: Buffer, limits: JsonShapeBounds = ANSWER_JSON_LIMITS): string | undefined {
  return shapeRefusal(body, limits)?.message;
}

/** A non-200 answer is parsed for its `error.code` only up to this size; a longer one reports its status alone. */
export const ERROR_BODY_PARSE_MAX_BYTES = 64 * 1024;

/**
 * The `error.code` of a JSON error answer (`{"error":{"code":...}}`), if it is a plausible code.
 * Only a short body that passes the pre-scan is parsed: only that one member is read.
 */
export function errorCodeOf(body: Buffer): string | undefined {
  if (body.length > ERROR_BODY_PARSE_MAX_BYTES || jsonShapeRefusal(body) !== undefined) return undefined;
  try {
    const code = (JSON.parse(body.toString('utf8')) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The start of an answer for a message (`chars` characters), without decoding the rest of it. */
export function answerExcerpt(body: Buffer, chars = 300): string {
  return body.toString('utf8', 0, Math.min(body.length, chars * 4)).slice(0, chars);
}
