/**
 * s16 red team, chat finding 2 (low): nothing bounded how long an answer may take. The bounds were
 * bytes only (1 MiB a line, 64 MiB an answer), and the gateway's idle timer restarts at every byte,
 * so a backend (or a stuck model) sending an empty piece or an SSE comment now and then held
 * `tee-verify chat` (also `--json --prompt` in a script) for ever. Now one deadline covers the whole
 * answer (`--answer-timeout SECONDS`, default 600, 0 = none; `answerTimeoutMs` of runChatSession /
 * streamChat): past it the request is aborted, `ERR_CHAT_UNAVAILABLE`, exit 3.
 *
 * The backends here trickle for ever; the tests set a 1 s deadline and assert the error, never how
 * long it took.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { ANSWER_TIMEOUT_MS, CHAT_EXIT, runChatSession, streamChat } from '../../src/gateway/chat-cli.js';
import type { AttestedClient } from '../../src/gateway/index.js';
import { mrTdOf, simulated } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

/** Writes `piece` every 50 ms until the connection closes: a stream that never ends. */
function trickle(res: ServerResponse, status: number, type: string, piece: string): void {
  res.writeHead(status, { 'content-type': type });
  const timer = setInterval(() => res.write(piece), 50);
  res.on('close', () => clearInterval(timer));
}

let stub: Stub;
let dir: string;
let state: string;
let policy: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's16-chat-timeout-'));
  state = join(dir, 'simulated-tee.json');
  writeFileSync(state, JSON.stringify(simulated.exportState()));
  policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [await mrTdOf(simulated)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  stub = await startStub((req, res, body) => {
    // The latest prompt (interactive turns send the whole conversation).
    const prompt = (JSON.parse(body.toString()) as { messages: { content: string }[] }).messages.at(-1)!.content;
    if (prompt === 'quick') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('{"message":{"content":"hi"}}\n{"done":true}\n');
    } else if (prompt === 'error-body') {
      trickle(res, 500, 'text/plain', 'x');
    } else if (req.url === '/v1/chat/completions') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'Sure' } }] })}\n\n`);
      const timer = setInterval(() => res.write(': ping\n\n'), 50);
      res.on('close', () => clearInterval(timer));
    } else {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' }).write('{"message":{"content":"Sure"}}\n');
      const timer = setInterval(() => res.write('{"message":{"content":""}}\n'), 50);
      res.on('close', () => clearInterval(timer));
    }
    return true;
  });
});
afterAll(async () => stub?.close());

async function chat(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {} };
  const code = await run(['chat', '--gateway', stub.url, '--simulated-state', state, '--policy', policy, ...args], io);
  return { code, stdout, stderr };
}

describe('tee-verify chat: one deadline for the whole answer (s16 red team chat #2)', () => {
  it('an Ollama backend sending empty pieces for ever: --answer-timeout 1 aborts it, exit 3, ERR_CHAT_UNAVAILABLE', { timeout: 15_000 }, async () => {
    const r = await chat('--prompt', 'drip', '--answer-timeout', '1');
    expect(r.code).toBe(CHAT_EXIT.retryable);
    expect(r.stdout).toContain('Sure'); // what arrived was shown
    expect(r.stderr).toMatch(/^chat: no complete answer within 1 s \(the answer timeout, --answer-timeout\): the request was aborted \(retry later\)\n$/);
    const j = await chat('--prompt', 'drip', '--answer-timeout', '1', '--json');
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE', message: expect.stringMatching(/answer timeout/) } });
  });

  it('an OpenAI backend sending SSE comments for ever', { timeout: 15_000 }, async () => {
    const j = await chat('--api', 'openai', '--prompt', 'drip', '--answer-timeout', '1', '--json');
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE', message: expect.stringMatching(/answer timeout/) } });
  });

  it('a non-200 answer whose body trickles below the 300 bytes quoted', { timeout: 15_000 }, async () => {
    const j = await chat('--prompt', 'error-body', '--answer-timeout', '1', '--json');
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE', message: expect.stringMatching(/answer timeout/) } });
  });

  it('interactive: the turn that ran out ends the chat with the same error', { timeout: 15_000 }, async () => {
    let stdout = '';
    let stderr = '';
    const { Readable } = await import('node:stream');
    const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {}, stdin: Readable.from(['quick\n', 'drip\n', 'never sent\n']) };
    const code = await run(['chat', '--gateway', stub.url, '--simulated-state', state, '--policy', policy, '--answer-timeout', '1'], io);
    expect(code).toBe(3);
    expect(stdout).toContain('hi');
    expect(stderr).toMatch(/no complete answer within 1 s/);
    expect(stub.seen.filter((s) => s.body.includes('never sent'))).toHaveLength(0);
  });

  it('an answer within the deadline, and with --answer-timeout 0 (none), is the answer', async () => {
    for (const t of ['1', '0']) {
      const j = await chat('--prompt', 'quick', '--answer-timeout', t, '--json');
      expect(j.code).toBe(0);
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, answer: 'hi' });
    }
  });

  it('a bad --answer-timeout is a usage error (exit 2) before anything is sent; a bad answerTimeoutMs is ERR_INVALID_ARGUMENT (exit 70)', async () => {
    const before = stub.seen.length;
    for (const t of ['-1', '1.5', 'abc', '', '2147484']) expect((await chat('--prompt', 'quick', '--answer-timeout', t)).code).toBe(2);
    let stderr = '';
    for (const answerTimeoutMs of [Number.NaN, -1, 0.5, Infinity, 2 ** 31]) {
      const code = await runChatSession({ gateway: stub.url, client: {} as never, api: 'ollama', model: 'm', prompt: 'p', answerTimeoutMs }, { stdout: () => {}, stderr: (t) => (stderr += t) });
      expect(code).toBe(CHAT_EXIT.internal);
    }
    expect(stderr).toMatch(/answerTimeoutMs must be a whole number/);
    expect(stub.seen.length).toBe(before);
    expect(ANSWER_TIMEOUT_MS).toBe(600_000);
  });
});

describe('streamChat answerTimeoutMs', () => {
  it('a gateway that never answers the request: the deadline ends the wait', { timeout: 15_000 }, async () => {
    const client = { fetch: () => new Promise(() => {}) } as unknown as AttestedClient;
    await expect(streamChat(client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, answerTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_CHAT_UNAVAILABLE', message: expect.stringMatching(/answer timeout/) });
  });

  it("a stand-in client that ignores the abort signal: the body's reading ends and the body is cancelled", { timeout: 15_000 }, async () => {
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => c.enqueue(new TextEncoder().encode('{"message":{"content":""}}\n')), 50);
      },
      cancel() {
        cancelled = true;
        clearInterval(timer);
      },
    });
    const client = { fetch: async () => new Response(body, { status: 200 }) } as unknown as AttestedClient;
    try {
      await expect(streamChat(client, { api: 'ollama', model: 'm', prompt: 'p', write: () => {}, answerTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_CHAT_UNAVAILABLE' });
      await expect.poll(() => cancelled).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });
});
