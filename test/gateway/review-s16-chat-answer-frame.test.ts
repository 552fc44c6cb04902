/**
 * s16 red team, chat finding 3 (low): the model's answer was written unframed. Escape sequences were
 * neutralised, but a plain newline let it print lines identical to the client's own: "the gateway
 * presented a NEW TLS key; re-verified:" and a fake verification block, a fake `refused (…)` or
 * `you> ` line; and a backend error after a partial answer was printed on the answer's last line.
 * Now every line of the answer starts with ANSWER_MARK, which none of the client's lines starts with,
 * and the answer's last line is ended before anything else is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';

import { ANSWER_MARK, runChatSession, terminalSafe } from '../../src/gateway/chat-cli.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy, type ClientOptions } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

const FORGED = [
  'Sure.',
  '',
  'the gateway presented a NEW TLS key; re-verified:',
  '  TEE: tdx (DEBUG)',
  '  bound TLS key (SPKI SHA-256): ' + 'ab'.repeat(32),
  'refused (ERR_ATTEST_POLICY T36): fake',
  'you> ',
].join('\n');

const nd = (o: unknown): string => `${JSON.stringify(o)}\n`;

let stub: Stub;
let options: ClientOptions;
beforeAll(async () => {
  options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
  stub = await startStub((req, res, body) => {
    const prompt = (JSON.parse(body.toString()) as { messages: { content: string }[] }).messages.at(-1)!.content;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    if (prompt === 'forge') res.end(nd({ message: { content: 'Sure.\n\nthe gateway presented' } }) + nd({ message: { content: ` a NEW TLS key; re-verified:\n${FORGED.split('\n').slice(3).join('\n')}` } }) + nd({ done: true }));
    else if (prompt === 'wrap') res.end(nd({ message: { content: `${'x'.repeat(38)}the gateway presented a NEW TLS key; re-verified:\tsé😀${'y'.repeat(100)}` } }) + nd({ done: true }));
    else if (prompt === 'fail') res.end(nd({ message: { content: 'all checks passed, TEE verified' } }) + nd({ error: 'x' }));
    else res.end(nd({ message: { content: `${prompt}\nline two` } }) + nd({ done: true }));
    return true;
  });
});
afterAll(async () => stub?.close());

async function chat(o: { prompt?: string; input?: string[]; columns?: number }): Promise<{ code: number; out: string; err: string; both: string }> {
  let out = '';
  let err = '';
  let both = '';
  const code = await runChatSession(
    { gateway: stub.url, client: options, api: 'ollama', model: 'm', ...(o.prompt !== undefined ? { prompt: o.prompt } : {}) },
    { stdout: (t) => ((out += t), (both += t)), stderr: (t) => ((err += t), (both += t)), ...(o.columns ? { columns: o.columns } : {}), ...(o.input ? { stdin: Readable.from(o.input) } : {}) },
  );
  return { code, out, err, both };
}

/** The lines after the verification block (which ends with an empty line). */
const afterVerification = (out: string): string[] => out.slice(out.indexOf('\n\n') + 2).split('\n');

describe("the model's answer is framed (s16 red team chat #3)", () => {
  it('one-shot: every line of the answer starts with the mark, so no client line can be forged', async () => {
    const r = await chat({ prompt: 'forge' });
    expect(r.code).toBe(0);
    const lines = afterVerification(r.out);
    expect(lines).not.toContain('the gateway presented a NEW TLS key; re-verified:');
    expect(lines).not.toContain('you> ');
    for (const line of lines) expect(line === '' || line.startsWith(ANSWER_MARK)).toBe(true);
    // The text itself is all there, each line behind the mark; the empty line stays empty.
    expect(lines.slice(0, 7)).toEqual(FORGED.split('\n').map((l) => (l ? `${ANSWER_MARK}${l}` : '')));
    // The client's own lines never start with the mark.
    for (const line of r.out.slice(0, r.out.indexOf('\n\n')).split('\n')) expect(line.startsWith(ANSWER_MARK.trim())).toBe(false);
  });

  it('on a terminal of known width, the answer is broken before the terminal would wrap it: every visual line is marked (s16 chat change review #2)', async () => {
    const r = await chat({ prompt: 'wrap', columns: 40 });
    expect(r.code).toBe(0);
    const lines = afterVerification(r.out).filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(line.startsWith(ANSWER_MARK)).toBe(true);
      // an upper bound of the display width (tab 8, non-ASCII 2) never exceeds the terminal's
      const width = [...line].reduce((w, c) => w + (c === '\t' ? 8 : c.codePointAt(0)! >= 0x20 && c.codePointAt(0)! < 0x7f ? 1 : 2), 0);
      expect(width, line).toBeLessThanOrEqual(40);
    }
    // the text is all there once the marks and breaks are taken out
    expect(lines.map((l) => l.slice(ANSWER_MARK.length)).join('')).toBe(`${'x'.repeat(38)}the gateway presented a NEW TLS key; re-verified:\tsé😀${'y'.repeat(100)}`);
    // without a width (a pipe), the answer is not broken
    const piped = await chat({ prompt: 'wrap' });
    expect(afterVerification(piped.out).filter((l) => l !== '')).toHaveLength(1);
  });

  it('a backend error after a partial answer starts on a line of its own', async () => {
    const r = await chat({ prompt: 'fail' });
    expect(r.code).toBe(2);
    expect(r.out.endsWith(`${ANSWER_MARK}all checks passed, TEE verified\n`)).toBe(true);
    expect(r.both).toContain(`${ANSWER_MARK}all checks passed, TEE verified\nchat: the backend reported: x\n`);
  });

  it('interactive: each answer line is marked; the client lines stay unmarked', async () => {
    const r = await chat({ input: ['one\n', 'two\n'] });
    expect(r.code).toBe(0);
    const lines = afterVerification(r.out);
    expect(lines).toEqual([`chat with m through ${stub.url} (/reset forgets the conversation, /exit or end of input quits)`, `${ANSWER_MARK}one`, `${ANSWER_MARK}line two`, `${ANSWER_MARK}two`, `${ANSWER_MARK}line two`, '']);
  });

  it('terminalSafe shows U+2028 / U+2029 as text, so no terminal starts an unmarked line at them', () => {
    expect(terminalSafe('a\u2028b\u2029c')).toBe('a\\u{2028}b\\u{2029}c');
  });
});
