/**
 * Review: a forged collateral version (edited bytes, so its signature no
 * longer verifies) with a higher sequence must not keep winning the cache.
 * verifyEvidence discards exactly the version a failing authenticity check
 * read (memory and disk), so the next verification uses the genuine version
 * or fetches again; versions that passed a verification are evicted last.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { parseEvidence, type TdxQuote } from '../../src/evidence/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { buildTestCrl, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { flipByte } from '../helpers/bytes.js';

const AT = new Date('2026-06-01T12:00:00Z');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-poison-'));
  dirs.push(d);
  return d;
}

/** Files of `key` in the disk cache (names are sha256(key)-...). */
function filesOf(directory: string, key: string): string[] {
  const prefix = `${createHash('sha256').update(key).digest('hex')}-`;
  return readdirSync(join(directory, 'v1')).filter((n) => n.startsWith(prefix) && n.endsWith('.json'));
}

/** The genuine signed JSON with its evaluation number raised: shape-valid, signature broken. */
function forgedJson(genuine: CollateralArtifact, evaluation: number): CollateralArtifact {
  const text = Buffer.from(genuine.body).toString('utf8').replace(/"tcbEvaluationDataNumber":\d+/, `"tcbEvaluationDataNumber":${evaluation}`);
  expect(text).not.toBe(Buffer.from(genuine.body).toString('utf8'));
  return validateArtifact({
    kind: genuine.kind,
    key: genuine.key,
    body: new Uint8Array(Buffer.from(text)),
    ...(genuine.issuerChainPem === undefined ? {} : { issuerChainPem: genuine.issuerChainPem }),
    source: { origin: 'network', url: 'https://pccs.example/forged' },
  });
}

function byKind(artifacts: readonly CollateralArtifact[], kind: CollateralArtifact['kind']): CollateralArtifact {
  const a = artifacts.find((x) => x.kind === kind);
  if (!a) throw new Error(`no ${kind}`);
  return a;
}

async function rejection(p: Promise<unknown>): Promise<{ errorClass?: string; check?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { errorClass?: string; check?: string };
  }
  throw new Error('verification passed');
}

describe('collateral cache: forged versions do not outlive one failed verification', () => {
  const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
  const evidence = async () => (await tdx.getEvidence(new Uint8Array(64))).evidence;

  /** A disk cache holding every genuine artifact plus `forged`; the source answers genuine artifacts only. */
  function setup(forged: CollateralArtifact[]) {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    for (const a of tdx.collateral) cache.put(a);
    for (const f of forged) cache.put(f);
    const service = new CollateralService({ intel: new BundleSource([...tdx.collateral]), cache });
    return { directory, cache, service };
  }

  for (const [kind, check] of [['intel-tcb-info', 'T17'], ['intel-qe-identity', 'T20']] as const) {
    it(`${kind}: fails ${check} once, then passes with the genuine version; the forged one is gone from memory and disk`, async () => {
      const genuine = byKind(tdx.collateral, kind);
      const forged = forgedJson(genuine, 999_999);
      const { directory, cache, service } = setup([forged]);
      expect(cache.select(genuine.key, AT)).toBe(forged); // the higher sequence wins the selection
      expect(filesOf(directory, genuine.key)).toHaveLength(2);

      const err = await rejection(verifyEvidence(await evidence(), { collateral: service, trustRoots: tdx.trustRoots, at: AT }));
      expect(err.errorClass).toBe('COLLATERAL_SIG');
      expect(err.check).toBe(check);

      expect(cache.versions(genuine.key).map((a) => a.sequence)).toEqual([genuine.sequence]);
      expect(filesOf(directory, genuine.key)).toHaveLength(1);
      // A new process reading the same directory finds only the genuine version.
      expect(new CollateralCache({ directory }).get(genuine.key)?.sequence).toBe(genuine.sequence);

      const ok = await verifyEvidence(await evidence(), { collateral: service, trustRoots: tdx.trustRoots, at: AT });
      expect(ok.ok).toBe(true);
    });
  }

  it('a forged TCB info alone in the cache: discarded, and the next verification fetches the genuine one', async () => {
    const genuine = byKind(tdx.collateral, 'intel-tcb-info');
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    cache.put(forgedJson(genuine, 999_999));
    const service = new CollateralService({ intel: new BundleSource([...tdx.collateral]), cache });
    expect((await rejection(verifyEvidence(await evidence(), { collateral: service, trustRoots: tdx.trustRoots, at: AT }))).check).toBe('T17');
    expect(cache.versions(genuine.key)).toHaveLength(0);
    expect((await verifyEvidence(await evidence(), { collateral: service, trustRoots: tdx.trustRoots, at: AT })).ok).toBe(true);
    expect(cache.versions(genuine.key).map((a) => a.sequence)).toEqual([genuine.sequence]);
  });

  it('a verification that fails on something else (unknown trust roots) discards nothing', async () => {
    const { cache, service } = setup([]);
    const other = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'another-pki' });
    const err = await rejection(verifyEvidence(await evidence(), { collateral: service, trustRoots: other.trustRoots, at: AT }));
    expect(err.errorClass).toBe('CHAIN');
    for (const a of tdx.collateral) expect(cache.versions(a.key)).toHaveLength(1);
  });

  it('eight forged versions put after a verified genuine one do not evict it (memory, disk, after a restart)', async () => {
    const genuine = byKind(tdx.collateral, 'intel-tcb-info');
    const { directory, cache, service } = setup([]);
    const ev = await evidence();
    expect((await verifyEvidence(ev, { collateral: service, trustRoots: tdx.trustRoots, at: AT })).ok).toBe(true);
    // s16 env #2: that verification ran under the test PKI, so this service (built with the pinned roots) marked
    // nothing; mark the versions as a verification under the service's own roots does (markVerified without roots).
    expect(cache.isVerified(cache.get(genuine.key)!)).toBe(false);
    service.markVerified(await service.forEvidence(parseEvidence(ev) as TdxQuote, AT));
    expect(cache.isVerified(cache.get(genuine.key)!)).toBe(true);
    for (let i = 1; i <= 8; i++) cache.put(forgedJson(genuine, 1_000_000 + i));
    expect(cache.versions(genuine.key)).toHaveLength(8);
    expect(cache.versions(genuine.key).some((a) => a.sequence === genuine.sequence)).toBe(true);
    expect(filesOf(directory, genuine.key)).toHaveLength(8);

    // The mark is kept on disk: a restarted cache still evicts the forged versions first.
    const restarted = new CollateralCache({ directory });
    restarted.put(forgedJson(genuine, 2_000_000));
    expect(restarted.versions(genuine.key).some((a) => a.sequence === genuine.sequence)).toBe(true);

    // Each failed verification removes the forged version it read; the genuine one is served in the end.
    let failures = 0;
    for (;;) {
      try {
        await verifyEvidence(await evidence(), { collateral: service, trustRoots: tdx.trustRoots, at: AT });
        break;
      } catch (err) {
        expect((err as { check?: string }).check).toBe('T17');
        if (++failures > 8) throw err;
      }
    }
    expect(failures).toBe(7); // the eight kept versions: seven forged, one genuine
  });

  it('a forged Root CA CRL (wrong key, higher CRL number, window to 2099) fails T13 once and is discarded', async () => {
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT });
    const genuine = p.collateral.rootCaCrl!;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const body = buildTestCrl(p.pki.root, { thisUpdate: new Date('2026-01-01T00:00:00Z'), nextUpdate: new Date('2099-01-01T00:00:00Z'), crlNumber: 2_000_000_000, signingKey: privateKey });
    const forged = validateArtifact({ kind: genuine.kind, key: genuine.key, body, source: { origin: 'network' } });
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    const artifacts = [p.collateral.tcbInfo!, p.collateral.qeIdentity!, p.collateral.pckCrl!, genuine];
    for (const a of artifacts) cache.put(a);
    cache.put(forged);
    const service = new CollateralService({ intel: new BundleSource(artifacts), cache });
    const err = await rejection(verifyEvidence(p.quote.bytes, { collateral: service, trustRoots: p.trustRoots, at: AT }));
    expect([err.errorClass, err.check]).toEqual(['COLLATERAL_SIG', 'T13']);
    expect(cache.versions(genuine.key).map((a) => a.sequence)).toEqual([genuine.sequence]);
    expect(filesOf(directory, genuine.key)).toHaveLength(1);
    expect((await verifyEvidence(p.quote.bytes, { collateral: service, trustRoots: p.trustRoots, at: AT })).ok).toBe(true);
  });
});

describe('collateral cache: SEV-SNP', () => {
  const snp = new SimulatedTeeProvider({ tee: 'snp', at: AT });

  it('a forged AMD CRL (signature byte flipped) fails S09 once, is discarded, and the genuine CRL is fetched', async () => {
    const genuine = byKind(snp.collateral, 'amd-crl');
    const body = new Uint8Array(genuine.body);
    flipByte(body, body.length - 1);
    const forged = validateArtifact({ kind: genuine.kind, key: genuine.key, body, source: { origin: 'network' } });
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    cache.put(forged);
    const service = new CollateralService({ amd: new BundleSource([...snp.collateral]), cache });
    const ev = (await snp.getEvidence(new Uint8Array(64))).evidence;
    const err = await rejection(verifyEvidence(ev, { collateral: service, trustRoots: snp.trustRoots, at: AT }));
    expect([err.errorClass, err.check]).toEqual(['COLLATERAL_SIG', 'S09']);
    expect(cache.versions(genuine.key)).toHaveLength(0);
    expect(filesOf(directory, genuine.key)).toHaveLength(0);
    expect((await verifyEvidence(ev, { collateral: service, trustRoots: snp.trustRoots, at: AT })).ok).toBe(true);
  });
});
