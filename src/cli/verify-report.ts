/**
 * What `verify` prints: one JSON object with --json (fixed keys, docs/cli.md),
 * or a human report: each executed check with its checklist id and mark, the
 * TCB status, advisories, policy violations, warnings and the verdict.
 */
import { TeeVerifyError, type CheckRecord, type PolicyViolation, type VerificationResult } from '../index.js';
import type { VtpmVerificationResult } from '../vtpm/verify.js';
import type { Tee } from './args.js';
import { UsageError, describeError } from './errors.js';
import { ExitCode, styleFor, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { collapseGraceWarnings } from './grace-warnings.js';
import { lineSafe } from './terminal-text.js';

export interface VerifyOutcome {
  exit: ExitCodeValue;
  file: string;
  at: Date;
  /** Null when the failure came before the TEE was known (usage, unreadable or unparsable evidence). */
  tee: Tee | null;
  evidence?: string;
  result?: VerificationResult;
  error?: unknown;
  /** The policy used: "default (...)" or its file. */
  policyLabel?: string;
  /** The policy's judgement, when verification succeeded. */
  policy?: { ok: boolean; violations: PolicyViolation[]; warnings: string[] };
  /** Warnings of the command line itself (replaced trust roots, --skip-crl, unused certificates). */
  warnings: string[];
  /** A vTPM bundle's verification (its hardware part is also `result`). */
  vtpm?: VtpmVerificationResult;
  trust?: string;
  collateral?: string;
  /** False when the command line was refused before an instant was fixed (a bad --at among them): --json says at null. */
  instantFixed?: false;
}

/** A check's outcome: the verifier marks a check it could not establish (VT05 without a pinned AK Name). */
export type CheckStatus = 'pass' | 'not-checked';

export function checkStatus(c: CheckRecord): CheckStatus {
  return c.status ?? 'pass';
}

/** The keys of the --json object, in order. Scripts depend on them: add, never remove. */
export const VERIFY_JSON_KEYS = ['ok', 'tee', 'at', 'tcbStatus', 'advisoryIds', 'error', 'violations', 'warnings', 'checks', 'claims'] as const;

export function errorJson(err: unknown): { code: string; message: string; errorClass: string; check: string | null } {
  if (err instanceof TeeVerifyError) return { code: err.code, message: err.message, errorClass: err.errorClass, check: err.check ?? null };
  if (err instanceof UsageError) return { code: err.code, message: err.message, errorClass: 'USAGE', check: null };
  return { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err), errorClass: 'INTERNAL', check: null };
}

export function allWarnings(o: VerifyOutcome): string[] {
  return [...new Set([...o.warnings, ...(o.result?.warnings ?? []), ...(o.vtpm?.warnings ?? []), ...(o.policy?.warnings ?? [])])];
}

/** The fixed keys, then `vtpm` for a vTPM bundle only (docs/vtpm.md). */
export function verifyJson(o: VerifyOutcome): Record<(typeof VERIFY_JSON_KEYS)[number], unknown> & { vtpm?: Record<string, unknown> } {
  const r = o.result;
  return {
    ok: o.exit === ExitCode.Ok,
    tee: o.tee,
    at: o.instantFixed === false ? null : o.at.toISOString(),
    tcbStatus: r?.tcbStatus ?? null,
    advisoryIds: r?.advisoryIds ?? [],
    error: o.error === undefined ? null : errorJson(o.error),
    violations: o.policy?.violations ?? [],
    warnings: allWarnings(o),
    // status is additive (review s8, finding 9): id and description stay as they were.
    checks: (o.vtpm?.checks ?? r?.checks ?? []).map((c) => ({ ...c, status: checkStatus(c) })),
    claims: r?.claims ?? {},
    ...(o.vtpm ? { vtpm: vtpmJson(o.vtpm) } : {}),
  };
}

/** The vTPM claims of a bundle (the hardware claims are `claims`). */
function vtpmJson(v: VtpmVerificationResult): Record<string, unknown> {
  return { platform: v.platform, ...(v.runtimeData ? { runtimeData: v.runtimeData } : {}), tpm: v.tpm, ...(v.replay ? { replay: v.replay } : {}) };
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined');

function verdict(o: VerifyOutcome): string {
  // "policy passed" only when a policy was applied (a TPM-only bundle without --policy has none).
  if (o.exit === ExitCode.Ok) return o.policy ? 'TRUSTED: verification and policy passed (exit 0)' : 'TRUSTED: verification passed, no policy applied (exit 0)';
  if (o.exit === ExitCode.CollateralUnavailable) return 'UNDECIDED: collateral unavailable, retry later (exit 3)';
  if (o.exit === ExitCode.Usage) return 'NOT VERIFIED: usage or input error (exit 2)';
  if (o.exit === ExitCode.Internal) return 'NOT VERIFIED: internal error (exit 70)';
  return o.error === undefined ? 'REJECTED by the policy (exit 1)' : 'REJECTED: verification failed (exit 1)';
}

/**
 * Every line is passed through lineSafe before our own styling is added: file names, check
 * descriptions, claims, violations and warnings can carry text from the evidence, its certificates
 * or its collateral (review, session 6).
 */
export function printHuman(o: VerifyOutcome, io: CliIo): void {
  const style = styleFor(io);
  const out = (line = '') => writeLine(io.stdout, lineSafe(line));
  const marked = (mark: string, line: string) => writeLine(io.stdout, `  ${mark}  ${lineSafe(line)}`);
  writeLine(io.stdout, style.bold(lineSafe(`tee-verify verify ${o.file}`)));
  const rows: [string, string | undefined][] = [
    ['evidence', o.evidence],
    ['instant', o.at.toISOString()],
    ['trust roots', o.trust],
    ['collateral', o.collateral],
    ['policy', o.policyLabel],
  ];
  for (const [label, value] of rows) if (value !== undefined) out(`  ${label.padEnd(12)} ${value}`);
  const r = o.result;
  const failedCheck = o.error instanceof TeeVerifyError ? o.error.check : undefined;
  const checks = o.vtpm?.checks ?? r?.checks ?? [];
  if (r || o.vtpm || o.error instanceof TeeVerifyError) {
    out();
    out('Checks');
    const ids = [...checks.map((c) => c.id), failedCheck ?? '-'];
    const width = Math.max(...ids.map((id) => id.length));
    for (const c of checks) marked(checkStatus(c) === 'pass' ? style.pass : style.skip, `${c.id.padEnd(width)}  ${c.description}`);
    if (o.error !== undefined) marked(style.fail, `${(failedCheck ?? '-').padEnd(width)}  ${describeError(o.error, false)}`);
  }
  if (o.vtpm) {
    const v = o.vtpm;
    const banks = Object.keys(v.tpm.pcrs).join(', ');
    out();
    out(`vTPM         ${v.platform}; ${v.tpm.quotes.length} quote(s) over ${banks}${v.tpm.akName ? `; AK ${v.tpm.akName}` : ''}`);
    if (v.replay?.eventLog) out(`Boot log     ${v.replay.eventLog.events} events replayed (${v.replay.eventLog.banks.join(', ')})`);
    if (v.replay?.ima) out(`IMA          ${v.replay.ima.entries} entries replayed into PCR 10, ${v.replay.ima.violations} violations, boot_aggregate ${v.replay.ima.bootAggregate}`);
  }
  if (r) {
    out();
    out(`TCB status   ${r.tcbStatus ?? 'n/a (AMD publishes no TCB status; the policy sets minimum TCBs)'}`);
    out(`Advisories   ${r.advisoryIds.length === 0 ? 'none' : r.advisoryIds.join(', ')}`);
  }
  if (o.policy) {
    const n = o.policy.violations.length;
    writeLine(io.stdout, `Policy       ${o.policy.ok ? `${style.pass}  satisfied` : `${style.fail}  ${n} violation${n === 1 ? '' : 's'}`}`);
    for (const v of o.policy.violations) {
      const message = v.message.startsWith(`${v.check}: `) ? v.message.slice(v.check.length + 2) : v.message;
      marked(style.fail, `${v.check}  ${v.path}: ${message} (expected ${show(v.expected)}, got ${show(v.actual)})`);
    }
  }
  const warnings = collapseGraceWarnings(allWarnings(o));
  if (warnings.length > 0) {
    out();
    out('Warnings');
    for (const w of warnings) out(`  - ${w}`);
  }
  out();
  writeLine(io.stdout, style.bold(`Result: ${verdict(o)}`));
}
