/**
 * T32 / T33: the converged TCB status (checklist §2.6 steps 3–5; QVL
 * TdxModuleCheck, TDRelaunchCheck, TcbLevelCheck) and the one status the
 * verifier itself rejects: Revoked, at any of platform-SGX, platform-TDX,
 * module or QE (stricter than QVL, which only logs a revoked SGX level of a
 * TDX platform; V05). Every other status is returned, not judged (T46).
 */
import type { TdxQuote } from '../../evidence/types.js';
import { fail } from '../errors.js';
import type { TcbStatus } from '../types.js';
import { passed, type VerifyContext } from './context.js';
import type { IsvStatus, IsvTcbLevel, TcbInfo } from './model.js';
import type { PlatformMatch } from './platform-level.js';
import type { QeLevelMatch } from './qe.js';
import { findModuleIdentity, moduleIdentityId } from './tdx-module.js';

export interface TcbOutcome {
  status: TcbStatus;
  advisoryIds: string[];
  platform: PlatformMatch;
  module: { id: string; level: IsvTcbLevel } | undefined;
  qe: QeLevelMatch;
  relaunch: boolean;
}

const isConfigurationNeeded = (s: TcbStatus): boolean => s.includes('Configuration') || s.includes('CONFIGURATION');

/** §2.6 step 3: fold the module status into the platform status. */
export function convergeWithModule(s: TcbStatus, module: IsvStatus): TcbStatus {
  if (module === 'Revoked') return 'Revoked';
  if (module !== 'OutOfDate') return s;
  if (s === 'UpToDate' || s === 'SWHardeningNeeded') return 'OutOfDate';
  if (s === 'ConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  return s;
}

/** §2.6 step 5: fold the QE status in. */
export function convergeWithQe(s: TcbStatus, qe: IsvStatus | undefined): TcbStatus {
  if (qe === 'Revoked') return 'Revoked';
  if (qe !== 'OutOfDate') return s;
  if (s === 'UpToDate' || s === 'SWHardeningNeeded') return 'OutOfDate';
  if (s === 'ConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  return s;
}

interface RelaunchInput {
  quote: TdxQuote;
  info: TcbInfo;
  sgxStatus: TcbStatus;
  tdxStatus: TcbStatus;
  moduleStatus: IsvStatus;
  qeStatus: IsvStatus | undefined;
}

/** §2.6 step 4: a TD-preserving update reached the platform but not this TD (v5 body type 3 only). */
function relaunchStatus(r: RelaunchInput): TcbStatus | undefined {
  const tee2 = r.quote.body.teeTcbSvn2;
  if (r.quote.bodyType !== 3 || tee2 === undefined) return undefined;
  if (r.qeStatus === 'OutOfDate' || r.qeStatus === 'Revoked') return undefined;
  if (!['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'].includes(r.sgxStatus)) return undefined;
  if (r.tdxStatus !== 'OutOfDate' && r.tdxStatus !== 'OutOfDateConfigurationNeeded') return undefined;
  if (r.moduleStatus !== 'OutOfDate') return undefined;
  const latest = r.info.tcbLevels[0]?.tdx ?? [];
  const major2 = tee2[1] ?? 0;
  let minimumIsvsvn = latest[0] ?? 0;
  if (major2 > 0) {
    const identity2 = findModuleIdentity(r.info, major2);
    if (identity2 === undefined) fail('TDX_MODULE', 'T32', `TCB info has no module identity ${moduleIdentityId(major2)} for TEE_TCB_SVN2`, { major: major2 });
    minimumIsvsvn = identity2.tcbLevels[0]?.isvsvn ?? 0;
  }
  if ((tee2[0] ?? 0) < minimumIsvsvn || (tee2[2] ?? 0) < (latest[2] ?? 0)) return undefined;
  return isConfigurationNeeded(r.sgxStatus) || isConfigurationNeeded(r.tdxStatus) ? 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED' : 'TD_RELAUNCH_ADVISED';
}

function unionAdvisories(...lists: (readonly string[] | undefined)[]): string[] {
  return [...new Set(lists.flatMap((l) => l ?? []))];
}

function record(ctx: VerifyContext, o: TcbOutcome): TcbOutcome {
  const parts = [`platform ${o.platform.level.status}`];
  if (o.module) parts.push(`module ${o.module.id} ${o.module.level.status}`);
  parts.push(o.qe.assumed ? 'QE assumed UpToDate' : `QE ${o.qe.level?.status ?? 'n/a'}`);
  if (o.relaunch) parts.push('TD relaunch advised');
  passed(ctx, 'T32', `converged TCB status ${o.status} (${parts.join(', ')}); ${o.advisoryIds.length} advisory IDs from platform, module and QE levels`);
  return o;
}

/** T32 for TDX: platform ⊕ module ⊕ relaunch ⊕ QE; advisories of all three levels. */
// T32
export function convergeTdx(ctx: VerifyContext, quote: TdxQuote, info: TcbInfo, platform: PlatformMatch, moduleId: string | undefined, moduleLevel: IsvTcbLevel | undefined, qe: QeLevelMatch): TcbOutcome {
  const moduleStatus: IsvStatus = moduleLevel?.status ?? 'UpToDate';
  let status = convergeWithModule(platform.level.status, moduleStatus);
  const relaunch = status === 'Revoked' ? undefined : relaunchStatus({ quote, info, sgxStatus: platform.sgxLevel.status, tdxStatus: status, moduleStatus, qeStatus: qe.level?.status });
  if (relaunch !== undefined) status = relaunch;
  status = convergeWithQe(status, qe.level?.status);
  return record(ctx, {
    status,
    advisoryIds: unionAdvisories(platform.level.advisoryIds, moduleLevel?.advisoryIds, qe.level?.advisoryIds),
    platform,
    module: moduleId !== undefined && moduleLevel !== undefined ? { id: moduleId, level: moduleLevel } : undefined,
    qe,
    relaunch: relaunch !== undefined,
  });
}

/** T32 for SGX (§3): platform ⊕ QE; advisories of both levels. */
// T32
export function convergeSgx(ctx: VerifyContext, platform: PlatformMatch, qe: QeLevelMatch): TcbOutcome {
  return record(ctx, {
    status: convergeWithQe(platform.level.status, qe.level?.status),
    advisoryIds: unionAdvisories(platform.level.advisoryIds, qe.level?.advisoryIds),
    platform,
    module: undefined,
    qe,
    relaunch: false,
  });
}

/** T33: Revoked is never acceptable, wherever it was matched (V05: any one, not all). */
export function rejectRevoked(ctx: VerifyContext, o: TcbOutcome): void {
  const revoked: string[] = [];
  const sameLevel = o.platform.sgxLevel === o.platform.level;
  if (o.platform.sgxLevel.status === 'Revoked') revoked.push(sameLevel ? 'platform level' : 'platform SGX level');
  if (!sameLevel && o.platform.level.status === 'Revoked') revoked.push('platform TDX level');
  if (o.module?.level.status === 'Revoked') revoked.push(`module ${o.module.id} level`);
  if (o.qe.level?.status === 'Revoked') revoked.push('QE level');
  if (revoked.length > 0 || o.status === 'Revoked') fail('REVOKED', 'T33', `matched TCB level revoked: ${revoked.join(', ') || 'converged status'}`, { revoked }); // T33
  passed(ctx, 'T33', 'no matched level (platform SGX / TDX, module, QE) is Revoked');
}
