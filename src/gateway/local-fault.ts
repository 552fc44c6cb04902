/**
 * Which errors are the attested client's own fault rather than a verdict on
 * the gateway's TEE (shared by the quote path, verify.ts, and the vTPM path,
 * vtpm-verify.ts).
 */
import { TeeVerifyError } from '../errors.js';

/**
 * The codes, each with its class, that are this client's own fault and never the evidence's: the
 * native addon did not load, OpenSSL failed internally, a bad argument of the caller (options, the
 * collateral kind, the cache directory). An explicit list, not the classes (s12 change review core):
 * an ARGUMENT error some day thrown from an evidence value must stay a verdict, not a way around
 * revocation. Anything else from the verify step is ERR_ATTEST_EVIDENCE.
 */
const LOCAL_FAULTS: ReadonlyMap<string, TeeVerifyError['errorClass']> = new Map([
  ['ERR_NATIVE_LOAD', 'INTERNAL'],
  ['ERR_INTERNAL', 'INTERNAL'],
  ['ERR_INVALID_ARGUMENT', 'ARGUMENT'],
  ['ERR_COLLATERAL_CACHE_DIR', 'ARGUMENT'],
]);

/** One of LOCAL_FAULTS (code and class): this client's own fault, not the evidence's. */
export function isLocalFault(err: unknown): err is TeeVerifyError {
  return err instanceof TeeVerifyError && LOCAL_FAULTS.get(err.code) === err.errorClass;
}
