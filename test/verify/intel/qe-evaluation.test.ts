/**
 * T21 (review, session 5): a QE identity with a lower tcbEvaluationDataNumber
 * than the TCB info it is paired with is refused. PCS signs fresh copies of
 * older evaluation numbers on request, so a rogue PCCS or cache writer could
 * pair TCB info 18 with QE identity 17, under which the QE's ISVSVN is still
 * UpToDate while identity 18 grades it OutOfDate. A newer QE identity stays a
 * warning. Through verifyEvidence (local PCCS on 127.0.0.1), a source whose
 * QE identity lags its TCB info is asked once for the identity at the TCB
 * info's number; if it has none, the error is retryable, not a verdict.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, CollateralService, CollateralUnavailableError, HttpClient, IntelPcsClient, parseEvidence, verifyEvidence, type CollateralArtifact } from '../../../src/index.js';
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

/** The current identity (18, raised levels) of `stale`'s platform, signed by the same TCB Signing key under the same chain. */
function currentIdentity(stale: SyntheticIntelPlatform): Uint8Array {
  const current = { ...stale.qeIdentity, tcbEvaluationDataNumber: 18 };
  RAISED_QE_LEVELS.mutate(current);
  return signCollateralJson('enclaveIdentity', current, stale.pki.tcbSigning.key.privateKey);
}

async function pccsService(records: ServedRecord[]): Promise<{ server: CollateralServer; service: CollateralService }> {
  const server = await CollateralServer.start(records);
  servers.push(server);
  const service = new CollateralService({
    intel: new IntelPcsClient({ http: new HttpClient({ retries: 0 }), baseUrl: server.url }),
    cache: new CollateralCache({ directory: null }),
  });
  return { server, service };
}

async function rejection(run: Promise<unknown>): Promise<{ code?: string; errorClass?: string; check?: string; retryable?: boolean; details?: Record<string, unknown> }> {
  try {
    await run;
  } catch (err) {
    return err as { code?: string };
  }
  throw new Error('verification passed');
}

describe('T21 through verifyEvidence: a source whose QE identity lags its TCB info (lazy PCCS)', () => {
  it('serving 17 by default but 18 when asked by number: verified once more with identity 18, no refetch on later calls', async () => {
    const stale = paired(17);
    const records = pccsRecords(stale);
    const qe = records.find((r) => r.path === QE_PATH)!;
    // First match wins: the by-number answer before the default one.
    records.unshift({ ...qe, query: { tcbEvaluationDataNumber: '18' }, body: currentIdentity(stale) });
    const { server, service } = await pccsService(records);
    const options = { collateral: service, at: stale.at, trustRoots: stale.trustRoots };

    const r = await verifyEvidence(stale.quote.bytes, options);
    expect(r.tcbStatus).toBe('OutOfDate'); // graded by identity 18, not UpToDate as 17 would
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 18, qeIdentityEvaluationDataNumber: 18 });
    expect(server.hits.get(QE_PATH)).toBe(2); // the channel's latest (17), then by number (18)
    expect(server.hits.get(TCB_PATH)).toBe(1);

    // Bounded: the genuine identity 17 stays cached (not refetched from a source that would answer it
    // again), identity 18 is cached under its own key; a later verification fetches nothing.
    const again = await verifyEvidence(stale.quote.bytes, options);
    expect(again.collateral).toMatchObject({ qeIdentityEvaluationDataNumber: 18 });
    expect(server.hits.get(QE_PATH)).toBe(2);
  });

  it('never having 18: a retryable COLLATERAL_UNAVAILABLE (ERR_QE_IDENTITY_LAGGING at T21), one fetch per call; then it catches up', async () => {
    const stale = paired(17);
    const { server, service } = await pccsService(pccsRecords(stale)); // answers 17 whatever the query
    const options = { collateral: service, at: stale.at, trustRoots: stale.trustRoots };

    const err = await rejection(verifyEvidence(stale.quote.bytes, options));
    expect({ code: err.code, errorClass: err.errorClass, check: err.check, retryable: err.retryable }).toEqual({
      code: 'ERR_QE_IDENTITY_LAGGING',
      errorClass: 'COLLATERAL_UNAVAILABLE',
      check: 'T21',
      retryable: true,
    });
    expect(err.details).toMatchObject({ evaluation: 17, tcbInfoEvaluation: 18 });
    expect(err).toBeInstanceOf(CollateralUnavailableError);
    expect(server.hits.get(QE_PATH)).toBe(2);

    // The wrong answer to "18" was discarded; the channel's 17 was not: one request per verification.
    const err2 = await rejection(verifyEvidence(stale.quote.bytes, options));
    expect(err2.code).toBe('ERR_QE_IDENTITY_LAGGING');
    expect(server.hits.get(QE_PATH)).toBe(3);

    server.records.find((r) => r.path === QE_PATH)!.body = currentIdentity(stale);
    const r = await verifyEvidence(stale.quote.bytes, options);
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 18, qeIdentityEvaluationDataNumber: 18 });
    expect(r.tcbStatus).toBe('OutOfDate');
  });

  it('a by-number request the source cannot answer (404) is the same retryable error, with the cause', async () => {
    const stale = paired(17);
    const records = pccsRecords(stale);
    const qe = records.find((r) => r.path === QE_PATH)!;
    qe.query = { update: 'standard' }; // a by-number request finds nothing: 404
    const { service } = await pccsService(records);
    const err = await rejection(verifyEvidence(stale.quote.bytes, { collateral: service, at: stale.at, trustRoots: stale.trustRoots }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_QE_IDENTITY_LAGGING', check: 'T21' });
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ERR_COLLATERAL_NOT_FOUND');
  });

  it('a look-alike service that cannot ask by number: the same retryable error; collateral given outright: the T21 verdict', async () => {
    const stale = paired(17);
    const { service } = await pccsService(pccsRecords(stale));
    const lookAlike = { forEvidence: service.forEvidence.bind(service) } as unknown as CollateralService;
    const err = await rejection(verifyEvidence(stale.quote.bytes, { collateral: lookAlike, at: stale.at, trustRoots: stale.trustRoots }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_QE_IDENTITY_LAGGING', check: 'T21' });
    const outright = await service.forEvidence(parseEvidence(stale.quote.bytes), stale.at);
    const verdict = await rejection(verifyEvidence(stale.quote.bytes, { collateral: outright, at: stale.at, trustRoots: stale.trustRoots }));
    expect({ code: verdict.code, check: verdict.check }).toEqual({ code: 'ERR_COLLATERAL_MISMATCH', check: 'T21' });
  });

  it('the opposite pairing (QE identity newer than the TCB info) verifies with its warning, no second request', async () => {
    const newer = paired(19);
    const { server, service } = await pccsService(pccsRecords(newer));
    const r = await verifyEvidence(newer.quote.bytes, { collateral: service, at: newer.at, trustRoots: newer.trustRoots });
    expect(r.warnings).toContain('T21: QE identity evaluation data number 19 is newer than the TCB info\'s 18');
    expect(server.hits.get(QE_PATH)).toBe(1);
  });
});
