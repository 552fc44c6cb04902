/**
 * T47, T48, T18: the content of an authenticated TCB info (TDX v3, or SGX v3
 * for SGX quotes, §3), then T19: it is for this platform. Levels get exactly
 * 16 SGX components (and 16 TDX components for TDX, none for SGX): a shorter
 * list must never shorten the comparison (V09).
 */
import type { PckSgxExtension } from '../../x509/index.js';
import { fail } from '../errors.js';
import { sameBytes, toHex } from './bytes.js';
import { passed, type VerifyContext } from './context.js';
import { FieldReader, deepFreeze, type Json } from './json-fields.js';
import {
  ISV_STATUSES,
  PLATFORM_STATUSES,
  sortIsvLevels,
  sortPlatformLevels,
  type IsvTcbLevel,
  type PlatformTcbLevel,
  type TcbInfo,
  type TdxModuleExpectation,
  type TdxModuleIdentity,
} from './model.js';
import { collateralDate, requireCurrentCollateral } from './time.js';

const C = 'T18';

function status<T extends string>(r: FieldReader, obj: Json, allowed: readonly T[]): T {
  const s = r.string(obj, 'tcbStatus');
  // X08: an unknown status fails closed; it never maps to a default.
  if (!(allowed as readonly string[]).includes(s)) fail('COLLATERAL_FORMAT', r.check, `${r.path}.tcbStatus "${s}" is not a known status`, { status: s });
  return s as T;
}

/** The level's tcbDate as Intel wrote it, once it parses exactly (X01). */
function tcbDate(r: FieldReader, obj: Json): string {
  const raw = r.raw(obj, 'tcbDate');
  collateralDate(raw, r.check, `${r.path}.tcbDate`);
  return raw as string;
}

/** Module / QE levels: {tcb: {isvsvn}, tcbDate, tcbStatus, advisoryIDs?}. Shared with T21. */
export function readIsvLevels(r: FieldReader, obj: Json): IsvTcbLevel[] {
  const list = r.array(obj, 'tcbLevels', { nonEmpty: true });
  const levels = list.map((_, i) => {
    const lr = r.at(`tcbLevels[${i}]`);
    const level = r.at('tcbLevels').element(list, i);
    return {
      isvsvn: lr.integer(lr.object(level, 'tcb'), 'isvsvn', 0xffff),
      tcbDate: tcbDate(lr, level),
      status: status(lr, level, ISV_STATUSES),
      advisoryIds: lr.strings(level, 'advisoryIDs'),
    };
  });
  refuseRepeatedLevels(r, levels.map((l) => String(l.isvsvn)), 'isvsvn');
  return sortIsvLevels(levels);
}

/**
 * T18 / T21: levels are matched highest first, so two levels with the same
 * SVNs would be told apart only by their order in the document: a Revoked
 * copy listed after an UpToDate one would never be reached, the other order
 * would revoke. Intel never repeats a level; a document that does is refused
 * whatever its order (review of session 7).
 */
function refuseRepeatedLevels(r: FieldReader, keys: readonly string[], what: string): void {
  const first = new Map<string, number>();
  for (const [i, key] of keys.entries()) {
    const earlier = first.get(key);
    if (earlier !== undefined) {
      fail('COLLATERAL_FORMAT', r.check, `${r.path}.tcbLevels[${i}] repeats the ${what} of ${r.path}.tcbLevels[${earlier}]`, { field: `${r.path}.tcbLevels`, first: earlier, repeated: i });
    }
    first.set(key, i);
  }
}

/** The SVNs that place a platform level: SGX components, PCESVN, TDX components. */
function platformLevelKey(level: PlatformTcbLevel): string {
  return `${level.sgx.join('.')}|${level.pcesvn}|${level.tdx?.join('.') ?? ''}`;
}

function components(r: FieldReader, tcb: Json, key: string): number[] {
  const list = r.array(tcb, key, { length: 16 }); // T18 / V09: exactly 16
  return list.map((_, i) => r.at(`${key}[${i}]`).integer(r.at(key).element(list, i), 'svn', 255));
}

function readPlatformLevel(r: FieldReader, level: Json, tee: 'tdx' | 'sgx'): PlatformTcbLevel {
  const tcb = r.object(level, 'tcb');
  const tr = r.at('tcb');
  const hasTdx = r.raw(tcb, 'tdxtcbcomponents') !== undefined;
  if (tee === 'sgx' && hasTdx) fail('COLLATERAL_FORMAT', C, `${r.path}: an SGX TCB level carries tdxtcbcomponents`);
  return {
    sgx: components(tr, tcb, 'sgxtcbcomponents'),
    pcesvn: tr.integer(tcb, 'pcesvn', 0xffff),
    tdx: tee === 'tdx' ? components(tr, tcb, 'tdxtcbcomponents') : undefined,
    tcbDate: tcbDate(r, level),
    status: status(r, level, PLATFORM_STATUSES),
    advisoryIds: r.strings(level, 'advisoryIDs'),
  };
}

function readModuleExpectation(r: FieldReader, obj: Json): TdxModuleExpectation {
  return { mrsigner: r.hex(obj, 'mrsigner', 48), attributes: r.hex(obj, 'attributes', 8), attributesMask: r.hex(obj, 'attributesMask', 8) };
}

function readModuleIdentities(r: FieldReader, info: Json): TdxModuleIdentity[] {
  if (r.raw(info, 'tdxModuleIdentities') === undefined) return [];
  const list = r.array(info, 'tdxModuleIdentities');
  const ids = new Set<string>();
  return list.map((_, i) => {
    const ir = r.at(`tdxModuleIdentities[${i}]`);
    const obj = r.at('tdxModuleIdentities').element(list, i);
    const id = ir.string(obj, 'id');
    if (!/^TDX_[0-9A-F]{2}$/i.test(id) || ids.has(id.toUpperCase())) fail('COLLATERAL_FORMAT', C, `${ir.path}.id "${id}" is malformed or repeated`);
    ids.add(id.toUpperCase());
    return { id, ...readModuleExpectation(ir, obj), tcbLevels: readIsvLevels(ir, obj) };
  });
}

/** T47 / T48: a TCB info of the right TEE and version, although Intel-signed either way. */
function checkIdAndVersion(ctx: VerifyContext, r: FieldReader, info: Json, tee: 'tdx' | 'sgx'): number {
  const id = r.string(info, 'id');
  const expectedId = tee === 'tdx' ? 'TDX' : 'SGX';
  if (id === (tee === 'tdx' ? 'SGX' : 'TDX')) fail('COLLATERAL_MISMATCH', 'T47', `TCB info id "${id}" is for the other TEE (${tee.toUpperCase()} quote)`); // T47
  if (id !== expectedId) fail('COLLATERAL_MISMATCH', C, `TCB info id "${id}" is not "${expectedId}"`);
  passed(ctx, 'T47', `TCB info id "${id}" matches the ${tee.toUpperCase()} quote`);
  const version = r.integer(info, 'version', 0xffff);
  if (tee === 'tdx' && version === 2) fail('COLLATERAL_MISMATCH', 'T48', 'TCB info version 2 has no TDX module data'); // T48
  if (version !== 3) fail('COLLATERAL_MISMATCH', C, `TCB info version ${version} is not 3`);
  if (tee === 'tdx') passed(ctx, 'T48', 'TCB info version 3 (not 2)');
  return version;
}

type TcbInfoBody = Pick<TcbInfo, 'fmspc' | 'pceId' | 'tdxModule' | 'tdxModuleIdentities' | 'tcbLevels'>;

/**
 * The parsed documents are cached by content (strict-json.ts), so the same
 * TCB info arrives as the same object for every quote of a platform: its
 * levels, which depend on neither the instant nor the caller's options, are
 * read once per document (and frozen, since every verification shares them).
 * A document that fails to read is never cached, so it fails every time.
 */
const bodies = new WeakMap<object, { tdx?: TcbInfoBody; sgx?: TcbInfoBody }>();

function readTcbInfoBody(info: Json, tee: 'tdx' | 'sgx'): TcbInfoBody {
  const key = info as object;
  const cached = bodies.get(key)?.[tee];
  if (cached) return cached;
  const r = new FieldReader(C, 'tcbInfo');
  const levelList = r.array(info, 'tcbLevels', { nonEmpty: true });
  const tcbLevels = levelList.map((_, i) => readPlatformLevel(r.at(`tcbLevels[${i}]`), r.at('tcbLevels').element(levelList, i), tee));
  refuseRepeatedLevels(r, tcbLevels.map(platformLevelKey), 'SGX components, PCESVN and TDX components');
  const body: TcbInfoBody = {
    fmspc: r.hex(info, 'fmspc', 6),
    pceId: r.hex(info, 'pceId', 2),
    tdxModule: tee === 'tdx' ? readModuleExpectation(r.at('tdxModule'), r.object(info, 'tdxModule')) : undefined,
    tdxModuleIdentities: tee === 'tdx' ? readModuleIdentities(r, info) : [],
    tcbLevels: sortPlatformLevels(tcbLevels),
  };
  if (tee === 'sgx' && (r.raw(info, 'tdxModule') !== undefined || r.raw(info, 'tdxModuleIdentities') !== undefined)) {
    fail('COLLATERAL_FORMAT', C, 'an SGX TCB info carries TDX module data');
  }
  deepFreeze(body);
  bodies.set(key, { ...bodies.get(key), [tee]: body });
  return body;
}

/** T47, T48, T18: validates and types an authenticated TCB info. */
export function readTcbInfo(ctx: VerifyContext, info: Json, tee: 'tdx' | 'sgx'): TcbInfo {
  const r = new FieldReader(C, 'tcbInfo');
  const version = checkIdAndVersion(ctx, r, info, tee);
  if (r.integer(info, 'tcbType', 0xffff) !== 0) fail('COLLATERAL_MISMATCH', C, 'tcbType is not 0');
  const issueDate = collateralDate(r.raw(info, 'issueDate'), C, 'tcbInfo.issueDate');
  const nextUpdate = collateralDate(r.raw(info, 'nextUpdate'), C, 'tcbInfo.nextUpdate');
  requireCurrentCollateral(ctx, C, 'TCB info', issueDate, nextUpdate); // T18: issueDate <= now <= nextUpdate
  const evaluation = r.integer(info, 'tcbEvaluationDataNumber', Number.MAX_SAFE_INTEGER);
  const minimum = ctx.minTcbEvaluationDataNumber;
  if (minimum !== undefined && evaluation < minimum) {
    fail('COLLATERAL_MISMATCH', C, `TCB info evaluation data number ${evaluation} is below the required ${minimum}`, { evaluation, minimum });
  }
  const body = readTcbInfoBody(info, tee);
  const result: TcbInfo = { tee, version, issueDate, nextUpdate, tcbEvaluationDataNumber: evaluation, ...body };
  passed(ctx, C, `TCB info v3 (tcbType 0), current, evaluation data number ${evaluation}, ${body.tcbLevels.length} levels of 16 components`);
  return result;
}

/** T19: FMSPC and PCE-ID of the TCB info equal the PCK certificate's, as decoded bytes. */
export function checkTcbInfoPlatform(ctx: VerifyContext, info: TcbInfo, pck: PckSgxExtension): void {
  const fmspc = Buffer.from(pck.fmspc, 'hex');
  const pceId = Buffer.from(pck.pceId, 'hex');
  // T19: compared as decoded bytes, never as hex text
  if (!sameBytes(info.fmspc, fmspc)) fail('COLLATERAL_MISMATCH', 'T19', `TCB info FMSPC ${toHex(info.fmspc)} is not the PCK FMSPC ${pck.fmspc}`);
  if (!sameBytes(info.pceId, pceId)) fail('COLLATERAL_MISMATCH', 'T19', `TCB info PCE-ID ${toHex(info.pceId)} is not the PCK PCE-ID ${pck.pceId}`);
  passed(ctx, 'T19', `TCB info FMSPC ${pck.fmspc} and PCE-ID ${pck.pceId} match the PCK certificate`);
}
