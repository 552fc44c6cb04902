/**
 * Review s12, change review of 206114c (finding 2): the leniency for a last line "cut off mid-JSON"
 * took any text that is not JSON, so a proxy's HTML error page without a final newline, or an SSE
 * data line that is not JSON in an event never closed, ended as "retry later" (ERR_CHAT_UNAVAILABLE,
 * exit 3) instead of the format refusal (ERR_CHAT, exit 2). Only a last item that begins as a JSON
 * object counts as cut off now.
 */
import { describe, expect, it } from 'vitest';

import { streamChat, type ChatApi } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';

const client = (body: string): AttestedClient => ({ fetch: async () => new Response(body, { status: 200 }) }) as unknown as AttestedClient;

async function outcome(api: ChatApi, body: string): Promise<string> {
  try {
    await streamChat(client(body), { api, model: 'm', prompt: 'p', write: () => {} });
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}`;
  }
}

describe('chat: the last item of an answer stream', () => {
  it.each([
    ['ollama', '<html><body>502 Bad Gateway</body></html>'],
    ['ollama', '{"message":{"content":"a"}}\n<html>502 Bad Gateway</html>'],
    ['openai', 'data: <html>502 Bad Gateway</html>\n'],
    ['openai', 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: not json at all\n'],
    // Beginning with `{` is not enough: the parse must run out of text, not meet a wrong character
    // (s12 change review crl2 #2), and only JSON white space may come before it.
    ['ollama', '{"message":{"content":"a"}}\n{error: upstream timed out}'],
    ['ollama', '{"message":{"content":"a"}}\n{"message":{"content":"b"}} <html>'],
    ['ollama', '{"message":{"content":"a"}}\n\u00a0{"message":{"cont'],
    ['openai', 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {not json}\n'],
    // V8 quotes the input in some messages: a forged "at position 99" in it proves nothing (s12 change review x509c #2).
    ['ollama', '{"message":{"content":"a"}}\n{"":xat position 99}'],
    ['openai', 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"":xat position 99}\n'],
  ] as const)('%s %j: text no JSON object starts with is the format refusal ERR_CHAT', async (api, body) => {
    expect(await outcome(api, body)).toBe('ERR_CHAT');
  });

  it.each([
    ['ollama', '{"message":{"content":"a"}}\n{"message":{"cont'],
    ['openai', 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"del'],
    ['ollama', '{"message":{"content":"a"}}\n{"message":{"content":"b"},"done":tr'],
    ['ollama', '{"message":{"content":"a"}}\n  {"message":{"content":"b"}'],
    ['ollama', '{"message":{"content":"a"}}\n{"message":{"content":"b\\u00'],
  ] as const)('%s %j: an object cut off mid-way is an answer that ended early (ERR_CHAT_UNAVAILABLE)', async (api, body) => {
    expect(await outcome(api, body)).toBe('ERR_CHAT_UNAVAILABLE');
  });
});
