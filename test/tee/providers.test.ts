/**
 * Evidence providers: configfs-tsm against the emulated kernel tree
 * (fake-configfs.ts) and the simulated TEE, whose evidence must carry exactly
 * the requested REPORTDATA and verify with its own trust roots and collateral.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleSource, CollateralService, importBundle, parseEvidence, verifyEvidence, PRODUCTION_TRUST_ROOTS, type SnpReport, type TdxQuote } from '../../src/index.js';
import { ConfigfsTsmProvider, SimulatedTeeProvider } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

let dir: string;
let tdx: SimulatedTeeProvider;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-tsm-'));
  tdx = new SimulatedTeeProvider();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function reportDataOf(evidence: Uint8Array): Uint8Array {
  const e = parseEvidence(evidence) as TdxQuote | SnpReport;
  return e.kind === 'snp' ? (e as SnpReport).reportData : (e as TdxQuote).body.reportData;
}

async function fakeTree(name: string, provider: 'tdx_guest' | 'sev_guest' = 'tdx_guest', sim = tdx): Promise<FakeConfigfsTsm> {
  const root = join(dir, name);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(root);
  return new FakeConfigfsTsm({ root, provider, generate: async (inblob) => {
    const e = await sim.getEvidence(inblob);
    return { outblob: e.evidence, ...(e.auxblob ? { auxblob: e.auxblob } : {}) };
  } });
}

describe('ConfigfsTsmProvider (emulated configfs-tsm tree)', () => {
  it('writes the 64-byte inblob, returns the outblob for it and removes its instance', async () => {
    const fake = await fakeTree('ok');
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    const rd = randomBytes(64);
    const ev = await provider.getEvidence(rd);
    expect(ev.tee).toBe('tdx');
    expect(ev.provider).toBe('tdx_guest');
    expect(ev.auxblob).toBeUndefined();
    expect(Buffer.from(reportDataOf(ev.evidence)).equals(rd)).toBe(true);
    expect(fake.created).toHaveLength(1);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('uses a fresh instance per request (concurrent requests do not share one)', async () => {
    const fake = await fakeTree('many');
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    const inputs = [0, 1, 2, 3].map(() => randomBytes(64));
    const out = await Promise.all(inputs.map((rd) => provider.getEvidence(rd)));
    out.forEach((ev, i) => expect(Buffer.from(reportDataOf(ev.evidence)).equals(inputs[i]!)).toBe(true));
    expect(new Set(fake.created).size).toBe(4);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('detects a concurrent writer through the generation counter and still removes the instance', async () => {
    const fake = await fakeTree('race');
    const other = randomBytes(64);
    fake.afterInblobWrite = (instance) => fake.writeInblob(instance, other);
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_GENERATION_RACE', details: { before: 0, after: 2 } });
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('SEV-SNP instances return the auxblob certificate table', async () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp' });
    const fake = await fakeTree('snp', 'sev_guest', snp);
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    const rd = randomBytes(64);
    const ev = await provider.getEvidence(rd);
    expect(ev.tee).toBe('snp');
    expect(ev.auxblob?.length).toBeGreaterThan(0);
    expect(Buffer.from(reportDataOf(ev.evidence)).equals(rd)).toBe(true);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('refuses report data that is not exactly 64 bytes, before creating an instance', async () => {
    const fake = await fakeTree('len');
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    await expect(provider.getEvidence(randomBytes(32))).rejects.toMatchObject({ code: 'ERR_TEE_REPORT_DATA' });
    expect(fake.created).toHaveLength(0);
  });

  it('a missing root is a permanent ERR_TSM_IO (configfs-tsm not mounted, not a TEE; review s11)', async () => {
    const provider = new ConfigfsTsmProvider({ root: join(dir, 'absent') });
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { errno: 'ENOENT', retryable: false } });
  });

  it('an unknown provider is ERR_TSM_PROVIDER', async () => {
    const fake = await fakeTree('prov', 'odd_guest' as 'tdx_guest');
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_PROVIDER' });
    expect(await readdir(fake.root)).toEqual([]);
  });
});

describe('SimulatedTeeProvider', () => {
  it('TDX: REPORTDATA is exactly what was asked, and the quote verifies with its roots and collateral only', async () => {
    for (const rd of [new Uint8Array(64), new Uint8Array(64).fill(0xff), randomBytes(64)]) {
      const ev = await tdx.getEvidence(rd);
      expect(Buffer.from(reportDataOf(ev.evidence)).equals(Buffer.from(rd))).toBe(true);
    }
    const rd = randomBytes(64);
    const ev = await tdx.getEvidence(rd);
    const collateral = new CollateralService({ intel: new BundleSource(importBundle(tdx.collateralBundle())), cache: null });
    const result = await verifyEvidence(ev.evidence, { collateral, trustRoots: tdx.trustRoots });
    expect(result.ok).toBe(true);
    expect(result.tcbStatus).toBe('UpToDate');
    await expect(verifyEvidence(ev.evidence, { collateral, trustRoots: PRODUCTION_TRUST_ROOTS })).rejects.toMatchObject({ errorClass: 'CHAIN' });
  });

  it('TDX: the QE report signature is stable across quotes, as hardware signs it once; each quote verifies', async () => {
    const collateral = new CollateralService({ intel: new BundleSource(importBundle(tdx.collateralBundle())), cache: null });
    const quotes = await Promise.all([1, 2, 3].map(() => tdx.getEvidence(randomBytes(64))));
    const parsed = quotes.map((q) => parseEvidence(q.evidence) as TdxQuote);
    const qeSignatures = new Set(parsed.map((q) => Buffer.from(q.signatureData.qeReportSignature).toString('hex')));
    const quoteSignatures = new Set(parsed.map((q) => Buffer.from(q.signatureData.quoteSignature).toString('hex')));
    expect(qeSignatures.size).toBe(1);
    expect(quoteSignatures.size).toBe(3);
    for (const q of quotes) expect((await verifyEvidence(q.evidence, { collateral, trustRoots: tdx.trustRoots })).ok).toBe(true);
  });

  it('SEV-SNP: REPORTDATA is exactly what was asked, and the report verifies with the auxblob chain', async () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp' });
    const rd = randomBytes(64);
    const ev = await snp.getEvidence(rd);
    expect(Buffer.from(reportDataOf(ev.evidence)).equals(rd)).toBe(true);
    const collateral = new CollateralService({ amd: new BundleSource(snp.collateral), cache: null });
    const result = await verifyEvidence(ev.evidence, { collateral, trustRoots: snp.trustRoots });
    expect(result.ok).toBe(true);
  });

  it('rejects report data that is not 64 bytes', async () => {
    await expect(tdx.getEvidence(new Uint8Array(63))).rejects.toMatchObject({ code: 'ERR_TEE_REPORT_DATA' });
  });
});

describe('SimulatedTeeProvider state', () => {
  it.each(['tdx', 'snp'] as const)('%s: a provider rebuilt from exportState() produces evidence the original roots and collateral accept', async (tee) => {
    const a = tee === 'tdx' ? tdx : new SimulatedTeeProvider({ tee });
    const b = SimulatedTeeProvider.fromState(JSON.stringify(a.exportState()));
    expect(b.trustRootPem).toBe(a.trustRootPem);
    const rd = randomBytes(64);
    const ev = await b.getEvidence(rd);
    expect(Buffer.from(reportDataOf(ev.evidence)).equals(rd)).toBe(true);
    const collateral = new CollateralService({ [tee === 'tdx' ? 'intel' : 'amd']: new BundleSource(a.collateral), cache: null });
    const result = await verifyEvidence(ev.evidence, { collateral, trustRoots: a.trustRoots });
    expect(result.ok).toBe(true);
  });
  it('refuses a foreign document', () => {
    expect(() => SimulatedTeeProvider.fromState('{"format":"x"}')).toThrow(expect.objectContaining({ code: 'ERR_TSM_PROVIDER' }));
  });
});
