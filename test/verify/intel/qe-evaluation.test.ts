/**
 * T21 (review, session 5): a QE identity with a lower tcbEvaluationDataNumber
 * than the TCB info it is paired with is refused. PCS signs fresh copies of
 * older evaluation numbers on request, so a rogue PCCS or cache writer could
 * pair TCB info 18 with QE identity 17, under which the QE's ISVSVN is still
 * UpToDate while identity 18 grades it OutOfDate. A newer QE identity stays a
 * warning. The collateral service discards the refused QE identity, so the
 * next verification fetches a fresh one (local PCCS on 127.0.0.1).
 */
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, verifyEvidence, type CollateralArtifact } from '../../../src/index.js';
import { signCollateralJson, type SyntheticIntelPlatform } from '../../../src/testing/index.js';
import { CollateralServer, type Record as ServedRecord } from '../../helpers/collateral-server.js';
import { catchError } from '../../helpers/expect-error.js';
import { expectSyntheticFailure, platform, verifySynthetic, type PlatformOptions } from './helpers/synthetic.js';

/** Identity 18 moved the QE's UpToDate level up to ISVSVN 99: the platform's QE is OutOfDate under it. */
const RAISED_QE_LEVELS = {
  mutate: (d: Record<string, unknown>) => {
    d['tcbLevels'] = [
      { tcb: { isvsvn: 99 }, tcbDate: '2026-01-01T00:00:00Z', tcbStatus: 'UpToDate' },
      { tcb: { isvsvn: 0 }, tcbDate: '2025-01-01T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00999'] },
    ];
  },
};

/** TCB info 18 with QE identity `qe`: 17 carries the older levels (QE UpToDate), 18 and later the raised ones. */
function paired(qe: number, o: PlatformOptions = {}): SyntheticIntelPlatform {
  return platform({
    ...o,
    tcbInfo: { fields: { tcbEvaluationDataNumber: 18 } },
    qeIdentity: { fields: { tcbEvaluationDataNumber: qe }, ...(qe >= 18 ? RAISED_QE_LEVELS : {}) },
  });
}

describe('T21: the QE identity is at least as recent as the TCB info', () => {
  it('QE identity 17 with TCB info 18 is COLLATERAL_MISMATCH at T21 (it would have graded the QE UpToDate)', () => {
    const p = paired(17);
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    const err = catchError(() => verifySynthetic(p));
    expect(err.details).toMatchObject({ evaluation: 17, tcbInfoEvaluation: 18 });
    // The same identity 17 next to TCB info 17 is genuine collateral: it verifies, and grades the QE UpToDate.
    const both17 = platform({ tcbInfo: { fields: { tcbEvaluationDataNumber: 17 } }, qeIdentity: { fields: { tcbEvaluationDataNumber: 17 } } });
    expect(verifySynthetic(both17).tcbStatus).toBe('UpToDate');
  });

  it('matching numbers verify with the QE graded by identity 18, and both numbers are in the result', () => {
    const r = verifySynthetic(paired(18));
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.advisoryIds).toEqual(['INTEL-SA-00999']);
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 18, qeIdentityEvaluationDataNumber: 18 });
    expect(r.warnings.filter((w) => w.startsWith('T21'))).toEqual([]);
  });

  it('a QE identity newer than the TCB info verifies, with a warning (Intel publishes the two separately)', () => {
    const r = verifySynthetic(paired(19));
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 18, qeIdentityEvaluationDataNumber: 19 });
    expect(r.warnings).toContain('T21: QE identity evaluation data number 19 is newer than the TCB info\'s 18');
  });

  it('SGX: the same rule for the QE identity "QE"', () => {
    expectSyntheticFailure(paired(17, { tee: 'sgx' }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expect(verifySynthetic(paired(18, { tee: 'sgx' })).collateral.qeIdentityEvaluationDataNumber).toBe(18);
  });

  it('without a QE identity (skipQeIdentity) the result states no QE identity number', () => {
    const p = platform({ qeIdentity: { omit: true } });
    const r = verifySynthetic(p, { relaxations: { skipQeIdentity: true } });
    expect(r.collateral.tcbEvaluationDataNumber).toBe(17);
    expect('qeIdentityEvaluationDataNumber' in r.collateral).toBe(false);
  });
});

// ---- The refused QE identity is discarded and fetched again (local PCCS) ----

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

const QE_PATH = '/tdx/certification/v4/qe/identity';
const TCB_PATH = '/tdx/certification/v4/tcb';

function served(a: CollateralArtifact | undefined, chainHeader?: string): { body: Uint8Array; headers: { [name: string]: string } } {
  if (!a) throw new Error('artifact missing');
  const headers: { [name: string]: string } = { 'content-type': a.kind.endsWith('crl') ? 'application/pkix-crl' : 'application/json' };
  if (chainHeader) headers[chainHeader] = encodeURIComponent(a.issuerChainPem!);
  return { body: a.body, headers };
}

/** A PCCS serving one synthetic platform's collateral at the real paths, with the real issuer-chain headers. */
function pccsRecords(p: SyntheticIntelPlatform): ServedRecord[] {
  const fmspc = Buffer.from(p.pki.sgx.fmspc).toString('hex').toUpperCase();
  const c = p.collateral;
  return [
    { path: TCB_PATH, query: { fmspc }, ...served(c.tcbInfo, 'TCB-Info-Issuer-Chain') },
    { path: QE_PATH, ...served(c.qeIdentity, 'SGX-Enclave-Identity-Issuer-Chain') },
    { path: '/sgx/certification/v4/pckcrl', query: { ca: p.pki.caType }, ...served(c.pckCrl, 'SGX-PCK-CRL-Issuer-Chain') },
    { path: '/sgx/certification/v4/rootcacrl', ...served(c.rootCaCrl) },
  ];
}

describe('T21 refusal through verifyEvidence: the next verification fetches a fresh QE identity', () => {
  it('a PCCS answering QE identity 17 next to TCB info 18: refused once, then the re-fetched identity 18 is used', async () => {
    const stale = paired(17);
    // The current identity (18, raised levels), signed by the same TCB Signing key under the same chain.
    const current = { ...stale.qeIdentity, tcbEvaluationDataNumber: 18 };
    RAISED_QE_LEVELS.mutate(current);
    const fresh = signCollateralJson('enclaveIdentity', current, stale.pki.tcbSigning.key.privateKey);
    const server = await CollateralServer.start(pccsRecords(stale));
    servers.push(server);
    const service = new CollateralService({
      intel: new IntelPcsClient({ http: new HttpClient({ retries: 0 }), baseUrl: server.url }),
      cache: new CollateralCache({ directory: null }),
    });
    const options = { collateral: service, at: stale.at, trustRoots: stale.trustRoots };

    let err: { errorClass?: string; check?: string } | undefined;
    await verifyEvidence(stale.quote.bytes, options).catch((e: unknown) => (err = e as typeof err));
    expect({ errorClass: err?.errorClass, check: err?.check }).toEqual({ errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expect(server.hits.get(QE_PATH)).toBe(1);

    // The PCCS now answers the current identity; the cache must not answer 17 again.
    const record = server.records.find((r) => r.path === QE_PATH)!;
    record.body = fresh;
    const r = await verifyEvidence(stale.quote.bytes, options);
    expect(server.hits.get(QE_PATH)).toBe(2);
    expect(server.hits.get(TCB_PATH)).toBe(1); // the TCB info was not rejected: served from the cache
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 18, qeIdentityEvaluationDataNumber: 18 });
  });
});
