/**
 * The one relaxation of collateral dates (clarifications "Expired
 * collateral"): an explicit grace period after the nextUpdate of re-issued
 * collateral. Off by default. Every use leaves a warning in the result with
 * a fixed prefix, so a policy can refuse results that relied on it (X02).
 * Not-yet-valid collateral and certificates are never relaxed.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Relaxations } from './types.js';

export const GRACE_WARNING_PREFIX = 'grace period used: ';

/** Upper bound on a grace period: beyond 30 days "collateral" is no longer meaningful. */
const MAX_GRACE_SECONDS = 30 * 24 * 3600;

/** The grace in milliseconds named by the relaxations (0 when none), validated. */
export function graceMsOf(relaxations: Readonly<Relaxations> | undefined): number {
  const seconds = relaxations?.collateralGraceSeconds;
  if (seconds === undefined) return 0;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_GRACE_SECONDS) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `relaxations.collateralGraceSeconds must be a number of seconds between 0 and ${MAX_GRACE_SECONDS}`);
  }
  return seconds * 1000;
}

/**
 * Whether `nowMs` is past `end` but inside the grace after it. NaN-safe: an
 * unparsable end is never inside any grace (X01).
 */
export function withinGrace(nowMs: number, end: Date | undefined, graceMs: number): boolean {
  if (end === undefined || graceMs <= 0) return false;
  const over = nowMs - end.getTime();
  return over > 0 && over <= graceMs;
}

export function graceWarning(check: string, what: string, end: Date, graceMs: number): string {
  return `${GRACE_WARNING_PREFIX}${check} ${what} expired at ${end.toISOString()} (grace ${graceMs / 1000} s)`;
}
