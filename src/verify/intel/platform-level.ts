/**
 * T30: the platform TCB level (checklist §2.6 steps 1–2, QVL TcbLevelCheck).
 * Levels are sorted highest first. A level applies when all 16 PCK SGX
 * component SVNs and the PCESVN (from the PCK certificate, never CPUSVN or the
 * header) are >= the level's; for TDX the first such level is the SGX level,
 * and the TDX level is the first such level whose TDX components are also <=
 * TEE_TCB_SVN (from index 2 when TEE_TCB_SVN[1] > 0: bytes 0..1 are judged
 * through the module identity). Checking only one of the three vectors is
 * the teekit bug (§6.2).
 */
import type { TdxQuote } from '../../evidence/types.js';
import type { PckTcb } from '../../x509/index.js';
import { fail } from '../errors.js';
import { passed, type VerifyContext } from './context.js';
import type { PlatformTcbLevel, TcbInfo } from './model.js';

export interface PlatformMatch {
  /** First level the SGX components and PCESVN reach (drives relaunch, §2.6 step 4). */
  sgxLevel: PlatformTcbLevel;
  /** TDX: the matched level; SGX: the same as sgxLevel. */
  level: PlatformTcbLevel;
  index: number;
}

function sgxReached(pck: PckTcb, level: PlatformTcbLevel): boolean {
  return level.sgx.every((svn, i) => (pck.components[i] ?? -1) >= svn) && pck.pcesvn >= level.pcesvn;
}

function tdxReached(tee: Uint8Array, level: PlatformTcbLevel): boolean {
  const start = (tee[1] ?? 0) > 0 ? 2 : 0;
  const tdx = level.tdx ?? [];
  for (let i = start; i < 16; i++) if ((tee[i] ?? -1) < (tdx[i] ?? Number.POSITIVE_INFINITY)) return false;
  return true;
}

/** T30 for TDX quotes (SGX comps AND PCESVN AND TDX comps). */
export function matchTdxPlatformLevel(ctx: VerifyContext, quote: TdxQuote, info: TcbInfo, pck: PckTcb): PlatformMatch {
  let sgxLevel: PlatformTcbLevel | undefined;
  for (const [index, level] of info.tcbLevels.entries()) {
    if (!sgxReached(pck, level)) continue;
    sgxLevel ??= level;
    if (tdxReached(quote.body.teeTcbSvn, level)) {
      passed(ctx, 'T30', `platform TCB level ${index} (${level.status}, ${level.tcbDate}): PCK SGX components, PCESVN and TEE_TCB_SVN all reach it`);
      return { sgxLevel, level, index };
    }
  }
  // T30: no level both vectors reach
  return fail('TCB_UNSUPPORTED', 'T30', sgxLevel ? 'no TCB level matches the TEE_TCB_SVN at or below the SGX level' : 'no TCB level matches the PCK SGX components and PCESVN', {
    pckComponents: pck.components,
    pcesvn: pck.pcesvn,
    teeTcbSvn: Buffer.from(quote.body.teeTcbSvn).toString('hex'),
  });
}

/** T30 for SGX quotes (§3: all 16 components and PCESVN). */
export function matchSgxPlatformLevel(ctx: VerifyContext, info: TcbInfo, pck: PckTcb): PlatformMatch {
  const index = info.tcbLevels.findIndex((level) => sgxReached(pck, level));
  const level = info.tcbLevels[index];
  if (level === undefined) fail('TCB_UNSUPPORTED', 'T30', 'no TCB level matches the PCK SGX components and PCESVN', { pckComponents: pck.components, pcesvn: pck.pcesvn });
  passed(ctx, 'T30', `platform TCB level ${index} (${level.status}, ${level.tcbDate}): PCK SGX components and PCESVN reach it`);
  return { sgxLevel: level, level, index };
}
