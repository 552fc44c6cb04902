/**
 * Section E, TDX module (T27–T29, T31; QVL TdxModuleCheck.cpp). TEE_TCB_SVN[1]
 * is the module's major version: when > 0 the module is judged through the
 * TCB info's `tdxModuleIdentities` entry "TDX_%02X", and its ISVSVN
 * (TEE_TCB_SVN[0]) through that identity's levels; otherwise through
 * `tdxModule` with an implicit UpToDate status.
 */
import type { TdxQuote } from '../../evidence/types.js';
import { fail } from '../errors.js';
import { maskedEqual, sameBytes, toHex } from './bytes.js';
import { passed, type VerifyContext } from './context.js';
import type { IsvTcbLevel, TcbInfo, TdxModuleExpectation, TdxModuleIdentity } from './model.js';

export interface ModuleMatch {
  /** The identity for TEE_TCB_SVN[1] > 0, else undefined (tdxModule applies). */
  identity: TdxModuleIdentity | undefined;
  /** Set by T31. */
  level?: IsvTcbLevel;
}

/** "TDX_%02X" of a module major version. */
export function moduleIdentityId(major: number): string {
  return `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** The identity "TDX_%02X" % major, compared uppercased as QVL does. */
export function findModuleIdentity(info: TcbInfo, major: number): TdxModuleIdentity | undefined {
  const id = moduleIdentityId(major);
  return info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
}

/** SEAMATTRIBUTES as its 8 little-endian bytes, the order Intel's hex strings use. */
function seamAttributeBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
}

/** T27, T28, T29: module identity, MRSIGNERSEAM and SEAMATTRIBUTES. */
export function checkTdxModule(ctx: VerifyContext, quote: TdxQuote, info: TcbInfo): ModuleMatch {
  const tee = quote.body.teeTcbSvn;
  const major = tee[1] ?? 0;
  let identity: TdxModuleIdentity | undefined;
  let expected: TdxModuleExpectation | undefined = info.tdxModule;
  if (major > 0) {
    identity = findModuleIdentity(info, major); // T27: TEE_TCB_SVN[1] > 0 selects "TDX_%02X"
    if (identity === undefined) fail('TDX_MODULE', 'T27', `TCB info has no module identity ${moduleIdentityId(major)}`, { major });
    expected = identity;
  }
  if (expected === undefined) fail('TDX_MODULE', 'T27', 'TCB info has no tdxModule');
  passed(ctx, 'T27', major > 0 ? `module major version ${major}: identity ${identity?.id} from tdxModuleIdentities` : 'module major version 0: expectations from tdxModule');
  const mrSignerSeam = quote.body.mrSignerSeam;
  if (!sameBytes(mrSignerSeam, expected.mrsigner)) fail('TDX_MODULE', 'T28', `MRSIGNERSEAM ${toHex(mrSignerSeam)} is not the expected module signer`); // T28
  passed(ctx, 'T28', 'MRSIGNERSEAM equals the module identity MRSIGNER');
  const seam = quote.body.seamAttributes;
  // T29: zero (QVL) and equal under the mask (go-tdx-guest); checklist §8 takes both.
  if (seam !== 0n) fail('TDX_MODULE', 'T29', `SEAMATTRIBUTES 0x${seam.toString(16)} is not zero`);
  if (!maskedEqual(seamAttributeBytes(seam), expected.attributesMask, expected.attributes)) fail('TDX_MODULE', 'T29', 'SEAMATTRIBUTES do not match the module identity under its mask');
  passed(ctx, 'T29', 'SEAMATTRIBUTES zero and equal to the module attributes under the mask');
  return { identity };
}

/** T31: the module TCB level: first identity level (highest isvsvn first) with isvsvn <= TEE_TCB_SVN[0]. */
export function matchModuleLevel(ctx: VerifyContext, quote: TdxQuote, module: ModuleMatch): IsvTcbLevel | undefined {
  if (module.identity === undefined) return undefined; // TEE_TCB_SVN[1] == 0: module status UpToDate (§2.6 step 3)
  const isvsvn = quote.body.teeTcbSvn[0] ?? 0;
  const level = module.identity.tcbLevels.find((l) => l.isvsvn <= isvsvn);
  if (level === undefined) fail('TCB_UNSUPPORTED', 'T31', `no ${module.identity.id} TCB level for module ISVSVN ${isvsvn}`, { isvsvn }); // T31
  passed(ctx, 'T31', `module ISVSVN ${isvsvn} matches ${module.identity.id} level ${level.isvsvn} (${level.status})`);
  return level;
}
