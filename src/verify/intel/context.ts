/**
 * The state one verification carries from step to step: the single instant
 * (T01), trust roots, the signature memo, the relaxations the caller named,
 * and what has been established so far (executed checks, warnings). Built
 * once at the entry point; every step reads `at` from here, never a clock.
 */
import { defaultSignatureMemo, type SignatureMemo } from '../../crypto/memo.js';
import { InvalidArgumentError } from '../../errors.js';
import type { OptionKeys } from '../../option-keys.js';
import { graceMsOf } from '../grace.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../roots/index.js';
import type { CheckRecord, Relaxations, VerifyOptions } from '../types.js';
import { timeValueOf } from '../instant.js';
import { nativeAddonWarning } from '../../native/index.js';

export interface IntelVerifyOptions extends VerifyOptions {
  /** Memo of signature checks keyed by content digest; default the process-wide one. */
  memo?: SignatureMemo;
}

/** The keys IntelVerifyOptions accepts (the compiler keeps this list equal to the type's keys). */
export const INTEL_VERIFY_OPTION_KEYS: OptionKeys<IntelVerifyOptions> = {
  at: true,
  trustRoots: true,
  minTcbEvaluationDataNumber: true,
  relaxations: true,
  memo: true,
};

export interface VerifyContext {
  readonly at: Date;
  readonly nowMs: number;
  readonly trustRoots: TrustRoots;
  readonly memo: SignatureMemo;
  readonly relaxations: Readonly<Relaxations>;
  /** relaxations.collateralGraceSeconds in ms, validated (0 = no grace). */
  readonly collateralGraceMs: number;
  readonly minTcbEvaluationDataNumber: number | undefined;
  readonly checks: CheckRecord[];
  readonly warnings: string[];
  /**
   * The instants at which every validity check that passed so far still passes (epoch ms,
   * inclusive): the intersection of their windows (time.ts). The platform memo replays those
   * checks only inside it (platform-memo.ts).
   */
  readonly window: { from: number; to: number };
}

/** T01: one read of the Date's own time value (instant.ts), kept as a private copy. */
function validInstant(at: unknown): Date {
  const ms = timeValueOf(at);
  // X01: an invalid Date compares false with everything and would accept any window.
  if (ms === undefined) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.at must be a valid Date');
  return new Date(ms);
}

function validMinimum(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.minTcbEvaluationDataNumber must be a non-negative integer');
  }
  return value;
}

function validRoots(roots: TrustRoots): TrustRoots {
  if (!roots || !Array.isArray(roots.intelRootCas) || roots.intelRootCas.some((r) => !(r instanceof Uint8Array))) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.trustRoots.intelRootCas must be an array of DER certificates');
  }
  return roots;
}

/** Shared by every strict verification: frozen, so no verification can change it. */
const NO_RELAXATIONS: Readonly<Relaxations> = Object.freeze({});

/** T01: `now` is `options.at` or the wall clock, read exactly once, here. */
export function createContext(options: IntelVerifyOptions = {}): VerifyContext {
  const at = validInstant(options.at ?? new Date());
  return {
    at,
    nowMs: at.getTime(),
    trustRoots: validRoots(options.trustRoots ?? PRODUCTION_TRUST_ROOTS),
    memo: options.memo ?? defaultSignatureMemo,
    relaxations: options.relaxations === undefined ? NO_RELAXATIONS : Object.freeze({ ...options.relaxations }),
    collateralGraceMs: graceMsOf(options.relaxations),
    minTcbEvaluationDataNumber: validMinimum(options.minTcbEvaluationDataNumber),
    checks: [],
    warnings: addonWarnings(), // s16 env #3: TEE_VERIFY_ADDON shows in every result
    window: { from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY },
  };
}

/** Records a check that ran and passed, in execution order. */
export function passed(ctx: VerifyContext, id: string, description: string): void {
  ctx.checks.push({ id, description });
}

/** Records a relaxation that applied: the skipped check id and why. */
export function relaxed(ctx: VerifyContext, id: string, warning: string): void {
  ctx.warnings.push(`${id} skipped: ${warning}`);
}

/** The result's first warnings: the addon override's (nativeAddonWarning), if any. */
function addonWarnings(): string[] {
  const w = nativeAddonWarning();
  return w === undefined ? [] : [w];
}
