/**
 * Review s9 changes-c #5: floors ignored the trust roots. A verification under
 * a test PKI (`--trust-root`) raised the floors of the default cache, in a file
 * that now outlives the versions: a higher test evaluation for a real FMSPC key
 * then made production refuse with 'rollback'. Decision: only a verification
 * under the pinned production roots reads and raises the cache's floors (and
 * marks TCB info / QE identity verified there, which seeds them); under other
 * roots the floors are the resolver's own, in memory. Session 16 (env red team
 * #2): the verification's roots count too, not only the service's: a test-PKI
 * verification on a service with the pinned roots marks nothing there.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, PRODUCTION_TRUST_ROOTS, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { parseEvidence, type TdxQuote } from '../../src/evidence/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9c-roots-'));
  dirs.push(d);
  return d;
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s9 floor' });
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
function tcbAt(evaluation: number, from: number, to: number): CollateralArtifact {
  const fmspc = String(p.tcbInfo['fmspc']);
  const doc = { ...p.tcbInfo, fmspc, tcbEvaluationDataNumber: evaluation, issueDate: iso(AT.getTime() + from * DAY), nextUpdate: iso(AT.getTime() + to * DAY) };
  const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
  return { ...intelArtifact('intel-tcb-info', artifactKey.tcbInfo({ tee: 'tdx', fmspc }), body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
}
const v18 = tcbAt(18, -1, 29);
const v17 = tcbAt(17, -5, 55);
const KEY = v18.key;
const LATER = new Date(AT.getTime() + 30 * DAY);
const serves = (a: CollateralArtifact) => async () => a;
const rollback = { code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'rollback', sequence: '17', floor: '18' } };
const floorFiles = (d: string) => readdirSync(join(d, 'v1')).filter((n) => n.endsWith('-floor.json'));
const marked = (d: string) => readdirSync(join(d, 'v1')).filter((n) => !n.endsWith('-floor.json') && JSON.parse(readFileSync(join(d, 'v1', n), 'utf8')).verified === true);

describe('review s9 changes-c #5: only the pinned roots raise the cache\'s floors', () => {
  it('a resolver under other roots keeps its floors in memory: it refuses the rollback itself, the cache (and production after it) knows nothing', async () => {
    const d = tempDir();
    const cache = new CollateralCache({ directory: d });
    const test = new ArtifactResolver({ cache, refreshIntervalMs: 0, pinnedRoots: false });
    await test.resolve(KEY, serves(v18), AT);
    test.markVerified(v18);
    await expect(test.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    expect(floorFiles(d)).toEqual([]);
    expect(marked(d)).toEqual([]); // a mark would seed the cache's floor at its next first lookup
    expect(cache.floor(KEY).text).toBe('');
    expect((await new ArtifactResolver({ cache, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
    const restarted = new ArtifactResolver({ cache: new CollateralCache({ directory: d }), refreshIntervalMs: 0 });
    expect((await restarted.resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
  });

  it('and is not judged by the cache\'s floors (set under the pinned roots)', async () => {
    const cache = new CollateralCache({ directory: tempDir() });
    const production = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    await production.resolve(KEY, serves(v18), AT);
    production.markVerified(v18);
    expect(cache.floor(KEY).text).toBe('18');
    expect((await new ArtifactResolver({ cache, refreshIntervalMs: 0, pinnedRoots: false }).resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
    await expect(production.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });

  describe('CollateralService: trustRoots decides', () => {
    const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const judged = tdx.collateral.filter((a) => a.kind === 'intel-tcb-info' || a.kind === 'intel-qe-identity');
    /**
     * A verification of the simulated quote (it passes under the test PKI only), then the mark a
     * verification under `markedUnder` would leave (s16 env #2: verifyEvidence passes the roots it
     * verified under; 'service' = markVerified without them, the service's own roots assumed, as the
     * CLI's --skip-crl path does). A synthetic quote cannot pass under Intel's pinned root.
     */
    async function verifyWith(directory: string, trustRoots?: typeof tdx.trustRoots, markedUnder: typeof tdx.trustRoots | 'service' | 'verification' = 'service'): Promise<void> {
      const cache = new CollateralCache({ directory });
      for (const a of tdx.collateral) cache.put({ ...a, source: { origin: 'network' } }); // fetched earlier
      const service = new CollateralService({ intel: new BundleSource([]), cache, ...(trustRoots ? { trustRoots } : {}) });
      const { evidence } = await tdx.getEvidence(new Uint8Array(64));
      await verifyEvidence(evidence, { collateral: service, trustRoots: tdx.trustRoots, at: AT });
      if (markedUnder === 'verification') return;
      const collateral = await service.forEvidence(parseEvidence(evidence) as TdxQuote, AT);
      service.markVerified(collateral, ...(markedUnder === 'service' ? [] : [{ trustRoots: markedUnder }]));
    }

    it('--trust-root (the test PKI passed to the service too): no floor file, no mark on TCB info or QE identity', async () => {
      const d = tempDir();
      await verifyWith(d, tdx.trustRoots);
      expect(floorFiles(d)).toEqual([]);
      const markedNames = marked(d);
      for (const a of judged) expect(markedNames.some((n) => n.startsWith(sha256(a.key)))).toBe(false);
      expect(markedNames.length).toBe(tdx.collateral.length - judged.length); // CRLs keep their marks (eviction only)
    });

    it('review s9 changes-d #2: Intel\'s production root set in another object (a copy, --trust-root with the real root PEM) counts as the pinned roots; a set adding any other root does not', async () => {
      const copy = { ...PRODUCTION_TRUST_ROOTS, label: 'trust-root:intel.pem', intelRootCas: PRODUCTION_TRUST_ROOTS.intelRootCas.map((der) => new Uint8Array(der)) };
      const d = tempDir();
      await verifyWith(d, copy);
      expect(floorFiles(d).map((n) => n.slice(0, 64)).sort()).toEqual(judged.map((a) => sha256(a.key)).sort()); // one file per key
      const widened = { ...PRODUCTION_TRUST_ROOTS, intelRootCas: [...PRODUCTION_TRUST_ROOTS.intelRootCas, ...tdx.trustRoots.intelRootCas] };
      const d2 = tempDir();
      await verifyWith(d2, widened);
      expect(floorFiles(d2)).toEqual([]);
    });

    it('the pinned roots (default, or passed): floor files as before', async () => {
      for (const roots of [undefined, PRODUCTION_TRUST_ROOTS]) {
        const d = tempDir();
        await verifyWith(d, roots);
        expect(floorFiles(d).map((n) => n.slice(0, 64)).sort()).toEqual(judged.map((a) => sha256(a.key)).sort()); // one file per key
        const d2 = tempDir();
        await verifyWith(d2, roots, PRODUCTION_TRUST_ROOTS); // a verification that names the pinned roots
        expect(floorFiles(d2).map((n) => n.slice(0, 64)).sort()).toEqual(judged.map((a) => sha256(a.key)).sort());
      }
    });

    it('s16 env #2: a verification under the test PKI on a service with the pinned roots (default, or passed) leaves no floor file and no mark', async () => {
      for (const roots of [undefined, PRODUCTION_TRUST_ROOTS]) {
        for (const markedUnder of ['verification', tdx.trustRoots] as const) {
          const d = tempDir();
          await verifyWith(d, roots, markedUnder);
          expect(floorFiles(d)).toEqual([]);
          expect(marked(d)).toEqual([]);
        }
      }
    });
  });
});
