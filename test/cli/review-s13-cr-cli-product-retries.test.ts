/**
 * s13 change review CLI A and B: options a command cannot use are refused, not ignored.
 * A: `verify --product` on a TDX quote (it selects SEV-SNP report versions) is exit 2.
 * B: `collateral export --retries` (export fetches nothing) is exit 2, naming the option.
 */
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const tee = new SimulatedTeeProvider({ tee: 'tdx' });
const quote = async (): Promise<string> => temps.file('q.bin', (await tee.getEvidence(new Uint8Array(64))).evidence);

describe('s13 change review CLI: --product on a quote, --retries on export', () => {
  it('verify --product Milan on a TDX quote: exit 2, the message says why', async () => {
    const r = await cli(['verify', await quote(), '--product', 'Milan', '--offline', '--cache-dir', temps.make()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--product applies to SEV-SNP evidence: .* is a TDX quote/);
  });

  it('control: the same quote without --product is not a usage error', async () => {
    const r = await cli(['verify', await quote(), '--offline', '--cache-dir', temps.make()]);
    expect(r.code).not.toBe(2);
  });

  it('collateral export --retries 3: exit 2, naming --retries', async () => {
    const r = await cli(['collateral', 'export', await quote(), '--retries', '3', '--cache-dir', temps.make(), '--out', join(temps.make(), 'out.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/drop --retries/);
  });
});

describe('s13 docs review #4: collateral fetch / export --product on a quote', () => {
  it('is exit 2 for both, as in verify', async () => {
    for (const sub of ['fetch', 'export']) {
      const r = await cli(['collateral', sub, await quote(), '--product', 'Genoa', '--offline', '--cache-dir', temps.make(), '--out', join(temps.make(), 'out.json')]);
      expect(r.code, sub).toBe(2);
      expect(r.stderr).toMatch(/--product applies to SEV-SNP evidence: .* is a TDX quote/);
    }
  });
});
