/**
 * Review s6, finding 7: the HCL report's report-data hash type. Only 1
 * (SHA-256) is accepted, as azure-cvm-tooling (az-cvm-vtpm) accepts; 2
 * (SHA-384) and 3 (SHA-512) are refused at VT03 by the parser
 * (ERR_HCL_UNSUPPORTED_HASH_TYPE) and by the binding rule for an HclReport
 * built elsewhere (ERR_VTPM_UNSUPPORTED). On the real Milan HCL report.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { checkRuntimeDataBinding } from '../../src/vtpm/azure.js';
import { parseHclReport } from '../../src/vtpm/parse.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, VECTORS_DIR } from '../helpers/vectors.js';

describe.skipIf(!HAVE_VECTORS)('review s6-7: HCL report-data hash types 2 and 3 are refused (VT03)', () => {
  const real = () => new Uint8Array(readFileSync(join(VECTORS_DIR, 'trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin')));
  const withHashType = (t: number) => {
    const b = real();
    new DataView(b.buffer, b.byteOffset).setUint32(1228, t, true);
    return b;
  };

  it('the real report (hash type 1) parses and binds', () => {
    const hcl = parseHclReport(real());
    expect(hcl.reportDataHashType).toBe(1);
    const checks: { id: string; description: string }[] = [];
    checkRuntimeDataBinding(hcl, hcl.hardwareReport.subarray(0x50, 0x90), checks);
    expect(checks.map((c) => c.id)).toEqual(['VT03']);
  });

  for (const hashType of [2, 3]) {
    it(`hash type ${hashType}: the parser refuses it (UNSUPPORTED, VT03, at byte 1228)`, () => {
      expectError(() => parseHclReport(withHashType(hashType)), { code: 'ERR_HCL_UNSUPPORTED_HASH_TYPE', errorClass: 'UNSUPPORTED', check: 'VT03', offset: 1228 });
    });

    it(`hash type ${hashType} in an HclReport built elsewhere: the binding rule refuses it (ERR_VTPM_UNSUPPORTED, VT03)`, () => {
      const hcl = { ...parseHclReport(real()), reportDataHashType: hashType };
      const err = catchError(() => checkRuntimeDataBinding(hcl, hcl.hardwareReport.subarray(0x50, 0x90), []));
      expect([err.code, err.errorClass, err.check, err.details['hashType']]).toEqual(['ERR_VTPM_UNSUPPORTED', 'UNSUPPORTED', 'VT03', hashType]);
    });
  }
});
