/**
 * Enclave policy (checklist §3, the SGX form of T34–T40): DEBUG, the masked
 * ATTRIBUTES and MISCSELECT (T34 analogue), MRENCLAVE / MRSIGNER / ISVPRODID /
 * ISVSVN (T36 analogue).
 */
import type { SgxClaims } from '../../verify/types.js';
import type { SgxPolicy } from '../types.js';
import type { Findings } from './findings.js';

function maskedBytesMatch(actualHex: string, valueHex: string, maskHex: string): boolean {
  const a = Buffer.from(actualHex, 'hex');
  const v = Buffer.from(valueHex, 'hex');
  const m = Buffer.from(maskHex, 'hex');
  return a.length === v.length && a.every((b, i) => (b & (m[i] ?? 0)) === v[i]);
}

export function checkSgx(c: SgxClaims, p: SgxPolicy, f: Findings): void {
  if (c.debug) {
    // T34 (§3): ATTRIBUTES.DEBUG (flags bit 1) zero unless the policy allows debug, then a warning
    if (!p.allowDebug) f.fail('/allowDebug', 'T34', 'POLICY', false, true, `the enclave is debuggable (ATTRIBUTES ${c.attributes})`);
    else f.warn('T34', 'debug enclave accepted by the policy (allowDebug): never release keys to it');
  }
  // T34 (§3): masked ATTRIBUTES, bytewise over the 16 bytes
  if (p.attributes !== 'any' && !maskedBytesMatch(c.attributes, p.attributes.value, p.attributes.mask)) {
    f.fail('/attributes', 'T34', 'POLICY', p.attributes, c.attributes, 'ATTRIBUTES do not match the policy under its mask');
  }
  // T34 (§3): masked MISCSELECT
  if (p.miscSelect !== 'any' && ((c.miscSelect & p.miscSelect.mask) >>> 0) !== p.miscSelect.value) {
    f.fail('/miscSelect', 'T34', 'POLICY', p.miscSelect, c.miscSelect, 'MISCSELECT does not match the policy under its mask');
  }
  // T36 (§3): the enclave's identity
  f.allowed(p.mrEnclave, c.mrEnclave, '/mrEnclave', 'T36', 'MRENCLAVE');
  f.allowed(p.mrSigner, c.mrSigner, '/mrSigner', 'T36', 'MRSIGNER');
  f.allowed(p.isvProdId, c.isvProdId, '/isvProdId', 'T36', 'ISVPRODID');
  f.allowed(p.isvSvn, c.isvSvn, '/isvSvn', 'T36', 'ISVSVN');
  f.atLeast(p.minIsvSvn, c.isvSvn, '/minIsvSvn', 'T36', 'ISVSVN');
}
