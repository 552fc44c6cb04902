/**
 * One line of the batch results file (JSONL, in input order):
 *
 *   {"id", "ok", "tee", "tcbStatus", "advisoryIds", "error", "violations", "warnings", "at"}
 *
 * `ok` is the verdict after the policy; `error` is null when the evidence
 * verified (a policy rejection then shows as `violations`), else the typed
 * error's `{code, class, message}`. `at` is the instant used (ISO-8601), null
 * when no instant could be chosen (a record rejected before verification).
 *
 * Lines are written as `verify --json` writes its object (jsonLine): DEL, C1
 * controls, U+2028 / U+2029 and bidi controls in ids and messages are \uXXXX
 * escapes, so `cat` / `tail -f` of the file never hands them to a terminal
 * (s16 CLI red team #5); JSON.parse reads back the same strings.
 */
import { jsonLine } from '../cli/terminal-text.js';

export interface ResultError {
  code: string;
  /** The error class (verifier-checklist §1.3), e.g. SIG_QUOTE, COLLATERAL_UNAVAILABLE. */
  class: string;
  message: string;
  /** The checklist id of the check that failed (T26, S12, X02 …), when the error names one, as verify / serve report it. */
  check?: string;
}

/** One policy violation (src/policy): where, what was expected, what the evidence says, and the rule. */
export interface Violation {
  path: string;
  expected: unknown;
  actual: unknown;
  /** Checklist id of the rule, e.g. "T41". */
  check: string;
  /** Its error class, e.g. TCB_STATUS, BINDING, POLICY. */
  class: string;
  message: string;
}

export interface ResultRecord {
  id: string;
  ok: boolean;
  tee: 'tdx' | 'sgx' | 'snp' | null;
  tcbStatus: string | null;
  advisoryIds: string[];
  error: ResultError | null;
  violations: Violation[];
  warnings: string[];
  at: string | null;
}

/** Outcome classes counted by the summary and the exit code. */
export type Outcome = 'trusted' | 'rejected' | 'unavailable';

/** Codes meaning "the collateral for this instant could not be had": retry later, not a rejection. */
const UNAVAILABLE_CODES = new Set(['ERR_COLLATERAL_EXPIRED']);

export function outcomeOf(r: Pick<ResultRecord, 'ok' | 'error'>): Outcome {
  if (r.ok) return 'trusted';
  if (r.error && (r.error.class === 'COLLATERAL_UNAVAILABLE' || UNAVAILABLE_CODES.has(r.error.code))) return 'unavailable';
  return 'rejected';
}

/**
 * The status compared across runs: the TCB status when the evidence verified
 * ("Verified" for SEV-SNP, which has none), else the error code. A policy
 * rejection keeps the TCB status; `ok` tells the two apart.
 */
export function statusOf(r: Pick<ResultRecord, 'tcbStatus' | 'error'>): string {
  if (r.error) return r.error.code;
  return r.tcbStatus ?? 'Verified';
}

/** Counts per outcome, status and error code: what the summary reports. */
export interface Counts {
  records: number;
  outcomes: Record<Outcome, number>;
  byStatus: Record<string, number>;
  byErrorCode: Record<string, number>;
}

export const emptyCounts = (): Counts => ({ records: 0, outcomes: { trusted: 0, rejected: 0, unavailable: 0 }, byStatus: {}, byErrorCode: {} });

const bump = (m: Record<string, number>, k: string, n = 1): void => {
  m[k] = (m[k] ?? 0) + n;
};

export function countResult(c: Counts, r: Pick<ResultRecord, 'ok' | 'error' | 'tcbStatus'>): void {
  c.records++;
  c.outcomes[outcomeOf(r)]++;
  bump(c.byStatus, statusOf(r));
  if (r.error) bump(c.byErrorCode, r.error.code);
}

/** Adds `b` into `a`. */
export function addCounts(a: Counts, b: Counts): void {
  a.records += b.records;
  for (const k of Object.keys(a.outcomes) as Outcome[]) a.outcomes[k] += b.outcomes[k];
  for (const [k, n] of Object.entries(b.byStatus)) bump(a.byStatus, k, n);
  for (const [k, n] of Object.entries(b.byErrorCode)) bump(a.byErrorCode, k, n);
}

/** A result for a record that failed before or during verification. */
export function errorResult(id: string, error: ResultError, tee: ResultRecord['tee'] = null, at: string | null = null): ResultRecord {
  return { id, ok: false, tee, tcbStatus: null, advisoryIds: [], error, violations: [], warnings: [], at };
}

/** Serialises with a fixed key order, one line with its newline. */
export function resultLine(r: ResultRecord): string {
  return `${jsonLine({
    id: r.id,
    ok: r.ok,
    tee: r.tee,
    tcbStatus: r.tcbStatus,
    advisoryIds: r.advisoryIds,
    error: r.error,
    violations: r.violations,
    warnings: r.warnings,
    at: r.at,
  })}\n`;
}
