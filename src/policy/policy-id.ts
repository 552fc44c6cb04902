/**
 * The policy id an EAR names (ear.appraisal-policy-id) when the policy has no `id` of its own
 * (review s13 policy #6). `tee-verify:default-<tee>` is the name of the library's default, so it
 * is given only to a policy whose content is the default's (defaultPolicy(tee), or a document that
 * loads to exactly the same rules: the same judgement). Any other id-less policy is named by the
 * SHA-256 of its canonical JSON (RFC 8785 member order, as loaded: defaults filled, hex lowercase):
 * `sha256:<64 hex>`, the digest the attestation service puts after `inline:` for a client's
 * document. Before, every id-less policy, a lax one included, was reported as the default.
 * A document may not give itself either form: loadPolicy refuses an `id` starting with `sha256:`
 * or `tee-verify:` (keyword `reserved`, review s13 change review policy #2), so these names always
 * prove the content.
 *
 * evaluatePolicy records which policy judged each appraisal it returns; toEar reads it back. An
 * appraisal with no policyId that evaluatePolicy did not return (hand-built, or a copy) names no
 * policy, and toEar refuses it rather than guess.
 */
import { createHash } from 'node:crypto';

import { InvalidArgumentError } from '../errors.js';
import { defaultsFor } from './defaults.js';
import type { Policy, PolicyAppraisal } from './types.js';

const judgedBy = new WeakMap<object, Policy>();
const implicitIds = new WeakMap<Policy, string>();

/** Records `policy` as the policy that judged `appraisal` (evaluatePolicy's own result objects). */
export function recordJudgingPolicy<T extends object>(appraisal: T, policy: Policy): T {
  judgedBy.set(appraisal, policy);
  return appraisal;
}

/** Canonical JSON of policy data (plain strings, numbers, booleans, arrays, objects; undefined members left out). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `tee-verify:default-<tee>` for the default's content, otherwise `sha256:<digest of the canonical policy>`. */
export function implicitPolicyId(policy: Policy): string {
  const known = implicitIds.get(policy);
  if (known !== undefined) return known;
  const text = canonical(policy);
  const id = text === canonical(defaultsFor(policy.tee)) ? `tee-verify:default-${policy.tee}` : `sha256:${createHash('sha256').update(text).digest('hex')}`;
  implicitIds.set(policy, id);
  return id;
}

/** The id an EAR names for `appraisal`: its policyId, or the implicit id of the policy that judged it. */
export function earPolicyId(appraisal: PolicyAppraisal): string {
  if (appraisal.policyId !== undefined) {
    if (typeof appraisal.policyId !== 'string' || appraisal.policyId.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: appraisal.policyId must be a non-empty string');
    return appraisal.policyId;
  }
  const policy = judgedBy.get(appraisal);
  if (policy === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: the appraisal names no policy (no policyId, and not an object evaluatePolicy returned): pass the appraisal evaluatePolicy returned, or set policyId');
  }
  return implicitPolicyId(policy);
}
