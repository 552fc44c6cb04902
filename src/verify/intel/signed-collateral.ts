/**
 * T16 / T17 (TCB info) and T20 (QE identity): authenticity of Intel's signed
 * JSON collateral. The issuer chain is exactly TCB Signing ‖ root, with the
 * root the same pinned root as the PCK chain's, the TCB Signing certificate
 * under Intel's exact DN, signed by the root, current and not revoked by the
 * Root CA CRL. The signature is checked over the exact bytes of the member's
 * value as served (§2.2, X06), and the object returned is parsed from those
 * same bytes.
 */
import type { CollateralArtifact } from '../../collateral/artifact.js';
import { parseSignedJson, type SignedJson, type SignedJsonMember } from '../../collateral/strict-json.js';
import { TeeVerifyError } from '../../errors.js';
import { keyUsageAllows, splitPemCertificates, type CertificateInfo, type CrlInfo } from '../../x509/index.js';
import { fail, VerificationError } from '../errors.js';
import { sameBytes } from './bytes.js';
import { passed, type VerifyContext } from './context.js';
import { INTEL_CN, expectedDn } from './names.js';
import { parseChainCertificate, requireProcessedExtensions } from './pck-chain.js';
import { certificateSignedBy, p256SignedBy } from './signatures.js';
import { requireCurrent } from './time.js';

export interface SignedDocument {
  value: Record<string, unknown>;
  signer: CertificateInfo;
}

interface Step {
  /** Check id of the chain (T16 for TCB info; T20 for QE identity) and of the signature (T17 / T20). */
  chainCheck: string;
  signatureCheck: string;
  member: SignedJsonMember;
  what: string;
}

function splitIssuerChain(artifact: CollateralArtifact, check: string): CertificateInfo[] {
  const pem = artifact.issuerChainPem;
  if (pem === undefined || pem.length === 0) fail('CHAIN', check, `${artifact.kind} has no issuer chain`, { artifact: artifact.key });
  let ders: Uint8Array[];
  try {
    ders = splitPemCertificates(pem);
  } catch (err) {
    if (err instanceof TeeVerifyError) fail('CHAIN', check, `${artifact.kind} issuer chain is not strict PEM`, { code: err.code });
    throw err;
  }
  if (ders.length !== 2) fail('CHAIN', check, `issuer chain holds ${ders.length} certificates, expected TCB Signing and root`, { count: ders.length });
  return ders.map((der, i) => parseChainCertificate(der, check, i === 0 ? 'TCB Signing' : 'root'));
}

/** T16 (and T20's chain): TCB Signing ‖ root, pinned, exact DN, signed, current, not revoked. */
function verifySigningChain(ctx: VerifyContext, artifact: CollateralArtifact, root: CertificateInfo, rootCrl: CrlInfo | undefined, check: string): CertificateInfo {
  const [signer, chainRoot] = splitIssuerChain(artifact, check) as [CertificateInfo, CertificateInfo];
  const signed = certificateSignedBy(ctx, signer, chainRoot); // T16 / T20: verified whatever else fails (V04)
  if (!sameBytes(chainRoot.der, root.der)) fail('CHAIN', check, 'issuer chain root is not the pinned root of the PCK chain'); // T16: root pinned
  const dn = expectedDn(root, INTEL_CN.tcbSigning, check);
  if (signer.subject !== dn) fail('CHAIN', check, 'signer DN is not the exact Intel SGX TCB Signing DN', { subject: signer.subject, expected: dn });
  if (signer.issuer !== root.subject) fail('CHAIN', check, 'TCB Signing certificate is not issued by the root');
  if (!signed) fail('CHAIN', check, 'TCB Signing certificate is not signed by the root');
  if (signer.basicConstraints?.ca === true || signer.publicKey.kind !== 'ec' || signer.publicKey.curve !== 'P-256') {
    fail('CHAIN', check, 'TCB Signing certificate is a CA or has no EC P-256 key');
  }
  requireProcessedExtensions(signer, check, 'TCB Signing');
  if (!keyUsageAllows(signer, 'digitalSignature')) fail('CHAIN', check, 'TCB Signing keyUsage does not allow digital signatures', { keyUsage: signer.keyUsage });
  requireCurrent(ctx, check, 'TCB Signing certificate', signer.notBefore, signer.notAfter);
  // T16: not revoked by the Root CA CRL
  if (rootCrl?.revokedSerials.has(signer.serialNumber)) fail('REVOKED', check, 'TCB Signing certificate is listed in the Root CA CRL', { serial: signer.serialNumber });
  return signer;
}

/**
 * T17 / T20: the document parsed strictly. A parse failure is the document's
 * own check (T17 for the TCB info, T20 for the QE identity) naming the
 * artifact (details.artifact), not the parser's X05 / X06 alone: the two
 * documents' failures were the same error but for a byte offset, and
 * verifyEvidence could not tell which cached document to discard (review s13
 * intel #2). The parser's check id stays in details.jsonCheck, its error as
 * the cause.
 */
function parseSigned(artifact: CollateralArtifact, step: Step): SignedJson {
  try {
    return parseSignedJson(artifact.body, step.member);
  } catch (err) {
    if (!(err instanceof TeeVerifyError)) throw err;
    const reason = typeof err.details['reason'] === 'string' ? err.details['reason'] : err.message;
    const details: Record<string, unknown> = { artifact: artifact.key, reason, jsonCheck: err.check };
    if (err.offset !== undefined) details['offset'] = err.offset;
    throw new VerificationError('COLLATERAL_FORMAT', step.signatureCheck, `${step.what} is not a well-formed signed document: ${err.message}`, details, err);
  }
}

function verifySignedDocument(
  ctx: VerifyContext,
  artifact: CollateralArtifact,
  step: Step,
  root: CertificateInfo,
  rootCrl: CrlInfo | undefined,
): SignedDocument {
  const signer = verifySigningChain(ctx, artifact, root, rootCrl, step.chainCheck);
  if (step.chainCheck !== step.signatureCheck) {
    passed(ctx, step.chainCheck, `${step.what} issuer chain: TCB Signing (exact DN) signed by the pinned root, current, ${rootCrl ? 'not revoked' : 'revocation not checked'}`);
  }
  const doc = parseSigned(artifact, step); // T17 / T20: exactly {member, signature}, strict JSON (X05, X06)
  if (!p256SignedBy(ctx, doc.signedBytes, doc.signature, signer.publicKey)) {
    fail('COLLATERAL_SIG', step.signatureCheck, `${step.what} signature does not verify over the exact "${step.member}" bytes`, { artifact: artifact.key });
  }
  const chainNote = step.chainCheck === step.signatureCheck ? 'issuer chain TCB Signing ‖ pinned root verified; ' : '';
  passed(ctx, step.signatureCheck, `${step.what}: ${chainNote}signature over the exact ${doc.signedBytes.length} signed bytes verifies`);
  return { value: doc.value, signer };
}

function requireArtifact(artifact: CollateralArtifact | undefined, kind: CollateralArtifact['kind'], check: string, what: string): CollateralArtifact {
  if (artifact === undefined) fail('COLLATERAL_UNAVAILABLE', check, `no ${what} was supplied`);
  if (artifact.kind !== kind) fail('COLLATERAL_MISMATCH', check, `expected a ${kind} artifact, got ${artifact.kind}`, { artifact: artifact.key });
  return artifact;
}

/** T16, T17: the TCB info document, authenticated. */
export function verifyTcbInfoSignature(ctx: VerifyContext, artifact: CollateralArtifact | undefined, root: CertificateInfo, rootCrl: CrlInfo | undefined): SignedDocument {
  const a = requireArtifact(artifact, 'intel-tcb-info', 'T16', 'TCB info');
  return verifySignedDocument(ctx, a, { chainCheck: 'T16', signatureCheck: 'T17', member: 'tcbInfo', what: 'TCB info' }, root, rootCrl);
}

/** T20: the QE identity document, authenticated (chain as T16). */
export function verifyQeIdentitySignature(ctx: VerifyContext, artifact: CollateralArtifact, root: CertificateInfo, rootCrl: CrlInfo | undefined): SignedDocument {
  const a = requireArtifact(artifact, 'intel-qe-identity', 'T20', 'QE identity');
  return verifySignedDocument(ctx, a, { chainCheck: 'T20', signatureCheck: 'T20', member: 'enclaveIdentity', what: 'QE identity' }, root, rootCrl);
}
