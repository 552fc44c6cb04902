/**
 * Review s13 policy #6: toEar names an id-less policy `tee-verify:default-<tee>` only when the
 * policy is the library's default (defaultPolicy(tee), or a document that loads to exactly its
 * rules); any other id-less policy is `sha256:<digest of its canonical JSON>`, the digest the
 * attestation service writes after `inline:`. Before, every id-less policy, a lax one included,
 * was reported as tee-verify:default-<tee>. An appraisal that names no policy (no policyId, not
 * one evaluatePolicy returned) is refused.
 */
import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { canonicalJson } from '../../src/attestation-service/encoding.js';
import { PolicySet } from '../../src/attestation-service/policies.js';
import { defaultPolicy, evaluatePolicy, loadPolicy, toEar } from '../../src/policy/index.js';
import { syntheticSgx, syntheticTdx } from './helpers.js';

const idOf = (ear: ReturnType<typeof toEar>) => ear.submods['cpu0']!['ear.appraisal-policy-id'];
const LAX_DOC = {
  tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', allowDebug: true, allowMigratable: true, mrServiceTd: 'any',
  tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded'] },
};

describe('ear.appraisal-policy-id of an id-less policy', () => {
  const r = syntheticTdx();
  const earUnder = (policy: ReturnType<typeof loadPolicy>) => toEar(r, evaluatePolicy(r, policy), { verifierId: 't', iat: 1 });

  it('a lax custom policy is named by its digest, not as the default', () => {
    const lax = loadPolicy(LAX_DOC);
    const id = idOf(earUnder(lax));
    expect(id).not.toBe('tee-verify:default-tdx');
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // the digest is the one the attestation service gives the same document sent inline
    expect(id).toBe(`sha256:${createHash('sha256').update(canonicalJson(lax)).digest('hex')}`);
    expect(new PolicySet().inline(LAX_DOC).id).toBe(`inline:${id}`);
    // stable: the same rules, the same id; other rules, another id
    expect(idOf(earUnder(loadPolicy(JSON.stringify(LAX_DOC))))).toBe(id);
    expect(idOf(earUnder(loadPolicy({ ...LAX_DOC, allowDebug: false })))).not.toBe(id);
  });

  it('the default policy (and a document with exactly its rules) is tee-verify:default-<tee>', () => {
    expect(idOf(earUnder(defaultPolicy('tdx')))).toBe('tee-verify:default-tdx');
    expect(idOf(earUnder(loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' })))).toBe('tee-verify:default-tdx');
    const s = syntheticSgx();
    expect(idOf(toEar(s, evaluatePolicy(s, defaultPolicy('sgx')), { verifierId: 't', iat: 1 }))).toBe('tee-verify:default-sgx');
  });

  it('a policy id is used as it is (control)', () => {
    expect(idOf(earUnder(loadPolicy({ ...LAX_DOC, id: 'lax' })))).toBe('lax');
  });

  it('an appraisal that names no policy is refused, not labelled the default', () => {
    const a = evaluatePolicy(r, loadPolicy(LAX_DOC));
    expect(() => toEar(r, { ...a }, { verifierId: 't', iat: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(idOf(toEar(r, { ...a, policyId: 'mine' }, { verifierId: 't', iat: 1 }))).toBe('mine');
  });
});
