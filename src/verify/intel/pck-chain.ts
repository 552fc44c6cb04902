/**
 * Section B (T08–T12, T15): the PCK certificate chain carried in the quote,
 * leaf ‖ intermediate ‖ root. The chain bytes are signed by nothing (§2.2):
 * the root is trusted only because its DER equals a pinned root, and each
 * link only because its signature verifies. Every link's signature is
 * checked before any name comparison can fail (V04).
 */
import { EvidenceParseError, TeeVerifyError } from '../../errors.js';
import { pckChainCertificates } from '../../evidence/pck-chain.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import {
  keyUsageAllows,
  parseCertificate,
  parseIntelSgxExtension,
  unprocessedCriticalExtensions,
  splitPckCertChain,
  type CertificateInfo,
  type PckCaKind,
  type PckSgxExtension,
} from '../../x509/index.js';
import { fail } from '../errors.js';
import { sameBytes } from './bytes.js';
import { passed, type VerifyContext } from './context.js';
import { INTEL_CN, expectedDn, pckCaCommonName } from './names.js';
import { certificateSignedBy } from './signatures.js';
import { requireCurrent } from './time.js';

export interface PckChain {
  leaf: CertificateInfo;
  intermediate: CertificateInfo;
  root: CertificateInfo;
  caKind: PckCaKind;
}

/** Parses one certificate of a chain; malformed DER is PARSE with the given check id. */
export function parseChainCertificate(der: Uint8Array, check: string, role: string): CertificateInfo {
  try {
    return parseCertificate(der);
  } catch (err) {
    if (err instanceof TeeVerifyError && err.errorClass === 'PARSE') {
      throw new EvidenceParseError(err.code, `${check}: ${role} certificate: ${err.message}`, { check, cause: err });
    }
    if (err instanceof TeeVerifyError) fail('CHAIN', check, `${role} certificate is outside the Intel profile: ${err.message}`, { code: err.code });
    throw err;
  }
}

/** T08: exactly three strict PEM certificates. */
function splitChain(ctx: VerifyContext, quote: TdxQuote | SgxQuote): Omit<PckChain, 'caKind'> {
  const pem = quote.signatureData.pckCertChainPem;
  let ders = pckChainCertificates(pem); // T08: strict PEM CERTIFICATE blocks of strict DER
  if (ders.length !== 3) ders = splitPckCertChain(pem); // T08: exactly 3 (throws the typed error)
  const [leafDer, intermediateDer, rootDer] = ders as [Uint8Array, Uint8Array, Uint8Array];
  const chain = {
    leaf: parseChainCertificate(leafDer, 'T08', 'PCK leaf'),
    intermediate: parseChainCertificate(intermediateDer, 'T08', 'PCK CA'),
    root: parseChainCertificate(rootDer, 'T08', 'root'),
  };
  passed(ctx, 'T08', 'PCK chain: exactly 3 strict PEM certificates (leaf, intermediate, root)');
  return chain;
}

/** T09: the root is byte-identical to a pinned root. */
function checkRootPinned(ctx: VerifyContext, root: CertificateInfo): void {
  // T09: pinned by exact DER (which pins the key), never by name or because it came with the quote
  let pinned = false;
  for (const candidate of ctx.trustRoots.intelRootCas) if (sameBytes(candidate, root.der)) pinned = true;
  if (!pinned) {
    fail('CHAIN', 'T09', `the chain's root is not a pinned Intel SGX Root CA (trust roots "${ctx.trustRoots.label}")`, { root: root.subject });
  }
  passed(ctx, 'T09', `root certificate is byte-identical to a pinned root (${ctx.trustRoots.label})`);
}

function isP256(cert: CertificateInfo): boolean {
  return cert.publicKey.kind === 'ec' && cert.publicKey.curve === 'P-256';
}

function caKindOf(cert: CertificateInfo): PckCaKind | undefined {
  const cn = cert.subjectAttributes.CN;
  return cn === INTEL_CN.platformCa ? 'platform' : cn === INTEL_CN.processorCa ? 'processor' : undefined;
}

/**
 * RFC 5280 §4.2: a critical extension these checks do not process rejects
 * the certificate (x509/critical.ts); `check` is the role's check id.
 */
export function requireProcessedExtensions(cert: CertificateInfo, check: string, role: string): void {
  const unknown = unprocessedCriticalExtensions(cert.extensions);
  if (unknown.length > 0) fail('CHAIN', check, `${role} certificate has a critical extension this verifier does not process: ${unknown.join(', ')}`, { extensions: unknown });
}

/** T10: Platform / Processor CA: exact DN, issued and signed by the root, CA, v3, P-256. */
function checkIntermediate(ctx: VerifyContext, chain: Omit<PckChain, 'caKind'>): PckCaKind {
  const { intermediate: ca, root } = chain;
  const signed = certificateSignedBy(ctx, ca, root); // T10: verified whatever else fails (V04)
  const caKind = caKindOf(ca);
  if (caKind === undefined) fail('CHAIN', 'T10', 'intermediate CN is neither Intel SGX PCK Platform CA nor Processor CA', { subject: ca.subject });
  const dn = expectedDn(root, pckCaCommonName(caKind), 'T10');
  if (ca.subject !== dn) fail('CHAIN', 'T10', 'intermediate DN is not the exact PCK CA DN', { subject: ca.subject, expected: dn });
  if (ca.issuer !== root.subject) fail('CHAIN', 'T10', 'intermediate issuer is not the root', { issuer: ca.issuer });
  if (!signed) fail('CHAIN', 'T10', 'intermediate is not signed by the root');
  if (ca.version !== 3 || ca.basicConstraints?.ca !== true) fail('CHAIN', 'T10', 'intermediate is not an X.509 v3 CA certificate');
  if (!isP256(ca)) fail('CHAIN', 'T10', 'intermediate key is not EC P-256');
  requireProcessedExtensions(ca, 'T10', 'intermediate');
  if (!keyUsageAllows(ca, 'keyCertSign')) fail('CHAIN', 'T10', 'intermediate keyUsage does not allow signing certificates', { keyUsage: ca.keyUsage });
  passed(ctx, 'T10', `${pckCaCommonName(caKind)}: exact DN, issued and signed by the root, CA, P-256`);
  return caKind;
}

/** T11: PCK leaf: exact DN, issuer = intermediate, signed by it, not a CA, P-256. */
function checkLeaf(ctx: VerifyContext, chain: Omit<PckChain, 'caKind'>): void {
  const { leaf, intermediate: ca, root } = chain;
  const signed = certificateSignedBy(ctx, leaf, ca); // T11: verified whatever else fails (V04)
  const dn = expectedDn(root, INTEL_CN.pckLeaf, 'T11');
  if (leaf.subject !== dn) fail('CHAIN', 'T11', 'leaf DN is not the exact PCK Certificate DN', { subject: leaf.subject, expected: dn });
  if (leaf.issuer !== ca.subject) fail('CHAIN', 'T11', 'leaf issuer is not the intermediate', { issuer: leaf.issuer });
  const aki = leaf.authorityKeyId;
  const ski = ca.subjectKeyId;
  if (aki !== undefined && ski !== undefined && (aki.length === 0 || aki !== ski)) fail('CHAIN', 'T11', 'leaf AKI does not name the intermediate SKI');
  if (!signed) fail('CHAIN', 'T11', 'leaf is not signed by the intermediate');
  if (leaf.basicConstraints?.ca === true) fail('CHAIN', 'T11', 'leaf is a CA certificate');
  if (leaf.version !== 3 || !isP256(leaf)) fail('CHAIN', 'T11', 'leaf is not an X.509 v3 certificate with an EC P-256 key');
  requireProcessedExtensions(leaf, 'T11', 'leaf');
  // T11: the PCK key signs the QE report (T22)
  if (!keyUsageAllows(leaf, 'digitalSignature')) fail('CHAIN', 'T11', 'leaf keyUsage does not allow digital signatures', { keyUsage: leaf.keyUsage });
  passed(ctx, 'T11', 'PCK Certificate: exact DN, issued and signed by the intermediate, not a CA, P-256');
}

/** T12: notBefore <= now <= notAfter for all three (QVL checks notAfter only). */
function checkDates(ctx: VerifyContext, chain: Omit<PckChain, 'caKind'>): void {
  requireCurrent(ctx, 'T12', 'root certificate', chain.root.notBefore, chain.root.notAfter); // T12
  requireCurrent(ctx, 'T12', 'PCK CA certificate', chain.intermediate.notBefore, chain.intermediate.notAfter); // T12
  requireCurrent(ctx, 'T12', 'PCK leaf certificate', chain.leaf.notBefore, chain.leaf.notAfter); // T12
  passed(ctx, 'T12', 'root, intermediate and leaf are inside their validity periods');
}

/** T08–T12. */
export function verifyPckChain(ctx: VerifyContext, quote: TdxQuote | SgxQuote): PckChain {
  const chain = splitChain(ctx, quote);
  checkRootPinned(ctx, chain.root);
  const caKind = checkIntermediate(ctx, chain);
  checkLeaf(ctx, chain);
  checkDates(ctx, chain);
  return { ...chain, caKind };
}

/** T15: the SGX extension of the leaf, exactly per §2.3 for its CA kind. */
export function decodePckExtension(ctx: VerifyContext, chain: PckChain): PckSgxExtension {
  const ext = parseIntelSgxExtension(chain.leaf, { caKind: chain.caKind }); // T15: throws PARSE ERR_BAD_EXTENSION
  passed(ctx, 'T15', `SGX extension: ${chain.caKind === 'platform' ? 7 : 5} entries, FMSPC ${ext.fmspc}, PCE-ID ${ext.pceId}, PCESVN ${ext.tcb.pcesvn}`);
  return ext;
}
