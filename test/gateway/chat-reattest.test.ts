/**
 * The chat session shows every re-verification a turn relied on, before that
 * turn's answer: a gateway restarted with a NEW TLS key (header + the whole
 * verification), a renewal of the same key (one line), --json carrying the
 * verification the answer travelled on, and a re-attestation refused
 * mid-conversation (reason and check ids, exit 1, the prompt never sent).
 * Real gateways on 127.0.0.1 with the simulated TDX TEE and the test upstream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeReverification, describeVerification, lineSafe, runChatSession, type ChatIo } from '../../src/gateway/chat-cli.js';
import { startGateway, type AttestedClientOptions, type Gateway, type GatewayVerification } from '../../src/gateway/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { SECRET, clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { replyWords, startChatUpstream, type ChatUpstream } from './upstream.js';

let upstream: ChatUpstream;
let dir: string;
let options: AttestedClientOptions;
beforeAll(async () => {
  upstream = await startChatUpstream();
  dir = mkdtempSync(join(tmpdir(), 'tee-chat-reattest-'));
  options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
});
afterAll(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

let gateways = 0;
const start = (provider: EvidenceProvider, port = 0): Promise<Gateway> =>
  startGateway({ upstream: upstream.url, db: join(dir, `g${(gateways += 1)}.sqlite`), provider, port, log: () => {}, requireApiKey: false, attestationsPerSecond: 1000 });

const answerOf = (prompt: string): string => replyWords(prompt).join('');

/** Captured output; `until(text)` resolves once stdout contains it. */
function capture(stdin?: NodeJS.ReadableStream): ChatIo & { out: () => string; err: () => string; until: (text: string) => Promise<void> } {
  let out = '';
  let err = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of waiting.filter((x) => out.includes(x.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  };
  return {
    stdout: (t) => ((out += t), check()),
    stderr: (t) => void (err += t),
    ...(stdin ? { stdin } : {}),
    out: () => out,
    err: () => err,
    until: (text) => new Promise<void>((resolve) => (waiting.push({ text, resolve }), check())),
  };
}

/** A verification clock one second further at each call, starting now; `seen` keeps what it returned. */
function steppingClock(): { at: () => Date; seen: Date[] } {
  const base = Date.now();
  const seen: Date[] = [];
  return { seen, at: () => (seen.push(new Date(base + seen.length * 1000)), seen.at(-1)!) };
}

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('chat: re-verifications are shown before the answer that relied on them', () => {
  it('a gateway restarted with a NEW TLS key between two prompts: the header and the new SPKI come before the second answer', async () => {
    const first = await start(simulated);
    const input = new PassThrough();
    const io = capture(input);
    let second: Gateway | undefined;
    try {
      const session = runChatSession({ gateway: first.url, client: options, api: 'ollama', model: 'm' }, io);
      input.write('one\n');
      await io.until(`${answerOf('one')}\n`); // written once the answer's stream ended
      await first.close();
      second = await start(simulated, first.port);
      input.end('two\n');
      expect(await session, io.err()).toBe(0);
      expect(second.spkiSha256).not.toBe(first.spkiSha256);
      const out = io.out();
      const header = out.indexOf('the gateway presented a NEW TLS key; re-verified:');
      const newKey = out.indexOf(`bound TLS key (SPKI SHA-256): ${second.spkiSha256}`);
      expect(out.indexOf(`bound TLS key (SPKI SHA-256): ${first.spkiSha256}`)).toBeLessThan(out.indexOf(answerOf('one')));
      expect(out.indexOf(answerOf('one'))).toBeLessThan(header);
      expect(header).toBeLessThan(newKey);
      expect(newKey).toBeLessThan(out.indexOf(answerOf('two')));
      expect(count(out, 'NEW TLS key')).toBe(1);
      expect(count(out, 'TEE: tdx')).toBe(2); // the first banner and the new key's full verification
      expect(out).not.toContain('trust renewed');
    } finally {
      input.destroy();
      await first.close();
      await second?.close();
    }
  });

  it('trust renewed on the same key (maxAgeMs 0: every turn re-attests): one notice line per turn, before its answer', async () => {
    const g = await start(simulated);
    const clock = steppingClock();
    const io = capture(Readable.from(['one\n', 'two\n']));
    try {
      const code = await runChatSession({ gateway: g.url, client: { ...options, maxAgeMs: 0, at: clock.at }, api: 'ollama', model: 'm' }, io);
      expect(io.err()).toBe('');
      expect(code).toBe(0);
      const out = io.out();
      const lines = out.split('\n');
      const notices = lines.filter((l) => l.startsWith('re-verified the same TLS key (trust renewed): TCB status UpToDate, verified at '));
      expect(notices).toHaveLength(2);
      expect(count(out, 'TEE: tdx')).toBe(1); // the full verification only once
      expect(out).not.toContain('NEW TLS key');
      expect(out.indexOf(notices[0]!)).toBeLessThan(out.indexOf(answerOf('one')));
      expect(out.indexOf(answerOf('one'))).toBeLessThan(out.indexOf(notices[1]!));
      expect(out.indexOf(notices[1]!)).toBeLessThan(out.indexOf(answerOf('two')));
      // The second notice shows the latest verification: the clock's last instant.
      expect(notices[1]).toContain(`verified at ${clock.seen.at(-1)!.toISOString()}, trusted until `);
    } finally {
      await g.close();
    }
  });

  it('--json carries the verification the answer travelled on, not the first', async () => {
    const g = await start(simulated);
    const clock = steppingClock();
    const io = capture();
    try {
      const code = await runChatSession({ gateway: g.url, client: { ...options, maxAgeMs: 0, at: clock.at }, api: 'ollama', model: 'm', prompt: 'json me', json: true }, io);
      expect(code).toBe(0);
      const doc = JSON.parse(io.out());
      expect(doc.answer).toBe(answerOf('json me'));
      expect(clock.seen.length).toBeGreaterThan(1);
      expect(doc.verification.at).not.toBe(clock.seen[0]!.toISOString());
      expect(doc.verification.at).toBe(clock.seen.at(-1)!.toISOString());
      expect(doc.verification.spkiSha256).toBe(g.spkiSha256);
    } finally {
      await g.close();
    }
  });

  it('a re-attestation refused mid-conversation (the restarted gateway runs another image): reason and check id, exit 1, the prompt never sent', async () => {
    const first = await start(simulated);
    // The same simulated platform (PKI, collateral) booting another image: another MRTD.
    const otherImage = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
    expect(await mrTdOf(otherImage)).not.toBe(await mrTdOf(simulated));
    const input = new PassThrough();
    const io = capture(input);
    let second: Gateway | undefined;
    try {
      const session = runChatSession({ gateway: first.url, client: options, api: 'ollama', model: 'm' }, io);
      input.write('one\n');
      await io.until(`${answerOf('one')}\n`); // written once the answer's stream ended
      await first.close();
      second = await start(otherImage, first.port);
      const before = upstream.received.length;
      input.end(`${SECRET}\n`);
      expect(await session).toBe(1);
      expect(io.err()).toContain('refused (ERR_ATTEST_POLICY T36');
      expect(io.err()).toContain('the re-attestation failed: this prompt was not sent; the chat ends.');
      expect(upstream.received.slice(before)).toHaveLength(0);
      expect(io.out()).not.toContain(SECRET);
      expect(io.out()).not.toContain('NEW TLS key');
    } finally {
      input.destroy();
      await first.close();
      await second?.close();
    }
  });
});

describe('describeReverification and the verification lines', () => {
  const base: GatewayVerification = {
    tee: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], measurements: { mrTd: 'ab'.repeat(48) }, debug: false,
    certificateSha256: 'cc'.repeat(32), spkiSha256: 'dd'.repeat(32), at: '2025-01-01T00:00:00.000Z', validUntil: '2025-01-30T00:00:00.000Z', warnings: [],
  };

  it('same key and claims: one line; claims changed on the same key: the whole verification; another key: the NEW-key header', () => {
    expect(describeReverification(base, { ...base, at: '2025-01-02T00:00:00.000Z' })).toEqual([
      're-verified the same TLS key (trust renewed): TCB status UpToDate, verified at 2025-01-02T00:00:00.000Z, trusted until 2025-01-30T00:00:00.000Z at most',
    ]);
    const changed = describeReverification(base, { ...base, tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00001'] });
    expect(changed[0]).toBe('re-verified the same TLS key, and the verification CHANGED:');
    expect(changed).toContain('  TCB status: OutOfDate, advisories INTEL-SA-00001');
    const rotated = describeReverification(base, { ...base, spkiSha256: 'ee'.repeat(32) });
    expect(rotated[0]).toBe('the gateway presented a NEW TLS key; re-verified:');
    expect(rotated).toContain(`  bound TLS key (SPKI SHA-256): ${'ee'.repeat(32)}`);
  });

  it('control characters from the evidence (advisory ids, TCB status) reach the terminal visible, line breaks included', () => {
    const hostile = { ...base, tcbStatus: 'UpToDate\x1b[2K', advisoryIds: ['INTEL-SA-1\nbound TLS key (SPKI SHA-256): forged'] };
    const lines = [...describeVerification(hostile), ...describeReverification(base, { ...hostile, at: '2025-01-02T00:00:00.000Z' })];
    expect(lines.join('')).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(lines.join('')).toContain('INTEL-SA-1\\x0abound TLS key');
    expect(lines.join('')).toContain('UpToDate\\x1b[2K');
    expect(lineSafe('a\tb\x9b')).toBe('a\\x09b\\x9b');
  });
});
