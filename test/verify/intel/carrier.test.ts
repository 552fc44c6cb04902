/**
 * T49 (review, session 5): a parsed quote object is only a carrier for its
 * bytes. Fields edited on the object after parsing (SEAMATTRIBUTES, the
 * DEBUG bit, the QE report's ISVSVN / ISVPRODID, an SGX enclave's DEBUG
 * attribute) must not change a check or a claim, whether the object goes to
 * verifyIntelQuote or to verifyEvidence. Each edit below changed the outcome
 * before the verifier re-framed the bytes.
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, verifyEvidence, type CollateralArtifact, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import type { SyntheticIntelPlatform } from '../../../src/testing/index.js';
import type { VerificationResult } from '../../../src/verify/types.js';
import type { SgxClaims, TdxClaims } from '../../../src/verify/types.js';
import { catchError } from '../../helpers/expect-error.js';
import { parsed, platform, verifySynthetic } from './helpers/synthetic.js';

function serviceOf(p: SyntheticIntelPlatform): CollateralService {
  const artifacts = Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined);
  return new CollateralService({ intel: new BundleSource(artifacts), cache: null });
}

/** The two entry points a parsed object can be handed to. */
const ENTRIES: [string, (p: SyntheticIntelPlatform, q: TdxQuote | SgxQuote) => Promise<VerificationResult>][] = [
  ['verifyIntelQuote', async (p, q) => verifySynthetic(p, { quote: q })],
  ['verifyEvidence(parsed object)', (p, q) => verifyEvidence(q, { collateral: serviceOf(p), at: p.at, trustRoots: p.trustRoots })],
];

async function failure(run: Promise<unknown>): Promise<{ errorClass?: string; check?: string }> {
  try {
    await run;
  } catch (err) {
    return err as { errorClass?: string; check?: string };
  }
  throw new Error('verification passed');
}

/** A QE identity under which the quote's QE (ISVSVN from the builder) is OutOfDate; 99 would be UpToDate. */
const QE_OUT_OF_DATE = {
  mutate: (d: Record<string, unknown>) => {
    d['tcbLevels'] = [
      { tcb: { isvsvn: 99 }, tcbDate: '2026-01-01T00:00:00Z', tcbStatus: 'UpToDate' },
      { tcb: { isvsvn: 0 }, tcbDate: '2025-01-01T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00999'] },
    ];
  },
};

describe.each(ENTRIES)('T49: edited quote objects through %s', (_name, verify) => {
  it('SEAMATTRIBUTES set in the bytes and cleared on the object still fails T29', async () => {
    const p = platform({ quote: { tdBody: { seamAttributes: 1n } } });
    const q = parsed(p) as TdxQuote;
    const honest = await failure(verify(p, q));
    expect({ errorClass: honest.errorClass, check: honest.check }).toEqual({ errorClass: 'TDX_MODULE', check: 'T29' });
    q.body.seamAttributes = 0n;
    const edited = await failure(verify(p, q));
    expect({ errorClass: edited.errorClass, check: edited.check }).toEqual({ errorClass: 'TDX_MODULE', check: 'T29' });
  });

  it('a debug TD whose TDATTRIBUTES are cleared on the object is still reported debug', async () => {
    const p = platform({ quote: { tdBody: { tdAttributes: 1n } } });
    const q = parsed(p) as TdxQuote;
    q.body.tdAttributes = 0n;
    const claims = (await verify(p, q)).claims as TdxClaims;
    expect(claims.debug).toBe(true);
    expect(claims.tdAttributes).toBe('0x0000000000000001');
  });

  it('the QE level comes from the QE report bytes: an ISVSVN raised on the object leaves the status OutOfDate', async () => {
    const p = platform({ qeIdentity: QE_OUT_OF_DATE });
    const q = parsed(p);
    expect((await verify(p, q)).tcbStatus).toBe('OutOfDate');
    q.signatureData.qeReport.isvSvn = 999;
    const r = await verify(p, q);
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.advisoryIds).toEqual(['INTEL-SA-00999']);
  });

  it('the QE identity check reads the QE report bytes: a matching ISVPRODID written on the object still fails T24', async () => {
    const genuine = platform();
    const p = platform({ qeIdentity: { fields: { isvprodid: genuine.quote.qeReport.isvProdId + 1 } } });
    const q = parsed(p);
    q.signatureData.qeReport.isvProdId = genuine.quote.qeReport.isvProdId + 1;
    const err = await failure(verify(p, q));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'QE_IDENTITY', check: 'T24' });
  });

  it('an SGX debug enclave whose DEBUG attribute is cleared on the object is still reported debug', async () => {
    const attributes = new Uint8Array(16);
    attributes[0] = 0x02 | 0x04; // DEBUG | MODE64BIT
    const p = platform({ tee: 'sgx', quote: { enclaveBody: { attributes } } });
    const q = parsed(p) as SgxQuote;
    q.body.attributes = new Uint8Array(16);
    expect(((await verify(p, q)).claims as SgxClaims).debug).toBe(true);
  });

  it('an object whose version contradicts its bytes is PARSE (ERR_EVIDENCE_OBJECT_MISMATCH), not verified as either', async () => {
    const p = platform();
    const q = parsed(p) as TdxQuote;
    const err = (await failure(verify(p, { ...q, version: 5 }))) as { errorClass?: string; check?: string; code?: string };
    expect({ errorClass: err.errorClass, check: err.check, code: err.code }).toEqual({ errorClass: 'PARSE', check: 'T03', code: 'ERR_EVIDENCE_OBJECT_MISMATCH' });
  });
});

describe('T49: unedited objects verify exactly as the bytes do', () => {
  for (const tee of ['tdx', 'sgx'] as const) {
    it(`${tee}: verifyIntelQuote(parsed), verifyEvidence(parsed) and verifyEvidence(bytes) give the same result`, async () => {
      const p = platform({ tee });
      const options = { collateral: serviceOf(p), at: p.at, trustRoots: p.trustRoots };
      const fromBytes = await verifyEvidence(p.quote.bytes, options);
      expect(fromBytes.tcbStatus).toBe('UpToDate');
      expect(verifySynthetic(p, { quote: parsed(p) })).toEqual(fromBytes);
      expect(await verifyEvidence(parsed(p), options)).toEqual(fromBytes);
    });
  }

  it('a look-alike collateral service that edits the quote it is handed cannot change the claims of verifyEvidence(bytes)', async () => {
    const p = platform({ quote: { tdBody: { tdAttributes: 1n } } });
    const real = serviceOf(p);
    const meddling = {
      forEvidence: (q: TdxQuote, at: Date) => {
        q.body.tdAttributes = 0n;
        return real.forEvidence(q, at);
      },
    } as unknown as CollateralService;
    const r = await verifyEvidence(p.quote.bytes, { collateral: meddling, at: p.at, trustRoots: p.trustRoots });
    expect((r.claims as TdxClaims).debug).toBe(true);
  });

  it('a caller object with non-zero trailing bytes but no lenient parse on record fails T05 on its bytes', () => {
    const p = platform();
    const q = parsed(p);
    const err = catchError(() => verifySynthetic(p, { quote: { ...q, bytes: new Uint8Array([...p.quote.bytes, 1]) } }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_TRAILING_DATA', check: 'T05' });
  });
});
