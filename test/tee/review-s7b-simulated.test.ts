/**
 * Review s7b, item 5: random SEV-SNP keys were slow (three RSA-2048 generations per platform,
 * 0.6-1.2 s per constructor). The AMD root keys (ARK, ASK, ASVK) are now generated once per process,
 * at the first SEV-SNP platform, and shared by the later ones; each platform keeps its own VCEK.
 * A fresh module instance (what another process starts with) generates other roots; keySeed still
 * gives the committed deterministic keys. RSA generations are counted through a wrapped
 * node:crypto, so nothing here depends on time.
 * Review s7 round 3, item 5 records what the sharing costs: within one process, platform A's roots
 * and collateral accept platform B's report with B's VCEK certificate; across processes they do not.
 */
import { X509Certificate, createPublicKey, randomBytes } from 'node:crypto';

import { describe, expect, it, vi } from 'vitest';

import { BundleSource, CollateralService, parseSnpCertificateTable, verifyEvidence } from '../../src/index.js';
import { SIMULATED_TEE_SEED, SimulatedTeeProvider } from '../../src/tee/index.js';
import { loadAmdRsaKeys } from '../../src/testing/rsa-keys.js';

const rsa = vi.hoisted(() => ({ generated: 0 }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const generateKeyPairSync = ((type: string, options: unknown) => {
    if (type === 'rsa') rsa.generated += 1;
    return (real.generateKeyPairSync as (t: string, o: unknown) => unknown)(type, options);
  }) as typeof real.generateKeyPairSync;
  return { ...real, default: { ...real, generateKeyPairSync }, generateKeyPairSync };
});

/** SPKI (hex) of each trust root: ARK, ASK, ASVK. */
function rootKeys(p: SimulatedTeeProvider): string[] {
  const pems = p.trustRootPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return pems.map((pem) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
}
const spki = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('hex');

describe('review s7b item 5: the random SEV-SNP root keys are generated once per process', () => {
  it('three SEV-SNP platforms: three RSA generations in all (it was nine); same roots, each its own VCEK', () => {
    const before = rsa.generated;
    const platforms = [new SimulatedTeeProvider({ tee: 'snp' }), new SimulatedTeeProvider({ tee: 'snp' }), new SimulatedTeeProvider({ tee: 'snp' })];
    // The first SEV-SNP platform of this file's process pays for the three keys (none was made before it here).
    expect(rsa.generated - before).toBe(3);
    const [a, b, c] = platforms.map(rootKeys);
    expect(a).toHaveLength(3);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    const vceks = new Set(platforms.map((p) => spki(p.exportState().signingKeyPem)));
    expect(vceks.size).toBe(3);
    // The shared keys are random, not the committed test keys, and the state file holds no root private key.
    const committed = loadAmdRsaKeys('Milan');
    expect(a?.[0]).not.toBe(committed.ark.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
    expect(JSON.stringify(platforms[0]!.exportState()).match(/BEGIN PRIVATE KEY/g)).toHaveLength(1); // the VCEK key only
  });

  it('a fresh module instance (another process) generates other roots', async () => {
    const first = rootKeys(new SimulatedTeeProvider({ tee: 'snp' }));
    vi.resetModules();
    const fresh = (await import('../../src/tee/simulated.js')) as typeof import('../../src/tee/simulated.js');
    const before = rsa.generated;
    const other = rootKeys(new fresh.SimulatedTeeProvider({ tee: 'snp' }));
    expect(rsa.generated - before).toBe(3);
    for (let i = 0; i < 3; i++) expect(other[i]).not.toBe(first[i]);
  });

  it('keySeed: the committed deterministic root keys, no RSA generation; TDX generates no RSA key', () => {
    const before = rsa.generated;
    const seeded = rootKeys(new SimulatedTeeProvider({ tee: 'snp', keySeed: SIMULATED_TEE_SEED }));
    const committed = loadAmdRsaKeys('Milan');
    expect(seeded).toEqual([committed.ark, committed.ask, committed.asvk].map((k) => k.publicKey.export({ type: 'spki', format: 'der' }).toString('hex')));
    new SimulatedTeeProvider({ tee: 'tdx' });
    expect(rsa.generated).toBe(before);
  });
});

/**
 * Verifies B's evidence under A's trust roots, taking B's VCEK from B's certificate table and the
 * ASK / ARK chain and CRL from A's collateral: what a verifier pinned to A does with B's report.
 */
async function verifyWithVcekOf(b: SimulatedTeeProvider, a: SimulatedTeeProvider) {
  const ev = await b.getEvidence(randomBytes(64));
  const certTable = parseSnpCertificateTable(ev.auxblob!).filter((e) => e.kind === 'vcek');
  expect(certTable).toHaveLength(1);
  const collateral = new CollateralService({ amd: new BundleSource(a.collateral), cache: null });
  return verifyEvidence(ev.evidence, { collateral, trustRoots: a.trustRoots, certTable });
}

describe('review s7 round 3 item 5: what sharing the SEV-SNP roots in one process means for isolation', () => {
  it("same process: platform B's report and VCEK certificate are accepted under platform A's roots and chain (one AMD root, like real chips)", async () => {
    const a = new SimulatedTeeProvider({ tee: 'snp' });
    const b = new SimulatedTeeProvider({ tee: 'snp' });
    expect(spki(b.exportState().signingKeyPem)).not.toBe(spki(a.exportState().signingKeyPem)); // each its own VCEK
    expect((await verifyWithVcekOf(b, a)).ok).toBe(true);
    // B's own collateral carries B's ARK certificate: same key, other bytes, and the ARK is pinned byte for byte (S37).
    const ev = await b.getEvidence(randomBytes(64));
    const own = new CollateralService({ amd: new BundleSource(b.collateral), cache: null });
    await expect(verifyEvidence(ev.evidence, { collateral: own, trustRoots: a.trustRoots })).rejects.toMatchObject({ errorClass: 'CHAIN', check: 'S37' });
  });

  it("a fresh module instance (another process): B's VCEK certificate does not chain to A's roots (CHAIN)", async () => {
    const a = new SimulatedTeeProvider({ tee: 'snp' });
    vi.resetModules();
    const fresh = (await import('../../src/tee/simulated.js')) as typeof import('../../src/tee/simulated.js');
    const b = new fresh.SimulatedTeeProvider({ tee: 'snp' });
    expect((await verifyWithVcekOf(b, b)).ok).toBe(true);
    await expect(verifyWithVcekOf(b, a)).rejects.toMatchObject({ errorClass: 'CHAIN' });
  });
});
