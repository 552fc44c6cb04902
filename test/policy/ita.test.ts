/**
 * translateItaPolicy: Intel Trust Authority KBS key-transfer policies
 * (protocols.md §4.4, trustauthority-kbs v1.3.0) to native policies, with the
 * documented mapping, strict validation, and a round trip through the native
 * loader. The TDX example pins the genuine phala-dcap-qvl TDX quote.
 */
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy, PolicyError, translateItaPolicy, type SgxPolicy, type TdxPolicy } from '../../src/policy/index.js';
import type { TdxClaims } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, SGX_SW_HARDENING, TDX_UPTODATE, expectOk, expectOnly, hex, realIntelResult, sgx, tdx } from './helpers.js';

const ID = '5d6fb6a4-7b37-4b59-9a1c-2d1f1f6f0a11';

/** The §4.4 TDX shape (v1.3.0): lists for mrsignerseam / mrseam / mrtd, strings for RTMRs, seamsvn uint16. */
function itaTdx(c: Pick<TdxClaims, 'mrSignerSeam' | 'mrSeam' | 'mrTd' | 'rtmr0' | 'rtmr1'>, seamsvn: number) {
  return {
    id: ID,
    created_at: '2025-07-01T10:00:00Z',
    attestation_type: 'TDX',
    tdx: {
      attributes: {
        mrsignerseam: [c.mrSignerSeam.toUpperCase()],
        mrseam: [c.mrSeam],
        seamsvn,
        mrtd: [c.mrTd],
        rtmr0: c.rtmr0,
        rtmr1: c.rtmr1,
        rtmr2: '',
        enforce_tcb_upto_date: true,
      },
    },
  };
}

const ZEROS = { mrSignerSeam: hex(0, 48), mrSeam: hex(1, 48), mrTd: hex(2, 48), rtmr0: hex(3, 48), rtmr1: hex(4, 48) };

function itaInvalidAt(doc: unknown, path: string): void {
  const err = catchError(() => translateItaPolicy(doc as object));
  expect(err).toBeInstanceOf(PolicyError);
  expect({ code: err.code, errorClass: err.errorClass, path: err.details['path'] }).toEqual({ code: 'ERR_POLICY_INVALID', errorClass: 'ARGUMENT', path });
}

describe('ITA TDX policy → native', () => {
  it('maps every attribute as documented; fields ITA lacks become explicit "any"', () => {
    const p = translateItaPolicy(itaTdx(ZEROS, 0x0106)) as TdxPolicy;
    expect(p).toMatchObject({
      tee: 'tdx',
      id: ID,
      mrSignerSeam: [hex(0, 48)], // hex lowercased: case-insensitive comparison
      mrSeam: [hex(1, 48)],
      seamSvn: [0x0106],
      mrTd: [hex(2, 48)],
      rtmr0: [hex(3, 48)],
      rtmr1: [hex(4, 48)],
      rtmr2: 'any',
      rtmr3: 'any',
      mrConfigId: 'any',
      mrOwner: 'any',
      mrOwnerConfig: 'any',
      allowDebug: false,
      tcb: { acceptedStatuses: ['UpToDate'] },
    });
    expect('created_at' in p).toBe(false);
  });

  it('round trip: the translated policy is a native document that reloads to itself', () => {
    const p = translateItaPolicy(JSON.stringify(itaTdx(ZEROS, 3)));
    expect(loadPolicy(JSON.stringify(p))).toEqual(p);
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('enforce_tcb_upto_date false or absent: every status but Revoked (ITA then ignores the status)', () => {
    const doc = itaTdx(ZEROS, 3);
    delete (doc.tdx.attributes as Record<string, unknown>)['enforce_tcb_upto_date'];
    const p = translateItaPolicy(doc) as TdxPolicy;
    expect(p.tcb.acceptedStatuses).toHaveLength(8);
    expect(p.tcb.acceptedStatuses).not.toContain('Revoked');
  });

  it('empty lists and empty RTMR strings mean "skip" in ITA: explicit "any" here (an empty mrtd only with allowUnpinnedMeasurement, review s6)', () => {
    const doc = { attestation_type: 'TDX', tdx: { policy_ids: [], attributes: { mrtd: [], mrseam: [], rtmr3: '' } } };
    itaInvalidAt(doc, '/tdx/attributes');
    const p = translateItaPolicy(doc, { allowUnpinnedMeasurement: true }) as TdxPolicy;
    expect([p.mrTd, p.mrSeam, p.rtmr3, p.seamSvn, p.mrSignerSeam]).toEqual(['any', 'any', 'any', 'any', 'any']);
  });

  it('the README variants protocols.md §10.1 tolerates: lower-case attestation_type and a one-element array', () => {
    const lower = translateItaPolicy({ ...itaTdx(ZEROS, 3), attestation_type: 'tdx' });
    const array = translateItaPolicy({ ...itaTdx(ZEROS, 3), attestation_type: ['TDX'] });
    expect(lower).toEqual(translateItaPolicy(itaTdx(ZEROS, 3)));
    expect(array).toEqual(lower);
  });

  it.skipIf(!HAVE_VECTORS)('evaluated on the genuine TDX quote: passes pinned to its values, and the module SVN is exact (T39)', () => {
    const r = realIntelResult(TDX_UPTODATE);
    const c = tdx(r);
    expectOk(evaluatePolicy(r, translateItaPolicy(itaTdx(c, 0x0106))));
    expectOnly(evaluatePolicy(r, translateItaPolicy(itaTdx(c, 0x0107))), 'T39', '/seamSvn');
    expectOnly(evaluatePolicy(r, translateItaPolicy(itaTdx({ ...c, mrTd: hex(9, 48) }, 0x0106))), 'T36', '/mrTd');
  });
});

describe('ITA SGX policy → native', () => {
  const sgxDoc = (mrenclave: string, mrsigner: string, isvprodid: number, isvsvn: number, enforce: boolean) => ({
    attestation_type: 'SGX',
    sgx: { attributes: { mrsigner: [mrsigner], isvprodid: [isvprodid], mrenclave: [mrenclave], isvsvn, enforce_tcb_upto_date: enforce } },
  });

  it('maps mrsigner, isvprodid, mrenclave, isvsvn (exact) and the TCB flag', () => {
    const p = translateItaPolicy(sgxDoc(hex(0xaa, 32), hex(0xbb, 32), 1, 7, false)) as SgxPolicy;
    expect(p).toMatchObject({ tee: 'sgx', mrEnclave: [hex(0xaa, 32)], mrSigner: [hex(0xbb, 32)], isvProdId: [1], isvSvn: [7] });
    expect(loadPolicy(p)).toEqual(p);
  });

  it.skipIf(!HAVE_VECTORS)('on the genuine SGX quote (SWHardeningNeeded): enforce_tcb_upto_date decides', () => {
    const r = realIntelResult(SGX_SW_HARDENING);
    const c = sgx(r);
    expectOk(evaluatePolicy(r, translateItaPolicy(sgxDoc(c.mrEnclave, c.mrSigner, c.isvProdId, c.isvSvn, false))));
    expectOnly(evaluatePolicy(r, translateItaPolicy(sgxDoc(c.mrEnclave, c.mrSigner, c.isvProdId, c.isvSvn, true))), 'T33', '/tcb/acceptedStatuses', 'TCB_STATUS');
    expectOnly(evaluatePolicy(r, translateItaPolicy(sgxDoc(c.mrEnclave, c.mrSigner, c.isvProdId, c.isvSvn + 1, false))), 'T36', '/isvSvn');
  });
});

describe('ITA documents are validated strictly', () => {
  it('unknown fields are errors, at any level', () => {
    itaInvalidAt({ ...itaTdx(ZEROS, 3), policy: {} }, '/policy');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: { mrconfigid: [hex(0, 48)] } } }, '/tdx/attributes/mrconfigid');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: {}, extra: 1 } }, '/tdx/extra');
  });

  it('the README\'s "seamsvn": "3" and other wrong types are rejected, as the current ITA decoder does', () => {
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: { seamsvn: '3' } } }, '/tdx/attributes/seamsvn');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: { seamsvn: 65536 } } }, '/tdx/attributes/seamsvn');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: { rtmr0: [hex(0, 48)] } } }, '/tdx/attributes/rtmr0');
  });

  it('hex lengths: SHA-384 96 digits for TDX, 64 for SGX', () => {
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [hex(0, 32)] } } }, '/tdx/attributes/mrtd/0');
    itaInvalidAt({ attestation_type: 'SGX', sgx: { attributes: { mrenclave: [hex(0, 48)] } } }, '/sgx/attributes/mrenclave/0');
  });

  it('attestation_type: TDX or SGX, one of them', () => {
    itaInvalidAt({ attestation_type: 'SNP', tdx: { attributes: {} } }, '/attestation_type');
    itaInvalidAt({ attestation_type: ['TDX', 'SGX'], tdx: { attributes: {} } }, '/attestation_type');
    itaInvalidAt({ tdx: { attributes: {} } }, '/attestation_type');
  });

  it('the section must match the type and carry attributes; the other section is refused', () => {
    itaInvalidAt({ attestation_type: 'TDX' }, '/tdx');
    itaInvalidAt({ attestation_type: 'TDX', tdx: {} }, '/tdx/attributes');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { attributes: {} }, sgx: { attributes: {} } }, '/sgx');
  });

  it('ITA-hosted appraisal policies (non-empty policy_ids) cannot be translated', () => {
    itaInvalidAt({ attestation_type: 'TDX', tdx: { policy_ids: [ID], attributes: {} } }, '/tdx/policy_ids');
    itaInvalidAt({ attestation_type: 'TDX', tdx: { policy_ids: ['not-a-uuid'], attributes: {} } }, '/tdx/policy_ids/0');
  });

  it('id is a v4 UUID; the text is strict JSON', () => {
    itaInvalidAt({ ...itaTdx(ZEROS, 3), id: 'policy-1' }, '/id');
    itaInvalidAt('{"attestation_type":"TDX","attestation_type":"SGX"}', '');
    itaInvalidAt(17, '');
  });
});
