/**
 * Review s14 tests, findings 3 and 5: policy rules whose only negative test
 * ran inside `describe.skipIf(!HAVE_VECTORS)` (a run without the shared
 * vectors, as in a fresh clone or CI, left each rule removable with the suite
 * green), and the S22 minimum ABI compared on its major number only. Each
 * test here runs unconditionally on synthetic evidence (src/testing: the
 * synthetic Intel platform and AMD PKI, verified by the real verifier under
 * their test roots, as test/policy/helpers.ts builds them), has a positive
 * control on the same evidence, and fails when its one rule is removed.
 */
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import { expectOk, expectOnly, hex, pairs, sgx, snp, syntheticSgx, syntheticSnp, syntheticTdx, tdx, withTopLevelStatus } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const ANY_SGX = { tee: 'sgx', mrEnclave: 'any', mrSigner: 'any' };
const ANY_SNP = { tee: 'snp', measurement: 'any', hostData: 'any' };
const bytes = (byte: number, length: number) => new Uint8Array(length).fill(byte);

describe('TDX policy rules on the synthetic platform (finding 3)', () => {
  it('T37: RTMR0 not in the allowlist is refused', () => {
    const r = syntheticTdx({ quote: { tdBody: { rtmr0: bytes(0x37, 48) } } });
    expect(tdx(r).rtmr0).toBe(hex(0x37, 48));
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, rtmr0: [hex(0x37, 48)] })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, rtmr0: [hex(0x38, 48)] })), 'T37', '/rtmr0');
    expect(v.actual).toBe(hex(0x37, 48));
  });

  it('T38: MROWNER not in the allowlist is refused', () => {
    const r = syntheticTdx({ quote: { tdBody: { mrOwner: bytes(0x0e, 48) } } });
    expect(tdx(r).mrOwner).toBe(hex(0x0e, 48));
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrOwner: [hex(0x0e, 48)] })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrOwner: [hex(0x0f, 48)] })), 'T38', '/mrOwner');
    expect(v.actual).toBe(hex(0x0e, 48));
  });

  // TEE_TCB_SVN bytes 03 01: module SVN 1 * 256 + 3 = 259 (byte 1 major, byte 0 minor); read the other way, 769
  const svnBytes = Uint8Array.of(0x03, 0x01, ...new Array<number>(14).fill(0));
  const seam = () => syntheticTdx({ quote: { tdBody: { teeTcbSvn: svnBytes } } });

  it('T39: the TDX module SVN outside the policy\'s seamSvn list is refused', () => {
    const r = seam();
    expect(tdx(r).teeTcbSvn.slice(0, 4)).toBe('0301');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, seamSvn: [259] })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, seamSvn: [258] })), 'T39', '/seamSvn');
    expect(v.actual).toBe(259);
  });

  it('T39: the TDX module SVN below the policy\'s minSeamSvn is refused', () => {
    const r = seam();
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, minSeamSvn: 259 })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, minSeamSvn: 260 })), 'T39', '/minSeamSvn');
    expect([v.expected, v.actual]).toEqual([{ minimum: 260 }, 259]);
  });

  it('T39: the module SVN is TEE_TCB_SVN[1] * 256 + TEE_TCB_SVN[0] (03 01 is 259, not 769)', () => {
    const r = seam();
    // read with the bytes swapped, 769 would meet a minimum of 260 and miss the list [259]
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, minSeamSvn: 769 })), 'T39', '/minSeamSvn');
    expect(v.actual).toBe(259);
    expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, seamSvn: [769] })), 'T39', '/seamSvn');
  });
});

describe('Intel TCB advisories on synthetic TCB levels (finding 3)', () => {
  const r = () => withTopLevelStatus('SWHardeningNeeded', ['INTEL-SA-00837', 'INTEL-SA-00615']);
  const tcb = { acceptedStatuses: ['UpToDate', 'SWHardeningNeeded'] };

  it('T33: an advisory missing from acceptedAdvisoryIds is refused, whatever the accepted status', () => {
    expect(r().advisoryIds).toEqual(['INTEL-SA-00837', 'INTEL-SA-00615']);
    expectOk(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { ...tcb, acceptedAdvisoryIds: ['INTEL-SA-00615', 'INTEL-SA-00837'] } })));
    const v = expectOnly(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { ...tcb, acceptedAdvisoryIds: ['INTEL-SA-00837'] } })), 'T33', '/tcb/acceptedAdvisoryIds', 'TCB_STATUS');
    expect(v.actual).toEqual(['INTEL-SA-00615']);
  });

  it('T33: an advisory on rejectedAdvisoryIds is refused, whatever the accepted status', () => {
    expectOk(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { ...tcb, rejectedAdvisoryIds: ['INTEL-SA-00999'] } })));
    const v = expectOnly(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { ...tcb, rejectedAdvisoryIds: ['INTEL-SA-00615', 'INTEL-SA-00999'] } })), 'T33', '/tcb/rejectedAdvisoryIds', 'TCB_STATUS');
    expect(v.actual).toEqual(['INTEL-SA-00615']);
  });
});

describe('SGX enclave rules on the synthetic platform (finding 3)', () => {
  it('T34 (§3): MISCSELECT not matching the policy under its mask is refused', () => {
    const r = syntheticSgx({ quote: { enclaveBody: { miscSelect: 0x1 } } });
    expect(sgx(r).miscSelect).toBe(1);
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SGX, miscSelect: { value: 1 } })));
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SGX, miscSelect: { value: 0, mask: 0xfffffffe } })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SGX, miscSelect: { value: 0 } })), 'T34', '/miscSelect');
    expect(v.actual).toBe(1);
  });

  it('T36 (§3): ISVPRODID not in the allowlist is refused', () => {
    const r = syntheticSgx({ quote: { enclaveBody: { isvProdId: 7 } } });
    expect(sgx(r).isvProdId).toBe(7);
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SGX, isvProdId: [7] })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SGX, isvProdId: [8] })), 'T36', '/isvProdId');
    expect(v.actual).toBe(7);
  });
});

describe('collateral age on the synthetic platform (finding 3)', () => {
  it('X02: TCB info, QE identity and PCK CRL older than maxAgeSeconds are refused (issued one day before the instant)', () => {
    const r = syntheticTdx();
    const day = 24 * 3600;
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, collateral: { maxAgeSeconds: day } })));
    const a = evaluatePolicy(r, loadPolicy({ ...ANY_TDX, collateral: { maxAgeSeconds: day - 1 } }));
    expect(a.ok).toBe(false);
    expect(pairs(a)).toEqual(Array(3).fill(['X02', '/collateral/maxAgeSeconds']));
    expect(a.violations.map((v) => [v.errorClass, (v.actual as { ageSeconds: number }).ageSeconds])).toEqual(Array(3).fill(['EXPIRED', day]));
  });
});

describe('SEV-SNP identity and platform rules on synthetic reports (findings 3 and 5)', () => {
  it('S27: IMAGE_ID not in the allowlist is refused', () => {
    const r = syntheticSnp({ report: { imageId: bytes(0x1d, 16) } });
    expect(snp(r).imageId).toBe(hex(0x1d, 16));
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, imageId: [hex(0x1d, 16)] })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, imageId: [hex(0x1e, 16)] })), 'S27', '/imageId');
    expect(v.actual).toBe(hex(0x1d, 16));
  });

  it('S27: GUEST_SVN below minGuestSvn is refused', () => {
    const r = syntheticSnp({ report: { guestSvn: 5 } });
    expect(snp(r).guestSvn).toBe(5);
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, minGuestSvn: 5 })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, minGuestSvn: 6 })), 'S27', '/minGuestSvn');
    expect([v.expected, v.actual]).toEqual([{ minimum: 6 }, 5]);
  });

  it('S23: a PLATFORM_INFO bit the policy requires to be false (smtEnabled: false) is refused when set', () => {
    const r = syntheticSnp(); // PLATFORM_INFO 0x25: SMT_EN, ECC_EN, ALIAS_CHECK_COMPLETE
    expect(snp(r).platformInfo.smtEnabled).toBe(true);
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, platformInfo: { smtEnabled: true, tsmeEnabled: false } })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, platformInfo: { smtEnabled: false } })), 'S23', '/platformInfo/smtEnabled');
    expect([v.expected, v.actual]).toEqual([false, true]);
  });

  it('S22: a guest policy ABI 1.50 does not meet minAbi "1.55" (the minor number counts when the majors are equal)', () => {
    const r = syntheticSnp({ report: { policy: 0x30000n | (1n << 8n) | 50n } }); // ABI_MAJOR 1 (bits 15:8), ABI_MINOR 50 (bits 7:0)
    expect([snp(r).policy.abiMajor, snp(r).policy.abiMinor]).toEqual([1, 50]);
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, guestPolicy: { minAbi: '1.50' } })));
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, guestPolicy: { minAbi: '0.99' } })));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_SNP, guestPolicy: { minAbi: '1.55' } })), 'S22', '/guestPolicy/minAbi');
    expect([v.expected, v.actual]).toEqual([{ minimum: '1.55' }, '1.50']);
  });
});
