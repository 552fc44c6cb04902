/**
 * Session 13 change review, policy finding 1: a 512 KiB inline policy of unknown member names
 * (no list, so no maxItems applies) cost the attestation service's event loop 0.4–0.5 s per
 * request: one problem and one "did you mean" per unknown member, in each of the three TEE
 * branches. Now at most MAX_PROBLEMS (64) problems are collected: a value stops its per-member
 * work once it holds that many, and the list ends with one `truncated` problem at "" saying so.
 * The matching TEE branch then also stays the closest one (with 60 000 unknown `tcb` keys the
 * error used to name another TEE's missing `measurement`). No timed assertion: the tests pin the
 * bounded, truthful problem list.
 */
import { describe, expect, it } from 'vitest';

import { loadPolicy, PolicyError, policySchema, translateItaPolicy } from '../../src/policy/index.js';
import { MAX_PROBLEMS, validateAgainstSchema } from '../../src/policy/json-schema.js';

const SNP_BASE = { tee: 'snp', measurement: 'any', hostData: 'any' } as const;
const TDX_BASE = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' } as const;

type Problem = { path: string; keyword: string; message: string };

function problemsOf(load: () => unknown): Problem[] {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe('ERR_POLICY_INVALID');
    return (err as PolicyError).details['problems'] as Problem[];
  }
  throw new Error('the document was accepted');
}

/** `n` unknown members named "k0", "k1", ... (not array indices: they keep insertion order), after `base`'s own. */
function withUnknown(base: Record<string, unknown>, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (let i = 0; i < n; i++) out[`k${i}`] = 0;
  return out;
}

describe('problem lists are bounded (review s13 change review policy #1)', () => {
  it('MAX_PROBLEMS is 64', () => {
    expect(MAX_PROBLEMS).toBe(64);
  });

  it('60 000 unknown top-level members: the first 64 in document order, then one truncated problem', () => {
    const problems = problemsOf(() => loadPolicy(withUnknown(SNP_BASE, 60_000)));
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems.slice(0, MAX_PROBLEMS)).toEqual(
      Array.from({ length: MAX_PROBLEMS }, (_, i) => ({ path: `/k${i}`, keyword: 'additionalProperties', message: `unknown field "k${i}"` })),
    );
    const last = problems[MAX_PROBLEMS]!;
    expect(last).toMatchObject({ path: '', keyword: 'truncated' });
    expect(last.message).toContain('only the first 64 problems are listed');
    expect(last.message).toContain('may have more');
  });

  it('the same document as JSON text is bounded the same way', () => {
    const problems = problemsOf(() => loadPolicy(JSON.stringify(withUnknown(SNP_BASE, 60_000))));
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems.at(-1)!.keyword).toBe('truncated');
  });

  it('60 000 unknown tcb members of a tdx document: the tdx branch stays the closest (not "measurement is required")', () => {
    const problems = problemsOf(() => loadPolicy({ ...TDX_BASE, tcb: withUnknown({}, 60_000) }));
    expect(problems[0]).toEqual({ path: '/tcb/k0', keyword: 'additionalProperties', message: 'unknown field "k0"' });
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems.filter((p) => p.keyword !== 'truncated').every((p) => p.path.startsWith('/tcb/'))).toBe(true);
  });

  it('unknown vtpm and chipIds members are bounded too', () => {
    for (const key of ['vtpm', 'chipIds']) {
      const problems = problemsOf(() => loadPolicy({ ...SNP_BASE, [key]: withUnknown({}, 20_000) }));
      expect(problems[0]?.path, key).toBe(`/${key}/k0`);
      expect(problems, key).toHaveLength(MAX_PROBLEMS + 1);
    }
  });

  it('exactly 64 problems are all listed, with no truncated problem', () => {
    const problems = validateAgainstSchema(policySchema, withUnknown(SNP_BASE, MAX_PROBLEMS));
    expect(problems).toHaveLength(MAX_PROBLEMS);
    expect(problems.some((p) => p.keyword === 'truncated')).toBe(false);
  });

  it('a few problems are listed as before, "did you mean" included', () => {
    const problems = problemsOf(() => loadPolicy({ ...TDX_BASE, mrtd2: 'any', allowdebug: true }));
    expect(problems).toEqual([
      { path: '/mrtd2', keyword: 'additionalProperties', message: 'unknown field "mrtd2"' },
      { path: '/allowdebug', keyword: 'additionalProperties', message: 'unknown field "allowdebug" (did you mean "allowDebug"?)' },
    ]);
  });

  it('the error message names the first problem', () => {
    try {
      loadPolicy(withUnknown(SNP_BASE, 10_000));
      expect.unreachable();
    } catch (err) {
      expect((err as PolicyError).message).toMatch(/^invalid policy at \/k0: unknown field "k0"/);
      expect((err as PolicyError).details['path']).toBe('/k0');
    }
  });

  it('problems found after the schema (hex duplicates differing in case) are capped the same way', () => {
    const allow: string[] = [];
    for (let i = 0; i < 200; i++) {
      const hex = `${'a'.repeat(124)}${i.toString(16).padStart(4, '0')}`;
      allow.push(hex, hex.toUpperCase());
    }
    const problems = problemsOf(() => loadPolicy({ ...SNP_BASE, chipIds: { allow } }));
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems[0]).toMatchObject({ path: '/chipIds/allow/1', keyword: 'uniqueItems' });
    expect(problems.at(-1)).toMatchObject({ path: '', keyword: 'truncated' });
    expect(problems.at(-1)!.message).toContain('136 more were found');
  });

  it('an ITA document of unknown members is bounded too', () => {
    const doc = withUnknown({ policy_type: 'Appraisal policy', attestation_type: 'TDX' }, 10_000);
    const problems = problemsOf(() => translateItaPolicy(doc));
    expect(problems.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
    expect(problems.at(-1)!.keyword).toBe('truncated');
  });
});
