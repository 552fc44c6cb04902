/**
 * s15 (gateway fixer's note, after red team gateway finding 1): `tee-verify chat` parsed each streamed
 * NDJSON line / SSE event with JSON.parse unbounded. A line may be as long as the whole answer (64 MiB
 * cap), and nested arrays cost ~29 bytes of heap per byte: a backend behind the attested gateway could
 * take the client past its heap. Each item's shape is now bounded first (json-guard.ts), a format
 * refusal (ERR_CHAT) before any large allocation.
 */
import { describe, expect, it } from 'vitest';

import { streamChat, type ChatApi } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';

const client = (body: string): AttestedClient => ({ fetch: async () => new Response(body, { status: 200 }) }) as unknown as AttestedClient;

async function read(api: ChatApi, body: string): Promise<{ answer?: string; error?: Error & { code?: string } }> {
  try {
    return { answer: await streamChat(client(body), { api, model: 'm', prompt: 'p', write: () => {} }) };
  } catch (e) {
    return { error: e as Error & { code?: string } };
  }
}

/** One NDJSON line just under the 1 MiB line cap (MAX_ANSWER_LINE_BYTES). */
const half = 500_000;
const line = '['.repeat(half) + ']'.repeat(half);
/** An SSE event may join many data lines of up to 1 MiB each: 16 MiB of nesting. */
const open = `data: ${'['.repeat(half)}\n`.repeat(16);
const close = `data: ${']'.repeat(half)}\n`.repeat(16);

describe('a streamed item whose JSON shape would cost memory (s15)', () => {
  it.each([
    ['ollama', `{"message":{"content":"a"}}\n${line}\n{"done":true}\n`, 12],
    ['openai', `${open}${close}\ndata: [DONE]\n\n`, 100],
  ] as const)('%s: deeply nested arrays are the format refusal before JSON.parse, heap growth bounded', async (api, body, maxMiB) => {
    const before = process.memoryUsage().heapUsed;
    const r = await read(api, body);
    const grown = process.memoryUsage().heapUsed - before;
    expect(r.error?.code).toBe('ERR_CHAT');
    expect(r.error?.message).toMatch(/nested deeper than 32/);
    // JSON.parse would build one array per 2 bytes (~29 bytes of heap per byte: ~29 MB and ~460 MB);
    // the refusal holds a few copies of the text
    expect(grown).toBeLessThan(maxMiB * 1024 * 1024);
  });

  it.each([
    ['ollama', '{"message":{"content":"Hello"}}\n{"message":{"content":" world"},"done":true}\n'],
    ['openai', 'data: {"choices":[{"delta":{"content":"Hello"}}]}\n\ndata: {"choices":[{"delta":{"content":" world"}}]}\n\ndata: [DONE]\n\n'],
  ] as const)('%s: an ordinary answer still streams', async (api, body) => {
    expect(await read(api, body)).toEqual({ answer: 'Hello world' });
  });
});
