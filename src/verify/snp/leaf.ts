/**
 * Step B3 (checklist §4.3, S10, S38): the VCEK / VLEK. Its kind (by CN) must
 * be the one SIGNING_KEY names, it must be issued and signed by the pinned
 * intermediate of that kind, and carry an EC P-384 key valid at the instant.
 */
import { keyUsageAllows, unprocessedCriticalExtensions, type CertificateInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import type { PinnedChain, SigningKeyKind } from './chain.js';
import type { SnpContext } from './context.js';
import { checkValidity, sameBytes, verifySignatureMemo } from './x509-checks.js';

const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const LEAF_CN: Record<string, SigningKeyKind> = { 'SEV-VCEK': 'vcek', 'SEV-VLEK': 'vlek' };

/** Returns the leaf's raw P-384 public key (x || y). */
export function checkLeaf(leaf: CertificateInfo, chain: PinnedChain, kind: SigningKeyKind, ctx: SnpContext): Uint8Array {
  const name = kind.toUpperCase();
  const cn = leaf.subjectAttributes.CN;
  const leafKind = cn === undefined ? undefined : LEAF_CN[cn];
  if (leafKind === undefined) fail('CHAIN', 'S10', `leaf CN is "${cn ?? ''}", not SEV-VCEK or SEV-VLEK`, { subject: leaf.subject });
  // S10 / S38: a VLEK where SIGNING_KEY says VCEK, or the reverse (V31)
  if (leafKind !== kind) fail('SNP_SIGNER', 'S10', `the report is signed by the ${name}, but the certificate is a ${leafKind.toUpperCase()}`, { signingKey: kind, certificate: leafKind });
  if (leaf.version !== 3) fail('CHAIN', 'S10', `${name} is X.509 v${leaf.version}, not v3`);
  if (!sameBytes(leaf.issuerDer, chain.intermediate.subjectDer)) {
    fail('CHAIN', 'S10', `${name} issuer is not the pinned ${chain.intermediate.subjectAttributes.CN ?? 'intermediate'}`, { issuer: leaf.issuer, expected: chain.intermediate.subject });
  }
  if (leaf.signatureAlgorithm !== OID_RSASSA_PSS) fail('CHAIN', 'S10', `${name} is not signed with RSASSA-PSS`, { algorithm: leaf.signatureAlgorithm });
  // S10: leaf signed by the intermediate (RSASSA-PSS SHA-384)
  if (!verifySignatureMemo(ctx, leaf, chain.intermediate.publicKey, 'CHAIN', 'S10', name)) fail('CHAIN', 'S10', `${name} is not signed by the pinned intermediate`);
  const key = leaf.publicKey;
  if (key.kind !== 'ec' || key.curve !== 'P-384') fail('CHAIN', 'S10', `${name} key is not EC P-384`, { key: key.kind === 'ec' ? key.curve : key.kind });
  if (leaf.basicConstraints?.ca === true) fail('CHAIN', 'S10', `${name} claims to be a CA`);
  // RFC 5280 §4.2: a critical extension we do not process rejects the certificate (x509/critical.ts).
  const unknown = unprocessedCriticalExtensions(leaf.extensions);
  if (unknown.length > 0) fail('CHAIN', 'S10', `${name} has a critical extension this verifier does not process: ${unknown.join(', ')}`, { extensions: unknown });
  // S10: the key signs the report (S12); KDS leaves carry no keyUsage, which restricts nothing.
  if (!keyUsageAllows(leaf, 'digitalSignature')) fail('CHAIN', 'S10', `${name} keyUsage does not allow digital signatures`, { keyUsage: leaf.keyUsage });
  checkValidity(leaf, ctx, 'S10', name);
  ctx.pass('S10', `${name} (X.509 v3, EC P-384) is issued and signed by the pinned intermediate and valid`);
  return key.xy;
}
