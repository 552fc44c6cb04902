/**
 * s16 env red team, finding 2: verifyEvidence with a test PKI's trustRoots and
 * a CollateralService built with defaults (the default disk cache, the pinned
 * roots assumed) marked the test PKI's TCB info and QE identity verified in
 * that cache, which raised the rollback floor of a real FMSPC's key to the
 * test document's evaluation number: genuine Intel collateral for that FMSPC
 * was refused (X03 rollback) from then on, by every program sharing the cache.
 *
 * Fix: verifyEvidence passes the roots it verified under to markVerified; a
 * service on the pinned roots marks (and raises floors) only for a
 * verification under the pinned roots too. The reproduction is
 * /tmp/s16-env/poison.mjs with XDG_CACHE_HOME pointed at a temporary directory.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, PRODUCTION_TRUST_ROOTS, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { importDcapQvlCollateral } from '../../src/collateral/bundle.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { HAVE_VECTORS, readVectorFile } from '../helpers/vectors.js';

const AT = new Date('2025-07-19T10:00:34Z'); // the phala sample's collateral is current then
const FMSPC = 'b0c06f000000'; // the phala sample's platform

let directory = '';
let savedXdg: string | undefined;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tee-verify-s16-env-'));
  savedXdg = process.env['XDG_CACHE_HOME'];
  process.env['XDG_CACHE_HOME'] = directory; // CollateralService's default cache lands here
});
afterEach(() => {
  if (savedXdg === undefined) delete process.env['XDG_CACHE_HOME'];
  else process.env['XDG_CACHE_HOME'] = savedXdg;
  rmSync(directory, { recursive: true, force: true });
});
const v1 = () => join(directory, 'tee-verify', 'v1');
const floorFiles = () => readdirSync(v1()).filter((n) => n.endsWith('-floor.json'));
const markedEntries = () => readdirSync(v1()).filter((n) => !n.endsWith('-floor.json') && JSON.parse(readFileSync(join(v1(), n), 'utf8')).verified === true);
const fromNetwork = (list: readonly CollateralArtifact[]) => list.map((a) => ({ ...a, source: { origin: 'network' as const } }));

/** Step 1 of poison.mjs: a developer's test, library defaults, a test PKI whose platform has the real FMSPC at evaluation 99. */
async function testPkiVerification(): Promise<void> {
  const p = createSyntheticIntelPlatform({
    tee: 'tdx',
    at: AT,
    pki: { sgx: { fmspc: Buffer.from(FMSPC, 'hex') } },
    tcbInfo: { fields: { tcbEvaluationDataNumber: 99 } },
    qeIdentity: { fields: { tcbEvaluationDataNumber: 99 } },
  });
  const test = fromNetwork(Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined));
  const dev = new CollateralService({ intel: new BundleSource(test) }); // defaults: the default disk cache, the pinned roots assumed
  const r = await verifyEvidence(p.quote.bytes, { collateral: dev, trustRoots: p.trustRoots, at: AT });
  expect(r.ok).toBe(true);
}

/** Step 2: the genuine phala TDX quote, its genuine Intel collateral served by a source (as a PCS would), the pinned roots. */
function genuine(): { quote: Buffer; service: () => CollateralService } {
  const real = fromNetwork(importDcapQvlCollateral(readVectorFile('phala-dcap-qvl/sample/tdx_quote_collateral.json')));
  return { quote: readVectorFile('phala-dcap-qvl/sample/tdx_quote'), service: () => new CollateralService({ intel: new BundleSource(real) }) };
}

describe('s16 env #2: a verification under a test PKI leaves no floor or mark in a cache on the pinned roots', () => {
  it('a test-PKI verification with a default service writes no floor file and marks nothing', async () => {
    await testPkiVerification();
    expect(floorFiles()).toEqual([]);
    expect(markedEntries()).toEqual([]);
    expect(new CollateralCache({ directory: join(directory, 'tee-verify') }).floor(`intel/tcb-info/tdx/${FMSPC}/update=standard`).text).toBe('');
  });

  it.skipIf(!HAVE_VECTORS)('and genuine Intel collateral for the same FMSPC still verifies afterwards (it was refused with X03 rollback for good)', async () => {
    await testPkiVerification();
    const { quote, service } = genuine();
    // The test PKI's versions were put in the shared cache when fetched: each is served once and,
    // rejected by the verifier, discarded (review poison); no floor keeps the genuine ones out.
    const prod = service();
    const failures: string[] = [];
    let ok = false;
    for (let i = 0; i < 6 && !ok; i++) {
      try {
        ok = (await verifyEvidence(quote, { collateral: prod, at: AT })).ok;
      } catch (err) {
        const e = err as { check?: string; details?: { reason?: string } };
        failures.push(`${e.check}${e.details?.reason ? ` ${e.details.reason}` : ''}`);
      }
    }
    expect(failures).not.toContain('X03 rollback');
    expect(failures.length).toBeLessThanOrEqual(4); // one per test-PKI version in the cache
    expect(ok).toBe(true);
    // A new service on the same cache (another program of the user) verifies at once, and the
    // genuine verification raised the floors under the pinned roots as before.
    expect((await verifyEvidence(quote, { collateral: service(), at: AT })).ok).toBe(true);
    expect(floorFiles()).toHaveLength(2); // the TCB info's and the QE identity's keys
  });

  it('markVerified without the verification\'s roots assumes the service\'s (the CLI\'s --skip-crl path); with them, other roots mark nothing', () => {
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 's16 env #2 direct' });
    const c = p.collateral;
    const artifacts = fromNetwork([c.tcbInfo!, c.qeIdentity!, c.pckCrl!, c.rootCaCrl!]);
    const collateral = { kind: 'intel' as const, tee: 'tdx' as const, fmspc: String(p.tcbInfo['fmspc']), pckCa: 'platform' as const, tcbInfo: artifacts[0]!, qeIdentity: artifacts[1]!, pckCrl: artifacts[2]!, rootCaCrl: artifacts[3]!, warnings: [] };
    const cache = new CollateralCache({ directory: join(directory, 'direct') });
    for (const a of artifacts) cache.put(a);
    const service = new CollateralService({ intel: new BundleSource([]), cache });
    service.markVerified(collateral, { trustRoots: p.trustRoots });
    expect(readdirSync(join(directory, 'direct', 'v1')).filter((n) => n.endsWith('-floor.json'))).toEqual([]);
    for (const a of artifacts) expect(cache.isVerified(cache.get(a.key)!)).toBe(false);
    // The same objects, then under the pinned roots (production passed explicitly, or left out): marked, floors raised.
    service.markVerified(collateral, { trustRoots: PRODUCTION_TRUST_ROOTS });
    for (const a of artifacts) expect(cache.isVerified(cache.get(a.key)!)).toBe(true);
    expect(cache.floor(artifacts[0]!.key).text).toBe(artifacts[0]!.sequence);
    const other = new CollateralCache({ directory: join(directory, 'direct2') });
    for (const a of artifacts) other.put(a);
    new CollateralService({ intel: new BundleSource([]), cache: other }).markVerified(collateral);
    expect(other.floor(artifacts[1]!.key).text).toBe(artifacts[1]!.sequence);
  });
});
