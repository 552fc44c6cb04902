/**
 * Review s14 (verifiers #3): verifySnpReport checks the caller's trust roots
 * as verifyIntelQuote does. A roots object without `amd` escaped as a plain
 * TypeError (no code, no class); anchors that are not bytes came back as a
 * PARSE error of the evidence (ERR_BAD_DER at S07), blaming the evidence for a
 * configuration mistake. Both are ERR_INVALID_ARGUMENT now.
 */
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../../src/errors.js';
import { verifySnpReport } from '../../../src/verify/index.js';
import { setup } from './helpers/synthetic.js';

describe('review s14: SEV-SNP trust roots are checked as the caller argument they are', () => {
  const s = setup();
  const run = (trustRoots: unknown) => () => verifySnpReport(s.report, s.collateral, { ...s.options, trustRoots: trustRoots as never });

  it('roots without amd, and anchors that are not bytes, are ERR_INVALID_ARGUMENT', () => {
    for (const roots of [{ label: 'x', intelRootCas: [] }, { label: 'x', intelRootCas: [], amd: null }, { label: 'x', intelRootCas: [], amd: { Milan: { ark: 'pem', ask: 'x', asvk: 'y' } } }, { label: 'x', intelRootCas: [], amd: { Milan: null } }]) {
      expect(run(roots)).toThrow(InvalidArgumentError);
    }
  });

  it('the test PKI roots verify (control)', () => {
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
  });
});
