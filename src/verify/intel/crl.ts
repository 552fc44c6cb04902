/**
 * T13 / T14: the Root CA CRL and the PCK CRL. Each CRL is bound to its
 * issuing CA by DN and by AKI = the CA's SKI (X04), signed by that CA's key,
 * current at `now` (X02), carries a CRL Number (anti-rollback, X03) and does
 * not list the certificate below it. Serials compare as canonical integers.
 */
import type { CollateralArtifact } from '../../collateral/artifact.js';
import { TeeVerifyError } from '../../errors.js';
import { keyUsageAllows, parseCrl, unprocessedCriticalCrlExtensions, type CertificateInfo, type CrlInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import { passed, relaxed, type VerifyContext } from './context.js';
import type { PckChain } from './pck-chain.js';
import { crlSignedBy } from './signatures.js';
import { requireCurrentCollateral } from './time.js';

function parse(artifact: CollateralArtifact, check: string, what: string): CrlInfo {
  try {
    return parseCrl(artifact.body);
  } catch (err) {
    if (err instanceof TeeVerifyError) fail('COLLATERAL_FORMAT', check, `${what} is not a DER X.509 CRL`, { artifact: artifact.key, code: err.code });
    throw err;
  }
}

interface CrlExpectation {
  check: string;
  what: string;
  issuer: CertificateInfo;
  /** The certificate whose serial must not be listed. */
  subject: CertificateInfo;
}

/** Issuer binding, signature, window, extensions and revocation of one CRL. */
function checkCrl(ctx: VerifyContext, crl: CrlInfo, e: CrlExpectation): void {
  const { check, what, issuer } = e;
  const signed = crlSignedBy(ctx, crl, issuer);
  if (crl.issuer !== issuer.subject) fail('COLLATERAL_MISMATCH', check, `${what} issuer is not ${issuer.subjectAttributes.CN ?? issuer.subject}`, { issuer: crl.issuer, expected: issuer.subject });
  if (crl.authorityKeyId === undefined || crl.crlNumber === undefined) fail('COLLATERAL_FORMAT', check, `${what} lacks the CRL Number or AKI extension`);
  if (issuer.subjectKeyId !== undefined && crl.authorityKeyId !== issuer.subjectKeyId) fail('COLLATERAL_MISMATCH', check, `${what} AKI does not name its issuer's key (X04)`);
  if (!signed) fail('COLLATERAL_SIG', check, `${what} signature does not verify with its issuer's key`);
  if (!keyUsageAllows(issuer, 'cRLSign')) fail('COLLATERAL_SIG', check, `${what} issuer's keyUsage does not allow signing CRLs`, { keyUsage: issuer.keyUsage });
  // RFC 5280 §5.2 / §5.3: a partial, delta or indirect CRL we cannot interpret is no revocation answer.
  const unknown = unprocessedCriticalCrlExtensions(crl);
  if (unknown.crl.length > 0 || unknown.entries.length > 0) {
    fail('COLLATERAL_FORMAT', check, `${what} has a critical extension this verifier does not process: ${[...unknown.crl, ...unknown.entries.map((o) => `${o} (entry)`)].join(', ')}`, unknown);
  }
  requireCurrentCollateral(ctx, check, what, crl.thisUpdate, crl.nextUpdate); // X02: thisUpdate <= now <= nextUpdate
  if (crl.revokedSerials.has(e.subject.serialNumber)) {
    fail('REVOKED', check, `${e.subject.subjectAttributes.CN ?? 'certificate'} serial ${e.subject.serialNumber} is listed in the ${what}`, { serial: e.subject.serialNumber });
  }
}

function requireKind(artifact: CollateralArtifact, kind: CollateralArtifact['kind'], check: string): void {
  if (artifact.kind !== kind) fail('COLLATERAL_MISMATCH', check, `expected a ${kind} artifact, got ${artifact.kind}`, { artifact: artifact.key });
}

/**
 * T13: Root CA CRL: issued and signed by the root, current, intermediate not
 * listed. Returns the CRL for T16 / T20, or undefined when skipped (skipCrl).
 * A relaxation applies only when its flag is exactly `true` (as on the SEV-SNP
 * side): a truthy string from a loosely typed config must not relax.
 */
export function checkRootCaCrl(ctx: VerifyContext, artifact: CollateralArtifact | undefined, chain: PckChain): CrlInfo | undefined {
  if (artifact === undefined) {
    if (ctx.relaxations.skipCrl !== true) fail('COLLATERAL_UNAVAILABLE', 'T13', 'no Root CA CRL was supplied');
    relaxed(ctx, 'T13', 'no Root CA CRL (relaxation skipCrl): PCK CA and TCB Signing revocation by the root not checked');
    return undefined;
  }
  requireKind(artifact, 'intel-root-ca-crl', 'T13');
  const crl = parse(artifact, 'T13', 'Root CA CRL');
  checkCrl(ctx, crl, { check: 'T13', what: 'Root CA CRL', issuer: chain.root, subject: chain.intermediate }); // T13
  passed(ctx, 'T13', `Root CA CRL: issued and signed by the root, current, PCK CA not revoked (${crl.revokedCount} entries)`);
  return crl;
}

/** T14: PCK CRL: issuer = the leaf's issuer, signed by the intermediate, current, leaf not listed. Returns the CRL (its nextUpdate bounds the result's earliestExpiry), or undefined when skipped. */
export function checkPckCrl(ctx: VerifyContext, artifact: CollateralArtifact | undefined, chain: PckChain): CrlInfo | undefined {
  if (artifact === undefined) {
    if (ctx.relaxations.skipCrl !== true) fail('COLLATERAL_UNAVAILABLE', 'T14', 'no PCK CRL was supplied');
    relaxed(ctx, 'T14', 'no PCK CRL (relaxation skipCrl): PCK leaf revocation not checked');
    return undefined;
  }
  requireKind(artifact, 'intel-pck-crl', 'T14');
  const crl = parse(artifact, 'T14', 'PCK CRL');
  // T14: the CRL of the CA that issued this leaf (Platform vs Processor, QVL 4.1.2.4.6).
  checkCrl(ctx, crl, { check: 'T14', what: 'PCK CRL', issuer: chain.intermediate, subject: chain.leaf });
  passed(ctx, 'T14', `PCK CRL: issued and signed by the ${chain.caKind} CA, current, PCK leaf not revoked (${crl.revokedCount} entries)`);
  return crl;
}
