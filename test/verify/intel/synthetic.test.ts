/**
 * Positive controls on the synthetic PKI: every shape of synthetic platform
 * verifies under its own root, and fails with CHAIN under the production
 * roots. Also the builders' contract: documents signed over their exact
 * bytes, CRLs by the test CAs, defaults derived from the platform.
 */
import { describe, expect, it } from 'vitest';

import { parseSignedJson } from '../../../src/collateral/strict-json.js';
import { buildTestCrl, createSyntheticIntelPlatform } from '../../../src/testing/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import { parseCrl } from '../../../src/x509/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { AT, platform, verifySynthetic } from './helpers/synthetic.js';

describe('synthetic platforms verify under the test root', () => {
  const shapes = [
    { name: 'TDX v4', o: { tee: 'tdx' as const, version: 4 as const } },
    { name: 'TDX v5 body type 2', o: { tee: 'tdx' as const, version: 5 as const, bodyType: 2 as const } },
    { name: 'TDX v5 body type 3', o: { tee: 'tdx' as const, version: 5 as const, bodyType: 3 as const } },
    { name: 'TDX v4, Processor CA', o: { tee: 'tdx' as const, caType: 'processor' as const } },
    { name: 'SGX v3', o: { tee: 'sgx' as const } },
    { name: 'SGX v3, Processor CA', o: { tee: 'sgx' as const, caType: 'processor' as const } },
  ];
  for (const { name, o } of shapes) {
    it(`${name}: UpToDate, every check recorded, no warnings`, () => {
      const p = platform(o);
      const r = verifySynthetic(p);
      expect(r.tcbStatus).toBe('UpToDate');
      expect(r.advisoryIds).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(r.trustRoots).toBe('test-pki');
      const ids = r.checks.map((c) => c.id);
      const tdx = o.tee === 'tdx';
      const expected = [
        'T01', 'T02', 'T03', ...(tdx ? ['T04'] : []), 'T05', ...(tdx ? ['T06'] : []), 'T07', 'T08', 'T09', 'T10', 'T11', 'T12', 'T13', 'T14', 'T15',
        'T16', 'T17', 'T47', ...(tdx ? ['T48'] : []), 'T18', 'T19', 'T20', 'T47', 'T21', 'T22', 'T23', 'T24', 'T43', 'T25', 'T26',
        ...(tdx ? ['T27', 'T28', 'T29', 'T30', 'T31'] : ['T30']), 'T32', 'T33', 'T45', 'T46', 'T51',
      ];
      expect(ids).toEqual(expected);
      expect(r.collateral.artifacts.map((a) => a.kind)).toEqual(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl']);
      expect(r.collateral.tcbEvaluationDataNumber).toBe(17);
    });

    it(`${name}: fails with CHAIN (T09) under the production roots`, () => {
      const err = catchError(() => verifySynthetic(platform(o), {}, PRODUCTION_TRUST_ROOTS));
      expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'CHAIN', check: 'T09' });
    });
  }

  it('is deterministic from the seed except signature bytes', () => {
    const a = platform({ seed: 'same' });
    const b = platform({ seed: 'same' });
    expect(a.tcbInfo).toEqual(b.tcbInfo);
    expect(a.qeIdentity).toEqual(b.qeIdentity);
    expect(Buffer.from(a.pki.pck.der).length).toBe(Buffer.from(b.pki.pck.der).length);
    expect(a.quote.bytes.length).toBe(b.quote.bytes.length);
    expect(a.pki.sgx).toEqual(b.pki.sgx);
    expect(platform({ seed: 'other' }).pki.sgx.ppid).not.toEqual(a.pki.sgx.ppid);
  });

  it('signs the documents over the exact member bytes and the CRLs with the test CAs', () => {
    const p = platform();
    const doc = parseSignedJson(p.collateral.tcbInfo!.body, 'tcbInfo');
    expect(Buffer.from(doc.signedBytes).toString('utf8')).toBe(JSON.stringify(p.tcbInfo));
    const crl = parseCrl(p.collateral.pckCrl!.body);
    expect(crl.issuer).toBe('C=US,ST=CA,L=Santa Clara,O=tee-verify test,CN=Intel SGX PCK Platform CA');
    expect(crl.revokedCount).toBe(2);
    expect(crl.crlNumber).toBe(1n);
    const listed = parseCrl(buildTestCrl(p.pki.root, { thisUpdate: AT, nextUpdate: AT, revokedSerials: [p.pki.pckCa.serialHex], crlNumber: 7 }));
    expect(listed.revokedSerials.has(BigInt(`0x${p.pki.pckCa.serialHex}`).toString(16))).toBe(true);
    expect(listed.crlNumber).toBe(7n);
  });

  it('derives collateral defaults from the platform (FMSPC, PCK TCB, TEE_TCB_SVN, QE)', () => {
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, quote: { tdBody: { teeTcbSvn: Uint8Array.from([9, 2, 4, ...new Array(13).fill(0)]) } } });
    const r = verifySynthetic(p);
    expect(r.tcbStatus).toBe('UpToDate');
    expect(r.claims.kind === 'tdx' && r.claims.module?.id).toBe('TDX_02');
  });
});
