/**
 * The policy step of a batch record: the verifier's result and the record's
 * expectations in, a verdict with every violation out.
 *
 * Until the policy module (src/policy) is available this applies the default
 * the clarifications name: Intel TCB status UpToDate only, no debug TD or
 * enclave, and the record's reportData (64 bytes, hex) must equal the
 * evidence's exactly. A policy file or a per-record policy is refused then.
 */
import { readFileSync } from 'node:fs';

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

/** Thrown for a policy the judge cannot use; the record (or the run) is rejected with this code. */
export class PolicyLoadError extends Error {
  readonly code = 'ERR_POLICY_INVALID';
}

function defaultVerdict(result: VerificationResult, reportData: string | undefined): Verdict {
  const violations: Violation[] = [];
  if (result.tee !== 'snp' && result.tcbStatus !== 'UpToDate') {
    violations.push({ path: 'tcbStatus', expected: ['UpToDate'], actual: result.tcbStatus ?? null });
  }
  const claims = result.claims;
  const debug = claims.kind === 'snp' ? claims.policy.debug : claims.debug;
  if (debug) violations.push({ path: claims.kind === 'snp' ? 'claims.policy.debug' : 'claims.debug', expected: false, actual: true });
  if (reportData !== undefined && result.claims.reportData !== reportData) {
    violations.push({ path: 'claims.reportData', expected: reportData, actual: result.claims.reportData });
  }
  return { ok: violations.length === 0, violations, warnings: [] };
}

const fallbackJudge: Judge = {
  judge(result, recordPolicy, reportData) {
    if (recordPolicy !== undefined) throw new PolicyLoadError('per-record policies need the policy module, which this build lacks');
    return defaultVerdict(result, reportData);
  },
};

/** The judge for a run: the policy file when given, else the default. */
export function loadJudge(policyFile: string | undefined): Judge {
  if (policyFile !== undefined) {
    readFileSync(policyFile); // an unreadable file fails the run early
    throw new PolicyLoadError('--policy needs the policy module, which this build lacks');
  }
  return fallbackJudge;
}
