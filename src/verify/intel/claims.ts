/**
 * T51: the claims of a verified quote: only fields covered by the quote
 * signature (the TD / enclave report), fields of the authenticated PCK
 * certificate, and derived statuses with their matched levels. Header
 * user_data and QE reserved / KSS fields are never surfaced (T44). Every
 * value is read from the same parsed object whose bytes were signature-checked
 * (T49). Measurements are lowercase hex; 64-bit values 0x-prefixed hex.
 */
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import type { PckSgxExtension } from '../../x509/index.js';
import type { IntelTcbLevelClaim, SgxClaims, TdxClaims } from '../types.js';
import { toHex, u64Hex } from './bytes.js';
import type { TcbOutcome } from './convergence.js';
import type { IsvTcbLevel, PlatformTcbLevel } from './model.js';

/** TDATTRIBUTES bits (checklist T34): DEBUG 0, SEPT_VE_DISABLE 28, MIGRATABLE 29. */
const TD_DEBUG = 1n << 0n;
const TD_SEPT_VE_DISABLE = 1n << 28n;
const TD_MIGRATABLE = 1n << 29n;

function levelClaim(level: PlatformTcbLevel | IsvTcbLevel): IntelTcbLevelClaim {
  return { status: level.status, tcbDate: level.tcbDate, advisoryIds: [...level.advisoryIds] };
}

function qeClaim(o: TcbOutcome): IntelTcbLevelClaim {
  // skipQeIdentity: no level was matched; the status is assumed and the date unknown (a warning says so).
  return o.qe.level ? levelClaim(o.qe.level) : { status: 'UpToDate', tcbDate: '', advisoryIds: [] };
}

export function tdxClaims(quote: TdxQuote, pck: PckSgxExtension, o: TcbOutcome): TdxClaims {
  const b = quote.body;
  const claims: TdxClaims = {
    kind: 'tdx',
    quoteVersion: quote.version,
    bodyType: quote.bodyType,
    mrTd: toHex(b.mrTd),
    rtmr0: toHex(b.rtmr0),
    rtmr1: toHex(b.rtmr1),
    rtmr2: toHex(b.rtmr2),
    rtmr3: toHex(b.rtmr3),
    mrSeam: toHex(b.mrSeam),
    mrSignerSeam: toHex(b.mrSignerSeam),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    reportData: toHex(b.reportData),
    teeTcbSvn: toHex(b.teeTcbSvn),
    tdAttributes: u64Hex(b.tdAttributes),
    seamAttributes: u64Hex(b.seamAttributes),
    xfam: u64Hex(b.xfam),
    debug: (b.tdAttributes & TD_DEBUG) !== 0n,
    septVeDisable: (b.tdAttributes & TD_SEPT_VE_DISABLE) !== 0n,
    migratable: (b.tdAttributes & TD_MIGRATABLE) !== 0n,
    fmspc: pck.fmspc,
    pceId: pck.pceId,
    platform: levelClaim(o.platform.level),
    qe: qeClaim(o),
  };
  if (b.mrServiceTd !== undefined) claims.mrServiceTd = toHex(b.mrServiceTd);
  if (b.teeTcbSvn2 !== undefined) claims.teeTcbSvn2 = toHex(b.teeTcbSvn2);
  if (o.module) claims.module = { id: o.module.id, ...levelClaim(o.module.level) };
  return claims;
}

/** SGX ATTRIBUTES.flags bit 1. */
const SGX_DEBUG = 0x02;

export function sgxClaims(quote: SgxQuote, pck: PckSgxExtension, o: TcbOutcome): SgxClaims {
  const b = quote.body;
  return {
    kind: 'sgx',
    quoteVersion: 3,
    mrEnclave: toHex(b.mrEnclave),
    mrSigner: toHex(b.mrSigner),
    isvProdId: b.isvProdId,
    isvSvn: b.isvSvn,
    attributes: toHex(b.attributes),
    miscSelect: b.miscSelect,
    reportData: toHex(b.reportData),
    debug: ((b.attributes[0] ?? 0) & SGX_DEBUG) !== 0,
    fmspc: pck.fmspc,
    pceId: pck.pceId,
    platform: levelClaim(o.platform.level),
    qe: qeClaim(o),
  };
}
