/**
 * Review s12, change review of 7087d67 (finding 1): the provider `tee-gateway serve --configfs --vtpm`
 * builds (Tpm2ToolsVtpmProvider around ConfigfsTsmProvider, src/gateway/vtpm-cli.ts) kept its hardware
 * part private and had no detectTee, so on SEV-SNP concurrent calls of the TDX-only quote route each
 * spent a rate slot and a report before answering 404, and /v1/attestation clients then got 429. It now
 * asks its hardware part (Tpm2ToolsVtpmProvider.detectTee).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ConfigfsTsmProvider, SimulatedTeeProvider, Tpm2ToolsVtpmProvider } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from '../tee/fake-configfs.js';
import { startHarness, type Harness } from './helpers.js';

let dir: string;
let h: Harness | undefined;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'cr-gw2-vtpm-')); });
afterEach(async () => { await h?.close(); h = undefined; });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

it('SEV-SNP --configfs --vtpm: concurrent quote calls answer 404 without a report or a slot', async () => {
  const root = join(dir, 'snp');
  await mkdir(root);
  const sim = new SimulatedTeeProvider({ tee: 'snp' });
  let waiting = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  const fake = new FakeConfigfsTsm({
    root, provider: 'sev_guest',
    generate: async (inblob) => {
      waiting += 1;
      if (waiting >= 2) release();
      await Promise.race([all, new Promise((r) => setTimeout(r, 300))]); // holds concurrent reports together
      const e = await sim.getEvidence(inblob);
      return { outblob: e.evidence, ...(e.auxblob ? { auxblob: e.auxblob } : {}) };
    },
  });
  const configfs = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
  const provider = new Tpm2ToolsVtpmProvider({ hardware: configfs, run: async () => { throw new Error('no TPM in this test'); } } as never);
  h = await startHarness({ provider, attestationsPerSecond: 2, attestationsPerClient: 2, limiterClock: () => 0 });
  const both = await Promise.all([h.call('GET', '/api/v1/tee/quote', { token: null }), h.call('GET', '/api/v1/tee/quote', { token: null })]);
  const after = await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') }) });
  expect(both.map((r) => r.status)).toEqual([404, 404]);
  expect(fake.generatedReports).toBe(1); // the /v1/attestation below, none for the 404s
  expect(after.status).toBe(200);
});
