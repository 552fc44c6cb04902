/**
 * s14 change review (gateway), R3: `maxAnswerBytes` of streamChat / runChatSession was not checked.
 * NaN turned the answer bound of review s14 finding 1 off (`bytes > NaN` is never true), and Infinity
 * or any number above MAX_ANSWER_BYTES raised it, where the docs say it only lowers it. Now it is a
 * whole number from 1 to MAX_ANSWER_BYTES, else ERR_INVALID_ARGUMENT naming the option, before
 * anything is sent (runChatSession: exit 70, the caller's fault, and the gateway is not contacted).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ReadableStream } from 'node:stream/web';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { CHAT_EXIT, MAX_ANSWER_BYTES, runChatSession, streamChat } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';

const piece = Buffer.from(`${JSON.stringify({ message: { content: 'A'.repeat(1000) }, done: false })}\n`);

/** A client whose answer is `chunks` pieces of ~1 KB, then the end marker; `calls()` counts fetches. */
function client(chunks: number): { client: AttestedClient; calls: () => number } {
  let calls = 0;
  const fetch = async (): Promise<Response> => {
    calls += 1;
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < chunks) c.enqueue(piece);
        else if (i === chunks) c.enqueue(Buffer.from('{"done":true}\n'));
        else c.close();
        i += 1;
      },
    });
    return new Response(body as unknown as globalThis.ReadableStream, { status: 200 });
  };
  return { client: { fetch } as unknown as AttestedClient, calls: () => calls };
}

const BAD: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e15, MAX_ANSWER_BYTES + 1, 0, -1, 1.5, '1000', null];

describe('streamChat', () => {
  it.each(BAD.map((v) => [String(v), v]))('maxAnswerBytes %s: ERR_INVALID_ARGUMENT naming the option, nothing sent', async (_name, maxAnswerBytes) => {
    const c = client(3);
    const err = await streamChat(c.client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, maxAnswerBytes: maxAnswerBytes as number }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((err as Error).message).toContain('maxAnswerBytes');
    expect(c.calls()).toBe(0);
  });

  it('a lower bound in range still bounds the answer (control)', async () => {
    const c = client(10);
    await expect(streamChat(c.client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, maxAnswerBytes: 5000 })).rejects.toMatchObject({ code: 'ERR_CHAT' });
    const ok = await streamChat(client(3).client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, maxAnswerBytes: MAX_ANSWER_BYTES });
    expect(ok.length).toBe(3000);
  });
});

describe('runChatSession', () => {
  let server: Server;
  let connections = 0;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => {
      connections += 1;
      sockets.push(s);
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it.each([[Number.NaN], [Number.POSITIVE_INFINITY], [MAX_ANSWER_BYTES * 2]])('maxAnswerBytes %s: exit 70, ERR_INVALID_ARGUMENT, the gateway not contacted', async (maxAnswerBytes) => {
    let out = '';
    let err = '';
    const before = connections;
    const code = await runChatSession(
      { gateway: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, client: clientOptions(tdxPolicy(await mrTdOf(simulated))), api: 'ollama', model: 'm', prompt: 'hi', json: true, maxAnswerBytes },
      { stdout: (t) => (out += t), stderr: (t) => (err += t) },
    );
    const doc = JSON.parse(out.trim().split('\n').pop()!);
    expect(code).toBe(CHAT_EXIT.internal);
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(doc.error.message).toContain('maxAnswerBytes');
    expect(err).toContain('ERR_INVALID_ARGUMENT');
    expect(connections).toBe(before);
  });
});
