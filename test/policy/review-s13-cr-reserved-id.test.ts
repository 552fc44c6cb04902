/**
 * Session 13 change review, policy finding 2: the EAR names a policy without an id
 * `tee-verify:default-<tee>` (the default's rules) or `sha256:<digest of its content>`, but
 * loadPolicy accepted any explicit id, those forms included, so a lax document could sign EARs
 * naming a strict policy's digest or the library default. loadPolicy now refuses an id starting
 * with `sha256:` or `tee-verify:` (any case): ERR_POLICY_INVALID, keyword `reserved`, path /id.
 * This amends the session 13 decision that kept `tee-verify:` open for library callers.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy, PolicyError, toEar } from '../../src/policy/index.js';
import { syntheticTdx } from './helpers.js';

const LAX = {
  tee: 'tdx',
  mrTd: 'any',
  mrConfigId: 'any',
  mrOwner: 'any',
  mrOwnerConfig: 'any',
  allowDebug: true,
  allowMigratable: true,
  mrServiceTd: 'any',
  tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded'] },
} as const;
const STRICT = { tee: 'tdx', mrTd: ['ab'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' } as const;

function earIdOf(policy: ReturnType<typeof loadPolicy>): string {
  const r = syntheticTdx();
  return toEar(r, evaluatePolicy(r, policy), { verifierId: 't', iat: 1 }).submods['cpu0']!['ear.appraisal-policy-id'] as string;
}

function refusal(input: string | object): PolicyError {
  try {
    loadPolicy(input);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('loadPolicy accepted the document');
}

describe('explicit ids in the implicit forms are refused (review s13 change review policy #2)', () => {
  it("a lax document cannot take a strict policy's sha256: name", () => {
    const strictId = earIdOf(loadPolicy(STRICT));
    expect(strictId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const err = refusal({ ...LAX, id: strictId });
    expect(err.code).toBe('ERR_POLICY_INVALID');
    expect(err.details).toMatchObject({ path: '/id', keyword: 'reserved' });
    expect(err.details['problems']).toHaveLength(1);
    expect(err.message).toContain('"sha256:"');
  });

  it("a lax document cannot take the default's tee-verify: name", () => {
    expect(earIdOf(defaultPolicy('tdx'))).toBe('tee-verify:default-tdx');
    const err = refusal({ ...LAX, id: 'tee-verify:default-tdx' });
    expect(err.code).toBe('ERR_POLICY_INVALID');
    expect(err.details).toMatchObject({ path: '/id', keyword: 'reserved' });
  });

  it('every id with either prefix, in any case, as an object or as JSON text', () => {
    for (const id of ['sha256:', 'sha256:x', 'SHA256:' + 'AB'.repeat(32), 'tee-verify:', 'tee-verify:anything', 'Tee-Verify:default-tdx']) {
      for (const input of [{ ...STRICT, id }, JSON.stringify({ ...STRICT, id })]) {
        const err = refusal(input);
        expect(err.details, id).toMatchObject({ path: '/id', keyword: 'reserved' });
      }
    }
  });

  it('other ids load and are the EAR name, including ones that merely contain the forms', () => {
    for (const id of ['prod', 'inline:x', 'my-sha256:abc', 'tee-verify', 'sha256', 'x:tee-verify:default-tdx', 'sha-256:ab']) {
      const policy = loadPolicy({ ...STRICT, id });
      expect(policy.id).toBe(id);
      expect(earIdOf(policy)).toBe(id);
    }
  });

  it('an id-less document still gets its implicit name', () => {
    expect(earIdOf(loadPolicy(LAX))).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(earIdOf(loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }))).toBe('tee-verify:default-tdx');
  });
});
