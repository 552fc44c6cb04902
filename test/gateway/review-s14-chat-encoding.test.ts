/**
 * Review s14 (gateway), finding 1: the chat client inflated a gzip answer without bound. undici's
 * fetch asks for gzip / deflate / br and decodes whatever coding comes back; the gateway passes
 * Content-Encoding through and its `maxResponseBytes` counts the compressed bytes, so 27 KB on the
 * wire became a 20 MB answer (exit 0), and a 401 was inflated whole to quote 300 characters.
 * Now the chat asks for `accept-encoding: identity`, refuses any other content coding (ERR_CHAT,
 * exit 2), keeps at most MAX_ANSWER_BYTES (64 MiB) of an answer, and reads at most
 * ERROR_BODY_QUOTE_BYTES of a non-200 body (then cancels it).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReadableStream } from 'node:stream/web';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CHAT_EXIT, ERROR_BODY_QUOTE_BYTES, MAX_ANSWER_BYTES, runChatSession, streamChat } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type ClientOptions, type Harness } from './helpers.js';

const piece = `${JSON.stringify({ message: { role: 'assistant', content: 'A'.repeat(4000) }, done: false })}\n`;
/** ~2 MB of NDJSON, ~10 KB gzip-compressed. */
const plain = Buffer.from(`${piece.repeat(500)}${JSON.stringify({ message: { content: '' }, done: true })}\n`);
const gz = gzipSync(plain, { level: 9 });

describe('through a gateway whose upstream answers gzip (maxResponseBytes 1 MiB)', () => {
  let up: Server;
  let h: Harness;
  let options: ClientOptions;
  const seen: (string | undefined)[] = [];
  let status = 200;
  beforeAll(async () => {
    up = createServer((req, res) => {
      seen.push(req.headers['accept-encoding']);
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip', 'content-length': gz.length });
        res.end(gz);
      });
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    h = await startHarness({ upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, maxResponseBytes: 1 << 20 });
    options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => up.close(r));
  });

  async function chat(): Promise<{ code: number; doc: any; err: string }> {
    let out = '';
    let err = '';
    const code = await runChatSession({ gateway: h.gateway.url, client: options, api: 'ollama', model: 'm', prompt: 'hi', json: true, token: h.token }, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
    return { code, doc: JSON.parse(out.trim().split('\n').pop()!), err };
  }

  it('asks for identity, and a gzip answer is refused: ERR_CHAT, exit 2, nothing of it kept', async () => {
    status = 200;
    seen.length = 0;
    const r = await chat();
    expect(seen).toEqual(['identity']);
    expect(r.code).toBe(CHAT_EXIT.error);
    expect(r.doc.ok).toBe(false);
    expect(r.doc.error.code).toBe('ERR_CHAT');
    expect(r.doc.error.message).toMatch(/content-encoding "gzip".*identity only/);
    expect(r.doc.answer).toBeUndefined();
  });

  it('a gzip 401 is reported with its status, its body neither inflated nor quoted', async () => {
    status = 401;
    const r = await chat();
    expect(r.code).toBe(CHAT_EXIT.error);
    expect(r.doc.error.code).toBe('ERR_CHAT');
    expect(r.doc.error.message).toBe('the gateway answered 401: (a body in content-encoding "gzip", not shown)');
  });
});

/** A stand-in client whose answer is `chunks` (then the end), with these headers; `pulled` counts the chunks read, `init` is the request. */
function backend(status: number, chunk: (i: number) => Uint8Array | undefined, headers: Record<string, string> = {}): { client: AttestedClient; pulled: () => number; init: () => any } {
  let pulled = 0;
  let init: any;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const x = chunk(pulled++);
      if (x === undefined) c.close();
      else c.enqueue(x);
    },
  });
  const client = {
    fetch: async (_path: string, i: unknown) => {
      init = i;
      return new Response(body as unknown as globalThis.ReadableStream, { status, headers });
    },
  } as unknown as AttestedClient;
  return { client, pulled: () => pulled, init: () => init };
}

async function read(b: { client: AttestedClient }, maxAnswerBytes?: number): Promise<{ answer?: string; error?: Error & { code?: string } }> {
  try {
    return { answer: await streamChat(b.client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, ...(maxAnswerBytes !== undefined ? { maxAnswerBytes } : {}) }) };
  } catch (e) {
    return { error: e as Error & { code?: string } };
  }
}

describe('the chat request and its answer', () => {
  it('the request asks for accept-encoding: identity', async () => {
    const b = backend(200, (i) => (i === 0 ? Buffer.from('{"message":{"content":"hi"},"done":true}\n') : undefined));
    expect(await read(b)).toEqual({ answer: 'hi' });
    expect(b.init().headers['accept-encoding']).toBe('identity');
  });

  it.each(['gzip', 'br', 'deflate', 'GZIP', 'identity, gzip', 'x-unknown'])('content-encoding %s on a 200: ERR_CHAT, the body not read', async (coding) => {
    const b = backend(200, (i) => (i < 10 ? Buffer.from(piece) : undefined), { 'content-encoding': coding });
    const r = await read(b);
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toContain('content-encoding');
    expect(b.pulled()).toBeLessThanOrEqual(1);
  });

  it('content-encoding identity (any case) is accepted', async () => {
    const b = backend(200, (i) => (i === 0 ? Buffer.from('{"message":{"content":"hi"},"done":true}\n') : undefined), { 'content-encoding': ' Identity ' });
    expect(await read(b)).toEqual({ answer: 'hi' });
  });

  it('a non-200 body is read for its first ERROR_BODY_QUOTE_BYTES bytes only, then cancelled', async () => {
    const kib = Buffer.alloc(1024, 'e');
    const b = backend(500, (i) => (i < 1000 ? kib : undefined));
    const r = await read(b);
    expect(r.error?.message).toBe(`the gateway answered 500: ${'e'.repeat(ERROR_BODY_QUOTE_BYTES)}`);
    // One chunk quoted, at most the stream's read-ahead of one more: not the 1000 chunks of the body.
    expect(b.pulled()).toBeLessThanOrEqual(3);
  });

  it('a short non-200 body is quoted whole', async () => {
    const b = backend(401, (i) => (i === 0 ? Buffer.from('{"error":"no key"}') : undefined));
    expect((await read(b)).error?.message).toBe('the gateway answered 401: {"error":"no key"}');
  });

  it('an answer longer than maxAnswerBytes is refused (ERR_CHAT) and not read further', async () => {
    const b = backend(200, (i) => (i < 100 ? Buffer.from(piece) : i === 100 ? Buffer.from('{"done":true}\n') : undefined));
    const r = await read(b, 10 * piece.length);
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(`the answer is longer than ${10 * piece.length} bytes`);
    expect(b.pulled()).toBeLessThanOrEqual(13);
    // Up to the bound, an answer passes.
    const ok = backend(200, (i) => (i < 9 ? Buffer.from(piece) : i === 9 ? Buffer.from('{"done":true}\n') : undefined));
    expect((await read(ok, 10 * piece.length)).answer).toHaveLength(9 * 4000);
  });

  it('the default bound is MAX_ANSWER_BYTES, 64 MiB', async () => {
    expect(MAX_ANSWER_BYTES).toBe(64 * 1024 * 1024);
    // 64 lines of 1 MiB - 1 byte each (within the line bound), then more: refused past 64 MiB.
    const line = Buffer.from(`${JSON.stringify({ message: { content: 'A'.repeat((1 << 20) - 48) }, done: false })}\n`);
    expect(line.length).toBeLessThanOrEqual(1 << 20);
    const lines = Math.ceil(MAX_ANSWER_BYTES / line.length) + 1;
    const b = backend(200, (i) => (i < lines ? line : i === lines ? Buffer.from('{"done":true}\n') : undefined));
    const r = await read(b);
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(`the answer is longer than ${MAX_ANSWER_BYTES} bytes`);
  });
});
