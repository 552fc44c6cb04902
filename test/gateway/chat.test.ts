/**
 * The attested client verifies the gateway (simulated TDX TEE, test PKI) and
 * then streams chats through it: Ollama /api/chat and /api/generate NDJSON, OpenAI with and without
 * SSE streaming; one attestation serves many requests; 200 concurrent
 * streaming chats arrive intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, attestedFetch, type AttestedClientOptions } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, openAiChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

let h: Harness;
let options: AttestedClientOptions;
let evidenceCalls = 0;

beforeAll(async () => {
  const counting: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => ((evidenceCalls += 1), simulated.getEvidence(rd)) };
  h = await startHarness({ provider: counting });
  options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
});
afterAll(async () => h?.close());

const auth = () => ({ authorization: `Bearer ${h.token}`, 'content-type': 'application/json' });

async function readChunks(body: ReadableStream<Uint8Array> | null): Promise<string[]> {
  const chunks: string[] = [];
  const dec = new TextDecoder();
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) chunks.push(dec.decode(c, { stream: true }));
  return chunks;
}

describe('attested chat', () => {
  it('verifies the gateway, then streams an Ollama /api/chat NDJSON answer', async () => {
    const client = new AttestedClient(h.gateway.url, options);
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', headers: auth(), body: ollamaChat('hello there') });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-ndjson');
      const chunks = await readChunks(res.body);
      const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.at(-1).done).toBe(true);
      expect(lines.slice(0, -1).map((l) => l.message.content)).toEqual(replyWords('hello there'));
      expect(chunks.length).toBeGreaterThan(1); // arrived in pieces, not buffered whole
      const v = client.last!;
      expect(v.tee).toBe('tdx');
      expect(v.tcbStatus).toBe('UpToDate');
      expect(v.spkiSha256).toBe(h.gateway.spkiSha256);
      expect(v.measurements['mrTd']).toBe(await mrTdOf(simulated));
      expect(v.certificateSha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await client.close();
    }
  });

  it('OpenAI /v1/chat/completions: one chat.completion, and an SSE stream ending in [DONE]', async () => {
    const client = new AttestedClient(h.gateway.url, options);
    try {
      const one = await client.fetch('/v1/chat/completions', { method: 'POST', headers: auth(), body: openAiChat('hi', false) });
      const doc = (await one.json()) as { object: string; choices: { message: { content: string } }[] };
      expect(doc.object).toBe('chat.completion');
      expect(doc.choices[0]!.message.content).toBe(replyWords('hi').join(''));
      const sse = await client.fetch('/v1/chat/completions', { method: 'POST', headers: auth(), body: openAiChat('stream me', true) });
      expect(sse.headers.get('content-type')).toBe('text/event-stream');
      const events = (await sse.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
      expect(events.at(-1)).toBe('[DONE]');
      const text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0].delta.content ?? '').join('');
      expect(text).toBe(replyWords('stream me').join(''));
    } finally {
      await client.close();
    }
  });

  it('Ollama /api/generate: an NDJSON stream of "response" pieces, arriving in pieces', async () => {
    const client = new AttestedClient(h.gateway.url, options);
    try {
      const res = await client.fetch('/api/generate', { method: 'POST', headers: auth(), body: JSON.stringify({ model: 'llama3.2', prompt: 'generate something long enough' }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-ndjson');
      const chunks = await readChunks(res.body);
      const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === 'string')).toBe(true);
      expect(lines.slice(0, -1).map((l) => l.response)).toEqual(replyWords('generate something long enough'));
      expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'stop', response: '' });
      expect(chunks.length).toBeGreaterThan(1);
      expect(h.upstream.received.at(-1)).toMatchObject({ method: 'POST', path: '/api/generate' });
    } finally {
      await client.close();
    }
  });

  it('a verified key is reused: several requests, one attestation', async () => {
    const client = new AttestedClient(h.gateway.url, { ...options, connections: 4 });
    try {
      const before = evidenceCalls;
      for (let i = 0; i < 5; i++) {
        const r = await client.fetch('/api/chat', { method: 'POST', headers: auth(), body: ollamaChat(`n${i}`, false) });
        expect(r.status).toBe(200);
        await r.text();
      }
      expect(evidenceCalls - before).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('attestedFetch (one shot) works the same', async () => {
    const res = await attestedFetch(`${h.gateway.url}/api/generate`, { method: 'POST', headers: auth(), body: JSON.stringify({ model: 'm', prompt: 'why', stream: false }) }, options);
    expect(((await res.json()) as { response: string }).response).toBe(replyWords('why').join(''));
  });

  it('200 concurrent streaming chats complete intact', async () => {
    const client = new AttestedClient(h.gateway.url, { ...options, connections: 64 });
    try {
      const one = async (i: number): Promise<void> => {
        const prompt = `chat number ${i} with some words`;
        const res = await client.fetch('/api/chat', { method: 'POST', headers: auth(), body: ollamaChat(prompt) });
        const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
        expect(lines.at(-1).done).toBe(true);
        expect(lines.slice(0, -1).map((l) => l.message.content).join('')).toBe(replyWords(prompt).join(''));
      };
      await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
    } finally {
      await client.close();
    }
  }, 60_000);
});
