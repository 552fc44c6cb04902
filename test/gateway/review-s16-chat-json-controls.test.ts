/**
 * s16 red team, chat finding 1 (medium): `tee-verify chat --json` wrote its one object with
 * JSON.stringify, which escapes C0 controls only. C1 controls (U+009B CSI, U+009D OSC, U+0085 NEL),
 * DEL, the bidi overrides and U+2028 / U+2029 from the model's answer, a backend's error, a non-200
 * body, and a 403 body on /v1/attestation (anyone on the path, before any verification) reached
 * stdout raw: a terminal acts on them, and Python's str.splitlines() cut the one-object line in
 * pieces none of which parses. Every chat JSON line is now written with jsonLine: the raw bytes hold
 * none of these characters, and JSON.parse gives back the exact text.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { runChatSession } from '../../src/gateway/chat-cli.js';
import { generateTls } from '../../src/gateway/tls.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy, type ClientOptions } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

/** 8-bit CSI clear screen and home, an 8-bit OSC 8 hyperlink, RLO, the separators, NEL, DEL, ALM, LRM. */
const HOSTILE = 'x \u009b2J\u009b1;1H\u009d8;;https://evil.example/\u009cclick\u009d8;;\u009c \u202eRLO\u2066\u2028next\u2029para\u0085nel\u007fdel\u061c\u200e end';
/** What a terminal or a Unicode line splitter acts on, which JSON.stringify leaves raw. */
// eslint-disable-next-line no-control-regex
const RAW = /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** Python's str.splitlines() boundaries. */
// eslint-disable-next-line no-control-regex
const PY_LINES = /\r\n|[\n\r\v\f\x1c\x1d\x1e\u0085\u2028\u2029]/;

const nd = (o: unknown): string => `${JSON.stringify(o)}\n`;

let stub: Stub;
let options: ClientOptions;
beforeAll(async () => {
  options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
  stub = await startStub((req, res, body) => {
    const prompt = (JSON.parse(body.toString()) as { messages: { content: string }[] }).messages[0]!.content;
    if (prompt === 'answer') res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(nd({ message: { content: HOSTILE } }) + nd({ done: true }));
    else if (prompt === 'backend-error') res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(nd({ error: HOSTILE }));
    else res.writeHead(500, { 'content-type': 'text/plain' }).end(HOSTILE);
    return true;
  });
});
afterAll(async () => stub?.close());

async function chat(gateway: string, prompt: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runChatSession({ gateway, client: { ...options, timeoutMs: 5000 }, api: 'ollama', model: 'm', prompt, json: true }, { stdout: (t) => (out += t), stderr: () => {} });
  return { code, out };
}

/** One line, no raw control, separator or bidi character, and one object under Python's line splitting too. */
function oneSafeObject(out: string): Record<string, any> {
  expect(out).not.toMatch(RAW);
  expect(out.endsWith('\n')).toBe(true);
  expect(out.slice(0, -1).split(PY_LINES)).toHaveLength(1);
  return JSON.parse(out) as Record<string, any>;
}

describe('tee-verify chat --json writes no raw C1, DEL, separator or bidi control (s16 red team chat #1)', () => {
  it("the model's answer: escaped on the wire, exact after JSON.parse", async () => {
    const r = await chat(stub.url, 'answer');
    expect(r.code).toBe(0);
    expect(oneSafeObject(r.out)).toMatchObject({ ok: true, answer: HOSTILE });
  });

  it("a backend's error report", async () => {
    const r = await chat(stub.url, 'backend-error');
    expect(r.code).toBe(2);
    const doc = oneSafeObject(r.out);
    expect(doc).toMatchObject({ ok: false, error: { code: 'ERR_CHAT' } });
    expect(doc.error.message).toBe(`the backend reported: ${HOSTILE}`);
  });

  it("a 500 answer's body", async () => {
    const r = await chat(stub.url, 'status-500');
    expect(r.code).toBe(3);
    const doc = oneSafeObject(r.out);
    expect(doc).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE' } });
    expect(doc.error.message).toBe(`the gateway answered 500: ${HOSTILE}`);
  });

  it('a 403 on /v1/attestation from anyone on the path (nothing verified): the refusal object', async () => {
    const tls = await generateTls(['127.0.0.1']);
    const server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end(`denied ${HOSTILE}`));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    try {
      const r = await chat(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'p');
      expect(r.code).toBe(1);
      const doc = oneSafeObject(r.out);
      expect(doc).toMatchObject({ ok: false, error: { code: 'ERR_ATTEST_EXCHANGE', status: 403 } });
      expect(doc.error.message).toContain(`denied ${HOSTILE}`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('a refused command line (the usage error names the --gateway value)', async () => {
    let out = '';
    const gateway = `not a url ${HOSTILE}`;
    const code = await run(['chat', '--gateway', gateway, '--policy', 'p.json', '--prompt', 'p', '--json'], { stdout: { write: (t: string) => void (out += t) }, stderr: { write: () => undefined }, env: {} });
    expect(code).toBe(2);
    const doc = oneSafeObject(out);
    expect(doc.gateway).toBe(gateway);
    expect(doc.error.message).toContain(HOSTILE);
  });
});
