/**
 * One strictly bounded HTTP/1.1 request/response on an already open TLS
 * socket, so that the attestation travels on the very connection that will
 * carry the chat requests (client.ts hands the socket to undici afterwards).
 *
 * Deliberately small: one request with Content-Length, `Connection:
 * keep-alive`; the answer must be `HTTP/1.1`, its header block at most
 * `maxHeaderBytes`, framed by one Content-Length (at most `maxBodyBytes`) or
 * by chunked transfer coding (decoded size bounded the same way), and
 * complete within `timeoutMs`. Anything else — no framing (read until close),
 * both framings, conflicting lengths, folded header lines, a close before the
 * end, bytes after the end — is ERR_ATTEST_EXCHANGE. The status is returned,
 * not judged (the caller decides what a non-200 means).
 *
 * After the answer the socket stays guarded (errors swallowed, close and
 * unsolicited bytes recorded) until `release()` removes every listener this
 * module added, pauses the socket and says whether it can carry further
 * requests. Paused, because a socket left flowing without a 'data' listener
 * drops whatever arrives next: bytes sent after release stay readable for
 * whoever takes the socket (undici reads on 'readable'; a parked socket
 * treats them as a reason to drop it).
 */
import type { TLSSocket } from 'node:tls';

import { AttestationRefusedError } from './errors.js';

export interface InbandLimits {
  /** Status line + header fields + the empty line (and chunked trailers). */
  maxHeaderBytes: number;
  /** The body (decoded, for chunked answers). */
  maxBodyBytes: number;
  timeoutMs: number;
}

export interface InbandResponse {
  status: number;
  body: Buffer;
  /** The server announced `Connection: close` (the socket cannot be reused). */
  closeAnnounced: boolean;
  /** `Keep-Alive: timeout=N` in ms, when the server sent one. */
  keepAliveMs: number | undefined;
  /** `Retry-After: N` (delta-seconds; an HTTP date is not read) in ms, when the server sent one. */
  retryAfterMs: number | undefined;
  /**
   * Removes this module's listeners and pauses the socket. 'reusable': open, nothing unsolicited
   * arrived; 'closed': the server ended or the socket failed; 'tainted': bytes
   * arrived after the answer (the connection's framing cannot be trusted).
   */
  release(): 'reusable' | 'closed' | 'tainted';
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A chunk-size line: hex size (at most 8 digits; the body cap is far smaller), optional extensions. */
const CHUNK_LINE = /^([0-9A-Fa-f]{1,8})(?:[ \t]*;[^\r\n]*)?$/;

const fail = (why: string, cause?: unknown): AttestationRefusedError => new AttestationRefusedError('ERR_ATTEST_EXCHANGE', why, cause === undefined ? {} : { cause });
/** A failure that says nothing about the answer's content: the gateway was slow or went away (retryable). */
const transient = (why: string, t: 'timeout' | 'closed'): AttestationRefusedError => new AttestationRefusedError('ERR_ATTEST_EXCHANGE', why, { transient: t });

interface Head {
  status: number;
  contentLength: number | undefined;
  chunked: boolean;
  closeAnnounced: boolean;
  keepAliveMs: number | undefined;
  retryAfterMs: number | undefined;
}

function parseHead(text: string, maxBodyBytes: number): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.1 ([1-5]\d\d)(?: [^\r\n]*)?$/.exec(lines[0] ?? '');
  if (!m) throw fail(`the attestation answer does not start with an HTTP/1.1 status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const head: Head = { status: Number(m[1]), contentLength: undefined, chunked: false, closeAnnounced: false, keepAliveMs: undefined, retryAfterMs: undefined };
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line)) throw fail('folded header line in the attestation answer');
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !TOKEN.test(name)) throw fail('malformed header line in the attestation answer');
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) throw fail(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
      const n = Number(value);
      if (head.contentLength !== undefined && head.contentLength !== n) throw fail('conflicting Content-Length headers');
      head.contentLength = n;
    } else if (name === 'transfer-encoding') {
      // Only plain chunked: any other coding would need decoding we do not do.
      if (value.toLowerCase() !== 'chunked' || head.chunked) throw fail(`unsupported Transfer-Encoding ${JSON.stringify(value.slice(0, 40))}`);
      head.chunked = true;
    } else if (name === 'connection') {
      if (value.toLowerCase().split(',').some((t) => t.trim() === 'close')) head.closeAnnounced = true;
    } else if (name === 'keep-alive') {
      const t = /(?:^|[,\s])timeout=(\d{1,6})(?:$|[,\s])/i.exec(value);
      if (t) head.keepAliveMs = Number(t[1]) * 1000;
    } else if (name === 'retry-after') {
      if (/^\d{1,6}$/.test(value)) head.retryAfterMs = Number(value) * 1000;
    }
  }
  if (head.chunked && head.contentLength !== undefined) throw fail('the attestation answer has both Content-Length and Transfer-Encoding');
  if (!head.chunked && head.contentLength === undefined) throw fail('the attestation answer has no Content-Length (reading until close is not accepted)');
  if (head.contentLength !== undefined && head.contentLength > maxBodyBytes) throw fail(`the attestation answer announces ${head.contentLength} bytes (limit ${maxBodyBytes})`);
  return head;
}

/**
 * The body after the header block, fed piece by piece as records arrive. Each
 * byte is looked at and copied a bounded number of times (the reader is linear
 * in the answer): decoded bytes go into a buffer that doubles up to the limit,
 * and only a partial chunk-size line or trailer block is carried over.
 * `feed` returns the bytes left after the end of the answer, or undefined
 * while more are needed; it throws on malformed or oversized input.
 */
class BodyReader {
  #data = Buffer.alloc(0);
  #size = 0;
  /** Chunked: bytes of chunk data still to come; -1 while a chunk-size line is expected. */
  #remaining = -1;
  #crlf = false;
  #trailers = false;
  #carry: Buffer = Buffer.alloc(0);

  constructor(
    readonly contentLength: number | undefined,
    readonly limits: InbandLimits,
  ) {}

  get body(): Buffer {
    return this.#data.subarray(0, this.#size);
  }

  #append(bytes: Buffer): void {
    const need = this.#size + bytes.length;
    if (need > this.#data.length) {
      const grown = Buffer.allocUnsafeSlow(Math.min(Math.max(need, 2 * this.#data.length, 64 * 1024), Math.max(need, this.contentLength ?? this.limits.maxBodyBytes)));
      this.#data.copy(grown, 0, 0, this.#size);
      this.#data = grown;
    }
    bytes.copy(this.#data, this.#size);
    this.#size = need;
  }

  feed(piece: Buffer): Buffer | undefined {
    if (this.contentLength !== undefined) {
      const take = Math.min(this.contentLength - this.#size, piece.length);
      this.#append(piece.subarray(0, take));
      return this.#size === this.contentLength ? piece.subarray(take) : undefined;
    }
    let buf = this.#carry.length === 0 ? piece : Buffer.concat([this.#carry, piece]);
    this.#carry = Buffer.alloc(0);
    for (;;) {
      if (this.#trailers) {
        // Trailer fields, then the empty line; bounded like the header block.
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) return buf.subarray(2);
        const end = buf.indexOf(HEADER_END);
        if (end >= 0) return buf.subarray(end + 4);
        if (buf.length > this.limits.maxHeaderBytes) throw fail('chunked trailers too long');
        this.#carry = buf;
        return undefined;
      }
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, buf.length);
        this.#append(buf.subarray(0, take));
        buf = buf.subarray(take);
        this.#remaining -= take;
        if (this.#remaining > 0) return undefined;
        this.#crlf = true;
      }
      if (this.#crlf) {
        if (buf.length < 2) {
          this.#carry = buf;
          return undefined;
        }
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw fail('chunk data not followed by CRLF');
        buf = buf.subarray(2);
        this.#crlf = false;
      }
      const eol = buf.indexOf(CRLF);
      if (eol < 0) {
        if (buf.length > 128) throw fail('chunk-size line too long');
        this.#carry = buf;
        return undefined;
      }
      const m = CHUNK_LINE.exec(buf.toString('latin1', 0, eol));
      if (!m) throw fail('malformed chunk-size line in the attestation answer');
      const n = parseInt(m[1] as string, 16);
      if (this.#size + n > this.limits.maxBodyBytes) throw fail(`the attestation answer exceeds ${this.limits.maxBodyBytes} bytes`);
      buf = buf.subarray(eol + 2);
      if (n === 0) this.#trailers = true;
      else this.#remaining = n;
    }
  }
}

/** Sends `POST path` with a JSON body on `socket` and reads exactly one bounded answer. */
export function exchangeOnSocket(socket: TLSSocket, authority: string, path: string, json: string, limits: InbandLimits): Promise<InbandResponse> {
  return new Promise((resolve, reject) => {
    /** Bytes of the header block so far (bounded by maxHeaderBytes); the body goes to the reader. */
    let buf: Buffer = Buffer.alloc(0);
    let head: Head | undefined;
    let reader: BodyReader | undefined;
    let settled = false;
    let state: 'reading' | 'reusable' | 'closed' | 'tainted' = 'reading';

    const onData = (chunk: Buffer): void => {
      if (state !== 'reading') {
        if (state === 'reusable') state = 'tainted';
        return;
      }
      try {
        step(chunk);
      } catch (e) {
        finish(e as Error);
      }
    };
    const onEnd = (): void => {
      if (state === 'reading') finish(transient('the server closed the connection before the attestation answer was complete', 'closed'));
      else state = 'closed';
    };
    const onError = (e: Error): void => {
      if (state === 'reading') finish(fail(`attestation exchange failed: ${e.message}`, e));
      else state = 'closed';
    };
    const timer = setTimeout(() => finish(transient(`no complete attestation answer within ${limits.timeoutMs} ms`, 'timeout')), limits.timeoutMs);

    const detach = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    function finish(err: Error | undefined, res?: InbandResponse): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        state = 'closed';
        detach();
        socket.on('error', () => {}); // destroy() below may still emit; nobody else listens
        socket.destroy();
        reject(err);
      } else resolve(res as InbandResponse);
    }

    function step(chunk: Buffer): void {
      let piece = chunk;
      if (!head) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        const end = buf.indexOf(HEADER_END);
        if (end < 0) {
          if (buf.length > limits.maxHeaderBytes) throw fail(`the attestation answer's header block exceeds ${limits.maxHeaderBytes} bytes`);
          return;
        }
        if (end + 4 > limits.maxHeaderBytes) throw fail(`the attestation answer's header block exceeds ${limits.maxHeaderBytes} bytes`);
        head = parseHead(buf.toString('latin1', 0, end), limits.maxBodyBytes);
        reader = new BodyReader(head.chunked ? undefined : head.contentLength, limits);
        piece = buf.subarray(end + 4);
        buf = Buffer.alloc(0);
      }
      const rest = (reader as BodyReader).feed(piece);
      if (rest === undefined) return;
      if (rest.length > 0) throw fail('bytes after the end of the attestation answer (wrong Content-Length or framing)');
      const body = (reader as BodyReader).body;
      state = 'reusable';
      const h = head;
      finish(undefined, {
        status: h.status,
        body,
        closeAnnounced: h.closeAnnounced,
        keepAliveMs: h.keepAliveMs,
        retryAfterMs: h.retryAfterMs,
        release: () => {
          detach();
          socket.pause();
          if (state === 'reusable' && (socket.destroyed || !socket.writable || socket.readableEnded)) state = 'closed';
          return state as 'reusable' | 'closed' | 'tainted';
        },
      });
    }

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    // One write, one TLS record: the head is ASCII, so its UTF-8 encoding is the bytes on the wire.
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${authority}\r\nContent-Type: application/json\r\nAccept: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\nConnection: keep-alive\r\n\r\n${json}`,
      'utf8',
    );
  });
}
