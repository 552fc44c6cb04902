/**
 * The attested terminal chat behind `tee-verify chat` (src/cli/chat.ts parses
 * the command line): verify the gateway against the caller's policy, print
 * what was verified, and only then send prompts, streaming each answer as it
 * arrives. One-shot (`prompt`), interactive (lines from `stdin`, the
 * conversation kept as history) or `json` (one object: verification + answer).
 * A refusal sends nothing and names the reason and check ids. The client
 * re-attests on its own (trust expired, or a new TLS key after a restart):
 * every verification a turn relied on is shown before that turn's answer
 * when it is not the one shown last.
 */
import { createInterface } from 'node:readline';
import type { ReadableStream } from 'node:stream/web';

import { kindOfKey } from '../collateral/keys.js';
import { InvalidArgumentError } from '../errors.js';
import { AttestedClient, type AttestedClientOptions } from './client.js';
import { AttestationRefusedError } from './errors.js';
import { isLocalFault, type GatewayVerification } from './verify.js';
import { jsonShapeRefusal } from './json-guard.js';
import { jsonLine } from '../cli/terminal-text.js';

export interface ChatIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Lines for the interactive mode. */
  stdin?: NodeJS.ReadableStream;
  /** A person types at a terminal: show a prompt before each line. */
  interactive?: boolean;
  /**
   * stdout is a terminal this wide: the answer is wrapped (AnswerFrame) before the terminal would
   * wrap it, so no line of it starts without its mark (s16 chat change review #2).
   */
  columns?: number;
}

export type ChatApi = 'ollama' | 'openai';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatSessionOptions {
  gateway: string;
  client: AttestedClientOptions;
  api: ChatApi;
  model: string;
  token?: string;
  /** One-shot: this prompt, then exit. Without it: interactive. */
  prompt?: string;
  /** One JSON object on stdout (needs `prompt`). */
  json?: boolean;
  /** The most bytes of one answer kept: a whole number from 1 to MAX_ANSWER_BYTES (the default, 64 MiB); anything else is ERR_INVALID_ARGUMENT. */
  maxAnswerBytes?: number;
  /**
   * The longest one answer may take, from sending the request to its end marker, in ms: default
   * ANSWER_TIMEOUT_MS (600 s), 0 = none; a whole number from 0 to MAX_TIMER_MS, anything else is
   * ERR_INVALID_ARGUMENT. Past it the request is aborted: ERR_CHAT_UNAVAILABLE, exit 3.
   */
  answerTimeoutMs?: number;
}

/**
 * Exit codes, as the tee-verify CLI uses them (docs/cli.md). 3: retry later, nothing was judged
 * (collateral unavailable, the gateway unreachable or answering 5xx, or its attestation rate limit
 * still refused after the client's one retry); `collateralUnavailable` is its older name.
 */
export const CHAT_EXIT = { ok: 0, refused: 1, error: 2, retryable: 3, collateralUnavailable: 3, internal: 70 } as const;

/** Socket errors that say the gateway cannot be reached now, not that it is untrustworthy. */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** A network failure anywhere in the cause chain (a few levels: the client wraps the socket's error). */
function isNetworkFailure(e: unknown, depth = 0): boolean {
  if (typeof e !== 'object' || e === null || depth > 4) return false;
  const code = (e as { code?: unknown }).code;
  return (typeof code === 'string' && NETWORK_ERRORS.has(code)) || isNetworkFailure((e as { cause?: unknown }).cause, depth + 1);
}

/** A non-200 answer to a chat request (after the gateway was verified). */
class GatewayAnswerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A refusal that says nothing about the gateway's TEE and may pass later: exit 3, not 1 (review s8,
 * finding 5: a gateway that cannot be reached or answers 5xx was not judged, so it was not refused;
 * review s9, finding 3: nor one that timed out or closed before its answer, `details.transient`).
 */
function retryable(e: AttestationRefusedError): boolean {
  if (e.code === 'ERR_ATTEST_COLLATERAL_UNAVAILABLE' || e.details.transient !== undefined) return true;
  if (e.code !== 'ERR_ATTEST_EXCHANGE') return false;
  const status = e.details.status;
  return status === undefined ? isNetworkFailure(e.details.cause) : status === 429 || status >= 500;
}

/** The same for failures after the verification: the chat request's 5xx or a dropped connection. */
function unavailable(e: unknown): boolean {
  return (e instanceof GatewayAnswerError && e.status >= 500) || e instanceof IncompleteAnswerError || e instanceof AnswerTimeoutError || isNetworkFailure(e);
}

/**
 * The answer stream ended without the API's end marker (Ollama's `done: true`, OpenAI's
 * `data: [DONE]`): what arrived may be cut short, so it is not an answer (review s9, finding 4).
 */
class IncompleteAnswerError extends Error {
  readonly code = 'ERR_CHAT_UNAVAILABLE';
}

/**
 * No complete answer within the answer timeout: the request was aborted (s16 red team chat #2). The
 * byte bounds alone let a backend (or a stuck model) that sends an empty piece or an SSE comment now
 * and then, each resetting the gateway's idle timer, hold the chat for ever. Exit 3, as an answer
 * that ended early: nothing says the gateway is untrustworthy.
 */
class AnswerTimeoutError extends Error {
  readonly code = 'ERR_CHAT_UNAVAILABLE';
}

/** The default longest one answer may take (the CLI's --answer-timeout 600): a long answer of a slow model fits, a backend that drips empty pieces does not hold the chat for ever. */
export const ANSWER_TIMEOUT_MS = 600_000;

/** The longest timer Node keeps (a larger delay fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `answerTimeoutMs` as given (0: none), else `fallback`; a whole number of ms from 0 to MAX_TIMER_MS, anything else ERR_INVALID_ARGUMENT. */
function answerDeadline(answerTimeoutMs: unknown, fallback: number): number {
  if (answerTimeoutMs === undefined) return fallback;
  if (typeof answerTimeoutMs !== 'number' || !Number.isSafeInteger(answerTimeoutMs) || answerTimeoutMs < 0 || answerTimeoutMs > MAX_TIMER_MS) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `answerTimeoutMs must be a whole number of ms from 0 (none) to ${MAX_TIMER_MS}, not ${typeof answerTimeoutMs === 'number' ? String(answerTimeoutMs) : typeof answerTimeoutMs}`);
  }
  return answerTimeoutMs;
}

/**
 * The longest line of an answer stream, in bytes without its line end. A model's answer comes as many
 * short lines (one NDJSON object or SSE event per piece), so a longer one is a backend that does not
 * speak the stream format; without a bound one line with no line end grew in memory until the stream
 * ended (review s9 changes b, R2).
 */
export const MAX_ANSWER_LINE_BYTES = 1 << 20;

/**
 * The most bytes of one answer the chat keeps (its body, read as it came: the chat asks for and
 * accepts only `identity` content coding, so these are the bytes on the wire too), 64 MiB as the
 * gateway's default `maxResponseBytes`. Review s14, finding 1: undici's fetch inflates any
 * `Content-Encoding` the server sends, so a gzip answer the gateway let through under its cap (which
 * counts the compressed bytes) grew ~1000x in the chat's memory. A longer answer is the format
 * refusal (ERR_CHAT, exit 2). `streamChat`'s `maxAnswerBytes` lowers it (library callers and tests).
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * `maxAnswerBytes` as given, else MAX_ANSWER_BYTES. It can only lower the bound: a whole number from 1
 * to MAX_ANSWER_BYTES; anything else (NaN, which turned the bound off since `bytes > NaN` is never
 * true, Infinity, a larger number, a fraction, zero, a negative, a non-number) is ERR_INVALID_ARGUMENT
 * naming the option (s14 change review, R3).
 */
function answerBound(maxAnswerBytes: unknown): number {
  if (maxAnswerBytes === undefined) return MAX_ANSWER_BYTES;
  if (typeof maxAnswerBytes !== 'number' || !Number.isSafeInteger(maxAnswerBytes) || maxAnswerBytes < 1 || maxAnswerBytes > MAX_ANSWER_BYTES) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `maxAnswerBytes must be a whole number of bytes from 1 to ${MAX_ANSWER_BYTES} (it only lowers the answer bound), not ${typeof maxAnswerBytes === 'number' ? String(maxAnswerBytes) : typeof maxAnswerBytes}`);
  }
  return maxAnswerBytes;
}

/** How much of a non-200 answer's body is read to quote it in the error (the rest is not read: the body is cancelled). */
export const ERROR_BODY_QUOTE_BYTES = 300;

/**
 * The backend broke the answer stream's format (a line over MAX_ANSWER_LINE_BYTES, an item that is not
 * a JSON object, content that is not a string): an error of the backend, like an error it reports, not
 * an outage that waiting heals (exit 2, `ERR_CHAT`).
 */
class AnswerFormatError extends Error {
  readonly code = 'ERR_CHAT';
}

/**
 * An NDJSON line or SSE event that begins as a JSON object but does not parse (review s12 change
 * review, finding 1: it was the bare SyntaxError of JSON.parse). The format refusal like the others,
 * except for the stream's last line, which may just be cut off mid-object: streamChat reads that as an
 * answer that ended early. Text that cannot be the start of an object (an HTML page) is the plain
 * format refusal wherever it stands (s12 change review of that fix, finding 2).
 */
class AnswerNotJsonError extends AnswerFormatError {}

/** The verification, one line each, safe for a terminal (see lineSafe). */
export function describeVerification(v: GatewayVerification): string[] {
  const measured = Object.keys(v.measurements);
  const lines = [
    `TEE: ${v.tee}${v.debug ? ' (DEBUG)' : ''}`,
    `TCB status: ${v.tcbStatus ?? 'n/a (SEV-SNP: minimum TCB by policy)'}${v.advisoryIds.length ? `, advisories ${v.advisoryIds.join(', ')}` : ''}`,
    `measurements accepted by the policy (${measured.length}): ${Object.entries(v.measurements).map(([k, x]) => `${k}=${x.slice(0, 16)}…`).join(' ')}`,
    `TLS certificate SHA-256: ${v.certificateSha256}${v.evidenceIn === 'handshake' ? ' (this connection\'s own, carrying the evidence: evidence in the handshake)' : ''}`,
    `bound TLS key (SPKI SHA-256): ${v.spkiSha256}`,
    `verified at ${v.at}, trusted until ${v.validUntil} at most`,
    ...(v.vtpm
      ? [
          `vTPM: attestation key bound by the hardware report (TPMT_PUBLIC SHA-256 ${v.vtpm.akSha256}), quote over ${v.vtpm.quoted.join(', ')}`,
          `vTPM: boot event log ${v.vtpm.eventLogEvents === undefined ? 'absent' : `replayed (${v.vtpm.eventLogEvents} events)`}, IMA list ${v.vtpm.imaEntries === undefined ? 'absent' : `replayed (${v.vtpm.imaEntries} entries, boot_aggregate ${v.vtpm.bootAggregate})`}`,
          `vTPM: reference list ${v.vtpm.reference ?? 'none (the policy has no vtpm section, or it judges PCRs only)'}`,
        ]
      : []),
    ...v.warnings.map((w) => `warning: ${w}`),
  ];
  // Our text has no control characters; the values from the evidence (TCB status and advisory ids
  // from Intel's TCB info, measurement names, warnings, the reference list's name) might.
  return lines.map(lineSafe);
}

/** The one-line notice of a renewal: the same key and claims, verified again. */
function renewalLine(v: GatewayVerification): string {
  return lineSafe(
    `re-verified the same TLS key (trust renewed): TCB status ${v.tcbStatus ?? 'n/a'}${v.advisoryIds.length ? `, advisories ${v.advisoryIds.join(', ')}` : ''}, verified at ${v.at}, trusted until ${v.validUntil} at most`,
  );
}

/** Everything a verification says but its instant and expiry: what a renewal must leave unchanged. */
function claimsOf(v: GatewayVerification): string {
  return JSON.stringify({ ...v, at: undefined, validUntil: undefined });
}

/**
 * What to show when a turn relied on `next` while the terminal last showed
 * `shown`: a NEW key gets a header and the whole verification; the same key
 * with the same claims a one-line renewal notice; the same key with changed
 * claims (TCB status, advisories, certificate, ...) the whole verification again.
 */
export function describeReverification(shown: GatewayVerification, next: GatewayVerification): string[] {
  if (next.spkiSha256 !== shown.spkiSha256) return ['the gateway presented a NEW TLS key; re-verified:', ...describeVerification(next).map((l) => `  ${l}`)];
  if (claimsOf(next) === claimsOf(shown)) return [renewalLine(next)];
  return ['re-verified the same TLS key, and the verification CHANGED:', ...describeVerification(next).map((l) => `  ${l}`)];
}

/**
 * Text from the backend as a terminal may show it: C0 controls but newline and tab, DEL and C1
 * controls are written as visible \xNN, bidi embeddings, overrides and isolates as \u{NNNN}. A
 * model (or a prompt injected into it) must not drive the
 * user's terminal: OSC 52 writes the clipboard, cursor moves could erase the verification lines
 * above or forge them (review, session 3). The returned answer keeps the exact text (--json).
 */
export function terminalSafe(text: string): string {
  // U+2028 / U+2029 too: a terminal that broke the line at them would start an answer line without
  // its mark (AnswerFrame; s16 red team chat #3).
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, visible);
}

/**
 * What every line of the model's answer starts with on the terminal. None of the client's own lines
 * (the verification, re-verification notices, `you> `, `refused (…)`, `chat: …`) starts with it, so
 * the answer cannot pass for one of them (s16 red team chat #3: a plain newline let it print
 * "the gateway presented a NEW TLS key; re-verified:" and a fake verification block, byte for byte).
 */
export const ANSWER_MARK = '│ ';

/**
 * The answer as the terminal shows it: terminal-safe text (newline and tab the only controls left)
 * with ANSWER_MARK before the first character of each line; an empty line stays empty (it carries no
 * text to mistake). `end()` closes a line the answer left open, so whatever follows (an error on
 * stderr, a notice, the next prompt) starts at column 0 of its own line (a backend error after a
 * partial answer shared the answer's last line).
 */
class AnswerFrame {
  #lineOpen = false;
  /** Columns used on the current line (the mark included), counted conservatively (see #width). */
  #column = 0;

  /** `columns`: the terminal's width, when stdout is one; lines are then broken (and marked) before it. */
  constructor(readonly out: (text: string) => void, readonly columns?: number) {}

  /**
   * An upper bound of a character's display width: 1 for printable ASCII, 8 for a tab, 2 for
   * anything else. Over-counting only breaks a line early (one more marked line); under-counting
   * would let the terminal wrap it, starting a line without its mark.
   */
  static #width(c: string): number {
    const n = c.codePointAt(0)!;
    return c === '\t' ? 8 : n >= 0x20 && n < 0x7f ? 1 : 2;
  }

  #open(): string {
    this.#lineOpen = true;
    // The mark's own width, counted as #width counts: U+2502 is ambiguous-width (2 in East Asian terminals).
    this.#column = [...ANSWER_MARK].reduce((w, c) => w + AnswerFrame.#width(c), 0);
    return ANSWER_MARK;
  }

  readonly write = (text: string): void => {
    let framed = '';
    const limit = this.columns !== undefined && this.columns > ANSWER_MARK.length + 8 ? this.columns : undefined;
    text.split('\n').forEach((line, i) => {
      if (i > 0) {
        framed += '\n';
        this.#lineOpen = false;
      }
      if (line === '') return;
      if (!this.#lineOpen) framed += this.#open();
      if (limit === undefined) {
        framed += line;
        return;
      }
      for (const c of line) {
        const w = AnswerFrame.#width(c);
        // Break before the terminal would: the next line starts with the mark (s16 chat change review #2).
        if (this.#column + w > limit) framed += `\n${this.#open()}`;
        framed += c;
        this.#column += w;
      }
    });
    if (framed) this.out(framed);
  };

  end(): void {
    if (!this.#lineOpen) return;
    this.#lineOpen = false;
    this.out('\n');
  }
}

/** A control character as visible text: \xNN below 0x100, \u{NNNN} above. */
function visible(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
}

/** One line of our own output with values from the evidence in it: every control character visible, newline and tab too (a line break could forge a verification line). */
export function lineSafe(text: string): string {
  // Bidi embeddings, overrides, isolates and marks, and the line / paragraph separators, too: they
  // could reorder how a verification line reads (Trojan Source). The model's text keeps the marks
  // (they occur in right-to-left prose) and loses the embeddings, overrides and isolates.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, visible);
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Cuts a byte stream into lines, in time linear in its length: each chunk is scanned once, and the
 * bytes of a line not ended yet are kept as they came, joined only once the line ends (review s9
 * changes b, R2: the whole text kept so far was searched again on every chunk). A line ends at LF,
 * a CR before it dropped; with `lineEndCr` (server-sent events, WHATWG HTML 9.2.6) also at a lone
 * CR, and a LF right after a CR, even in the next chunk, belongs to that CR (R4). NDJSON lines end
 * at LF only: a CR may be JSON white space inside one. Each line is decoded as UTF-8 on its own (CR
 * and LF never occur inside a multi-byte sequence). `stop()` true ends the reading: the bytes after
 * are not looked at.
 */
class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The last line ended at a CR (SSE): a LF first in the next chunk is part of that line end. */
  #afterCr = false;
  /** A byte-order mark starts the stream only, not each line. */
  #first = true;

  constructor(
    readonly lineEndCr: boolean,
    readonly line: (text: string) => void,
    readonly stop: () => boolean = () => false,
  ) {}

  push(bytes: Uint8Array): void {
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let start = 0;
    if (this.#afterCr && chunk.length > 0) {
      this.#afterCr = false;
      if (chunk[0] === LF) start = 1;
    }
    // The next LF and CR at or after `start` (-1: none); each is searched again only once passed.
    let lf = chunk.indexOf(LF, start);
    let cr = this.lineEndCr ? chunk.indexOf(CR, start) : -1;
    while (lf >= 0 || cr >= 0) {
      const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf;
      this.#emit(chunk, start, end);
      start = end + 1;
      if (end === cr) {
        if (start === chunk.length) this.#afterCr = true;
        else if (chunk[start] === LF) start += 1;
      }
      if (this.stop()) return;
      if (lf >= 0 && lf < start) lf = chunk.indexOf(LF, start);
      if (cr >= 0 && cr < start) cr = chunk.indexOf(CR, start);
    }
    if (start < chunk.length) {
      this.#check(chunk.length - start, chunk[chunk.length - 1] === CR);
      // A copy: the chunk's memory may be reused by whoever produced it.
      this.#pending.push(Buffer.from(chunk.subarray(start)));
      this.#pendingBytes += chunk.length - start;
    }
  }

  /** The stream ended: a last line without its line end is a line too. */
  finish(): void {
    if (this.#pendingBytes > 0) this.#emit(Buffer.alloc(0), 0, 0);
  }

  /** `endsInCr`: the bytes so far end in a CR, which in NDJSON is the start of a CRLF line end, not counted (review s9 changes-e #2). */
  #check(more: number, endsInCr: boolean): void {
    if (this.#pendingBytes + more > MAX_ANSWER_LINE_BYTES + (endsInCr && !this.lineEndCr ? 1 : 0)) {
      throw new AnswerFormatError(`the answer stream has a line longer than ${MAX_ANSWER_LINE_BYTES} bytes: not the backend's answer format (the backend misbehaves)`);
    }
  }

  /** The line made of the bytes kept so far and chunk[start, end). */
  #emit(chunk: Buffer, start: number, end: number): void {
    const last = end > start ? chunk[end - 1] : this.#pending.at(-1)?.at(-1);
    this.#check(end - start, last === CR);
    let text: string;
    if (this.#pending.length === 0) {
      text = chunk.toString('utf8', start, end);
    } else {
      this.#pending.push(chunk.subarray(start, end));
      text = Buffer.concat(this.#pending, this.#pendingBytes + end - start).toString('utf8');
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    if (this.#first) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // NDJSON may end its lines with CRLF.
    this.line(!this.lineEndCr && text.endsWith('\r') ? text.slice(0, -1) : text);
  }
}

/**
 * Reads a streamed answer line by line (lines from LineSplitter): Ollama's NDJSON, one JSON object a
 * line ending with `done: true`, or OpenAI's server-sent events, whose `data:` lines make up an event
 * that a blank line ends, the last one `[DONE]`. SSE comments (`: keep-alive`) and the `event:`,
 * `id:` and `retry:` fields carry no text and are skipped (review s9, finding 4: a comment was
 * parsed as JSON).
 */
class AnswerStream {
  /** The API's end marker arrived; anything after it is ignored. */
  done = false;
  /** OpenAI: the data lines of the event being read. */
  #data: string[] = [];

  constructor(
    readonly api: ChatApi,
    readonly piece: (text: string) => void,
  ) {}

  line(line: string): void {
    if (this.done) return;
    if (this.api === 'ollama') {
      if (line.trim()) this.#ollama(line);
      return;
    }
    if (line === '') return this.#event();
    if (line.startsWith(':')) return; // a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    // Other fields (event, id, retry, unknown ones) say nothing about the text.
    if (field === 'data') this.#data.push(colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, ''));
  }

  /**
   * The end of the stream: an event still open counts (a last blank line may be missing). WHATWG
   * drops such an event; we depart from it on purpose, for the end marker only matters: a complete
   * `data: [DONE]` line arrived, so the answer before it is whole, and any other unterminated event
   * still leaves the stream without its marker (review s9 changes b, R5).
   */
  end(): void {
    if (this.api === 'openai' && !this.done) this.#event();
  }

  #ollama(item: string): void {
    const o = objectItem(parseItem(item, 'line'), 'line');
    if (o['error']) throw new Error(`the backend reported: ${backendError(o['error'])}`);
    const message = o['message'] === undefined || o['message'] === null ? undefined : objectItem(o['message'], '"message"');
    this.piece(text(message?.['content'], '"message.content"') ?? text(o['response'], '"response"') ?? '');
    if (o['done'] === true) this.done = true;
  }

  #event(): void {
    if (this.#data.length === 0) return;
    const data = this.#data.join('\n');
    this.#data = [];
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    const o = objectItem(parseItem(data, 'event'), 'event');
    if (o['error']) throw new Error(`the backend reported: ${backendError(o['error'])}`);
    const choices = o['choices'];
    if (choices !== undefined && choices !== null && !Array.isArray(choices)) throw formatError('"choices" is not an array');
    const choice = Array.isArray(choices) && choices.length > 0 ? objectItem(choices[0], '"choices[0]"') : undefined;
    const delta = choice?.['delta'] === undefined || choice['delta'] === null ? undefined : objectItem(choice['delta'], '"choices[0].delta"');
    this.piece(text(delta?.['content'], '"choices[0].delta.content"') ?? '');
  }
}

/** A backend item of the wrong shape (review s12, finding 5: a TypeError ended the chat, or `0` / `false` became text). */
const formatError = (what: string): AnswerFormatError => new AnswerFormatError(`the answer stream's ${what}: not the backend's answer format (the backend misbehaves)`);

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * Whether `json`, which did not parse, is a JSON object cut off at its end: it begins with `{` after
 * JSON white space, and the parser ran out of text rather than meeting a wrong character
 * (V8 says "Unexpected end of JSON input", or names the position just past the text). `{error: 1}`,
 * `{…} <html>` and `{not json}` fail at a character inside the text.
 */
function cutOffObject(json: string, err: unknown): boolean {
  if (!/^[ \t\n\r]*\{/.test(json)) return false;
  const message = err instanceof Error ? err.message : '';
  if (message === 'Unexpected end of JSON input') return true;
  // Anchored at the end: V8 quotes the input in some messages, which could hold "at position 99".
  const at = /^[^"]*? in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message);
  return at !== null && Number(at[1]) >= json.replace(/[ \t\n\r]+$/, '').length;
}

/** An NDJSON line or SSE event as JSON; text that is not JSON is the format refusal (its text, which may hold escapes, is not shown). */
function parseItem(json: string, what: 'line' | 'event'): unknown {
  // One line may be as long as the whole answer (64 MiB): its shape is bounded before JSON.parse,
  // as the attestation answer's is (json-guard.ts; s15: nested arrays cost ~29 bytes of heap a byte).
  const refusal = jsonShapeRefusal(Buffer.from(json, 'utf8'));
  if (refusal !== undefined) throw new AnswerFormatError(`the answer stream's ${what} is not the backend's answer format: ${refusal} (the backend misbehaves)`);
  try {
    return JSON.parse(json);
  } catch (err) {
    const message = `the answer stream's ${what} is not JSON: not the backend's answer format (the backend misbehaves)`;
    throw cutOffObject(json, err) ? new AnswerNotJsonError(message) : new AnswerFormatError(message);
  }
}

/** An NDJSON line, an SSE event or a member of one: a JSON object, else the format refusal. */
function objectItem(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw formatError(`${what} is ${kindOf(v)}, not a JSON object`);
  return v as Record<string, unknown>;
}

/** Answer text: a string, or absent / null (no text, as OpenAI's deltas send it); anything else is the format refusal. */
function text(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw formatError(`${what} is ${kindOf(v)}, not a string`);
  return v;
}

/** The backend's own error report, as text: a string, an object's "message", else its JSON. */
function backendError(e: unknown): string {
  if (typeof e === 'string') return e;
  const message = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : JSON.stringify(e);
}

/**
 * Sends one chat (the whole conversation in `messages`, or just `prompt`)
 * and writes the answer's pieces as they arrive; returns the answer's text.
 */
export async function streamChat(
  client: AttestedClient,
  o: {
    api: ChatApi;
    model: string;
    prompt?: string;
    messages?: ChatMessage[];
    token?: string;
    write: (t: string) => void;
    /** Called once the gateway answered, before any of the answer is written (client.last is then the verification this request relied on). */
    onAnswer?: () => void;
    /** The most bytes of the answer's body kept (default MAX_ANSWER_BYTES). */
    maxAnswerBytes?: number;
    /** The longest the whole answer may take, in ms (the request, the answer's head and body, a non-200 body quoted); absent or 0: none. */
    answerTimeoutMs?: number;
  },
): Promise<string> {
  // Checked before anything is sent (s14 change review, R3).
  const maxBytes = answerBound(o.maxAnswerBytes);
  const timeoutMs = answerDeadline(o.answerTimeoutMs, 0);
  if (timeoutMs === 0) return answerOf(client, o, maxBytes, undefined, <T>(p: Promise<T>) => p);
  // One deadline for the whole answer (s16 red team chat #2): the signal aborts the request and its
  // body; every wait is raced against it too, so a wait the signal does not reach (a re-attestation
  // inside client.fetch, a caller's stand-in client) ends as well.
  const controller = new AbortController();
  const expired = new AnswerTimeoutError(`no complete answer within ${timeoutMs / 1000} s (the answer timeout, --answer-timeout): the request was aborted`);
  const deadline = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(expired), { once: true }));
  deadline.catch(() => {});
  const timer = setTimeout(() => controller.abort(expired), timeoutMs);
  try {
    return await answerOf(client, o, maxBytes, controller.signal, <T>(p: Promise<T>) => Promise.race([p, deadline]));
  } catch (e) {
    // Past the deadline, whatever the abort made of the wait (undici's AbortError, 'terminated') is the timeout; a refusal stays a refusal.
    if (controller.signal.aborted && !(e instanceof AttestationRefusedError)) throw expired;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** streamChat's request and reading, each wait passed through `bounded` (the deadline, if any). */
async function answerOf(
  client: AttestedClient,
  o: Parameters<typeof streamChat>[1],
  maxBytes: number,
  signal: AbortSignal | undefined,
  bounded: <T>(p: Promise<T>) => Promise<T>,
): Promise<string> {
  const path = o.api === 'ollama' ? '/api/chat' : '/v1/chat/completions';
  const messages = o.messages ?? [{ role: 'user', content: o.prompt ?? '' }];
  const sent = client.fetch(path, {
    method: 'POST',
    // identity: undici would otherwise ask for gzip / deflate / br and inflate the answer without bound (review s14, finding 1).
    headers: { 'content-type': 'application/json', 'accept-encoding': 'identity', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: JSON.stringify({ model: o.model, messages, stream: true }),
    ...(signal ? { signal } : {}),
  });
  // An answer that comes after the deadline gave up on it is not read: its body is cancelled.
  if (signal) sent.then((r) => signal.aborted && void r.body?.cancel().catch(() => {}), () => {});
  const res = await bounded(sent);
  o.onAnswer?.();
  const reader = (res.body as unknown as ReadableStream<Uint8Array> | null)?.getReader();
  // undici decodes whatever coding the server names, asked for or not: anything but identity is refused unread.
  const coding = contentCoding(res.headers.get('content-encoding'));
  if (coding !== undefined) void reader?.cancel().catch(() => {});
  if (res.status !== 200) throw new GatewayAnswerError(res.status, `the gateway answered ${res.status}: ${coding === undefined ? await quoteOf(reader, bounded) : `(a body in content-encoding ${JSON.stringify(coding)}, not shown)`}`);
  if (coding !== undefined) {
    throw new AnswerFormatError(`the answer has content-encoding ${JSON.stringify(coding)}; the chat asked for and accepts identity only (the backend or a proxy misbehaves)`);
  }
  let bytes = 0;
  let answer = '';
  const stream = new AnswerStream(o.api, (piece) => {
    answer += piece;
    if (piece) o.write(terminalSafe(piece));
  });
  const lines = new LineSplitter(o.api === 'openai', (line) => stream.line(line), () => stream.done);
  let ended = reader === undefined;
  try {
    // Up to the end marker (review s9 changes b, R3): a backend that keeps the stream open after it
    // must not hold the chat, and a reset after it does not take the complete answer away.
    while (reader && !stream.done) {
      const chunk = await bounded(reader.read());
      if (chunk.done) {
        ended = true;
        break;
      }
      bytes += chunk.value.length;
      if (bytes > maxBytes) throw new AnswerFormatError(`the answer is longer than ${maxBytes} bytes: not read further (the backend misbehaves)`);
      lines.push(chunk.value);
    }
  } catch (e) {
    // The client cut the answer off (a verdict revoked the key it came over): undici reports
    // 'terminated' with the refusal as cause; the refusal is what the caller must see.
    const cause = (e as { cause?: unknown }).cause;
    throw cause instanceof AttestationRefusedError ? cause : e;
  } finally {
    // What follows the end marker (or a refused line) is not read: the request is aborted.
    if (!ended) void reader?.cancel().catch(() => {});
  }
  try {
    if (!stream.done) {
      lines.finish();
      stream.end();
    }
  } catch (e) {
    // A last line cut off mid-object is a stream that ended early (below), not a malformed one.
    if (!(e instanceof AnswerNotJsonError)) throw e;
  }
  if (!stream.done) {
    if (answer) o.write('\n');
    throw new IncompleteAnswerError(`the answer stream ended before its end marker (${o.api === 'ollama' ? '"done": true' : 'data: [DONE]'}): the answer may be cut short`);
  }
  o.write('\n');
  return answer;
}

/** A Content-Encoding other than identity (trimmed, lower case), else undefined. */
function contentCoding(header: string | null): string | undefined {
  if (header === null) return undefined;
  const coding = header.trim().toLowerCase();
  return coding === '' || coding === 'identity' ? undefined : coding;
}

/**
 * The first ERROR_BODY_QUOTE_BYTES bytes of a non-200 answer, as text; the rest is not read (the
 * body is cancelled). It was read whole to quote 300 characters (review s14, finding 1).
 */
async function quoteOf(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | undefined, bounded: <T>(p: Promise<T>) => Promise<T>): Promise<string> {
  if (!reader) return '';
  const parts: Uint8Array[] = [];
  let got = 0;
  let ended = false;
  try {
    while (got < ERROR_BODY_QUOTE_BYTES) {
      const chunk = await bounded(reader.read());
      if (chunk.done || !chunk.value) {
        ended = true;
        break;
      }
      parts.push(chunk.value);
      got += chunk.value.length;
    }
  } catch (e) {
    ended = true;
    // As in streamChat: a verdict that revoked the key cut the body off; the refusal is what the caller must see.
    const cause = (e as { cause?: unknown }).cause;
    throw cause instanceof AttestationRefusedError ? cause : e;
  } finally {
    if (!ended) void reader.cancel().catch(() => {});
  }
  return Buffer.concat(parts).subarray(0, ERROR_BODY_QUOTE_BYTES).toString('utf8');
}

function refusalJson(e: AttestationRefusedError): Record<string, unknown> {
  return {
    code: e.code,
    message: e.message,
    ...(e.details.checks ? { checks: e.details.checks } : {}),
    ...(e.details.status !== undefined ? { status: e.details.status } : {}),
    ...(e.details.transient ? { transient: e.details.transient } : {}),
  };
}

/**
 * The verifications the terminal has shown. `first` is the one printed
 * before any prompt; `announce` prints the client's latest one when it is
 * another object (the client re-attested), before the answer that used it.
 */
class ShownVerifications {
  #shown: GatewayVerification;

  constructor(
    first: GatewayVerification,
    readonly io: ChatIo,
  ) {
    this.#shown = first;
  }

  announce(latest: GatewayVerification | undefined): void {
    if (!latest || latest === this.#shown) return;
    this.io.stdout(`${describeReverification(this.#shown, latest).join('\n')}\n`);
    this.#shown = latest;
  }
}

/** The policy's collateral.expiryGraceSeconds (a loaded policy, or its JSON object or text), when it names one. */
function policyGrace(policy: unknown): number | undefined {
  let doc = policy;
  if (typeof policy === 'string') {
    try {
      doc = JSON.parse(policy);
    } catch {
      return undefined;
    }
  }
  const grace = typeof doc === 'object' && doc !== null ? (doc as { collateral?: { expiryGraceSeconds?: unknown } }).collateral?.expiryGraceSeconds : undefined;
  return typeof grace === 'number' ? grace : undefined;
}

/** The first error of class EXPIRED (a collateral document, CRL or certificate outside its window) in the cause chain. */
function expiredCause(e: unknown, depth = 0): { check?: unknown; code?: unknown; details?: Record<string, unknown> } | undefined {
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  if ((e as { errorClass?: unknown }).errorClass === 'EXPIRED') return e as { check?: unknown; code?: unknown; details?: Record<string, unknown> };
  return expiredCause((e as { cause?: unknown }).cause, depth + 1) ?? expiredCause((e as { details?: { cause?: unknown } }).details?.cause, depth + 1);
}

/**
 * The checks of re-issued collateral, the only ones a collateral grace relaxes (src/verify/grace.ts):
 * the Intel CRLs (T13, T14), TCB info (T18), QE identity (T21), the artifact windows (T45), the AMD
 * CRL (S09). Certificates (T12, the TCB Signing certificate under T16 / T20, S07, S08, S10) are never
 * extended by a grace (docs/decisions.md). The collateral service's own refusal is ERR_COLLATERAL_EXPIRED.
 */
const GRACE_RELAXED_CHECKS: ReadonlySet<string> = new Set(['T13', 'T14', 'T18', 'T21', 'T45', 'S09']);

/**
 * Artifact kinds that are re-issued collateral (a document or CRL with its own window), the only
 * kinds a grace can carry past their end. amd-vcek, amd-vlek and amd-cert-chain are certificates:
 * the collateral service graces any kind's window, but `verify` then checks the certificate itself
 * without a grace (S07 / S08 / S10), so an ERR_COLLATERAL_EXPIRED of theirs gets no note (s14 change
 * review round 2, finding 1). An unknown kind gets none either.
 */
const REISSUED_KINDS: ReadonlySet<string> = new Set(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl', 'amd-crl']);

/**
 * Kinds whose recorded window is their own dates intersected with their issuer chain's
 * (collateral/validate.ts). At T45 (the recorded window, checked after T13 / T14 / T18 / T21 judged
 * the documents' own dates) such an expiry is a certificate of the chain ending first (the TCB Signing
 * or PCK CA certificate, T16 / T20 / T12 in `verify`, never graced): no note. The collateral service's
 * ERR_COLLATERAL_EXPIRED names only the intersected window, see graceWouldApply.
 */
const CHAINED_KINDS: ReadonlySet<string> = new Set(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl']);

/** The artifact kind an expiry error names (its details' artifact key, collateral/keys.ts), if any. */
function artifactKindOf(details: Record<string, unknown>): string | undefined {
  const key = details['artifact'];
  return typeof key === 'string' ? kindOfKey(key) : undefined;
}

/** An ISO date of an error's details, in ms; NaN when absent or not a string. */
const detailMs = (v: unknown): number => (typeof v === 'string' ? Date.parse(v) : Number.NaN);

/**
 * Whether `tee-verify verify`'s grace of `graceSeconds` would have let this expiry pass: re-issued
 * collateral already valid at the instant and past its end (notAfter / nextUpdate) by no more than
 * the grace (s14 change review, R1: the note appeared for collateral not yet valid, for expired
 * certificates, and for an expiry older than the grace, where `verify` refuses too). The window and
 * the instant are the error's details (`at`, or `now` for the collateral service).
 *
 * Re-issued collateral: a failed GRACE_RELAXED_CHECKS check (at T45, an artifact of a kind in
 * REISSUED_KINDS and not chained), or the collateral service's ERR_COLLATERAL_EXPIRED for an artifact
 * of a kind in REISSUED_KINDS, read from its key (round 2, finding 1: every ERR_COLLATERAL_EXPIRED
 * counted, also an expired VCEK, VLEK or AMD certificate chain). Known limit: for the chained kinds
 * the service's error carries the window intersected with the issuer chain, not the document's own
 * end, so an Intel document whose TCB Signing or PCK CA certificate ended first within the grace
 * still gets the note there (docs/gateway.md).
 */
function graceWouldApply(e: AttestationRefusedError, graceSeconds: number): boolean {
  if (!Number.isFinite(graceSeconds) || graceSeconds <= 0) return false;
  const x = expiredCause(e);
  if (!x) return false;
  const d = x.details ?? {};
  const kind = artifactKindOf(d);
  let reissued: boolean;
  if (x.code === 'ERR_COLLATERAL_EXPIRED') reissued = kind !== undefined && REISSUED_KINDS.has(kind);
  else if (x.check === 'T45') reissued = kind !== undefined && REISSUED_KINDS.has(kind) && !CHAINED_KINDS.has(kind);
  else reissued = typeof x.check === 'string' && GRACE_RELAXED_CHECKS.has(x.check);
  if (!reissued) return false;
  const at = detailMs(d.at ?? d.now);
  const end = detailMs(d.notAfter ?? d.nextUpdate);
  const start = d.notBefore ?? d.thisUpdate;
  if (Number.isNaN(at) || Number.isNaN(end)) return false;
  // Not yet valid is never relaxed (an absent start is no obstacle: S09 names only its nextUpdate).
  if (start !== undefined && !(detailMs(start) <= at)) return false;
  const over = at - end;
  return over > 0 && over <= graceSeconds * 1000;
}

/**
 * A refusal at an expiry check that the policy's collateral grace would have let pass: the message
 * says that grace is not applied (review s14, finding 2; docs/gateway.md, "No collateral grace").
 * `tee-verify verify` accepts the same evidence within the grace, so without this the refusal looked
 * like a bug. Only then (graceWouldApply): where `verify` refuses too, the note would say the opposite.
 */
function refusalMessage(e: AttestationRefusedError, o: ChatSessionOptions): string {
  const grace = policyGrace(o.client.policy);
  if (grace === undefined || !graceWouldApply(e, grace)) return e.message;
  return `${e.message} (the policy's collateral.expiryGraceSeconds, ${grace} s, is not applied by the gateway client: a live connection needs collateral valid now)`;
}

function exitFor(e: unknown, o: ChatSessionOptions, io: ChatIo, reattesting: boolean): number {
  if (e instanceof AttestationRefusedError) {
    const message = refusalMessage(e, o);
    if (o.json) io.stdout(`${jsonLine({ ok: false, gateway: o.gateway, error: { ...refusalJson(e), message } })}\n`);
    // Earlier prompts went to the gateway as shown then; the one that needed the re-attestation did not.
    const after = e.details.revokedKey
      ? "the gateway's TLS key was revoked while this prompt waited or was answered: its answer was cut off; the chat ends."
      : reattesting
        ? 'the re-attestation failed: this prompt was not sent; the chat ends.'
        : 'no prompt byte was sent.';
    const later = retryable(e) ? ' (retry later)' : '';
    io.stderr(`refused (${e.code}${e.details.checks ? ` ${e.details.checks.join(',')}` : ''}): ${lineSafe(message)}\n${after}${later}\n`);
    return retryable(e) ? CHAT_EXIT.retryable : CHAT_EXIT.refused;
  }
  if (isLocalFault(e)) {
    // This client's fault (its verifier's addon, OpenSSL, a bad argument), not the gateway's: 70, as verify (review s12 docs #2).
    if (o.json) io.stdout(`${jsonLine({ ok: false, gateway: o.gateway, error: { code: e.code, message: e.message } })}\n`);
    io.stderr(`chat: internal error, nothing was judged about the gateway (${e.code}): ${lineSafe(e.message)}\n`);
    return CHAT_EXIT.internal;
  }
  const later = unavailable(e);
  if (o.json) io.stdout(`${jsonLine({ ok: false, gateway: o.gateway, error: { code: later ? 'ERR_CHAT_UNAVAILABLE' : 'ERR_CHAT', message: (e as Error).message } })}\n`);
  io.stderr(`chat: ${lineSafe((e as Error).message)}${later ? ' (retry later)' : ''}\n`);
  return later ? CHAT_EXIT.retryable : CHAT_EXIT.error;
}

/**
 * One turn: `messages` (or `prompt`) to the gateway, the answer to `write`, each of its lines marked
 * (AnswerFrame) and ended before anything else is written, also when the turn fails; the
 * verification it relied on is shown first.
 */
async function turn(client: AttestedClient, o: ChatSessionOptions, shown: ShownVerifications, t: { prompt?: string; messages?: ChatMessage[]; write: (t: string) => void; columns?: number | undefined }): Promise<string> {
  const frame = new AnswerFrame(t.write, t.columns);
  try {
    return await answerTurn(client, o, shown, { ...t, write: frame.write });
  } finally {
    frame.end();
  }
}

function answerTurn(client: AttestedClient, o: ChatSessionOptions, shown: ShownVerifications, t: { prompt?: string; messages?: ChatMessage[]; write: (t: string) => void }): Promise<string> {
  return streamChat(client, {
    api: o.api,
    model: o.model,
    ...(t.prompt !== undefined ? { prompt: t.prompt } : {}),
    ...(t.messages ? { messages: t.messages } : {}),
    ...(o.token ? { token: o.token } : {}),
    ...(o.maxAnswerBytes !== undefined ? { maxAnswerBytes: o.maxAnswerBytes } : {}),
    answerTimeoutMs: answerDeadline(o.answerTimeoutMs, ANSWER_TIMEOUT_MS),
    write: t.write,
    onAnswer: () => shown.announce(client.last),
  });
}

/** Reads lines until EOF or /exit; each line is one turn of the conversation. */
async function converse(client: AttestedClient, o: ChatSessionOptions, io: ChatIo, shown: ShownVerifications): Promise<void> {
  if (!io.stdin) throw new Error('interactive chat needs an input stream');
  const history: ChatMessage[] = [];
  const rl = createInterface({ input: io.stdin, terminal: false, crlfDelay: Infinity });
  const ask = (): void => {
    if (io.interactive) io.stdout('you> ');
  };
  io.stdout(`chat with ${o.model} through ${o.gateway} (/reset forgets the conversation, /exit or end of input quits)\n`);
  ask();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit' || line === '/quit') break;
      if (line === '/reset') {
        history.length = 0;
        io.stdout('(conversation forgotten)\n');
      } else if (line) {
        history.push({ role: 'user', content: line });
        // Each line of the answer carries ANSWER_MARK (it replaced the `assistant> ` prefix of its first line only).
        const answer = await turn(client, o, shown, { messages: history, write: io.stdout, columns: io.columns });
        history.push({ role: 'assistant', content: answer });
      }
      ask();
    }
  } finally {
    rl.close();
  }
}

export async function runChatSession(o: ChatSessionOptions, io: ChatIo): Promise<number> {
  let client: AttestedClient | undefined;
  let shown: ShownVerifications | undefined;
  try {
    // A bad maxAnswerBytes is this caller's fault, found before the gateway is asked anything (exit 70, ERR_INVALID_ARGUMENT).
    answerBound(o.maxAnswerBytes);
    answerDeadline(o.answerTimeoutMs, ANSWER_TIMEOUT_MS);
    client = new AttestedClient(o.gateway, o.client);
    // Nothing is read or sent before the gateway is verified.
    const verified = await client.attest();
    shown = new ShownVerifications(verified, io);
    if (o.json) {
      if (o.prompt === undefined) throw new Error('--json needs --prompt');
      // The verification the answer travelled on: the client may have re-attested since attest().
      let used = verified;
      // The exact answer, not the terminal-safe pieces: jsonLine escapes every control character,
      // DEL, C1, the separators and the bidi controls too (s16 red team chat #1: JSON.stringify left
      // C1 / U+2028 raw, which a terminal acts on and Python's splitlines() breaks the line at). At
      // most MAX_ANSWER_BYTES of answer: 64 MiB of DEL or C0 escapes to 6 characters each, ~400 M
      // characters, under V8's string limit.
      const answer = await streamChat(client, {
        api: o.api,
        model: o.model,
        prompt: o.prompt,
        ...(o.token ? { token: o.token } : {}),
        ...(o.maxAnswerBytes !== undefined ? { maxAnswerBytes: o.maxAnswerBytes } : {}),
        answerTimeoutMs: answerDeadline(o.answerTimeoutMs, ANSWER_TIMEOUT_MS),
        write: () => undefined,
        onAnswer: () => void (used = client?.last ?? used),
      });
      io.stdout(`${jsonLine({ ok: true, gateway: o.gateway, verification: used, answer })}\n`);
      return CHAT_EXIT.ok;
    }
    io.stdout(`verified ${o.gateway}:\n${describeVerification(verified).map((l) => `  ${l}\n`).join('')}\n`);
    if (o.prompt !== undefined) await turn(client, o, shown, { prompt: o.prompt, write: io.stdout, columns: io.columns });
    else await converse(client, o, io, shown);
    return CHAT_EXIT.ok;
  } catch (e) {
    // A request that failed after a re-attestation (not refused) still relied on it: show it.
    if (!(e instanceof AttestationRefusedError) && !o.json) shown?.announce(client?.last);
    // After the first verification was shown, a refusal is a re-attestation's.
    return exitFor(e, o, io, shown !== undefined);
  } finally {
    await client?.close();
  }
}
