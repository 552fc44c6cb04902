/**
 * Text from evidence, certificates, collateral or library messages as the
 * CLI prints it. Such text can hold control characters (a certificate CN
 * with ESC [2J, a C1 CSI U+009B): written raw, it would drive the user's
 * terminal, erase the report above or forge a "TRUSTED" line (review,
 * session 6). Our own text has none; styling (io.ts) is applied after.
 */

/**
 * C0 and C1 controls, DEL, the line / paragraph separators and the bidi
 * marks, embeddings, overrides and isolates (they can reorder how a line
 * reads: Trojan Source).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A control character as visible text: \xNN below U+0100, \u{NNNN} above. */
function visible(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
}

/** One line for a terminal: every character above visible, newline and tab too (a line break could forge a report line). */
export function lineSafe(text: string): string {
  return text.replace(UNSAFE_IN_LINE, visible);
}

/** What JSON.stringify leaves raw but a terminal acts on: DEL, C1 controls, separators, bidi controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text (indented by 2) with every control character escaped: JSON.stringify
 * escapes C0 controls only. The escapes are JSON's own (\u009b), so a parser
 * reads back exactly the same value.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** jsonText on one line (no indentation), for JSONL and single-line JSON files: batch's results and summary. */
export const jsonLine = (value: unknown): string => JSON.stringify(value).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
