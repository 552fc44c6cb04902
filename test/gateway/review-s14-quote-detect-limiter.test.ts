/**
 * Review s14 (gateway), finding 3: GET /api/v1/tee/quote (no credentials, CORS *) asked configfs-tsm
 * "which TEE?" (ConfigfsTsmProvider.detectTee: mkdir, read `provider`, rmdir) before the evidence
 * rate limiter, and a failed answer is not kept: while the TEE was not up yet, every call, also each
 * one the limiter then refused with 429, created and removed a configfs-tsm instance. Now, once the
 * question failed, the route asks it again only after taking its slot: refused calls touch nothing.
 * The provider is ConfigfsTsmProvider over the emulated kernel tree (test/tee/fake-configfs.ts),
 * whose mkdir fails with ENXIO (no TSM provider registered yet) until the test brings it up.
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
  dir = await mkdtemp(join(tmpdir(), 'review-s14-quote-'));
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

it('TDX not up yet: calls the limiter refuses touch no configfs-tsm; once up, the quote is served', async () => {
  const t = await tree('tdx', 'tdx_guest');
  let now = 0;
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: t.fake.root, fs: t.fs }), attestationsPerSecond: 1, attestationsPerClient: 1, limiterClock: () => now });
  // The first call asks (fails), takes the slot, asks the TEE for a report (fails): two attempts.
  const first = await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect([200, 404, 429]).not.toContain(first.status);
  expect(t.mkdirs()).toBe(2);
  // The slot is spent: refused, and configfs-tsm is not touched (before: one instance each).
  for (let i = 0; i < 3; i += 1) {
    const r = await h.call('GET', '/api/v1/tee/quote', { token: null });
    expect(r.status).toBe(429);
  }
  expect(t.mkdirs()).toBe(2);
  // The TEE comes up; the next second's slot: asked again under it, then the report.
  t.up();
  now = 5000;
  const served = await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect(served.status).toBe(200);
  expect(typeof served.json?.quote).toBe('string');
  expect(t.fake.generatedReports).toBe(1);
  expect(t.mkdirs()).toBe(4);
  // Known now: a refused call costs nothing either.
  expect((await h.call('GET', '/api/v1/tee/quote', { token: null })).status).toBe(429);
  expect(t.mkdirs()).toBe(4);
});

it('SEV-SNP not up yet: refused calls touch nothing; once up, the quote route answers 404 and asks no more', async () => {
  const t = await tree('snp', 'sev_guest');
  let now = 0;
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root: t.fake.root, fs: t.fs }), attestationsPerSecond: 1, attestationsPerClient: 1, limiterClock: () => now });
  await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect(t.mkdirs()).toBe(2);
  expect((await h.call('GET', '/api/v1/tee/quote', { token: null })).status).toBe(429);
  expect(t.mkdirs()).toBe(2);
  t.up();
  now = 5000;
  const r = await h.call('GET', '/api/v1/tee/quote', { token: null });
  expect(r.status).toBe(404);
  expect(r.json?.error?.code).toBe('ERR_GATEWAY_NOT_FOUND');
  expect(t.fake.generatedReports).toBe(0);
  expect(t.mkdirs()).toBe(3);
  // Known SEV-SNP: 404 before the limiter, with no configfs-tsm work (s12 change review, finding 2).
  now = 10_000;
  const again = await Promise.all([h.call('GET', '/api/v1/tee/quote', { token: null }), h.call('GET', '/api/v1/tee/quote', { token: null })]);
  expect(again.map((x) => x.status)).toEqual([404, 404]);
  expect(t.mkdirs()).toBe(3);
  // ...and the slot is still there for /v1/attestation.
  const body = JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') });
  expect((await h.call('POST', '/v1/attestation', { token: null, body })).status).toBe(200);
});
