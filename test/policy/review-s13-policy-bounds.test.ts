/**
 * Review s13 policy #1: loading a policy is linear in its size. Every list of the schema has a
 * `maxItems` (POLICY_LIST_LIMITS), a list above it is refused with ERR_POLICY_INVALID before any
 * entry is looked at (one maxItems problem, no per-entry problem), duplicates are found with a Set
 * (same semantics as before: structural equality, hex case-insensitively), and lists at the bound
 * load. Before: no list had a bound and duplicate checks were O(n²) (a 120 KB inline policy held
 * the attestation service's event loop for seconds).
 */
import { describe, expect, it } from 'vitest';

import { loadPolicy, PolicyError, policySchema, translateItaPolicy } from '../../src/policy/index.js';
import { validateAgainstSchema } from '../../src/policy/json-schema.js';
import { POLICY_LIST_LIMITS } from '../../src/policy/schema.js';

const SNP_BASE = { tee: 'snp', measurement: 'any', hostData: 'any' } as const;
const TDX_BASE = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' } as const;

function refusal(input: object): PolicyError {
  try {
    loadPolicy(input);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('loadPolicy accepted the document');
}

const hexOf = (i: number, bytes: number) => i.toString(16).padStart(bytes * 2, '0');

describe('every list of the policy schema is bounded', () => {
  it('each array node of the schema has a numeric maxItems', () => {
    const unbounded: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const o = node as Record<string, unknown>;
      if (o['type'] === 'array' && typeof o['maxItems'] !== 'number') unbounded.push(path);
      for (const [k, v] of Object.entries(o)) walk(v, `${path}/${k}`);
    };
    walk(policySchema, '');
    expect(unbounded).toEqual([]);
  });

  it('a list above its bound is refused with one maxItems problem, before any entry is validated or compared', () => {
    // 1025 entries, every one invalid (a number where a string belongs) and all equal: before the
    // fix this gave 1025 type problems and 1024 uniqueItems problems (and no bound at all).
    const err = refusal({ ...SNP_BASE, cspIds: Array.from({ length: POLICY_LIST_LIMITS.allowList + 1 }, () => 7) });
    expect(err.code).toBe('ERR_POLICY_INVALID');
    expect(err.errorClass).toBe('ARGUMENT');
    expect(err.details['path']).toBe('/cspIds');
    expect(err.details['keyword']).toBe('maxItems');
    expect(err.details['problems']).toEqual([{ path: '/cspIds', keyword: 'maxItems', message: `must have at most ${POLICY_LIST_LIMITS.allowList} entries, not ${POLICY_LIST_LIMITS.allowList + 1}` }]);
  });

  it('the review\'s 100 000-entry cspIds list is refused the same way (O(1) work on the list)', () => {
    const err = refusal({ ...SNP_BASE, cspIds: Array.from({ length: 100_000 }, (_, i) => `csp-${i % 10}`) });
    expect(err.details['problems']).toHaveLength(1);
    expect(err.details['keyword']).toBe('maxItems');
  });

  it('each bounded list: its bound loads, one more is refused at its path', () => {
    const cases: Array<[string, object, (n: number) => object]> = [
      ['/mrTd', TDX_BASE, (n) => ({ mrTd: Array.from({ length: n }, (_, i) => hexOf(i, 48)) })],
      ['/seamSvn', TDX_BASE, (n) => ({ seamSvn: Array.from({ length: n }, (_, i) => i) })],
      ['/tcb/rejectedAdvisoryIds', TDX_BASE, (n) => ({ tcb: { rejectedAdvisoryIds: Array.from({ length: n }, (_, i) => `INTEL-SA-${String(i).padStart(5, '0')}`) } })],
      ['/chipIds/deny', SNP_BASE, (n) => ({ chipIds: { deny: Array.from({ length: n }, (_, i) => hexOf(i, 64)) } })],
      ['/vtpm/pcrs/sha256/7', SNP_BASE, (n) => ({ vtpm: { pcrs: { sha256: { '7': Array.from({ length: n }, (_, i) => hexOf(i, 32)) } } } })],
      ['/vtpm/requiredImaEntries', SNP_BASE, (n) => ({ vtpm: { requiredImaEntries: Array.from({ length: n }, (_, i) => `/usr/bin/f${i}`) } })],
    ];
    const bound: Record<string, number> = {
      '/mrTd': POLICY_LIST_LIMITS.allowList,
      '/seamSvn': POLICY_LIST_LIMITS.allowList,
      '/tcb/rejectedAdvisoryIds': POLICY_LIST_LIMITS.allowList,
      '/chipIds/deny': POLICY_LIST_LIMITS.chipIds,
      '/vtpm/pcrs/sha256/7': POLICY_LIST_LIMITS.pcrValues,
      '/vtpm/requiredImaEntries': POLICY_LIST_LIMITS.imaEntries,
    };
    for (const [path, base, doc] of cases) {
      const n = bound[path]!;
      expect(() => loadPolicy({ ...base, ...doc(n) }), path).not.toThrow();
      const err = refusal({ ...base, ...doc(n + 1) });
      expect([err.details['path'], err.details['keyword']], path).toEqual([path, 'maxItems']);
    }
  });

  it('a translated ITA policy has the same bound (pointing into the ITA document)', () => {
    const mrtd = Array.from({ length: POLICY_LIST_LIMITS.allowList + 1 }, (_, i) => hexOf(i, 48));
    let err: unknown;
    try {
      translateItaPolicy({ attestation_type: 'TDX', tdx: { attributes: { mrtd, enforce_tcb_upto_date: true } } });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_POLICY_INVALID', details: { path: '/tdx/attributes/mrtd', keyword: 'maxItems' } });
  });
});

describe('duplicates are still found (now with a Set)', () => {
  it('at the bound: a duplicate in the last place, after hex case folding, is named', () => {
    const list = Array.from({ length: POLICY_LIST_LIMITS.chipIds }, (_, i) => hexOf(i, 64));
    list[list.length - 1] = hexOf(0xabc, 64).toUpperCase();
    const err = refusal({ ...SNP_BASE, chipIds: { allow: list } });
    expect(err.details['problems']).toEqual([{ path: `/chipIds/allow/${list.length - 1}`, keyword: 'uniqueItems', message: 'duplicates an earlier entry (hex is compared case-insensitively)' }]);
  });

  it('exact duplicates in the schema step, each later copy named', () => {
    const err = refusal({ ...SNP_BASE, cspIds: ['a', 'b', 'a', 'c', 'b', 'a'] });
    expect((err.details['problems'] as Array<{ path: string }>).map((p) => p.path)).toEqual(['/cspIds/2', '/cspIds/4', '/cspIds/5']);
  });

  it('allow and deny lists that share a chip ID are still a contradiction', () => {
    const a = hexOf(1, 64);
    const err = refusal({ ...SNP_BASE, chipIds: { allow: [hexOf(2, 64), a], deny: [a.toUpperCase()] } });
    expect(err.details).toMatchObject({ path: '/chipIds/deny/0', keyword: 'contradiction' });
  });

  it('uniqueItems compares JSON values structurally: member order does not matter, type does', () => {
    const schema = { type: 'array', uniqueItems: true };
    const dups = (value: unknown[]) => validateAgainstSchema(schema, value).map((p) => p.path);
    expect(dups([{ a: 1, b: [2, { c: 'x' }] }, { b: [2, { c: 'x' }], a: 1 }])).toEqual(['/1']);
    expect(dups([1, '1', true, 'true', null, 'null', [1], ['1'], { a: 1 }, { a: '1' }])).toEqual([]);
    expect(dups([0, -0, 'a"b', 'a"b', [[['"\\']]], [[['"\\']]]])).toEqual(['/1', '/3', '/5']);
  });

  it('deeply nested entries cost linear work (no escaping that grows with depth)', () => {
    let deep: unknown = '"\\'.repeat(1000);
    for (let i = 0; i < 30; i++) deep = [deep];
    const err = refusal({ ...SNP_BASE, cspIds: [deep, deep] });
    expect(err.details['problems']).toEqual(expect.arrayContaining([{ path: '/cspIds/1', keyword: 'uniqueItems', message: 'duplicates an earlier entry' }]));
  });
});
