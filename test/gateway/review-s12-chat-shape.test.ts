/**
 * Review s12 (gateway), finding 5: the chat's answer stream did not check the shape of what it
 * parsed. A backend line `null`, or content that is not a string (`{…}`, `[…]`, `7`), ended the chat
 * with an internal TypeError (`text.replace is not a function`, `Cannot read properties of null`);
 * a falsy non-string (`0`, `false`) was appended to the answer as text. Each NDJSON line / SSE event
 * must be a JSON object and its content, when present, a string (null counts as none, as OpenAI's
 * deltas send it): anything else is the documented format refusal, AnswerFormatError, ERR_CHAT (exit 2).
 */
import { describe, expect, it } from 'vitest';

import { streamChat, type ChatApi } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';

const client = (body: string): AttestedClient => ({ fetch: async () => new Response(body, { status: 200 }) }) as unknown as AttestedClient;

async function read(api: ChatApi, body: string): Promise<{ answer?: string; error?: Error & { code?: string }; written: string }> {
  let written = '';
  try {
    const answer = await streamChat(client(body), { api, model: 'm', prompt: 'p', write: (t) => (written += t) });
    return { answer, written };
  } catch (e) {
    return { error: e as Error & { code?: string }, written };
  }
}

const nd = (item: string): string => `${item}\n{"message":{"content":""},"done":true}\n`;
const sse = (data: string): string => `data: ${data}\n\ndata: [DONE]\n\n`;

describe('answer stream items of the wrong shape (s12 finding 5)', () => {
  it.each([
    ['null', nd('null')],
    ['a number', nd('7')],
    ['a string', nd('"hello"')],
    ['an array', nd('[{"message":{"content":"a"}}]')],
    ['object content', nd('{"message":{"content":{"x":"\\u001b]52;c;aGk=\\u0007"}}}')],
    ['array content', nd('{"message":{"content":["a"]}}')],
    ['content 0', nd('{"message":{"content":0}}')],
    ['content false', nd('{"message":{"content":false}}')],
    ['a message that is not an object', nd('{"message":"hi"}')],
    ['a number as response', nd('{"response":7}')],
    ['null as the last line, without a line end', '{"message":{"content":"a"}}\nnull'],
  ])('Ollama, %s: ERR_CHAT format refusal, nothing written', async (_name, body) => {
    const r = await read('ollama', body);
    expect(r.error?.constructor.name).toBe('AnswerFormatError');
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(/the backend misbehaves/);
    expect(r.written).not.toMatch(/object|\u001b|false|^0/);
  });

  it.each([
    ['null', sse('null')],
    ['a number', sse('7')],
    ['content 7', sse('{"choices":[{"delta":{"content":7}}]}')],
    ['content 0', sse('{"choices":[{"delta":{"content":0}}]}')],
    ['content false', sse('{"choices":[{"delta":{"content":false}}]}')],
    ['object content', sse('{"choices":[{"delta":{"content":{"a":1}}}]}')],
    ['choices that is not an array', sse('{"choices":"abc"}')],
    ['a choice that is null', sse('{"choices":[null]}')],
    ['a delta that is not an object', sse('{"choices":[{"delta":"x"}]}')],
  ])('OpenAI, %s: ERR_CHAT format refusal', async (_name, body) => {
    const r = await read('openai', body);
    expect(r.error?.constructor.name).toBe('AnswerFormatError');
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(/the backend misbehaves/);
  });

  it('well-formed items without text still pass: null content, an empty delta, no choices (a usage chunk), an empty message', async () => {
    const o = await read('openai', `data: {"choices":[{"delta":{"role":"assistant","content":null}}]}\n\ndata: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: {"choices":[],"usage":{"total_tokens":3}}\n\ndata: [DONE]\n\n`);
    expect(o).toEqual({ answer: 'Hi', written: 'Hi\n' });
    const n = await read('ollama', '{"message":{"role":"assistant","content":"Hi"},"done":false}\n{"message":{"role":"assistant","content":""},"done":true}\n');
    expect(n).toEqual({ answer: 'Hi', written: 'Hi\n' });
    const g = await read('ollama', '{"response":"Hi","done":false}\n{"response":"","done":true}\n');
    expect(g).toEqual({ answer: 'Hi', written: 'Hi\n' });
  });

  it('an error the backend reports as an object is shown as JSON, not [object Object]', async () => {
    const r = await read('ollama', '{"error":{"message":"model not found"}}\n');
    expect(r.error?.message).toContain('model not found');
  });
});
