/**
 * Review s9 (attested client), finding 4: the chat's stream reader parsed every SSE item as JSON (a
 * valid `: keep-alive` comment ended the chat, exit 2), and accepted a stream that stopped before
 * its end marker as a whole answer (exit 0 with half an answer). Now SSE comments and the event /
 * id / retry fields are skipped, data lines of one event are joined, and a stream without Ollama's
 * `done: true` or OpenAI's `data: [DONE]` is ERR_CHAT_UNAVAILABLE (exit 3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CHAT_EXIT, runChatSession, streamChat, type ChatApi } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy, type ClientOptions } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

const sse = (content: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}`;
const nd = (content: string, done = false): string => JSON.stringify({ message: { role: 'assistant', content }, done });

/** Bodies the stand-in backend streams, by name. */
const bodies: Record<string, string> = {
  // A comment, event / id / retry fields, CRLF line ends, a data value without the optional space.
  sseDecorated: `: keep-alive\n\nevent: message\nid: 1\nretry: 1000\n${sse('Hello')}\r\n\r\n:another comment\n${sse(', world')}\n\ndata:[DONE]\n\n`,
  // One event carried by two data lines (joined with a newline: still one JSON document).
  sseMultiline: `data: {"choices":[{"index":0,\ndata: "delta":{"content":"two lines"}}]}\n\ndata: [DONE]\n\n`,
  sseNoDone: `${sse('The answer is ')}\n\n`,
  ndjsonNoDone: `${nd('The answer is ')}\n`,
  ndjsonCutMidLine: `${nd('The answer is ')}\n{"message":{"content":"4`,
  ndjsonDone: `${nd('The answer is ')}\n${nd('42', true)}\n`,
  ndjsonDoneNoFinalNewline: `${nd('The answer is ')}\n${nd('42', true)}`,
  // The last event not ended by a blank line (review s9 changes b, R5): without any line end, and with one.
  sseDoneNoFinalNewline: `${sse('The answer is 42')}\n\ndata: [DONE]`,
  sseDoneNoBlankLine: `${sse('The answer is 42')}\n\ndata: [DONE]\n`,
};

/** A stand-in for the attested client whose backend streams `body`. */
const backend = (body: string): AttestedClient => ({ fetch: async () => new Response(body, { status: 200 }) }) as unknown as AttestedClient;

async function read(api: ChatApi, body: string): Promise<{ answer?: string; error?: Error & { code?: string }; written: string }> {
  let written = '';
  try {
    const answer = await streamChat(backend(body), { api, model: 'm', prompt: 'p', write: (t) => (written += t) });
    return { answer, written };
  } catch (e) {
    return { error: e as Error, written };
  }
}

describe('the chat reader', () => {
  it('skips SSE comments and the event, id and retry fields; CRLF lines and "data:" without a space are read', async () => {
    expect(await read('openai', bodies.sseDecorated!)).toEqual({ answer: 'Hello, world', written: 'Hello, world\n' });
  });

  it('joins the data lines of one event', async () => {
    expect((await read('openai', bodies.sseMultiline!)).answer).toBe('two lines');
  });

  it('a complete Ollama stream (done: true, with or without a final newline) is the answer', async () => {
    expect((await read('ollama', bodies.ndjsonDone!)).answer).toBe('The answer is 42');
    expect((await read('ollama', bodies.ndjsonDoneNoFinalNewline!)).answer).toBe('The answer is 42');
  });

  it('a complete OpenAI stream whose last event, [DONE], has no blank line or no line end after it is the answer (a deliberate departure from WHATWG, which drops such an event)', async () => {
    expect((await read('openai', bodies.sseDoneNoFinalNewline!)).answer).toBe('The answer is 42');
    expect((await read('openai', bodies.sseDoneNoBlankLine!)).answer).toBe('The answer is 42');
  });

  for (const [api, name] of [['ollama', 'ndjsonNoDone'], ['ollama', 'ndjsonCutMidLine'], ['openai', 'sseNoDone']] as const) {
    it(`${api}: a stream that ends without its end marker (${name}) is ERR_CHAT_UNAVAILABLE, not an answer`, async () => {
      const r = await read(api, bodies[name]!);
      expect(r.answer).toBeUndefined();
      expect(r.error?.code).toBe('ERR_CHAT_UNAVAILABLE');
      expect(r.error?.message).toMatch(/ended before its end marker/);
      expect(r.written).toBe('The answer is \n'); // what arrived was shown, then the line ended
    });
  }
});

describe('tee-verify chat through an attested gateway', () => {
  let stub: Stub;
  let options: ClientOptions;
  beforeAll(async () => {
    options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
    stub = await startStub((req, res) => {
      const body = { '/api/chat': bodies.ndjsonNoDone, '/v1/chat/completions': bodies.sseDecorated }[req.url ?? ''];
      if (body === undefined) return false;
      res.writeHead(200, { 'content-type': req.url === '/api/chat' ? 'application/x-ndjson' : 'text/event-stream' }).end(body);
      return true;
    });
  });
  afterAll(async () => stub?.close());

  async function chat(api: ChatApi, json: boolean): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runChatSession({ gateway: stub.url, client: options, api, model: 'm', prompt: 'p', json }, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
    return { code, out, err };
  }

  it('an Ollama answer cut before done: true exits 3 (retry later); --json says ERR_CHAT_UNAVAILABLE', async () => {
    const r = await chat('ollama', false);
    expect(r.code).toBe(CHAT_EXIT.retryable);
    expect(r.err).toMatch(/^chat: the answer stream ended before its end marker .* \(retry later\)\n$/);
    const j = await chat('ollama', true);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE' } });
  });

  it('an OpenAI stream with a keep-alive comment is answered (exit 0)', async () => {
    const j = await chat('openai', true);
    expect(j.code).toBe(CHAT_EXIT.ok);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, answer: 'Hello, world' });
  });
});
