/**
 * Review s14 tests, finding 6: the checklist gate (scripts/check-ids.js) now
 * credits an id only where it stands in an assertion (docs/checklist-coverage.md).
 * These ids were credited only through table rows or expected-error tables whose
 * assertion takes the value through a loop variable, and T07 only through the
 * expected-outcome table of test/evidence/shared-vectors.test.ts, whose test
 * runs under `describe.skipIf(!HAVE_VECTORS)` (its synthetic negative in
 * test/evidence/quote-mutations.test.ts is vector-gated too): a run without the
 * shared vectors had no T07 refusal at all. One unconditional refusal each, on
 * synthetic evidence, with the id written in the assertion. (T07 is an Intel
 * id; it is here because this change owns no file under test/evidence.)
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence } from '../../../src/index.js';
import { buildTdxQuote, createIntelTestPki, loadAmdRsaKeys } from '../../../src/testing/index.js';
import { verifySnpReport } from '../../../src/verify/snp/index.js';
import { expectError } from '../../helpers/expect-error.js';
import { VALIDITY, setup } from './helpers/synthetic.js';

describe('refusals the gate now needs written in an assertion', () => {
  it('S08: an ASK signed by another key than the ARK (a forged link) is refused', () => {
    const s = setup({ pki: { overrides: { ask: { signingKey: loadAmdRsaKeys('Genoa').ark.privateKey } } } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S08' });
  });

  it('S46: REPORTED_TCB in the Turin layout read as Milan fails at S13', () => {
    const turin = Uint8Array.of(1, 1, 1, 3, 0, 0, 0, 0x4f);
    const s = setup({ version: 2, pki: { tcb: { bootloader: 1, tee: 1, snp: 3, microcode: 0x4f } }, report: { reportedTcb: turin, currentTcb: turin, committedTcb: turin, launchTcb: turin } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_SNP_TCB', errorClass: 'SNP_TCB', check: 'S13' });
  });

  it('T07: a quote whose inner certification data is not type 5 (PCK chain) is refused', () => {
    const pki = createIntelTestPki({ seed: 'review-s14-t07', validity: VALIDITY });
    const keys = { seed: 'review-s14-t07', pckKey: pki.pck.key.privateKey, pckChainPem: pki.pckChainPem };
    expect(parseEvidence(buildTdxQuote({ ...keys, version: 4 }).bytes).kind).toBe('tdx');
    for (const certDataType of [1, 3, 6]) {
      const bytes = buildTdxQuote({ ...keys, version: 4, framing: { certDataType } }).bytes;
      expectError(() => parseEvidence(bytes), { code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', errorClass: 'UNSUPPORTED', check: 'T07' });
    }
  });
});
