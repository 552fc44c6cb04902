/**
 * Validity windows against the single instant (X01): expired iff
 * now > notAfter / nextUpdate, not yet valid iff now < notBefore / issueDate.
 * Every comparison is written so that NaN (an unparsable date) fails: a
 * `now > nextUpdate` test would accept it.
 */
import { fail, type VerificationErrorClass } from '../errors.js';
import { graceWarning, withinGrace } from '../grace.js';
import type { VerifyContext } from './context.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** An ISO-8601 UTC date of signed collateral; anything else is COLLATERAL_FORMAT (X01). */
export function collateralDate(value: unknown, check: string, field: string): Date {
  const ms = typeof value === 'string' ? exactDateMs(value) : Number.NaN;
  if (Number.isNaN(ms)) fail('COLLATERAL_FORMAT', check, `${field} is not an ISO-8601 UTC date`, { field, value: String(value) });
  return new Date(ms);
}

/**
 * Valid dates by their text: a string is immutable and its reading a pure
 * function of it, and the same few dates (issueDate, nextUpdate, tcbDate of
 * every level) recur in every verification of a platform. Invalid text is
 * never cached, so it fails every time. Bounded, oldest first.
 */
const validDates = new Map<string, number>();

function exactDateMs(value: string): number {
  const known = validDates.get(value);
  if (known !== undefined) return known;
  const ms = ISO_UTC.test(value) ? Date.parse(value) : Number.NaN;
  // Date.parse rolls impossible dates over ("2026-02-30" is March 2): the date must read back unchanged.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== value.slice(0, 19)) return Number.NaN;
  if (validDates.size >= 4096) validDates.delete(validDates.keys().next().value as string);
  validDates.set(value, ms);
  return ms;
}

/** ISO form for messages and details; "invalid" instead of the RangeError toISOString throws. */
export const iso = (d: Date | undefined): string | undefined =>
  d === undefined ? undefined : Number.isNaN(d.getTime()) ? 'invalid' : d.toISOString();

/** Whether from <= now <= to; false for any NaN and for a missing end. */
export function isCurrent(ctx: VerifyContext, from: Date, to: Date | undefined): boolean {
  const t = ctx.nowMs;
  return to !== undefined && from.getTime() <= t && t <= to.getTime();
}

/** Fails with `errorClass` (EXPIRED unless told) unless from <= now <= to. */
export function requireCurrent(
  ctx: VerifyContext,
  check: string,
  what: string,
  from: Date,
  to: Date | undefined,
  errorClass: VerificationErrorClass = 'EXPIRED',
): void {
  if (isCurrent(ctx, from, to)) {
    // The window every check so far shares (platform-memo.ts); isCurrent held, so `to` is defined.
    ctx.window.from = Math.max(ctx.window.from, from.getTime());
    ctx.window.to = Math.min(ctx.window.to, (to as Date).getTime());
    return;
  }
  const state = to === undefined ? 'has no end of validity' : ctx.nowMs < from.getTime() ? 'is not yet valid' : ctx.nowMs > to.getTime() ? 'has expired' : 'has an invalid validity date';
  fail(errorClass, check, `${what} ${state} at ${ctx.at.toISOString()}`, {
    notBefore: iso(from),
    notAfter: iso(to),
    at: ctx.at.toISOString(),
  });
}

/**
 * requireCurrent for re-issued collateral (TCB info, QE identity, CRLs): past
 * nextUpdate but inside the caller's explicit grace it passes with a warning.
 */
export function requireCurrentCollateral(ctx: VerifyContext, check: string, what: string, from: Date, to: Date | undefined): void {
  if (to !== undefined && from.getTime() <= ctx.nowMs && withinGrace(ctx.nowMs, to, ctx.collateralGraceMs)) {
    ctx.warnings.push(graceWarning(check, what, to, ctx.collateralGraceMs));
    ctx.window.to = Number.NEGATIVE_INFINITY; // passed by grace alone: no window to replay it in
    return;
  }
  requireCurrent(ctx, check, what, from, to);
}
