/**
 * The policy step of a batch record (src/policy): the verifier's result and
 * the record's expectations in, a verdict with every violation out.
 *
 * Which policy: the record's own `policy` when it has one, else the run's
 * `--policy` file, else `defaultPolicy(tee)` (Intel TCB status UpToDate only,
 * no debug; measurements not pinned). A policy is for one TEE: evidence of
 * another TEE violates it (X07). The record's `reportData` is the expected
 * REPORT_DATA (T41 / S29). The decision instant is the verification instant,
 * so a record verified at its collectedAt is judged as it would have been then.
 */
import { readFileSync } from 'node:fs';

import { defaultPolicy, evaluatePolicy, loadPolicy, type Policy, type PolicyTee } from '../policy/index.js';
import type { VerificationResult } from '../index.js';
import type { Violation } from './result.js';

export interface Verdict {
  ok: boolean;
  violations: Violation[];
  warnings: string[];
}

export interface Judge {
  /** `recordPolicy` is the record's own policy (parsed JSON), used instead of the run's. */
  judge(result: VerificationResult, recordPolicy: unknown, reportData: string | undefined): Verdict;
}

/** The run's policy file cannot be used: a usage error before any record is read. */
export class PolicyFileError extends Error {}

/** Records of one archive usually share a handful of policies: load each once. */
const RECORD_POLICY_CACHE = 256;

class PolicyJudge implements Judge {
  readonly #runPolicy: Policy | undefined;
  readonly #defaults = new Map<PolicyTee, Policy>();
  readonly #recordPolicies = new Map<string, Policy>();

  constructor(runPolicy: Policy | undefined) {
    this.#runPolicy = runPolicy;
  }

  #recordPolicy(doc: unknown): Policy {
    const key = JSON.stringify(doc);
    let policy = this.#recordPolicies.get(key);
    if (!policy) {
      policy = loadPolicy(doc as object); // PolicyError (ERR_POLICY_INVALID) becomes the record's error
      if (this.#recordPolicies.size >= RECORD_POLICY_CACHE) this.#recordPolicies.delete(this.#recordPolicies.keys().next().value as string);
      this.#recordPolicies.set(key, policy);
    }
    return policy;
  }

  #default(tee: PolicyTee): Policy {
    let policy = this.#defaults.get(tee);
    if (!policy) {
      policy = defaultPolicy(tee);
      this.#defaults.set(tee, policy);
    }
    return policy;
  }

  judge(result: VerificationResult, recordPolicy: unknown, reportData: string | undefined): Verdict {
    const policy = recordPolicy !== undefined ? this.#recordPolicy(recordPolicy) : (this.#runPolicy ?? this.#default(result.tee));
    const appraisal = evaluatePolicy(result, policy, reportData === undefined ? {} : { reportData });
    return {
      ok: appraisal.ok,
      violations: appraisal.violations.map((v) => ({ path: v.path, expected: v.expected, actual: v.actual, check: v.check, class: v.errorClass, message: v.message })),
      warnings: appraisal.warnings,
    };
  }
}

/** The judge for a run: the policy file when given, else the defaults per TEE. */
export function loadJudge(policyFile: string | undefined): Judge {
  if (policyFile === undefined) return new PolicyJudge(undefined);
  let text: Buffer;
  try {
    text = readFileSync(policyFile);
  } catch (err) {
    throw new PolicyFileError(`--policy ${policyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return new PolicyJudge(loadPolicy(new Uint8Array(text)));
  } catch (err) {
    const path = (err as { details?: { path?: string } }).details?.path;
    throw new PolicyFileError(`--policy ${policyFile} is not a valid policy${path ? ` (at ${path || '/'})` : ''}: ${(err as Error).message}`);
  }
}
