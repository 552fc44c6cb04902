/**
 * `tee-verify chat --handshake-evidence` against a real gateway on 127.0.0.1: the evidence comes in
 * the TLS handshake (said in the verification, human and --json), the answer streams, and a policy
 * with a vtpm section is a usage error (exit 2) before anything is sent.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { mrTdOf, simulated, startHarness, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

let h: Harness;
let state: string;
let policy: string;
let vtpmPolicy: string;

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  state = join(h.dir, 'simulated-tee.json');
  writeFileSync(state, JSON.stringify(simulated.exportState()));
  const mrTd = await mrTdOf(simulated);
  policy = join(h.dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  vtpmPolicy = join(h.dir, 'vtpm-policy.json');
  writeFileSync(vtpmPolicy, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', vtpm: { unknownImaEntries: 'violation' } }));
});
afterAll(async () => h?.close());

async function chat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {}, stdin: Readable.from([]) };
  const code = await run(['chat', '--gateway', h.gateway.url, '--simulated-state', state, ...args], io);
  return { code, stdout, stderr };
}

describe('tee-verify chat --handshake-evidence', () => {
  it('one-shot: the verification says the evidence came in the handshake, then the answer', async () => {
    const r = await chat(['--policy', policy, '--token', h.token, '--prompt', 'hello handshake', '--handshake-evidence']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('evidence in the handshake');
    expect(r.stdout).toContain(`bound TLS key (SPKI SHA-256): ${h.gateway.spkiSha256}`);
    expect(r.stdout).toContain(replyWords('hello handshake').join(''));
  });

  it('--json carries evidenceIn: "handshake"', async () => {
    const r = await chat(['--policy', policy, '--token', h.token, '--prompt', 'json', '--json', '--handshake-evidence']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout.trim());
    expect(doc.verification).toMatchObject({ evidenceIn: 'handshake', spkiSha256: h.gateway.spkiSha256 });
  });

  it('without the flag the evidence is asked for in-band', async () => {
    const r = await chat(['--policy', policy, '--token', h.token, '--prompt', 'json', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim()).verification.evidenceIn).toBeUndefined();
  });

  it('with a policy that has a vtpm section: exit 2, nothing sent', async () => {
    const before = h.upstream.received.length;
    const r = await chat(['--policy', vtpmPolicy, '--token', h.token, '--prompt', 'no', '--handshake-evidence']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--handshake-evidence');
    expect(h.upstream.received.length).toBe(before);
  });
});
