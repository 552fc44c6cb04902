/**
 * Review session 6b, #3: the fetch budget was global, so 256 made-up SEV-SNP
 * reports a minute (VCEK keys from unverified CHIP_ID / REPORTED_TCB) left no
 * fetch for a known host after a TCB update. A platform whose collateral
 * passed a verification (markVerified) is known: each known platform may
 * fetch `perKnownPlatform` new keys per window outside the budget; new
 * platforms under a flood still get the retryable fetch-budget error.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  ArtifactResolver,
  CollateralCache,
  CollateralService,
  CollateralUnavailableError,
  artifactKey,
  type AmdCollateralSource,
  type CollateralArtifact,
  type VcekRequest,
} from '../../src/collateral/index.js';
import { parseEvidence, verifyEvidence } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const CHIP = new Uint8Array(64).fill(0xab);

const vcekKey = (hwId: Uint8Array, snp: number) => artifactKey.vcek({ product: 'Milan', hwId, bootloader: 1, tee: 0, snp, microcode: 1 });

/** What a KDS would answer for `key` (the resolver checks only the key and kind here). */
const answer = (key: string): CollateralArtifact => ({
  kind: 'amd-vcek',
  key,
  body: new Uint8Array([1, 2, 3]),
  validity: { notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-01-01T00:00:00Z' },
  source: { origin: 'network' },
});
const notFound = async (): Promise<CollateralArtifact> => {
  throw new CollateralUnavailableError('ERR_COLLATERAL_NOT_FOUND', 'not found (404)', {});
};

async function flood(resolver: ArtifactResolver, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await resolver.resolve(vcekKey(randomBytes(64), 1), notFound, NOW).catch(() => {});
}

describe('fetch budget and known platforms (review s6b #3)', () => {
  it('after 256 made-up chip IDs, a VCEK for a known chip at a new TCB is still fetched; a new chip waits for the next window', async () => {
    let clock = 0;
    const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), clock: () => clock });
    let fetched = 0;
    const kds = (key: string) => async () => {
      fetched++;
      return answer(key);
    };
    const known = await resolver.resolve(vcekKey(CHIP, 1), kds(vcekKey(CHIP, 1)), NOW);
    resolver.markVerified(known.artifact); // a verification passed with it
    expect(resolver.isKnownPlatform(vcekKey(CHIP, 99))).toBe(true);

    await flood(resolver, 256);
    // The budget is spent: a new chip is refused without a request, retryable.
    const newChip = vcekKey(new Uint8Array(64).fill(0xcd), 1);
    await expect(resolver.resolve(newChip, kds(newChip), NOW)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', retryable: true, details: { reason: 'fetch-budget' } });
    // The known chip after a TCB update: fetched.
    await expect(resolver.resolve(vcekKey(CHIP, 2), kds(vcekKey(CHIP, 2)), NOW)).resolves.toMatchObject({ artifact: { key: vcekKey(CHIP, 2) } });
    // Two new keys per known chip and window (default), then the global budget applies to it too.
    await expect(resolver.resolve(vcekKey(CHIP, 3), kds(vcekKey(CHIP, 3)), NOW)).resolves.toBeDefined();
    await expect(resolver.resolve(vcekKey(CHIP, 4), kds(vcekKey(CHIP, 4)), NOW)).rejects.toMatchObject({ details: { reason: 'fetch-budget' } });
    expect(fetched).toBe(3);

    // Next window of the provider clock: the new chip's turn, and the known chip's slots are back.
    clock = 60_000;
    await expect(resolver.resolve(newChip, kds(newChip), NOW)).resolves.toBeDefined();
    await expect(resolver.resolve(vcekKey(CHIP, 4), kds(vcekKey(CHIP, 4)), NOW)).resolves.toBeDefined();
    expect(fetched).toBe(5);
  });

  it('a platform is known only after markVerified, and perKnownPlatform: 0 turns the exemption off', async () => {
    const unmarked = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), fetchBudget: { keys: 1, windowMs: 1000 }, clock: () => 0 });
    await unmarked.resolve(vcekKey(CHIP, 1), async () => answer(vcekKey(CHIP, 1)), NOW); // fetched, never verified
    expect(unmarked.isKnownPlatform(vcekKey(CHIP, 2))).toBe(false);
    await expect(unmarked.resolve(vcekKey(CHIP, 2), async () => answer(vcekKey(CHIP, 2)), NOW)).rejects.toMatchObject({ details: { reason: 'fetch-budget' } });

    const off = new ArtifactResolver({ cache: null, fetchBudget: { keys: 1, windowMs: 1000, perKnownPlatform: 0 }, clock: () => 0 });
    off.markVerified((await off.resolve(vcekKey(CHIP, 1), async () => answer(vcekKey(CHIP, 1)), NOW)).artifact);
    await expect(off.resolve(vcekKey(CHIP, 2), async () => answer(vcekKey(CHIP, 2)), NOW)).rejects.toMatchObject({ details: { reason: 'fetch-budget' } });
    expect(() => new ArtifactResolver({ fetchBudget: { keys: 1, windowMs: 1, perKnownPlatform: -1 } })).toThrow(TypeError);
  });

  it('end to end: a host verified by verifyEvidence keeps its VCEK fetches through a flood of made-up reports', async () => {
    const tee = new SimulatedTeeProvider({ tee: 'snp', at: NOW });
    const evidence = (await tee.getEvidence(new Uint8Array(64))).evidence;
    const report = parseEvidence(evidence) as Parameters<CollateralService['forSnpReport']>[0];
    const bundled = new Map(tee.collateral.map((a) => [a.kind, a]));
    const asked: string[] = [];
    // A network-like source (no stored(): metered), serving the genuine chain, CRL and VCEK,
    // a VCEK-shaped answer for the host at another TCB, and 404 for any other chip.
    const kds: AmdCollateralSource = {
      vcek: async (r: VcekRequest) => {
        const key = artifactKey.vcek(r);
        asked.push(key);
        if (Buffer.from(r.hwId).equals(Buffer.from(report.chipId))) return key === bundled.get('amd-vcek')!.key ? bundled.get('amd-vcek')! : { ...bundled.get('amd-vcek')!, key };
        throw new CollateralUnavailableError('ERR_COLLATERAL_NOT_FOUND', 'not found (404)', {});
      },
      certChain: async () => bundled.get('amd-cert-chain')!,
      crl: async () => bundled.get('amd-crl')!,
    };
    const service = new CollateralService({ amd: kds, cache: new CollateralCache({ directory: null }), fetchBudget: { keys: 16, windowMs: 60_000 }, clock: () => 0 });
    expect((await verifyEvidence(evidence, { collateral: service, trustRoots: tee.trustRoots, at: NOW })).ok).toBe(true);

    for (let i = 0; i < 16; i++) await service.forSnpReport({ ...report, chipId: new Uint8Array(randomBytes(64)) }, NOW).catch(() => {});
    const stranger = { ...report, chipId: new Uint8Array(64).fill(0x5a) };
    await expect(service.forSnpReport(stranger, NOW)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', details: { reason: 'fetch-budget' } });

    const t = report.tcb!;
    const updated = { ...report, tcb: { ...t, reported: { ...t.reported, snp: t.reported.snp + 1 } } };
    const before = asked.length;
    await expect(service.forSnpReport(updated, NOW)).resolves.toMatchObject({ product: 'Milan' });
    expect(asked.slice(before)).toEqual([artifactKey.vcek({ product: 'Milan', hwId: report.chipId, ...updated.tcb.reported })]);
  });
});
