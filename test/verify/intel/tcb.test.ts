/**
 * Section E (T27–T33), T46 and T51: TDX module identity, platform and module
 * TCB levels, the convergence of platform, module, relaunch and QE statuses
 * (checklist §2.6), Revoked anywhere (V05), statuses returned rather than
 * judged, and the claims. Peer regressions: go-tdx-guest V22, automata V05.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../../src/testing/index.js';
import type { SgxClaims, TdxClaims } from '../../../src/verify/types.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { realSetup, runReal } from './helpers/real.js';
import { expectSyntheticFailure, platform, verifySynthetic, type PlatformOptions } from './helpers/synthetic.js';

const levels = (doc: JsonObject) => doc['tcbLevels'] as JsonObject[];
const tcb = (level: JsonObject) => level['tcb'] as JsonObject;
const svns = (level: JsonObject, key: 'sgxtcbcomponents' | 'tdxtcbcomponents') => tcb(level)[key] as { svn: number }[];
const identities = (doc: JsonObject) => doc['tdxModuleIdentities'] as JsonObject[];
const tee = (...head: number[]) => Uint8Array.from([...head, ...new Array(16 - head.length).fill(0)]);

/** Sets statuses / advisories of the platform levels (index 0 = UpToDate level by default). */
function platformStatus(status: string, advisories?: string[], index = 0) {
  return (d: JsonObject) => {
    const l = levels(d)[index]!;
    l['tcbStatus'] = status;
    if (advisories) l['advisoryIDs'] = advisories;
  };
}

/** Module identity levels [isvsvn, status, advisories?] for TDX_01. */
function moduleLevels(...ls: [number, string, string[]?][]) {
  return (d: JsonObject) => {
    identities(d)[0]!['tcbLevels'] = ls.map(([isvsvn, tcbStatus, advisoryIDs]) => ({ tcb: { isvsvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus, ...(advisoryIDs ? { advisoryIDs } : {}) }));
  };
}

/** QE levels for a QE of ISVSVN 8 (the builders' default). */
function qeLevels(...ls: [number, string, string[]?][]) {
  return (d: JsonObject) => {
    d['tcbLevels'] = ls.map(([isvsvn, tcbStatus, advisoryIDs]) => ({ tcb: { isvsvn }, tcbDate: '2023-02-15T00:00:00Z', tcbStatus, ...(advisoryIDs ? { advisoryIDs } : {}) }));
  };
}

const all = (...fs: ((d: JsonObject) => void)[]) => (d: JsonObject) => fs.forEach((f) => f(d));

function status(o: PlatformOptions): { tcbStatus: string | undefined; advisoryIds: string[]; claims: TdxClaims } {
  const r = verifySynthetic(platform(o));
  return { tcbStatus: r.tcbStatus, advisoryIds: r.advisoryIds, claims: r.claims as TdxClaims };
}

describe('TDX module (T27–T29, T31)', () => {
  it('T27: TEE_TCB_SVN[1] = 2 with no TDX_02 identity; identity ids compare uppercased', () => {
    const p = platform({ quote: { tdBody: { teeTcbSvn: tee(5, 2, 2) } }, tcbInfo: { mutate: (d) => (identities(d)[0]!['id'] = 'TDX_01') } });
    expectSyntheticFailure(p, { errorClass: 'TDX_MODULE', check: 'T27' });
    const lower = platform({ quote: { tdBody: { teeTcbSvn: tee(5, 0x1a, 2) } }, tcbInfo: { mutate: (d) => (identities(d)[0]!['id'] = 'tdx_1a') } });
    expect(verifySynthetic(lower).claims.kind === 'tdx' && (verifySynthetic(lower).claims as TdxClaims).module?.id).toBe('tdx_1a');
  });

  it('T28: MRSIGNERSEAM other than the identity MRSIGNER (module identity, and tdxModule for major version 0)', () => {
    const signer = new Uint8Array(48).fill(0x5a);
    const zero = '00'.repeat(48);
    expectSyntheticFailure(platform({ quote: { tdBody: { mrSignerSeam: signer } }, tcbInfo: { mutate: (d) => (identities(d)[0]!['mrsigner'] = zero) } }), { errorClass: 'TDX_MODULE', check: 'T28' });
    const v0 = platform({ quote: { tdBody: { mrSignerSeam: signer, teeTcbSvn: tee(5, 0, 2) } }, tcbInfo: { mutate: (d) => ((d['tdxModule'] as JsonObject)['mrsigner'] = zero) } });
    expectSyntheticFailure(v0, { errorClass: 'TDX_MODULE', check: 'T28' });
  });

  it('T29: non-zero SEAMATTRIBUTES, and zero SEAMATTRIBUTES that miss the identity under its mask', () => {
    expectSyntheticFailure(platform({ quote: { tdBody: { seamAttributes: 1n } } }), { errorClass: 'TDX_MODULE', check: 'T29' });
    // QVL ignores the mask; go-tdx-guest compares under it: both apply (§8).
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => (identities(d)[0]!['attributes'] = '0100000000000000') } }), { errorClass: 'TDX_MODULE', check: 'T29' });
    // Same through tdxModule when the module major version is 0.
    const v0 = platform({ quote: { tdBody: { teeTcbSvn: tee(5, 0, 2) } }, tcbInfo: { mutate: (d) => ((d['tdxModule'] as JsonObject)['attributes'] = '0000000000000080') } });
    expectSyntheticFailure(v0, { errorClass: 'TDX_MODULE', check: 'T29' });
  });

  it('T29: non-zero SEAMATTRIBUTES fail whatever the mask (an all-zero attributesMask hides nothing; review s10, V43)', () => {
    // The test above uses a full mask, so deleting the zero rule left it green (mutation found in review s10).
    const zeroMasks = (d: JsonObject): void => {
      for (const identity of identities(d)) identity['attributesMask'] = '0000000000000000';
      (d['tdxModule'] as JsonObject)['attributesMask'] = '0000000000000000';
    };
    expectSyntheticFailure(platform({ quote: { tdBody: { seamAttributes: 1n } }, tcbInfo: { mutate: zeroMasks } }), { errorClass: 'TDX_MODULE', check: 'T29' });
  });

  it('T31: module ISVSVN below every level of its identity', () => {
    expectSyntheticFailure(platform({ tcbInfo: { mutate: moduleLevels([7, 'UpToDate'], [6, 'OutOfDate']) } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T31' });
  });
});

describe('platform TCB level (T30)', () => {
  it('PCK SGX components below every level', () => {
    const raise = (d: JsonObject) => levels(d).forEach((l) => (svns(l, 'sgxtcbcomponents')[7]!.svn = 9));
    expectSyntheticFailure(platform({ tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
  });

  it('PCESVN alone below every level', () => {
    const raise = (d: JsonObject) => levels(d).forEach((l) => (tcb(l)['pcesvn'] = 20));
    expectSyntheticFailure(platform({ tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
  });

  it('TDX components alone below every level although the SGX components match (teekit)', () => {
    const raise = (d: JsonObject) => levels(d).forEach((l, i) => (svns(l, 'tdxtcbcomponents')[2]!.svn = 3 - i));
    expectSyntheticFailure(platform({ quote: { tdBody: { teeTcbSvn: tee(5, 1, 0) } }, tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
  });

  it('TEE_TCB_SVN[0..1] count only when TEE_TCB_SVN[1] = 0', () => {
    const raise0 = (d: JsonObject) => levels(d).forEach((l) => (svns(l, 'tdxtcbcomponents')[0]!.svn = 9));
    expect(status({ tcbInfo: { mutate: raise0 } }).tcbStatus).toBe('UpToDate'); // major 1: byte 0 is the module's, judged by TDX_01
    expectSyntheticFailure(platform({ quote: { tdBody: { teeTcbSvn: tee(5, 0, 2) } }, tcbInfo: { mutate: raise0 } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
  });

  it('levels listed lowest first are still matched highest first', () => {
    const r = status({ tcbInfo: { mutate: (d) => (d['tcbLevels'] = [...levels(d)].reverse()) } });
    expect(r.tcbStatus).toBe('UpToDate');
    expect(r.claims.platform.tcbDate).toBe('2024-03-13T00:00:00Z');
  });

  it('a TDX level is chosen only among levels the SGX components and PCESVN also reach', () => {
    // Level 0: SGX unreachable, TDX reachable. Level 1: both reachable -> level 1 (OutOfDate).
    const r = status({ tcbInfo: { mutate: (d) => (svns(levels(d)[0]!, 'sgxtcbcomponents')[0]!.svn = 99) } });
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.advisoryIds).toEqual(['INTEL-SA-00837']);
  });
});

describe('status convergence (T32, §2.6)', () => {
  it('V22 (go-tdx-guest @91f9a52): platform OutOfDate + module UpToDate converges to OutOfDate, not UpToDate', () => {
    const r = status({ tcbInfo: { mutate: platformStatus('OutOfDate', ['INTEL-SA-00960']) } });
    expect(r.claims.module).toMatchObject({ id: 'TDX_01', status: 'UpToDate' });
    expect(r.claims.platform.status).toBe('OutOfDate');
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.advisoryIds).toEqual(['INTEL-SA-00960']);
  });

  it('platform UpToDate + module OutOfDate -> OutOfDate; ConfigurationNeeded + module OutOfDate -> OutOfDateConfigurationNeeded', () => {
    const mod = moduleLevels([7, 'UpToDate'], [3, 'OutOfDate', ['INTEL-SA-01036']]);
    expect(status({ tcbInfo: { mutate: mod } })).toMatchObject({ tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-01036'] });
    expect(status({ tcbInfo: { mutate: all(mod, platformStatus('ConfigurationNeeded')) } }).tcbStatus).toBe('OutOfDateConfigurationNeeded');
    expect(status({ tcbInfo: { mutate: all(mod, platformStatus('SWHardeningNeeded')) } }).tcbStatus).toBe('OutOfDate');
    expect(status({ tcbInfo: { mutate: all(mod, platformStatus('ConfigurationAndSWHardeningNeeded')) } }).tcbStatus).toBe('OutOfDateConfigurationNeeded');
  });

  it('QE OutOfDate folds in: SWHardeningNeeded -> OutOfDate, ConfigurationAndSWHardeningNeeded -> OutOfDateConfigurationNeeded', () => {
    const qe = { mutate: qeLevels([9, 'UpToDate'], [7, 'OutOfDate', ['INTEL-SA-00615']]) };
    expect(status({ qeIdentity: qe, tcbInfo: { mutate: platformStatus('SWHardeningNeeded') } }).tcbStatus).toBe('OutOfDate');
    expect(status({ qeIdentity: qe, tcbInfo: { mutate: platformStatus('ConfigurationAndSWHardeningNeeded') } }).tcbStatus).toBe('OutOfDateConfigurationNeeded');
    expect(status({ qeIdentity: qe, tcbInfo: { mutate: platformStatus('OutOfDateConfigurationNeeded') } }).tcbStatus).toBe('OutOfDateConfigurationNeeded');
    const sgx = verifySynthetic(platform({ tee: 'sgx', qeIdentity: qe, tcbInfo: { mutate: platformStatus('SWHardeningNeeded', ['INTEL-SA-00657']) } }));
    expect({ status: sgx.tcbStatus, advisories: sgx.advisoryIds }).toEqual({ status: 'OutOfDate', advisories: ['INTEL-SA-00657', 'INTEL-SA-00615'] });
  });

  it('non-terminal platform statuses pass through unchanged', () => {
    for (const s of ['SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded']) {
      expect(status({ tcbInfo: { mutate: platformStatus(s) } }).tcbStatus).toBe(s);
      expect(verifySynthetic(platform({ tee: 'sgx', tcbInfo: { mutate: platformStatus(s) } })).tcbStatus).toBe(s);
    }
  });

  it('advisory IDs are the union of the platform, module and QE levels, each once', () => {
    const r = status({
      tcbInfo: { mutate: all(platformStatus('SWHardeningNeeded', ['INTEL-SA-00001', 'INTEL-SA-00002']), moduleLevels([7, 'UpToDate'], [3, 'OutOfDate', ['INTEL-SA-00002', 'INTEL-SA-00003']])) },
      qeIdentity: { mutate: qeLevels([9, 'UpToDate'], [7, 'OutOfDate', ['INTEL-DOC-10000']]) },
    });
    expect(r.advisoryIds).toEqual(['INTEL-SA-00001', 'INTEL-SA-00002', 'INTEL-SA-00003', 'INTEL-DOC-10000']);
    expect(r.claims.platform.advisoryIds).toEqual(['INTEL-SA-00001', 'INTEL-SA-00002']);
    expect(r.claims.qe.advisoryIds).toEqual(['INTEL-DOC-10000']);
  });
});

describe('TD relaunch (T32, §2.6 step 4, v5 body type 3 only)', () => {
  // Module ISVSVN 5 is OutOfDate (latest TDX_01 level is 7); TEE_TCB_SVN2 says the platform already runs 7.
  const mod = moduleLevels([7, 'UpToDate'], [3, 'OutOfDate']);
  const td15 = (tee2: Uint8Array, extra: PlatformOptions = {}): PlatformOptions => ({
    version: 5,
    bodyType: 3,
    ...extra,
    quote: { tdBody: { teeTcbSvn: tee(5, 1, 2), teeTcbSvn2: tee2 } },
    tcbInfo: { mutate: all(mod, ...(extra.tcbInfo?.mutate ? [extra.tcbInfo.mutate] : [])) },
  });

  it('TD_RELAUNCH_ADVISED when TEE_TCB_SVN2 reaches the latest module and TDX level', () => {
    expect(status(td15(tee(7, 1, 2))).tcbStatus).toBe('TD_RELAUNCH_ADVISED');
    expect(status(td15(tee(5, 0, 2))).tcbStatus).toBe('TD_RELAUNCH_ADVISED'); // TEE_TCB_SVN2[1] = 0: compared with the latest TDX level
  });

  it('..._CONFIGURATION_NEEDED when the SGX or TDX status needs configuration', () => {
    expect(status(td15(tee(7, 1, 2), { tcbInfo: { mutate: platformStatus('ConfigurationNeeded') } })).tcbStatus).toBe('TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED');
  });

  it('no relaunch when TEE_TCB_SVN2 is behind, when the QE is OutOfDate, or for body type 2 / v4', () => {
    expect(status(td15(tee(6, 1, 2))).tcbStatus).toBe('OutOfDate');
    expect(status(td15(tee(7, 1, 1))).tcbStatus).toBe('OutOfDate');
    expect(status(td15(tee(7, 1, 2), { qeIdentity: { mutate: qeLevels([9, 'UpToDate'], [7, 'OutOfDate']) } })).tcbStatus).toBe('OutOfDate');
    expect(status({ version: 5, bodyType: 2, tcbInfo: { mutate: mod } }).tcbStatus).toBe('OutOfDate');
    expect(status({ version: 4, tcbInfo: { mutate: mod } }).tcbStatus).toBe('OutOfDate');
  });

  it('TEE_TCB_SVN2 naming a module version without an identity is TDX_MODULE', () => {
    expectSyntheticFailure(platform(td15(tee(7, 3, 2))), { errorClass: 'TDX_MODULE', check: 'T32' });
  });
});

describe('Revoked anywhere is REVOKED (T33)', () => {
  it('V05 (automata #145): a Revoked SGX level with a non-revoked TDX level below it', () => {
    // Level 0 (Revoked) is reached by the SGX components but not by TEE_TCB_SVN[2]; level 1 is reached by both.
    const p = platform({
      quote: { tdBody: { teeTcbSvn: tee(5, 1, 1) } },
      tcbInfo: { mutate: all(platformStatus('Revoked'), (d) => ((svns(levels(d)[0]!, 'tdxtcbcomponents')[2]!.svn = 2), (svns(levels(d)[1]!, 'tdxtcbcomponents')[2]!.svn = 1))) },
    });
    expectSyntheticFailure(p, { errorClass: 'REVOKED', check: 'T33' });
  });

  it('a Revoked TDX level, module level, QE level, SGX platform level', () => {
    expectSyntheticFailure(platform({ tcbInfo: { mutate: platformStatus('Revoked') } }), { errorClass: 'REVOKED', check: 'T33' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: moduleLevels([7, 'UpToDate'], [3, 'Revoked']) } }), { errorClass: 'REVOKED', check: 'T33' });
    expectSyntheticFailure(platform({ qeIdentity: { mutate: qeLevels([9, 'UpToDate'], [7, 'Revoked']) } }), { errorClass: 'REVOKED', check: 'T33' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: platformStatus('Revoked') } }), { errorClass: 'REVOKED', check: 'T33' });
  });
});

describe('statuses are returned, not judged (T46)', () => {
  it('OutOfDate is a successful verification carrying its status', () => {
    const r = verifySynthetic(platform({ tcbInfo: { mutate: platformStatus('OutOfDate', ['INTEL-SA-00837']) } }));
    expect(r.ok).toBe(true);
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.checks.find((c) => c.id === 'T46')?.description).toContain('OutOfDate');
  });

  it.skipIf(!HAVE_VECTORS)('genuine OutOfDate evidence (trustee, TDX_03 module) verifies with status OutOfDate', () => {
    const r = runReal(realSetup('trustee/tdx_quote_6'));
    expect({ ok: r.ok, status: r.tcbStatus }).toEqual({ ok: true, status: 'OutOfDate' });
    expect((r.claims as TdxClaims).module?.id).toBe('TDX_03');
  });
});

describe('claims (T51)', () => {
  it('TDX: every measurement from the signed body in lowercase hex, 64-bit fields as 0x hex, decoded TD attributes', () => {
    const p = platform({ version: 5, bodyType: 3, quote: { tdBody: { tdAttributes: 0x0000000030000001n, xfam: 0x61ae7n } } });
    const c = verifySynthetic(p).claims as TdxClaims;
    const b = p.quote.version === 3 ? undefined : p.quote.body;
    const hex = (x: Uint8Array) => Buffer.from(x).toString('hex');
    expect(c).toMatchObject({
      kind: 'tdx',
      quoteVersion: 5,
      bodyType: 3,
      mrTd: hex(b!.mrTd),
      rtmr0: hex(b!.rtmr0),
      rtmr3: hex(b!.rtmr3),
      mrSeam: hex(b!.mrSeam),
      reportData: hex(b!.reportData),
      teeTcbSvn: hex(b!.teeTcbSvn),
      teeTcbSvn2: hex(b!.teeTcbSvn2),
      mrServiceTd: hex(b!.mrServiceTd),
      tdAttributes: '0x0000000030000001',
      xfam: '0x0000000000061ae7',
      seamAttributes: '0x0000000000000000',
      debug: true,
      septVeDisable: true,
      migratable: true,
      fmspc: '90c06f000000',
      pceId: '0000',
      platform: { status: 'UpToDate', tcbDate: '2024-03-13T00:00:00Z', advisoryIds: [] },
      module: { id: 'TDX_01', status: 'UpToDate' },
      qe: { status: 'UpToDate' },
    });
    for (const v of [c.mrTd, c.rtmr1, c.mrConfigId, c.reportData]) expect(v).toMatch(/^[0-9a-f]+$/);
    // Unsigned or uninterpreted bytes never become claims (T44).
    expect(JSON.stringify(c)).not.toContain(hex(p.quote.qeAuthData));
    expect(Object.keys(c)).not.toContain('userData');
  });

  it('SGX: the enclave identity and the decoded DEBUG bit', () => {
    const attributes = Uint8Array.from(Buffer.from('0700000000000000e700000000000000', 'hex'));
    const p = platform({ tee: 'sgx', quote: { enclaveBody: { attributes, isvSvn: 4 } } });
    const c = verifySynthetic(p).claims as SgxClaims;
    expect(c).toMatchObject({ kind: 'sgx', quoteVersion: 3, isvSvn: 4, isvProdId: 7, debug: true, attributes: '0700000000000000e700000000000000', miscSelect: 0 });
    if (p.quote.version !== 3) throw new Error('an SGX platform builds a v3 quote');
    expect(c.mrEnclave).toBe(Buffer.from(p.quote.body.mrEnclave).toString('hex'));
  });

  it('the result names its instant, trust roots and collateral, and expires with the earliest artifact', () => {
    const p = platform();
    const r = verifySynthetic(p);
    expect(r.at).toBe(p.at.toISOString());
    expect(r.collateral.earliestExpiry).toBe(new Date(p.at.getTime() + 29 * 86_400_000).toISOString());
    expect(r.collateral.tcbInfoIssueDate).toBe(new Date(p.at.getTime() - 86_400_000).toISOString());
    expect(r.collateral.qeIdentityIssueDate).toBe(r.collateral.tcbInfoIssueDate);
    expect(r.collateral.artifacts.map((a) => a.sequence)).toEqual(['17', '17', '1', '1']);
  });
});
