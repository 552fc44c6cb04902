/**
 * T47 and T21: the content of an authenticated QE identity. A TDX quote needs
 * "TD_QE", an SGX quote "QE" (never QVE / QAE, V33); version 2 (QvE's
 * version 3 is not enabled until its format is reviewed, checklist §8).
 */
import { fail } from '../errors.js';
import { passed, type VerifyContext } from './context.js';
import { FieldReader, deepFreeze, type Json } from './json-fields.js';
import type { QeIdentity, TcbInfo } from './model.js';
import { readIsvLevels } from './tcb-info.js';
import { collateralDate, requireCurrentCollateral } from './time.js';

const C = 'T21';

function checkId(ctx: VerifyContext, r: FieldReader, identity: Json, tee: 'tdx' | 'sgx'): 'TD_QE' | 'QE' {
  const id = r.string(identity, 'id');
  const expected = tee === 'tdx' ? 'TD_QE' : 'QE';
  if (id === (tee === 'tdx' ? 'QE' : 'TD_QE')) fail('COLLATERAL_MISMATCH', 'T47', `QE identity "${id}" is for the other TEE (${tee.toUpperCase()} quote)`); // T47
  if (id !== expected) fail('COLLATERAL_MISMATCH', C, `QE identity id "${id}" is not "${expected}"`);
  passed(ctx, 'T47', `QE identity id "${id}" matches the ${tee.toUpperCase()} quote`);
  return expected;
}

type QeIdentityBody = Pick<QeIdentity, 'miscselect' | 'miscselectMask' | 'attributes' | 'attributesMask' | 'mrsigner' | 'isvprodid' | 'tcbLevels'>;

/**
 * As the TCB info's levels (tcb-info.ts): the parsed QE identity is cached by
 * content (strict-json.ts), so the same document object comes with every
 * quote, and its expected QE values and levels, which depend on neither the
 * instant, the options nor the quote, are read once per document and frozen.
 * A document that fails to read is never cached, so it fails every time.
 */
const bodies = new WeakMap<object, QeIdentityBody>();

function readQeIdentityBody(r: FieldReader, identity: Json): QeIdentityBody {
  const cached = bodies.get(identity);
  if (cached) return cached;
  const body: QeIdentityBody = {
    miscselect: r.hex(identity, 'miscselect', 4),
    miscselectMask: r.hex(identity, 'miscselectMask', 4),
    attributes: r.hex(identity, 'attributes', 16),
    attributesMask: r.hex(identity, 'attributesMask', 16),
    mrsigner: r.hex(identity, 'mrsigner', 32),
    isvprodid: r.integer(identity, 'isvprodid', 0xffff),
    tcbLevels: readIsvLevels(r, identity),
  };
  deepFreeze(body);
  bodies.set(identity, body);
  return body;
}

/** details.reason of the pairing refusal: verifyEvidence recognises it and asks for the QE identity at the TCB info's number once. */
export const QE_IDENTITY_OLDER_THAN_TCB_INFO = 'qe-identity-older-than-tcb-info';

/**
 * T21: "ideally = the TCB Info's". PCS signs fresh copies of older evaluation
 * numbers on request, so a QE identity older than the TCB info it comes with
 * could grade a QE UpToDate that the current identity grades OutOfDate
 * (a rollback within current, correctly signed collateral): refused. A newer
 * QE identity than TCB info is a warning: Intel publishes the two separately,
 * a newer identity can only grade the QE more strictly (never a rollback),
 * and the platform levels stay those of the TCB info the result names.
 */
function checkEvaluationPairing(ctx: VerifyContext, evaluation: number, tcbInfoEvaluation: number): void {
  if (evaluation < tcbInfoEvaluation) {
    fail('COLLATERAL_MISMATCH', C, `QE identity evaluation data number ${evaluation} is older than the TCB info's ${tcbInfoEvaluation}`, {
      evaluation,
      tcbInfoEvaluation,
      reason: QE_IDENTITY_OLDER_THAN_TCB_INFO,
    });
  }
  if (evaluation > tcbInfoEvaluation) {
    ctx.warnings.push(`T21: QE identity evaluation data number ${evaluation} is newer than the TCB info's ${tcbInfoEvaluation}`);
  }
}

/** T47, T21: validates and types an authenticated QE identity. */
export function readQeIdentity(ctx: VerifyContext, identity: Json, tee: 'tdx' | 'sgx', tcbInfo: TcbInfo): QeIdentity {
  const r = new FieldReader(C, 'enclaveIdentity');
  const id = checkId(ctx, r, identity, tee);
  const version = r.integer(identity, 'version', 0xffff);
  if (version !== 2) fail('COLLATERAL_MISMATCH', C, `QE identity version ${version} is not 2`);
  const issueDate = collateralDate(r.raw(identity, 'issueDate'), C, 'enclaveIdentity.issueDate');
  const nextUpdate = collateralDate(r.raw(identity, 'nextUpdate'), C, 'enclaveIdentity.nextUpdate');
  requireCurrentCollateral(ctx, C, 'QE identity', issueDate, nextUpdate); // T21: issueDate <= now <= nextUpdate
  const evaluation = r.integer(identity, 'tcbEvaluationDataNumber', Number.MAX_SAFE_INTEGER);
  const minimum = ctx.minTcbEvaluationDataNumber;
  if (minimum !== undefined && evaluation < minimum) {
    fail('COLLATERAL_MISMATCH', C, `QE identity evaluation data number ${evaluation} is below the required ${minimum}`, { evaluation, minimum });
  }
  checkEvaluationPairing(ctx, evaluation, tcbInfo.tcbEvaluationDataNumber);
  const result: QeIdentity = { id, version, issueDate, nextUpdate, tcbEvaluationDataNumber: evaluation, ...readQeIdentityBody(r, identity) };
  passed(ctx, C, `QE identity ${id} v2, current, evaluation data number ${evaluation}, exact field lengths`);
  return result;
}
