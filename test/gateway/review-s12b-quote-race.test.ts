/**
 * Change review s12 (svcgw), finding 2: on a gateway whose provider declares no TEE (configfs-tsm,
 * the real SEV-SNP deployment), GET /api/v1/tee/quote calls that arrived together before the first
 * evidence came back each took a slot of the evidence rate and a report, then answered 404; a burst
 * from any page (the route needs no credentials, CORS *) locked /v1/attestation clients out with 429.
 * Now the route asks the provider's TEE without a report (ConfigfsTsmProvider.detectTee: the
 * `provider` attribute), so an SEV-SNP gateway answers 404 with no slot and no report spent.
 * The provider is ConfigfsTsmProvider over the emulated kernel tree (test/tee/fake-configfs.ts).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

import { ConfigfsTsmProvider, SimulatedTeeProvider } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from '../tee/fake-configfs.js';
import { startHarness, type Harness } from './helpers.js';

let dir: string;
let h: Harness | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s12b-quote-'));
});
afterEach(async () => {
  await h?.close();
  h = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An emulated tree whose report generation waits until `hold` reports are being generated at once (then all go on). */
async function tree(name: string, kernel: 'tdx_guest' | 'sev_guest', hold: number): Promise<FakeConfigfsTsm> {
  const root = join(dir, name);
  await mkdir(root);
  const sim = new SimulatedTeeProvider({ tee: kernel === 'tdx_guest' ? 'tdx' : 'snp' });
  let waiting = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return new FakeConfigfsTsm({
    root,
    provider: kernel,
    generate: async (inblob) => {
      waiting += 1;
      if (waiting >= hold) release();
      // A fallback so a test on other code cannot hang: no assertion depends on it.
      await Promise.race([all, new Promise((r) => setTimeout(r, 3000))]);
      const e = await sim.getEvidence(inblob);
      return { outblob: e.evidence, ...(e.auxblob ? { auxblob: e.auxblob } : {}) };
    },
  });
}

it('SEV-SNP over configfs: concurrent quote calls answer 404 with no report and no slot; /v1/attestation still gets its evidence', async () => {
  const fake = await tree('snp', 'sev_guest', 2);
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }), attestationsPerSecond: 2, attestationsPerClient: 2, limiterClock: () => 0 });
  const both = await Promise.all([h.call('GET', '/api/v1/tee/quote', { token: null }), h.call('GET', '/api/v1/tee/quote', { token: null })]);
  expect(both.map((r) => r.status)).toEqual([404, 404]);
  expect(both.map((r) => r.json?.error?.code)).toEqual(['ERR_GATEWAY_NOT_FOUND', 'ERR_GATEWAY_NOT_FOUND']);
  expect(fake.generatedReports).toBe(0);
  const body = JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') });
  // Together, so the tree's gate (2 reports at once) opens for them.
  const [a, b] = await Promise.all([h.call('POST', '/v1/attestation', { token: null, body }), h.call('POST', '/v1/attestation', { token: null, body })]);
  expect([a.status, b.status]).toEqual([200, 200]);
  expect(fake.generatedReports).toBe(2);
});

it('TDX over configfs: the quote is served, one report per call (regression guard)', async () => {
  const fake = await tree('tdx', 'tdx_guest', 2);
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }), attestationsPerSecond: 4, attestationsPerClient: 4, limiterClock: () => 0 });
  const both = await Promise.all([h.call('GET', '/api/v1/tee/quote', { token: null }), h.call('GET', '/api/v1/tee/quote', { token: null })]);
  expect(both.map((r) => r.status)).toEqual([200, 200]);
  expect(both.every((r) => typeof r.json?.quote === 'string' && r.json.quote.length > 0)).toBe(true);
  expect(fake.generatedReports).toBe(2);
});
