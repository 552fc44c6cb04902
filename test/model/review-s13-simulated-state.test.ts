/**
 * Review s13 #4: a malformed --simulated-state file (truncated, hand-edited) gave a raw SyntaxError
 * or an OpenSSL "DECODER routines::unsupported" and exit 70 (internal error). It is now the typed
 * ERR_TSM_PROVIDER, "not a usable simulated TEE state", exit 2 (unusable input), naming the file
 * and never quoting it (it holds private keys); a vmpl in the file is checked as the option is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exitCodeOf, run } from '../../src/model/cli.js';
import { SimulatedTeeProvider, type SimulatedTeeState } from '../../src/tee/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-s13-simstate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let tdx: SimulatedTeeState;
beforeAll(() => {
  tdx = new SimulatedTeeProvider({ tee: 'tdx' }).exportState();
});

function refusal(state: string | SimulatedTeeState): { code: string; message: string } {
  let e: unknown;
  try {
    SimulatedTeeProvider.fromState(state);
  } catch (err) {
    e = err;
  }
  expect(e, 'the state was accepted').toBeDefined();
  return e as { code: string; message: string };
}

async function cli(file: string): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
  const code = await run(['simulated-tee', '--state', file], io);
  return { code, stderr };
}

describe('review s13 #4: an unusable simulated TEE state is ERR_TSM_PROVIDER, exit 2', () => {
  const broken: [string, () => string][] = [
    ['truncated JSON', () => '{"format":"tee-model-simulated-tee","version":1,'],
    ['a signing key that is not PEM', () => JSON.stringify({ ...tdx, signingKeyPem: 'nope' })],
    ['the reviewer\'s SEV-SNP file', () => '{"format":"tee-model-simulated-tee","version":1,"tee":"snp","seed":"x","at":"2024-01-01T00:00:00Z","signingKeyPem":"nope","trustRootPem":"","collateralBundle":"{}"}'],
    ['a collateral bundle that is not one', () => JSON.stringify({ ...tdx, collateralBundle: '{}' })],
    ['a trust root that is not a certificate', () => JSON.stringify({ ...tdx, trustRootPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })],
    ['a seed that is a number', () => JSON.stringify({ ...tdx, seed: 7 })],
    ['a missing signing key', () => JSON.stringify({ ...tdx, signingKeyPem: undefined })],
    ['"at" not a date', () => JSON.stringify({ ...tdx, at: 'yesterday' })],
    ['"keys" neither random nor seed', () => JSON.stringify({ ...tdx, keys: 'maybe' })],
    ['vmpl on a TDX state', () => JSON.stringify({ ...tdx, vmpl: 1 })],
    ['vmpl 7', () => JSON.stringify({ ...tdx, tee: 'snp', vmpl: 7 })],
    ['a JSON array', () => '[]'],
    ['JSON null', () => 'null'],
  ];
  for (const [what, text] of broken) {
    it(`${what}: fromState throws ERR_TSM_PROVIDER, exit 2, the key not quoted`, () => {
      const e = refusal(text());
      expect(e.code).toBe('ERR_TSM_PROVIDER');
      expect(exitCodeOf(e)).toBe(2);
      expect(e.message).not.toContain('PRIVATE KEY');
    });
  }

  it('tee-model simulated-tee --state <truncated file>: exit 2, ERR_TSM_PROVIDER naming the file', async () => {
    const file = join(dir, 'truncated.json');
    writeFileSync(file, JSON.stringify(tdx).slice(0, 400));
    const r = await cli(file);
    expect(r.stderr).toMatch(/ERR_TSM_PROVIDER: --simulated-state .*truncated\.json: not a usable simulated TEE state: the text is not JSON/);
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(r.code).toBe(2);
  });

  it('tee-model simulated-tee --state <a key that does not parse>: exit 2, not 70', async () => {
    const file = join(dir, 'bad-key.json');
    writeFileSync(file, JSON.stringify({ ...tdx, signingKeyPem: 'nope' }));
    const r = await cli(file);
    expect(r.stderr).toMatch(/ERR_TSM_PROVIDER: --simulated-state .*bad-key\.json: not a usable simulated TEE state: its keys, certificates or collateral bundle do not parse/);
    expect(r.code).toBe(2);
  });

  it('SEV-SNP: vmpl 0-3 from the file restores; 7, -1, 1.5 or "2" are refused as the vmpl option is', () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp' }).exportState();
    expect(SimulatedTeeProvider.fromState({ ...snp, vmpl: 2 }).exportState().vmpl).toBe(2);
    for (const vmpl of [7, -1, 1.5, '2']) {
      const e = refusal(JSON.stringify({ ...snp, vmpl }));
      expect({ code: e.code, message: e.message }).toEqual({ code: 'ERR_TSM_PROVIDER', message: expect.stringMatching(/"vmpl" is an integer 0-3/) });
    }
  });

  it('a good state still restores', () => {
    expect(SimulatedTeeProvider.fromState(JSON.stringify(tdx)).tee).toBe('tdx');
    expect(SimulatedTeeProvider.fromState(tdx).exportState().signingKeyPem).toBe(tdx.signingKeyPem);
  });
});
