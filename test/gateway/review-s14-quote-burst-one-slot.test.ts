/**
 * s14 change review (gateway), R2: after a failed "which TEE?" question (review s14, finding 3), every
 * call to GET /api/v1/tee/quote took its evidence-rate slot before joining the shared question, so
 * when the TEE came up as SEV-SNP a burst of N calls spent N slots for N 404s (docs: one slot for its
 * one 404), and /v1/attestation, which shares the rate, was refused right after. Now one call asks
 * under its slot; the calls that arrive while that question is in flight wait for its answer with no
 * slot and take one only for a TDX (or still unknown) TEE. The provider is ConfigfsTsmProvider over
 * the emulated kernel tree (test/tee/fake-configfs.ts), whose mkdir fails with ENXIO until `up()`.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

import { ConfigfsTsmProvider, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from '../tee/fake-configfs.js';
import { startHarness, type Harness } from './helpers.js';

let dir: string;
let h: Harness | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s14-quote-burst-'));
});
afterEach(async () => {
  await h?.close();
  h = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An emulated tree whose instances cannot be created (ENXIO) until `up()`; `mkdirs()` counts every attempt. */
async function tree(name: string, kernel: 'tdx_guest' | 'sev_guest'): Promise<{ fake: FakeConfigfsTsm; fs: TsmFs; up: () => void; mkdirs: () => number }> {
  const root = join(dir, name);
  await mkdir(root);
  const sim = new SimulatedTeeProvider({ tee: kernel === 'tdx_guest' ? 'tdx' : 'snp' });
  const fake = new FakeConfigfsTsm({
    root,
    provider: kernel,
    generate: async (inblob) => {
      const e = await sim.getEvidence(inblob);
      return { outblob: e.evidence, ...(e.auxblob ? { auxblob: e.auxblob } : {}) };
    },
  });
  let isUp = false;
  let mkdirs = 0;
  const fs: TsmFs = {
    mkdir: async (p) => {
      mkdirs += 1;
      if (!isUp) throw Object.assign(new Error(`ENXIO: ${p}`), { code: 'ENXIO' });
      return fake.fs.mkdir(p);
    },
    rmdir: (p) => fake.fs.rmdir(p),
    readFile: (p, max) => fake.fs.readFile(p, max),
    writeFile: (p, d) => fake.fs.writeFile(p, d),
  };
  return { fake, fs, up: () => (isUp = true), mkdirs: () => mkdirs };
}

const body = JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') });

it('SEV-SNP comes up after a failed question: a burst of three costs one slot, /v1/attestation is served right after', async () => {
  const t = await tree('snp', 'sev_guest');
  let now = 0;
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: t.fake.root, fs: t.fs }), attestationsPerSecond: 3, attestationsPerClient: 3, limiterClock: () => now });
  await h.call('GET', '/api/v1/tee/quote', { token: null }); // the question fails, a slot, the TEE fails
  expect(t.mkdirs()).toBe(2);
  t.up();
  now = 60_000; // the bucket is full again (3 slots)
  const burst = await Promise.all([0, 1, 2].map(() => h!.call('GET', '/api/v1/tee/quote', { token: null })));
  expect(burst.map((x) => x.status)).toEqual([404, 404, 404]);
  expect(t.mkdirs()).toBe(3); // one question for the burst
  expect(t.fake.generatedReports).toBe(0);
  // Two of the three slots are left: /v1/attestation twice, then the bucket is empty.
  expect((await h.call('POST', '/v1/attestation', { token: null, body })).status).toBe(200);
  expect((await h.call('POST', '/v1/attestation', { token: null, body })).status).toBe(200);
  expect((await h.call('POST', '/v1/attestation', { token: null, body })).status).toBe(429);
});

it('TDX comes up after a failed question: each call of the burst still takes its own slot for its quote', async () => {
  const t = await tree('tdx', 'tdx_guest');
  let now = 0;
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: t.fake.root, fs: t.fs }), attestationsPerSecond: 2, attestationsPerClient: 2, limiterClock: () => now });
  await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect(t.mkdirs()).toBe(2);
  t.up();
  now = 60_000; // 2 slots
  const burst = await Promise.all([0, 1, 2].map(() => h!.call('GET', '/api/v1/tee/quote', { token: null })));
  expect(burst.map((x) => x.status).sort()).toEqual([200, 200, 429]);
  expect(t.fake.generatedReports).toBe(2);
  expect(t.mkdirs()).toBe(2 + 1 + 2); // one question, two reports; the refused call touched nothing
  expect((await h.call('POST', '/v1/attestation', { token: null, body })).status).toBe(429);
});

it('the TEE still down: the waiting calls take a slot each, as before; refused ones touch nothing', async () => {
  const t = await tree('down', 'tdx_guest');
  let now = 0;
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: t.fake.root, fs: t.fs }), attestationsPerSecond: 1, attestationsPerClient: 1, limiterClock: () => now });
  await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect(t.mkdirs()).toBe(2);
  now = 60_000; // 1 slot
  const burst = await Promise.all([0, 1, 2].map(() => h!.call('GET', '/api/v1/tee/quote', { token: null })));
  const statuses = burst.map((x) => x.status);
  expect(statuses.filter((s) => s === 429)).toHaveLength(2);
  expect(statuses.filter((s) => s !== 429 && s !== 200 && s !== 404)).toHaveLength(1);
  expect(t.mkdirs()).toBe(4); // the slot holder's question and its report attempt
});
