/**
 * The TD-under-debug group of TDATTRIBUTES (T34; docs/policy.md, Decisions: "TD debug includes
 * the TUD bits 7:1"): DEBUG (bit 0) and the TUD bits 7:1. A TD with any of them set is treated as
 * debuggable. One helper, so the policy check (checks/tdx.ts), the EAR vector (ear.ts) and the
 * key broker (kbs/transfer.ts) cannot drift (review s13 policy #5: the vector read bit 0 only):
 * all three import it, none keeps a copy of the bits (s13 change review policy #4; the test
 * review-s13-cr-td-debug-shared.test.ts checks that no other file defines the group).
 */
import type { TdxClaims } from '../verify/types.js';

/** TDATTRIBUTES bits 7:0. */
export const TD_DEBUG_GROUP = 0xffn;

/** Whether the TD is under debug: DEBUG or a TUD bit set (an unreadable TDATTRIBUTES counts as debug). */
export function tdUnderDebug(claims: Pick<TdxClaims, 'tdAttributes' | 'debug'>): boolean {
  if (claims.debug) return true;
  const attrs = claims.tdAttributes;
  if (typeof attrs !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(attrs)) return true;
  return (BigInt(attrs) & TD_DEBUG_GROUP) !== 0n;
}
