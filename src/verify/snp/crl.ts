/**
 * Step B2 (checklist §4.3 CRLs, S09, X02, X04): the ARK-signed CRL that
 * covers the intermediate. Fail closed: no CRL is COLLATERAL_UNAVAILABLE
 * unless the caller named the `skipCrl` relaxation (then a warning). The VCEK
 * serial is never looked up (KDS VCEKs all carry serial 0); the VLEK's is.
 */
import { unprocessedCriticalCrlExtensions, type CrlInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import { graceWarning, withinGrace } from '../grace.js';
import { intermediateName, type PinnedChain, type SigningKeyKind } from './chain.js';
import type { SnpContext } from './context.js';
import { parseCrlFor, sameBytes, verifySignatureMemo } from './x509-checks.js';

function checkWindow(crl: CrlInfo, ctx: SnpContext): void {
  const t = ctx.at.getTime();
  if (!(crl.thisUpdate.getTime() <= t)) fail('EXPIRED', 'S09', `CRL is not valid before ${crl.thisUpdate.toISOString()}`, { thisUpdate: crl.thisUpdate.toISOString(), at: ctx.at.toISOString() });
  // X02: a CRL without nextUpdate is never current.
  if (crl.nextUpdate === undefined) fail('EXPIRED', 'S09', 'CRL has no nextUpdate');
  if (withinGrace(t, crl.nextUpdate, ctx.collateralGraceMs)) {
    ctx.warnings.push(graceWarning('S09', 'AMD CRL', crl.nextUpdate, ctx.collateralGraceMs));
    return;
  }
  if (!(t <= crl.nextUpdate.getTime())) fail('EXPIRED', 'S09', `CRL expired at ${crl.nextUpdate.toISOString()}`, { nextUpdate: crl.nextUpdate.toISOString(), at: ctx.at.toISOString() });
}

/**
 * Returns the CRL used, or undefined when none was given and `skipCrl` is on.
 * `vlekSerial` is the VLEK's serial (VLEK reports only).
 */
export function checkCrl(crlBytes: Uint8Array | undefined, chain: PinnedChain, kind: SigningKeyKind, vlekSerial: string | undefined, ctx: SnpContext): CrlInfo | undefined {
  const name = intermediateName(kind);
  if (crlBytes === undefined) {
    if (ctx.relaxations.skipCrl !== true) fail('COLLATERAL_UNAVAILABLE', 'S09', `no CRL for the ${name}: revocation cannot be checked`);
    ctx.warnings.push(`skipCrl: no CRL was checked; revocation of the ${name}${kind === 'vlek' ? ' and the VLEK' : ''} is unknown`);
    return undefined;
  }
  const crl = parseCrlFor(crlBytes, 'S09');
  const { ark, intermediate } = chain;
  // X04: the CRL belongs to the ARK by name and key identifier.
  if (!sameBytes(crl.issuerDer, ark.subjectDer)) fail('COLLATERAL_MISMATCH', 'S09', 'CRL issuer is not the ARK of this product', { issuer: crl.issuer, ark: ark.subject });
  // S40: no "skip if absent": every KDS CRL names its issuer's key, so one without an AKI is not AMD's format.
  if (crl.authorityKeyId === undefined) fail('COLLATERAL_FORMAT', 'S09', 'CRL lacks the authority key identifier extension');
  if (ark.subjectKeyId !== undefined && crl.authorityKeyId !== ark.subjectKeyId) {
    fail('COLLATERAL_MISMATCH', 'S09', 'CRL authority key identifier is not the ARK key', { authorityKeyId: crl.authorityKeyId, arkKeyId: ark.subjectKeyId });
  }
  if (!ark.keyUsage?.includes('cRLSign')) fail('COLLATERAL_SIG', 'S09', 'the ARK key usage does not allow signing CRLs');
  // S09: CRL signed by the ARK (RSASSA-PSS SHA-384)
  if (!verifySignatureMemo(ctx, crl, ark.publicKey, 'COLLATERAL_SIG', 'S09', 'CRL')) fail('COLLATERAL_SIG', 'S09', 'CRL is not signed by the ARK');
  // RFC 5280 §5.2 / §5.3: a partial, delta or indirect CRL we cannot interpret is no revocation answer.
  const unknown = unprocessedCriticalCrlExtensions(crl);
  if (unknown.crl.length > 0 || unknown.entries.length > 0) {
    fail('COLLATERAL_FORMAT', 'S09', `CRL has a critical extension this verifier does not process: ${[...unknown.crl, ...unknown.entries.map((o) => `${o} (entry)`)].join(', ')}`, unknown);
  }
  checkWindow(crl, ctx); // S09: thisUpdate <= at <= nextUpdate
  // S09: the intermediate's serial (and the VLEK's) must not be listed.
  if (crl.revokedSerials.has(intermediate.serialNumber)) fail('REVOKED', 'S09', `the ${name} is revoked`, { serial: intermediate.serialNumber });
  if (vlekSerial !== undefined && crl.revokedSerials.has(vlekSerial)) fail('REVOKED', 'S09', 'the VLEK is revoked', { serial: vlekSerial });
  ctx.pass('S09', `ARK-signed CRL is current and lists neither the ${name}${kind === 'vlek' ? ' nor the VLEK' : ''}`);
  return crl;
}
