/**
 * Review s9 changes b, the chat's answer stream:
 * R2: one line without a line end grew without bound, and was searched again from its start on
 *     every chunk; a line is now at most MAX_ANSWER_LINE_BYTES (1 MiB), a longer one is refused as
 *     soon as it passes the bound (a backend error: exit 2, ERR_CHAT).
 * R3: after Ollama's `done: true` or OpenAI's `[DONE]` the reader went on until the server closed:
 *     a stream left open hung the chat, and a reset after the end marker made a complete answer exit 3.
 * R4: server-sent events also end a line at a lone CR (WHATWG); a CR-only stream was "cut short".
 */
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CHAT_EXIT, MAX_ANSWER_LINE_BYTES, runChatSession, streamChat, type ChatApi } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy, type ClientOptions } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

const enc = new TextEncoder();
const sse = (content: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}`;
const nd = (content: string, done = false): string => JSON.stringify({ message: { role: 'assistant', content }, done });

/**
 * A stand-in for the attested client whose backend streams what `next` gives, one chunk per read:
 * a string or bytes, 'end' (the stream closes), 'open' (it stays open, nothing more comes) or an
 * Error (the connection failed). `pulled` counts the chunks the reader asked for.
 */
function backend(next: (i: number) => string | Uint8Array | 'end' | 'open' | Error): { client: AttestedClient; pulled: () => number } {
  let pulled = 0;
  const body = (): ReadableStream<Uint8Array> =>
    new ReadableStream<Uint8Array>({
      pull(c) {
        const x = next(pulled++);
        if (x === 'end') return c.close();
        if (x === 'open') return new Promise<void>(() => {});
        if (x instanceof Error) return c.error(x);
        c.enqueue(typeof x === 'string' ? enc.encode(x) : x);
      },
    });
  const client = { fetch: async () => new Response(body() as unknown as globalThis.ReadableStream, { status: 200 }) } as unknown as AttestedClient;
  return { client, pulled: () => pulled };
}

/** A backend sending `chunks`, then `after` ('end' by default). */
const chunked = (chunks: (string | Uint8Array)[], after: 'end' | 'open' | Error = 'end'): ReturnType<typeof backend> => backend((i) => (i < chunks.length ? chunks[i]! : after));

async function read(api: ChatApi, b: { client: AttestedClient }): Promise<{ answer?: string; error?: Error & { code?: string }; written: string }> {
  let written = '';
  try {
    const answer = await streamChat(b.client, { api, model: 'm', prompt: 'p', write: (t) => (written += t) });
    return { answer, written };
  } catch (e) {
    return { error: e as Error, written };
  }
}

/** An Ollama line of exactly `bytes` bytes (without its line end) carrying `done: true`. */
function ollamaLineOf(bytes: number): string {
  const frame = nd('', true);
  const line = nd('a'.repeat(bytes - frame.length), true);
  expect(Buffer.byteLength(line)).toBe(bytes);
  return line;
}

describe('R2: an answer line is at most 1 MiB', () => {
  it('a 2 MiB line without a line end is refused once it passes 1 MiB, not read to its end', async () => {
    const piece = 'a'.repeat(16 * 1024);
    const b = backend((i) => (i < 128 ? piece : 'end')); // 2 MiB, no line end
    const r = await read('ollama', b);
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(/a line longer than 1048576 bytes/);
    // Refused at the chunk that passed the bound (one chunk the stream reads ahead besides).
    expect(b.pulled() * piece.length).toBeLessThanOrEqual(MAX_ANSWER_LINE_BYTES + 2 * piece.length);
  });

  it('the bound holds for a line that arrives whole in one chunk, and for server-sent events', async () => {
    const r = await read('openai', chunked([`data: ${'x'.repeat(2 << 20)}\n\ndata: [DONE]\n\n`]));
    expect(r.error?.code).toBe('ERR_CHAT');
  });

  it('a line of exactly 1 MiB is read; one byte more is refused', async () => {
    const max = ollamaLineOf(MAX_ANSWER_LINE_BYTES);
    const half = max.length >> 1;
    // In two chunks: the bound counts the bytes kept from earlier chunks too.
    expect((await read('ollama', chunked([max.slice(0, half), `${max.slice(half)}\n`]))).answer).toHaveLength(MAX_ANSWER_LINE_BYTES - nd('', true).length);
    const over = ollamaLineOf(MAX_ANSWER_LINE_BYTES + 1);
    expect((await read('ollama', chunked([over.slice(0, half), `${over.slice(half)}\n`]))).error?.code).toBe('ERR_CHAT');
    expect((await read('ollama', chunked([`${over}\n`]))).error?.code).toBe('ERR_CHAT');
  });

  it('review s9 changes-e #2: an NDJSON line of exactly 1 MiB ended by CRLF is read (the cap excludes the line end), also with the CR at a chunk end', async () => {
    const max = ollamaLineOf(MAX_ANSWER_LINE_BYTES);
    const length = MAX_ANSWER_LINE_BYTES - nd('', true).length;
    expect((await read('ollama', chunked([max.slice(0, 1000), `${max.slice(1000)}\r`, '\n']))).answer).toHaveLength(length);
    expect((await read('ollama', chunked([`${max}\r\n`]))).answer).toHaveLength(length);
    const over = ollamaLineOf(MAX_ANSWER_LINE_BYTES + 1);
    expect((await read('ollama', chunked([`${over}\r\n`]))).error?.code).toBe('ERR_CHAT');
  });
});

describe('R3: reading stops at the end marker', () => {
  it('Ollama: a stream left open after done: true is the answer', async () => {
    expect(await read('ollama', chunked([`${nd('Hi')}\n${nd('!', true)}\n`], 'open'))).toEqual({ answer: 'Hi!', written: 'Hi!\n' });
  });

  it('OpenAI: a stream left open after [DONE] is the answer', async () => {
    expect(await read('openai', chunked([`${sse('Hi')}\n\ndata: [DONE]\n\n`], 'open'))).toEqual({ answer: 'Hi', written: 'Hi\n' });
  });

  it('a connection reset after the end marker keeps the complete answer', async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect((await read('openai', chunked([`${sse('Hi')}\n\ndata: [DONE]\n\n`], reset))).answer).toBe('Hi');
    expect((await read('ollama', chunked([`${nd('Hi', true)}\n`], reset))).answer).toBe('Hi');
  });

  it('what follows the end marker in the same chunk is not read (not even a line over the bound)', async () => {
    expect((await read('ollama', chunked([`${nd('Hi', true)}\n${'{'.repeat(2 << 20)}`]))).answer).toBe('Hi');
  });
});

describe('R4: server-sent events end a line at CRLF, LF or a lone CR', () => {
  it('a stream whose lines end with CR alone is read', async () => {
    expect(await read('openai', chunked([`: hello\r${sse('Hi')}\r\r${sse(' there')}\r\rdata: [DONE]\r\r`]))).toEqual({ answer: 'Hi there', written: 'Hi there\n' });
  });

  it('CRLF is one line end (not a blank line ending the event), also when a chunk ends between its CR and LF', async () => {
    const b = chunked(['data: {"choices":[{"delta":\r', '\ndata: {"content":"x"}}]}\r', '\n\r', '\ndata: [DONE]\r', '\n\r\n']);
    expect((await read('openai', b)).answer).toBe('x');
    // The same within one chunk.
    expect((await read('openai', chunked(['data: {"choices":[{"delta":\r\ndata: {"content":"y"}}]}\r\n\r\ndata: [DONE]\r\n\r\n']))).answer).toBe('y');
  });

  it('Ollama NDJSON ends lines at LF only: a CR inside a line is JSON white space', async () => {
    expect((await read('ollama', chunked(['{"message":\r{"content":"a"},\r', '"done":true}\r\n']))).answer).toBe('a');
  });
});

describe('tee-verify chat through an attested gateway', () => {
  let stub: Stub;
  let options: ClientOptions;
  let evidence = 0;
  /** Per path: the chunks the stand-in backend writes; the response ends only if the last one is null. */
  const routes: Record<string, (string | null)[]> = {};
  beforeAll(async () => {
    options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
    stub = await startStub((req, res) => {
      // The chat's OpenAI route redirects (R6): fetch does not follow, the 3xx is the answer.
      if (req.url === '/v1/chat/completions') return void res.writeHead(307, { location: 'https://elsewhere.example/v1/chat/completions', 'content-length': 0 }).end(), true;
      const chunks = routes[req.url ?? ''];
      if (!chunks) return false;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const c of chunks) if (c === null) res.end(); else res.write(c);
      return true;
    });
    // Counts the evidence the stand-in gateway is asked for.
    const inner = stub.provider;
    stub.provider = { name: inner.name, getEvidence: (rd: Uint8Array) => ((evidence += 1), inner.getEvidence(rd)) } as EvidenceProvider;
  });
  afterAll(async () => stub?.close());

  async function chat(o: { json?: boolean; prompt?: string; stdin?: string; maxAgeMs?: number; api?: ChatApi }): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runChatSession(
      { gateway: stub.url, client: { ...options, ...(o.maxAgeMs !== undefined ? { maxAgeMs: o.maxAgeMs } : {}) }, api: o.api ?? 'ollama', model: 'm', ...(o.prompt !== undefined ? { prompt: o.prompt } : {}), json: o.json ?? false },
      { stdout: (t) => (out += t), stderr: (t) => (err += t), ...(o.stdin !== undefined ? { stdin: Readable.from([o.stdin]) } : {}) },
    );
    return { code, out, err };
  }

  it('R2: a line over 1 MiB is a backend error: exit 2, --json ERR_CHAT', async () => {
    routes['/api/chat'] = [`${nd('Hi')}\n`, 'b'.repeat(2 << 20), null];
    const r = await chat({ prompt: 'p' });
    expect(r.code).toBe(CHAT_EXIT.error);
    expect(r.err).toMatch(/^chat: the answer stream has a line longer than 1048576 bytes/);
    const j = await chat({ prompt: 'p', json: true });
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT' } });
  });

  it('R6: a 3xx answer to the chat request (redirects are not followed) ends the chat with exit 2, ERR_CHAT', async () => {
    const r = await chat({ prompt: 'p', api: 'openai' });
    expect(r.code).toBe(CHAT_EXIT.error);
    expect(r.err).toBe('chat: the gateway answered 307: \n');
    const j = await chat({ prompt: 'p', api: 'openai', json: true });
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT', message: 'the gateway answered 307: ' } });
  });

  it('R3: answers whose stream stays open after done: true end the turn (one-shot exit 0; interactive: the next prompt is answered)', async () => {
    routes['/api/chat'] = [`${nd('Hi')}\n`, `${nd('!', true)}\n`];
    const j = await chat({ prompt: 'p', json: true });
    expect(j.code).toBe(CHAT_EXIT.ok);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, answer: 'Hi!' });
    const before = stub.seen.length;
    const i = await chat({ stdin: 'one\ntwo\n' });
    expect(i.code).toBe(0);
    expect(i.out.match(/Hi!/g)).toHaveLength(2);
    expect(stub.seen.slice(before).map((r) => r.url)).toEqual(['/api/chat', '/api/chat']);
  });

  it('R3: the answer read to its end marker costs no further connection or attestation (maxAgeMs 0: every request attests)', async () => {
    routes['/api/chat'] = [`${nd('Hi')}\n`, `${nd('!', true)}\n`];
    evidence = 0;
    const j = await chat({ prompt: 'p', json: true, maxAgeMs: 0 });
    expect(j.code).toBe(0);
    // attest() before the prompt, and the request's own (trust never outlives its attestation);
    // none for the connection undici would open again for the request aborted after its end marker.
    expect(evidence).toBe(2);
  });
});
