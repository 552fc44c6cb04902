/**
 * Exact distinguished names of the Intel SGX PKI (checklist §2.3; QVL
 * X509Constants). QVL matches CN substrings; we compare whole DNs. The
 * expected DN of every certificate below the root is the pinned root's DN
 * with the CN replaced by Intel's CN for that role: with the production
 * root this is exactly Intel's DN ("CN=Intel SGX PCK Platform CA,
 * O=Intel Corporation, L=Santa Clara, ST=CA, C=US"); with an injected test
 * root it is the same CN under the test PKI's other attributes, so one rule
 * serves both without naming Intel's organisation twice.
 */
import { fail } from '../errors.js';
import type { CertificateInfo, PckCaKind } from '../../x509/index.js';

export const INTEL_CN = Object.freeze({
  root: 'Intel SGX Root CA',
  platformCa: 'Intel SGX PCK Platform CA',
  processorCa: 'Intel SGX PCK Processor CA',
  pckLeaf: 'Intel SGX PCK Certificate',
  tcbSigning: 'Intel SGX TCB Signing',
});

/** The CN Intel gives the PCK CA of this kind. */
export function pckCaCommonName(kind: PckCaKind): string {
  return kind === 'platform' ? INTEL_CN.platformCa : INTEL_CN.processorCa;
}

/**
 * The exact DN (RFC 4514 text) a certificate with CN `commonName` must have
 * under `root`. Fails CHAIN when the root's DN does not hold its CN exactly once.
 */
export function expectedDn(root: CertificateInfo, commonName: string, check: string): string {
  const rootCn = root.subjectAttributes.CN;
  const key = `${root.subject}\0${rootCn ?? ''}\0${commonName}`;
  const known = expectedDns.get(key);
  if (known !== undefined) return known;
  const token = rootCn === undefined ? undefined : `CN=${rootCn}`;
  if (token === undefined || root.subject.split(token).length !== 2) {
    fail('CHAIN', check, 'the root certificate DN does not carry exactly one plain CN', { root: root.subject });
  }
  const dn = root.subject.replace(token, `CN=${commonName}`);
  if (expectedDns.size >= 256) expectedDns.clear();
  expectedDns.set(key, dn);
  return dn;
}

/**
 * Expected DNs by (root DN text, root CN, role CN): a pure function of those
 * strings, asked four times per quote. A root whose DN fails is never cached.
 */
const expectedDns = new Map<string, string>();
