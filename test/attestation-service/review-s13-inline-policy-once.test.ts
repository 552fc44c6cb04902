/**
 * Review s13 policy #1, service half: a client's inline policy document is loaded (parsed,
 * validated, normalised) once per request, then named by its digest without a second
 * validation. Before, PolicySet.inline loaded it twice (the id was added by a full reload), which
 * doubled the cost of a hostile document. A list above the policy schema's bound is a 400
 * ERR_POLICY_INVALID.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../../src/policy/load.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/policy/load.js')>();
  return { ...actual, loadPolicy: vi.fn(actual.loadPolicy) };
});

const { loadPolicy } = await import('../../src/policy/load.js');
const { PolicySet } = await import('../../src/attestation-service/policies.js');
const { POLICY_LIST_LIMITS } = await import('../../src/policy/schema.js');

const DOC = { tee: 'snp', measurement: ['ab'.repeat(48)], hostData: 'any', cspIds: Array.from({ length: 1000 }, (_, i) => `csp-${i}`) };

describe('PolicySet.inline', () => {
  it('loads the document once and names it inline:sha256:<digest>, frozen and judged as loaded', () => {
    const set = new PolicySet();
    const calls = vi.mocked(loadPolicy);
    calls.mockClear();
    const policy = set.inline(DOC);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(policy.id).toMatch(/^inline:sha256:[0-9a-f]{64}$/);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(policy).toMatchObject({ tee: 'snp', measurement: ['ab'.repeat(48)], cspIds: DOC.cspIds });
    // the same document gives the same id; the document's own id never survives
    calls.mockClear();
    expect(set.inline({ ...DOC, id: 'prod' }).id).not.toBe('prod');
    expect(set.inline(DOC).id).toBe(policy.id);
    expect(calls).toHaveBeenCalledTimes(2);
  });

  it('a configured policy without an id is loaded once too, and named', () => {
    const calls = vi.mocked(loadPolicy);
    calls.mockClear();
    const set = new PolicySet({ prod: JSON.stringify(DOC) });
    expect(calls).toHaveBeenCalledTimes(1);
    expect(set.named('prod', 'snp').id).toBe('prod');
  });

  it('a list above the bound is a 400 ERR_POLICY_INVALID naming the list', () => {
    const set = new PolicySet();
    let err: unknown;
    try {
      set.inline({ ...DOC, cspIds: Array.from({ length: 100_000 }, (_, i) => `csp-${i}`) });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_POLICY_INVALID', status: 400 });
    expect((err as Error).message).toContain('/cspIds');
    expect((err as Error).message).toContain(`at most ${POLICY_LIST_LIMITS.allowList} entries`);
  });
});
