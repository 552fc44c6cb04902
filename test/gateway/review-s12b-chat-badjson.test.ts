/**
 * Change review s12 (svcgw), finding 1: an answer-stream line that is not JSON at all, in the middle
 * of the stream (`{bad`, a proxy's HTML error page, `data: {bad`), ended the chat with the bare,
 * untyped SyntaxError of JSON.parse, although docs/gateway.md promises the format refusal
 * (AnswerFormatError, ERR_CHAT, exit 2) for "an NDJSON line or SSE event that is not a JSON object".
 * A last line cut off mid-JSON stays an incomplete answer (ERR_CHAT_UNAVAILABLE), as before.
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

describe('an answer-stream line that is not JSON (s12 change review, finding 1)', () => {
  it.each([
    ['ollama', 'a broken object mid-stream', '{"message":{"content":"a"}}\n{bad\n{"message":{"content":""},"done":true}\n'],
    ['ollama', 'an HTML error page', '<html>502 Bad Gateway</html>\n{"done":true}\n'],
    ['ollama', 'a broken line, then a cut-off one', '{"message":{"content":"a"}}\n{b\n{"mess'],
    ['openai', 'a broken event', 'data: {bad\n\ndata: [DONE]\n\n'],
    ['openai', 'an event of two lines that do not join into JSON', 'data: {"choices":\ndata: x\n\ndata: [DONE]\n\n'],
  ] as const)('%s, %s: the format refusal, ERR_CHAT, not a SyntaxError', async (api, _name, body) => {
    const r = await read(api, body);
    expect(r.error).toBeDefined();
    expect(r.error).not.toBeInstanceOf(SyntaxError);
    expect(r.error?.constructor.name).toMatch(/AnswerFormatError|AnswerNotJsonError/);
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(/^the answer stream's (line|event) is not JSON: not the backend's answer format \(the backend misbehaves\)$/);
    expect(r.answer).toBeUndefined();
  });

  it('the refusal does not echo the backend text (it may hold terminal escapes)', async () => {
    const r = await read('ollama', '\u001b]52;c;aGk=\u0007{\n{"done":true}\n');
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).not.toMatch(/\u001b|aGk/);
  });

  it.each([
    ['ollama', '{"message":{"content":"The answer is "}}\n{"message":{"cont'],
    ['openai', 'data: {"choices":[{"delta":{"content":"The answer is "}}]}\n\ndata: {"choices":[{"del'],
    ['openai', 'data: {"choices":[{"delta":{"content":"The answer is "}}]}\n\ndata: {"choices":[{"del\n'],
  ] as const)('%s: a last line cut off mid-JSON is still an incomplete answer (ERR_CHAT_UNAVAILABLE)', async (api, body) => {
    const r = await read(api, body);
    expect(r.error?.code).toBe('ERR_CHAT_UNAVAILABLE');
    expect(r.error?.message).toMatch(/ended before its end marker/);
    expect(r.written).toBe('The answer is \n');
  });
});
