/**
 * The verification instant (T01 / S01, X01): read once from a Date's own time
 * value, never through a getTime() or valueOf() that a subclass or a caller's
 * object may override, so that the instant validated is the instant every
 * check uses. Shared by the Intel and SEV-SNP contexts and verifyEvidence.
 */

/** The time value of a genuine Date, or undefined for anything else (not a Date, no time value, NaN). */
export function timeValueOf(given: unknown): number | undefined {
  if (!(given instanceof Date)) return undefined;
  let ms: number;
  try {
    ms = Date.prototype.getTime.call(given);
  } catch {
    return undefined; // Date.prototype in its chain, but no time value of its own
  }
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A private copy of `given` when it is a valid Date; anything else is returned
 * unchanged so that the verifier's context refuses it with its own check id.
 */
export function privateCopyOfInstant<T>(given: T): T | Date {
  const ms = timeValueOf(given);
  return ms === undefined ? given : new Date(ms);
}
