/**
 * Review s7 item 3: `tee-verify chat` with a policy that pins no code
 * measurement (mrTd "any") used to print "measurements accepted by the
 * policy (8)" with no warning. It now warns on stderr before attesting (the
 * same rule as the key broker's and the ITA translation's unpinned refusal,
 * X07), and still chats: genuine, current hardware may be all the user asks.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadPolicy } from '../../src/index.js';
import { run } from '../../src/cli/index.js';
import { unpinnedMeasurement } from '../../src/cli/chat.js';
import { mrTdOf, simulated, startHarness, type Harness } from '../gateway/helpers.js';

let h: Harness;
let state: string;

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  state = join(h.dir, 'simulated-tee.json');
  writeFileSync(state, JSON.stringify(simulated.exportState()));
});
afterAll(async () => h?.close());

function policyFile(name: string, doc: object): string {
  const path = join(h.dir, name);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

async function chat(policy: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {}, stdin: Readable.from([]) };
  const code = await run(['chat', '--gateway', h.gateway.url, '--simulated-state', state, '--policy', policy, '--token', h.token, '--prompt', 'hello'], io);
  return { code, stdout, stderr };
}

describe('tee-verify chat with a policy that pins no measurement', () => {
  it('warns on stderr that the policy pins no measurement, then chats as before', async () => {
    const r = await chat(policyFile('unpinned.json', { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: --policy .*unpinned\.json pins no measurement \(mrTd is "any"\): passing attestation shows genuine, current TDX hardware, not which code the gateway runs/m);
    expect(r.stdout).toContain('measurements accepted by the policy');
  });

  it('no such warning when mrTd is pinned', async () => {
    const r = await chat(policyFile('pinned.json', { tee: 'tdx', mrTd: [await mrTdOf(simulated)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('the rule per TEE: TDX mrTd, SGX mrEnclave and mrSigner, SEV-SNP measurement', () => {
    const hex = (n: number) => ['ab'.repeat(n)];
    const tdx = (mrTd: unknown) => loadPolicy({ tee: 'tdx', mrTd, mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
    const sgx = (mrEnclave: unknown, mrSigner: unknown) => loadPolicy({ tee: 'sgx', mrEnclave, mrSigner, isvProdId: 'any', isvSvn: 'any' });
    const snp = (measurement: unknown) => loadPolicy({ tee: 'snp', measurement, hostData: 'any' });
    expect(unpinnedMeasurement(tdx('any'))).toBe('mrTd is "any"');
    expect(unpinnedMeasurement(tdx(hex(48)))).toBeUndefined();
    expect(unpinnedMeasurement(sgx('any', 'any'))).toBe('mrEnclave and mrSigner are "any"');
    expect(unpinnedMeasurement(sgx('any', hex(32)))).toBeUndefined();
    expect(unpinnedMeasurement(sgx(hex(32), 'any'))).toBeUndefined();
    expect(unpinnedMeasurement(snp('any'))).toBe('measurement is "any"');
    expect(unpinnedMeasurement(snp(hex(48)))).toBeUndefined();
  });
});
