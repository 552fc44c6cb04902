/**
 * Key-transfer policies as the broker stores them: a native tee-verify policy
 * (docs/policy.md, recognised by its `tee` field) or an Intel Trust Authority
 * KBS policy (recognised by `attestation_type`, translated with
 * translateItaPolicy). Both are validated when created and again when used.
 */
import { loadPolicy, translateItaPolicy, TeeVerifyError, type Policy } from '../index.js';
import { KbsError } from './errors.js';
import type { PolicyRow } from './store.js';

export interface ParsedPolicy {
  format: 'native' | 'ita';
  /** The document as stored (compact JSON). */
  document: string;
  policy: Policy;
}

function invalid(err: unknown): KbsError {
  const details = err instanceof TeeVerifyError ? (err.details as Record<string, unknown> | undefined) : undefined;
  const problems = Array.isArray(details?.['problems']) ? (details['problems'] as { path?: string; message?: string }[]) : [];
  return new KbsError('ERR_KBS_POLICY_INVALID', 400, `invalid key-transfer policy: ${err instanceof Error ? err.message : String(err)}`, {
    check: 'X07',
    failedChecks: problems.length > 0 ? problems.map((p) => ({ check: 'X07', path: p.path ?? '', message: p.message ?? '' })) : [{ check: 'X07', message: err instanceof Error ? err.message : String(err) }],
    cause: err,
  });
}

/** Validates a policy document given to the admin API; `id` is the row id the server assigned. */
export function parsePolicyDocument(doc: unknown, id: string): ParsedPolicy {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KbsError('ERR_KBS_POLICY_INVALID', 400, 'a key-transfer policy is a JSON object', { check: 'X07' });
  const o = doc as Record<string, unknown>;
  try {
    if ('attestation_type' in o) {
      const stored = { ...o, id };
      const policy = translateItaPolicy(stored);
      return { format: 'ita', document: JSON.stringify(stored), policy };
    }
    // The row id is always the server's UUID; a native document keeps its own id (reported in appraisals) when it has one.
    const stored = { ...o, id: typeof o['id'] === 'string' ? o['id'] : id };
    const policy = loadPolicy(stored);
    return { format: 'native', document: JSON.stringify(stored), policy };
  } catch (err) {
    throw invalid(err);
  }
}

/** The Policy of a stored row (fails closed as a storage error if it no longer loads). */
export function policyOfRow(row: PolicyRow): Policy {
  try {
    const doc = JSON.parse(row.document) as object;
    return row.format === 'ita' ? translateItaPolicy(doc) : loadPolicy(doc);
  } catch (cause) {
    throw new KbsError('ERR_KBS_STORAGE', 500, `stored policy ${row.id} no longer loads`, { cause });
  }
}

/** Attestation-Type header value → TEE, or undefined when not one we serve. */
export function teeOfAttestationType(header: string | undefined): 'tdx' | 'sgx' | 'snp' | undefined {
  switch ((header ?? '').trim().toUpperCase()) {
    case 'TDX':
      return 'tdx';
    case 'SGX':
      return 'sgx';
    case 'SEV-SNP':
    case 'SNP':
      return 'snp';
    default:
      return undefined;
  }
}

export const attestationTypeOf = (tee: 'tdx' | 'sgx' | 'snp'): string => (tee === 'snp' ? 'SEV-SNP' : tee.toUpperCase());
