/**
 * `tee-verify chat` in process (run() from src/cli/index.ts with captured
 * io) against a real gateway on 127.0.0.1 with the simulated TDX TEE: one-shot,
 * --json, interactive with piped input lines (the conversation kept as
 * history), and refusals (exit 1, reason and check ids, nothing sent).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { SECRET, mrTdOf, simulated, startHarness, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

let h: Harness;
let state: string;
let policy: string;
let badPolicy: string;

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 }); // every test attests anew: no evidence rate limit in the way
  state = join(h.dir, 'simulated-tee.json');
  writeFileSync(state, JSON.stringify(simulated.exportState()));
  const mrTd = await mrTdOf(simulated);
  policy = join(h.dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  badPolicy = join(h.dir, 'bad-policy.json');
  writeFileSync(badPolicy, JSON.stringify({ tee: 'tdx', mrTd: ['07'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
});
afterAll(async () => h?.close());

async function chat(args: string[], o: { input?: string[]; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (t: string) => void (stdout += t) },
    stderr: { write: (t: string) => void (stderr += t) },
    env: o.env ?? {},
    stdin: Readable.from(o.input ?? []),
  };
  const code = await run(['chat', '--gateway', h.gateway.url, '--simulated-state', state, ...args], io);
  return { code, stdout, stderr };
}

const sentSince = (n: number) => h.upstream.received.slice(n);

describe('tee-verify chat', () => {
  it('one-shot: prints what it verified, then the streamed answer', async () => {
    const r = await chat(['--policy', policy, '--token', h.token, '--prompt', 'hi there']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('TEE: tdx');
    expect(r.stdout).toContain('TCB status: UpToDate');
    expect(r.stdout).toContain(`mrTd=${(await mrTdOf(simulated)).slice(0, 16)}`);
    expect(r.stdout).toContain(`bound TLS key (SPKI SHA-256): ${h.gateway.spkiSha256}`);
    expect(r.stdout).toMatch(/TLS certificate SHA-256: [0-9a-f]{64}/);
    expect(r.stdout.indexOf('TEE: tdx')).toBeLessThan(r.stdout.indexOf(replyWords('hi there').join('')));
  });

  it('one-shot over the OpenAI API, the API key from TEE_GATEWAY_TOKEN', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', policy, '--api', 'openai', '--prompt', 'sse please'], { env: { TEE_GATEWAY_TOKEN: h.token } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(replyWords('sse please').join(''));
    const sent = sentSince(before);
    expect(sent.map((x) => x.path)).toEqual(['/v1/chat/completions']);
    expect(JSON.parse(sent[0]!.body)).toMatchObject({ model: 'gpt-4o-mini', stream: true });
  });

  it('control characters in the answer: visible \\xNN on the terminal, exact in --json (review, session 3)', async () => {
    const prompt = 'clip \x1b]52;c;ZXZpbA==\x07 now';
    const text = await chat(['--policy', policy, '--token', h.token, '--prompt', prompt]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toContain('\x1b');
    expect(text.stdout).toContain('\\x1b]52;c;ZXZpbA==\\x07');
    const json = await chat(['--policy', policy, '--token', h.token, '--prompt', prompt, '--json']);
    expect(JSON.parse(json.stdout.trim()).answer).toBe(replyWords(prompt).join(''));
  });

  it('--json: one object with the verification and the answer', async () => {
    const r = await chat(['--policy', policy, '--token', h.token, '--prompt', 'json me', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!);
    expect(doc.ok).toBe(true);
    expect(doc.answer).toBe(replyWords('json me').join(''));
    expect(doc.verification).toMatchObject({ tee: 'tdx', tcbStatus: 'UpToDate', spkiSha256: h.gateway.spkiSha256, debug: false });
    expect(doc.verification.measurements.mrTd).toBe(await mrTdOf(simulated));
  });

  it('interactive: one prompt per input line, the conversation sent as history, /exit stops', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', policy, '--token', h.token], { input: ['first question\n', '\n', 'second question\n', '/exit\n', `${SECRET}\n`] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('TEE: tdx');
    expect(r.stdout).toContain(replyWords('first question').join(''));
    expect(r.stdout).toContain(replyWords('second question').join(''));
    const sent = sentSince(before).map((x) => JSON.parse(x.body) as { messages: { role: string; content: string }[] });
    expect(sent).toHaveLength(2);
    expect(sent[1]!.messages).toEqual([
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: replyWords('first question').join('') },
      { role: 'user', content: 'second question' },
    ]);
    expect(JSON.stringify(sent)).not.toContain(SECRET);
  });

  it('interactive: /reset forgets the conversation', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', policy, '--token', h.token], { input: ['one\n', '/reset\n', 'two\n'] });
    expect(r.code).toBe(0);
    const sent = sentSince(before).map((x) => JSON.parse(x.body) as { messages: unknown[] });
    expect(sent.map((s) => s.messages.length)).toEqual([1, 1]);
  });

  it('refused by the policy: exit 1, reason and check id, no prompt byte sent, no input read', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', badPolicy, '--token', h.token], { input: [`${SECRET}\n`] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_ATTEST_POLICY');
    expect(r.stderr).toContain('T36');
    expect(r.stderr).toContain('no prompt byte was sent');
    expect(r.stdout).not.toContain('You said');
    expect(sentSince(before)).toHaveLength(0);
  });

  it('refused with --json: the error object on stdout, exit 1', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', badPolicy, '--token', h.token, '--prompt', SECRET, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, error: { code: 'ERR_ATTEST_POLICY' } });
    expect(doc.error.checks).toContain('T36');
    expect(sentSince(before)).toHaveLength(0);
  });

  it('refused when the gateway chains to roots the client does not trust (production roots): exit 1', async () => {
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => void (stderr += t) }, env: {} };
    const before = h.upstream.received.length;
    const collateral = join(h.dir, 'bundle.json');
    writeFileSync(collateral, simulated.collateralBundle());
    const code = await run(['chat', '--gateway', h.gateway.url, '--policy', policy, '--collateral', collateral, '--token', h.token, '--prompt', SECRET], io);
    expect(code).toBe(1);
    expect(stderr).toContain('ERR_ATTEST_EVIDENCE');
    expect(sentSince(before)).toHaveLength(0);
  });

  it('--collateral with --trust-root accepts the simulated gateway', async () => {
    const collateral = join(h.dir, 'bundle2.json');
    const root = join(h.dir, 'root.pem');
    writeFileSync(collateral, simulated.collateralBundle());
    writeFileSync(root, simulated.trustRootPem);
    let stdout = '';
    const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: () => true }, env: {} };
    const code = await run(['chat', '--gateway', h.gateway.url, '--policy', policy, '--collateral', collateral, '--trust-root', root, '--token', h.token, '--prompt', 'roots'], io);
    expect(code).toBe(0);
    expect(stdout).toContain(replyWords('roots').join(''));
  });

  it('a bad API key: the gateway answers 401, exit 2', async () => {
    const r = await chat(['--policy', policy, '--token', 'tgw_wrong', '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('401');
    expect(r.stderr).toContain('ERR_GATEWAY_UNAUTHORIZED');
  });

  it('usage errors: exit 2', async () => {
    expect((await chat(['--prompt', 'x'])).code).toBe(2); // no --policy
    expect((await chat(['--policy', policy, '--json'])).code).toBe(2); // --json without --prompt
    expect((await chat(['--policy', policy, '--api', 'grpc', '--prompt', 'x'])).code).toBe(2);
    // --help prints help (exit 0) only alone (s16 red team finding 2); chat() prepends --gateway
    // and --simulated-state, so there it is a usage error (s16 change review CLI finding 2).
    const beside = await chat(['--help']);
    expect(beside.code).toBe(2);
    expect(beside.stdout).not.toContain('tee-verify chat --gateway URL --policy FILE');
    let stdout = '';
    const alone = await run(['chat', '--help'], { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: () => undefined }, env: {} });
    expect(alone).toBe(0);
    expect(stdout).toContain('tee-verify chat --gateway URL --policy FILE');
  });
});
