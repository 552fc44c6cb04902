/**
 * Review s13 intel #2: a malformed TCB info or QE identity (duplicate key, bad
 * number, bad escape...) failed with the strict-JSON parser's check id X05 /
 * X06 and details { reason } only: the two documents' failures were the same
 * error but for a byte offset, against the checklist (T17 / T20: shape and
 * strict JSON of that document, COLLATERAL_FORMAT) and X12, and
 * verifyEvidence's discard could not name the document. Now the failure is
 * the document's own check, T17 or T20, with details.artifact naming it, the
 * parser's check id in details.jsonCheck and its error as the cause.
 */
import { describe, expect, it } from 'vitest';

import type { CollateralArtifact } from '../../src/collateral/artifact.js';
import type { CollateralService, IntelCollateral } from '../../src/collateral/service.js';
import { TeeVerifyError, verifyEvidence } from '../../src/index.js';
import type { SyntheticIntelPlatform } from '../../src/testing/index.js';
import { verifyIntelQuote } from '../../src/verify/intel/index.js';
import { catchError } from '../helpers/expect-error.js';
import { AT, parsed, platform } from './intel/helpers/synthetic.js';

type Doc = 'tcbInfo' | 'qeIdentity';

/** The document served with `edit` applied to its JSON text, unvalidated (the collateral layer would refuse it). */
function malformed(which: Doc, edit: (json: string) => string): SyntheticIntelPlatform {
  return platform({ [which]: { raw: edit, validate: false } });
}

/** The artifact with its body text edited after signing. */
function withBodyText(a: CollateralArtifact, f: (text: string) => string): CollateralArtifact {
  return { ...a, body: new Uint8Array(Buffer.from(f(Buffer.from(a.body).toString('utf8')), 'utf8')) };
}

const duplicateKey = (j: string): string => j.replace('"version":', '"version":2,"version":');

function verifyIn(p: SyntheticIntelPlatform): TeeVerifyError {
  return catchError(() => verifyIntelQuote(parsed(p), p.collateral, { at: AT, trustRoots: p.trustRoots }));
}

const EXPECTED: Record<Doc, { check: string; member: string }> = {
  tcbInfo: { check: 'T17', member: 'tcbInfo' },
  qeIdentity: { check: 'T20', member: 'enclaveIdentity' },
};

describe('review s13 intel #2: a malformed signed document fails with its own check and names itself', () => {
  for (const which of ['tcbInfo', 'qeIdentity'] as const) {
    const { check, member } = EXPECTED[which];

    it(`${which}: a duplicate key is COLLATERAL_FORMAT at ${check} with details.artifact, the X05 parse error kept`, () => {
      const p = malformed(which, duplicateKey);
      const err = verifyIn(p);
      expect({ code: err.code, errorClass: err.errorClass, check: err.check }).toEqual({ code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT', check });
      expect(err.details['artifact']).toBe(p.collateral[which]!.key);
      expect(err.details['jsonCheck']).toBe('X05');
      expect(err.details['reason']).toBe('duplicate key "version"');
      expect(typeof err.details['offset']).toBe('number');
      const cause = (err as Error & { cause?: unknown }).cause;
      expect(cause).toBeInstanceOf(TeeVerifyError);
      expect((cause as TeeVerifyError).check).toBe('X05');
    });

    it(`${which}: a second "${member}" member is ${check} with details.jsonCheck X06`, () => {
      const p = platform();
      const doubled = withBodyText(p.collateral[which]!, (t) => t.replace(`{"${member}":`, `{"${member}":{},"${member}":`));
      expect(Buffer.from(doubled.body).toString('utf8').startsWith(`{"${member}":{},"${member}":`)).toBe(true);
      const err = catchError(() => verifyIntelQuote(parsed(p), { ...p.collateral, [which]: doubled }, { at: AT, trustRoots: p.trustRoots }));
      expect({ errorClass: err.errorClass, check: err.check, jsonCheck: err.details['jsonCheck'], artifact: err.details['artifact'] }).toEqual({
        errorClass: 'COLLATERAL_FORMAT',
        check,
        jsonCheck: 'X06',
        artifact: doubled.key,
      });
    });

    it(`${which}: a fractional number is ${check}, naming the artifact`, () => {
      const p = malformed(which, (j) => j.replace('"version":', '"version":1.5,"_":'));
      const err = verifyIn(p);
      expect({ errorClass: err.errorClass, check: err.check, artifact: err.details['artifact'] }).toEqual({ errorClass: 'COLLATERAL_FORMAT', check, artifact: p.collateral[which]!.key });
    });
  }

  it('the two documents\' failures can be told apart (they were equal but for the offset)', () => {
    const tcb = verifyIn(malformed('tcbInfo', duplicateKey));
    const qe = verifyIn(malformed('qeIdentity', duplicateKey));
    expect(tcb.check).not.toBe(qe.check);
    expect(tcb.details['artifact']).not.toBe(qe.details['artifact']);
  });

  it('verifyEvidence discards the malformed document a service served, and only it', async () => {
    const p = malformed('qeIdentity', duplicateKey);
    const collateral: IntelCollateral = {
      kind: 'intel',
      tee: 'tdx',
      fmspc: Buffer.from(p.pki.sgx.fmspc).toString('hex'),
      pckCa: p.pki.caType,
      tcbInfo: p.collateral.tcbInfo!,
      qeIdentity: p.collateral.qeIdentity!,
      pckCrl: p.collateral.pckCrl!,
      rootCaCrl: p.collateral.rootCaCrl!,
      warnings: [],
    };
    const discarded: string[] = [];
    const service = {
      cachedFor: () => collateral,
      forEvidence: async () => collateral,
      discard: (a: CollateralArtifact) => discarded.push(a.key),
    } as unknown as CollateralService;
    let err: unknown;
    try {
      await verifyEvidence(p.quote.bytes, { collateral: service, at: AT, trustRoots: p.trustRoots });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect((err as TeeVerifyError).check).toBe('T20');
    expect(discarded).toEqual([collateral.qeIdentity.key]);
  });
});
