/**
 * loadPolicy (X07): strict documents. Each rule has a negative asserting the
 * code (ERR_POLICY_INVALID), class (ARGUMENT) and the JSON pointer of the bad
 * field; positives show defaults, normalisation and round trips.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, loadPolicy, PolicyError, type Policy, type SnpPolicy, type TdxPolicy } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { hex } from './helpers.js';

const TDX_MIN = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const SGX_MIN = { tee: 'sgx', mrEnclave: 'any', mrSigner: 'any' };
const SNP_MIN = { tee: 'snp', measurement: 'any', hostData: 'any' };

/** The load fails with ERR_POLICY_INVALID at `path`; returns details. */
function invalidAt(input: unknown, path: string, keyword?: string): Record<string, unknown> {
  const err = catchError(() => loadPolicy(input as object));
  expect(err).toBeInstanceOf(PolicyError);
  expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_POLICY_INVALID', errorClass: 'ARGUMENT' });
  expect(err.details['path']).toBe(path);
  if (keyword !== undefined) expect(err.details['keyword']).toBe(keyword);
  return err.details;
}

describe('loadPolicy: valid documents', () => {
  it('a document naming only the required fields as "any" is the default policy of its TEE', () => {
    expect(loadPolicy(TDX_MIN)).toEqual(defaultPolicy('tdx'));
    expect(loadPolicy(SGX_MIN)).toEqual(defaultPolicy('sgx'));
    expect(loadPolicy(SNP_MIN)).toEqual(defaultPolicy('snp'));
  });

  it('accepts JSON text, UTF-8 bytes and objects alike', () => {
    const text = JSON.stringify(TDX_MIN);
    expect(loadPolicy(text)).toEqual(loadPolicy(TDX_MIN));
    expect(loadPolicy(new TextEncoder().encode(text))).toEqual(loadPolicy(TDX_MIN));
  });

  it('defaults: UpToDate only, debug forbidden, measurements "any", the checklist\'s deny-unless-allowed rules', () => {
    const t = defaultPolicy('tdx') as TdxPolicy;
    expect(t.tcb).toEqual({ acceptedStatuses: ['UpToDate'] });
    expect(t.allowDebug).toBe(false);
    expect([t.mrTd, t.rtmr0, t.rtmr3, t.mrConfigId, t.mrSeam, t.xfam, t.tdAttributes, t.reportData]).toEqual(Array(8).fill('any'));
    expect(t.allowMigratable).toBe(false); // T34, §8
    expect(t.mrServiceTd).toEqual([hex(0, 48)]); // T40
    const s = defaultPolicy('snp') as SnpPolicy;
    expect(s.signingKeys).toEqual(['vcek']); // S32
    expect(s.allowMigrationAgent).toBe(false); // S22, S28
    expect(s.allowProvisionalFirmware).toBe(false); // S15, S19
    expect(s.guestPolicy.allowCxl).toBe(false); // S22
    expect(s.products).toEqual(['Milan', 'Genoa', 'Turin']);
    expect(s.measurement).toBe('any');
  });

  it('hex is normalised to lowercase, masks default to all ones, $schema is dropped', () => {
    const p = loadPolicy({
      ...TDX_MIN,
      $schema: './schema.json',
      mrTd: ['AB'.repeat(48)],
      reportData: 'CD'.repeat(64),
      tdAttributes: { value: '0x0000000010000000' },
      xfam: ['0x00000000000602E7'],
    }) as TdxPolicy;
    expect(p.mrTd).toEqual(['ab'.repeat(48)]);
    expect(p.reportData).toBe('cd'.repeat(64));
    expect(p.tdAttributes).toEqual({ value: '0x0000000010000000', mask: '0xffffffffffffffff' });
    expect(p.xfam).toEqual(['0x00000000000602e7']);
    expect('$schema' in p).toBe(false);
  });

  it('a loaded policy is frozen and reloads to an equal policy (it is itself a valid document)', () => {
    const p = loadPolicy({ ...SNP_MIN, products: ['Genoa'], tcbMinimums: { Genoa: { reported: { snp: 23 } } }, chipIds: { deny: ['AA'.repeat(64)] }, guestPolicy: { minAbi: '1.51' } });
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen((p as SnpPolicy).tcbMinimums)).toBe(true);
    expect(() => {
      (p as { allowDebug: boolean }).allowDebug = true;
    }).toThrow(TypeError);
    expect(loadPolicy(JSON.stringify(p))).toEqual(p);
    for (const tee of ['tdx', 'sgx', 'snp'] as const) expect(loadPolicy(defaultPolicy(tee))).toEqual(defaultPolicy(tee));
  });

  it('does not share objects with the caller', () => {
    const doc = { ...TDX_MIN, mrTd: ['00'.repeat(48)] };
    const p = loadPolicy(doc);
    doc.mrTd.push('11'.repeat(48));
    expect((p as TdxPolicy).mrTd).toHaveLength(1);
  });
});

describe('loadPolicy: every rule has a negative (X07)', () => {
  it('unknown keys, at any depth, name the field (a typo never disables a check)', () => {
    expect(String(invalidAt({ ...TDX_MIN, mrtd: ['00'.repeat(48)] }, '/mrtd', 'additionalProperties')['problems'])).toBeDefined();
    invalidAt({ ...TDX_MIN, tcb: { acceptedStatus: ['UpToDate'] } }, '/tcb/acceptedStatus', 'additionalProperties');
    invalidAt({ ...SNP_MIN, guestPolicy: { allowSMT: false } }, '/guestPolicy/allowSMT', 'additionalProperties');
    invalidAt({ ...SNP_MIN, tcbMinimums: { Milan: { reported: { fmc: 1 } } } }, '/tcbMinimums/Milan/reported/fmc', 'additionalProperties');
    invalidAt({ ...SNP_MIN, tcbMinimums: { Venice: {} } }, '/tcbMinimums/Venice', 'additionalProperties');
  });

  it('a typo gets a suggestion', () => {
    const err = catchError(() => loadPolicy({ ...TDX_MIN, mrtd: 'any' }));
    expect(err.message).toContain('"mrTd"');
  });

  it('fields of another TEE are unknown fields (a TDX field in an SNP policy)', () => {
    invalidAt({ ...SNP_MIN, mrTd: 'any' }, '/mrTd', 'additionalProperties');
    invalidAt({ ...TDX_MIN, measurement: 'any' }, '/measurement', 'additionalProperties');
  });

  it('required fields must be given, as values or explicit "any" (T36, T38, S25, S26, §3)', () => {
    const { mrConfigId: _omit, ...noConfig } = TDX_MIN;
    invalidAt(noConfig, '/mrConfigId', 'required');
    invalidAt({ tee: 'snp', measurement: 'any' }, '/hostData', 'required');
    invalidAt({ tee: 'sgx', mrSigner: 'any' }, '/mrEnclave', 'required');
    const { tee: _t, ...noTee } = TDX_MIN;
    invalidAt(noTee, '/tee', 'required');
  });

  it('the TEE is one of tdx, sgx, snp', () => {
    invalidAt({ ...TDX_MIN, tee: 'TDX' }, '/tee', 'const');
    invalidAt({ ...TDX_MIN, tee: 'sev' }, '/tee', 'const');
  });

  it('wrong types', () => {
    invalidAt({ ...TDX_MIN, allowDebug: 'false' }, '/allowDebug', 'type');
    invalidAt({ ...SNP_MIN, vmpl: [0.5] }, '/vmpl/0', 'type');
    invalidAt({ ...SNP_MIN, minGuestSvn: '3' }, '/minGuestSvn', 'type');
    invalidAt({ ...TDX_MIN, mrTd: '00'.repeat(48) }, '/mrTd', 'const');
    invalidAt({ ...TDX_MIN, mrTd: 'anything' }, '/mrTd', 'const');
  });

  it('wrong hex lengths: mrtd / rtmr / measurement 48 bytes, host_data 32, report_data 64, chip id 64, family id 16', () => {
    invalidAt({ ...TDX_MIN, mrTd: ['00'.repeat(47)] }, '/mrTd/0', 'pattern');
    invalidAt({ ...TDX_MIN, rtmr2: ['00'.repeat(49)] }, '/rtmr2/0', 'pattern');
    invalidAt({ ...SNP_MIN, measurement: ['00'.repeat(32)] }, '/measurement/0', 'pattern');
    invalidAt({ ...SNP_MIN, hostData: ['00'.repeat(31)] }, '/hostData/0', 'pattern');
    invalidAt({ ...TDX_MIN, reportData: '00'.repeat(63) }, '/reportData', 'pattern');
    invalidAt({ ...SNP_MIN, reportData: '00'.repeat(65) }, '/reportData', 'pattern');
    invalidAt({ ...SNP_MIN, chipIds: { allow: ['00'.repeat(8)] } }, '/chipIds/allow/0', 'pattern');
    invalidAt({ ...SNP_MIN, familyId: ['00'.repeat(48)] }, '/familyId/0', 'pattern');
    invalidAt({ ...SGX_MIN, mrEnclave: ['00'.repeat(48)] }, '/mrEnclave/0', 'pattern');
    invalidAt({ ...TDX_MIN, mrOwner: ['0x' + '00'.repeat(47)] }, '/mrOwner/0', 'pattern');
    invalidAt({ ...TDX_MIN, mrTd: ['zz'.repeat(48)] }, '/mrTd/0', 'pattern');
    invalidAt({ ...TDX_MIN, xfam: ['0x602e7'] }, '/xfam/0', 'pattern');
  });

  it('empty lists are errors (use "any")', () => {
    const d = invalidAt({ ...TDX_MIN, mrTd: [] }, '/mrTd', 'minItems');
    expect((d['problems'] as { message: string }[])[0]?.message).toContain('"any"');
    invalidAt({ ...SNP_MIN, products: [] }, '/products', 'minItems');
    invalidAt({ ...TDX_MIN, tcb: { acceptedStatuses: [] } }, '/tcb/acceptedStatuses', 'minItems');
    invalidAt({ ...SNP_MIN, chipIds: { deny: [] } }, '/chipIds/deny', 'minItems');
  });

  it('duplicates, also when they differ only in hex case', () => {
    invalidAt({ ...SNP_MIN, products: ['Milan', 'Milan'] }, '/products/1', 'uniqueItems');
    invalidAt({ ...TDX_MIN, mrTd: ['ab'.repeat(48), 'AB'.repeat(48)] }, '/mrTd/1', 'uniqueItems');
  });

  it('Revoked can never be accepted (T33); unknown statuses are errors', () => {
    invalidAt({ ...TDX_MIN, tcb: { acceptedStatuses: ['UpToDate', 'Revoked'] } }, '/tcb/acceptedStatuses/1', 'enum');
    invalidAt({ ...SGX_MIN, tcb: { acceptedStatuses: ['OK'] } }, '/tcb/acceptedStatuses/0', 'enum');
  });

  it('advisory IDs have Intel\'s shape and cannot be both accepted and rejected', () => {
    invalidAt({ ...TDX_MIN, tcb: { rejectedAdvisoryIds: ['SA-00837'] } }, '/tcb/rejectedAdvisoryIds/0', 'pattern');
    invalidAt({ ...TDX_MIN, tcb: { acceptedAdvisoryIds: ['INTEL-SA-00837'], rejectedAdvisoryIds: ['INTEL-SA-00837'] } }, '/tcb/rejectedAdvisoryIds/0', 'contradiction');
  });

  it('a chip ID cannot be both allowed and denied (S31)', () => {
    invalidAt({ ...SNP_MIN, chipIds: { allow: ['aa'.repeat(64)], deny: ['AA'.repeat(64)] } }, '/chipIds/deny/0', 'contradiction');
  });

  it('a masked value with bits outside its mask could never match', () => {
    invalidAt({ ...TDX_MIN, tdAttributes: { value: '0x0000000010000001', mask: '0x0000000010000000' } }, '/tdAttributes/value', 'mask');
    invalidAt({ ...SGX_MIN, attributes: { value: '03' + '00'.repeat(15), mask: '01' + '00'.repeat(15) } }, '/attributes/value', 'mask');
    invalidAt({ ...TDX_MIN, tdAttributes: { mask: '0x0000000010000000' } }, '/tdAttributes/value', 'required');
  });

  it('ranges: VMPL 0–3, SVNs, report version 2–5, grace and age positive', () => {
    invalidAt({ ...SNP_MIN, vmpl: [4] }, '/vmpl/0', 'maximum');
    invalidAt({ ...TDX_MIN, seamSvn: [65536] }, '/seamSvn/0', 'maximum');
    invalidAt({ ...SNP_MIN, minReportVersion: 6 }, '/minReportVersion', 'maximum');
    invalidAt({ ...TDX_MIN, collateral: { maxAgeSeconds: 0 } }, '/collateral/maxAgeSeconds', 'minimum');
    invalidAt({ ...SNP_MIN, collateral: { expiryGraceSeconds: -1 } }, '/collateral/expiryGraceSeconds', 'minimum');
    invalidAt({ ...SNP_MIN, collateral: { maxAgeSeconds: 60 } }, '/collateral/maxAgeSeconds', 'additionalProperties');
    invalidAt({ ...SNP_MIN, tcbMinimums: { Milan: { reported: { snp: 256 } } } }, '/tcbMinimums/Milan/reported/snp', 'maximum');
  });

  it('empty rule objects that would say nothing are errors', () => {
    invalidAt({ ...SNP_MIN, tcbMinimums: { Milan: {} } }, '/tcbMinimums/Milan', 'minProperties');
    invalidAt({ ...SNP_MIN, tcbMinimums: { Genoa: { launch: {} } } }, '/tcbMinimums/Genoa/launch', 'minProperties');
  });

  it('version strings and format version', () => {
    invalidAt({ ...SNP_MIN, guestPolicy: { minAbi: '1.x' } }, '/guestPolicy/minAbi', 'pattern');
    invalidAt({ ...SNP_MIN, firmware: { minAbi: '01.55' } }, '/firmware/minAbi', 'pattern');
    invalidAt({ ...TDX_MIN, version: 2 }, '/version', 'const');
    invalidAt({ ...TDX_MIN, id: '' }, '/id', 'minLength');
  });

  it('strict JSON (X05): duplicate keys, trailing data, a byte order mark, fractions', () => {
    const json = (s: string) => {
      const err = catchError(() => loadPolicy(s));
      expect({ code: err.code, path: err.details['path'], check: err.check }).toEqual({ code: 'ERR_POLICY_INVALID', path: '', check: 'X05' });
    };
    json('{"tee":"tdx","tee":"snp","measurement":"any","hostData":"any"}');
    json(`${JSON.stringify(TDX_MIN)} x`);
    json(`\ufeff${JSON.stringify(TDX_MIN)}`);
    json('{"tee":"snp","measurement":"any","hostData":"any","vmpl":[0.0]}');
    json('not json');
  });

  it('object input must be plain JSON data', () => {
    invalidAt({ ...TDX_MIN, id: new Date(0) }, '/id', 'type');
    invalidAt({ ...SNP_MIN, minGuestSvn: Number.NaN }, '/minGuestSvn', 'type');
    const cyclic: Record<string, unknown> = { ...TDX_MIN };
    cyclic['id'] = cyclic;
    const err = catchError(() => loadPolicy(cyclic));
    expect({ code: err.code, keyword: err.details['keyword'] }).toEqual({ code: 'ERR_POLICY_INVALID', keyword: 'maxDepth' });
    invalidAt([TDX_MIN], '', 'type');
    expect(catchError(() => loadPolicy(42 as unknown as object)).code).toBe('ERR_POLICY_INVALID');
  });

  it('documents over 1 MiB are refused before parsing', () => {
    invalidAt(`{"tee":"tdx","id":"${'a'.repeat(1024 * 1024)}"}`, '', 'maxBytes');
  });

  it('reports every problem of a document, the first in details.path', () => {
    const d = invalidAt({ ...TDX_MIN, mrTd: [], rtmr0: ['00'], allowDebug: 1, extra: true }, '/mrTd');
    expect((d['problems'] as { path: string }[]).map((p) => p.path)).toEqual(['/mrTd', '/rtmr0/0', '/allowDebug', '/extra']);
  });

  it('a "__proto__" key is an unknown field, never a prototype', () => {
    invalidAt(`{"tee":"tdx","mrTd":"any","mrConfigId":"any","mrOwner":"any","mrOwnerConfig":"any","__proto__":{"allowDebug":true}}`, '/__proto__', 'additionalProperties');
  });
});

describe('defaultPolicy', () => {
  it('is frozen, and an unknown TEE is an argument error', () => {
    const p: Policy = defaultPolicy('snp');
    expect(Object.isFrozen(p)).toBe(true);
    const err = catchError(() => defaultPolicy('sev' as 'snp'));
    expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });
});
