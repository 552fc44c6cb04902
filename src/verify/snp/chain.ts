/**
 * Step B1 (checklist §4.3, S07, S08, S37, S38): the pinned ARK of the
 * report's product and the pinned intermediate its SIGNING_KEY selects (ASK
 * for a VCEK, ASVK for a VLEK). Certificates that travel with the evidence are
 * never trusted: when supplied they must equal the pins byte for byte.
 */
import type { SnpProduct } from '../../evidence/types.js';
import type { CertificateInfo } from '../../x509/index.js';
import type { AmdProductAnchors } from '../roots/index.js';
import { fail } from '../errors.js';
import type { SnpContext } from './context.js';
import { checkValidity, parsePinned, sameBytes, verifySignatureMemo } from './x509-checks.js';

export type SigningKeyKind = 'vcek' | 'vlek';

export interface PinnedChain {
  ark: CertificateInfo;
  /** ASK (VCEK) or ASVK (VLEK). */
  intermediate: CertificateInfo;
}

const KDS_BASE = 'https://kdsintf.amd.com';
const LOCATION_ATTRIBUTES = ['OU', 'C', 'L', 'ST', 'O'] as const;

export const intermediateName = (kind: SigningKeyKind): string => (kind === 'vcek' ? 'ASK' : 'ASVK');
const intermediateCn = (kind: SigningKeyKind, product: SnpProduct): string => (kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`);

function extensionCritical(cert: CertificateInfo, oid: string): boolean {
  return cert.extensions.some((e) => e.oid === oid && e.critical);
}

function anchorsFor(product: SnpProduct, ctx: SnpContext): AmdProductAnchors {
  const anchors = ctx.trustRoots.amd[product];
  if (anchors === undefined) fail('CHAIN', 'S07', `trust roots "${ctx.trustRoots.label}" pin no ARK for ${product}`, { product });
  return anchors;
}

/** S07: the ARK is the pin for the product: self-issued, CA, self-signature RSASSA-PSS, valid now. */
function checkArk(anchors: AmdProductAnchors, product: SnpProduct, ctx: SnpContext): CertificateInfo {
  const ark = parsePinned(anchors.ark, 'S07', `pinned ARK-${product}`);
  if (ark.subjectAttributes.CN !== `ARK-${product}`) fail('CHAIN', 'S07', `pinned ARK is "${ark.subject}", not ARK-${product}`, { subject: ark.subject });
  if (!sameBytes(ark.subjectDer, ark.issuerDer)) fail('CHAIN', 'S07', 'pinned ARK is not self-issued', { subject: ark.subject, issuer: ark.issuer });
  if (ark.basicConstraints?.ca !== true) fail('CHAIN', 'S07', 'pinned ARK is not a CA');
  if (ark.publicKey.kind !== 'rsa') fail('CHAIN', 'S07', 'pinned ARK key is not RSA');
  // S07: ARK self-signature, RSASSA-PSS SHA-384
  if (!verifySignatureMemo(ctx, ark, ark.publicKey, 'CHAIN', 'S07', 'ARK')) fail('CHAIN', 'S07', 'ARK self-signature does not verify');
  checkValidity(ark, ctx, 'S07', `ARK-${product}`);
  return ark;
}

/** S37, S38: a supplied [intermediate, ARK] must be exactly the pins of this product and key kind. */
function checkSuppliedChain(supplied: Uint8Array[] | undefined, anchors: AmdProductAnchors, kind: SigningKeyKind, ctx: SnpContext): void {
  if (supplied === undefined) return;
  if (!Array.isArray(supplied) || supplied.length < 1 || supplied.length > 2) {
    fail('CHAIN', 'S10', 'a supplied chain must be [ASK or ASVK] or [ASK or ASVK, ARK]: the chain is exactly ARK -> intermediate -> leaf', {
      length: Array.isArray(supplied) ? supplied.length : null,
    });
  }
  const [intermediate, ark] = supplied;
  const pinned = kind === 'vcek' ? anchors.ask : anchors.asvk;
  const otherKind: SigningKeyKind = kind === 'vcek' ? 'vlek' : 'vcek';
  const other = kind === 'vcek' ? anchors.asvk : anchors.ask;
  // S37: the ARK that travels with the evidence must equal the pin (never trusted by itself).
  if (ark !== undefined && !(ark instanceof Uint8Array && sameBytes(ark, anchors.ark))) fail('CHAIN', 'S37', 'the supplied ARK is not the pinned ARK of this product');
  if (intermediate instanceof Uint8Array && sameBytes(intermediate, other)) {
    // S38: an ASVK supplied for a VCEK-signed report, or an ASK for a VLEK-signed one
    fail('SNP_SIGNER', 'S38', `the report is signed by the ${kind.toUpperCase()}, but the supplied intermediate is the ${intermediateName(otherKind)}`);
  }
  // S37: the supplied intermediate must equal the pinned ASK / ASVK.
  if (!(intermediate instanceof Uint8Array && sameBytes(intermediate, pinned))) fail('CHAIN', 'S37', `the supplied intermediate is not the pinned ${intermediateName(kind)} of this product`);
  ctx.pass('S37', 'the supplied chain equals the pinned certificates');
}

/** S08: the intermediate for SIGNING_KEY: CN, issuer, AMD location, CA profile, CRL DP, ARK signature, validity. */
function checkIntermediate(anchors: AmdProductAnchors, ark: CertificateInfo, kind: SigningKeyKind, product: SnpProduct, ctx: SnpContext): CertificateInfo {
  const name = intermediateName(kind);
  const cert = parsePinned(kind === 'vcek' ? anchors.ask : anchors.asvk, 'S08', `pinned ${name}`);
  const cn = cert.subjectAttributes.CN;
  if (cn === intermediateCn(kind === 'vcek' ? 'vlek' : 'vcek', product)) fail('SNP_SIGNER', 'S08', `the ${name} pin is "${cn}", an intermediate for the other key kind`);
  if (cn !== intermediateCn(kind, product)) fail('CHAIN', 'S08', `${name} CN is "${cn ?? ''}", expected ${intermediateCn(kind, product)}`, { subject: cert.subject });
  if (!sameBytes(cert.issuerDer, ark.subjectDer)) fail('CHAIN', 'S08', `${name} issuer is not the ARK`, { issuer: cert.issuer, ark: ark.subject });
  for (let i = 0; i < LOCATION_ATTRIBUTES.length; i++) {
    const a = LOCATION_ATTRIBUTES[i]!;
    if (cert.subjectAttributes[a] === undefined || cert.subjectAttributes[a] !== ark.subjectAttributes[a]) {
      fail('CHAIN', 'S08', `${name} subject ${a} differs from the ARK's location`, { attribute: a, subject: cert.subject });
    }
  }
  if (cert.basicConstraints?.ca !== true || cert.basicConstraints.pathLength !== 0 || !extensionCritical(cert, '2.5.29.19')) {
    fail('CHAIN', 'S08', `${name} is not a critical CA:TRUE, pathlen:0`, { basicConstraints: cert.basicConstraints ?? null });
  }
  if (!cert.keyUsage?.includes('keyCertSign') || !extensionCritical(cert, '2.5.29.15')) fail('CHAIN', 'S08', `${name} keyUsage is not critical keyCertSign`);
  const crlUrl = `${KDS_BASE}/${kind}/v1/${product}/crl`;
  if (cert.crlDistributionPoints.length !== 1 || cert.crlDistributionPoints[0] !== crlUrl) {
    fail('CHAIN', 'S08', `${name} CRL distribution point is not ${crlUrl}`, { crlDistributionPoints: cert.crlDistributionPoints });
  }
  if (cert.publicKey.kind !== 'rsa') fail('CHAIN', 'S08', `${name} key is not RSA`);
  // S08: intermediate signed by the ARK (RSASSA-PSS SHA-384)
  if (!verifySignatureMemo(ctx, cert, ark.publicKey, 'CHAIN', 'S08', name)) fail('CHAIN', 'S08', `${name} is not signed by the ARK`);
  checkValidity(cert, ctx, 'S08', name);
  return cert;
}

export function checkPinnedChain(product: SnpProduct, kind: SigningKeyKind, supplied: Uint8Array[] | undefined, ctx: SnpContext): PinnedChain {
  const anchors = anchorsFor(product, ctx);
  const ark = checkArk(anchors, product, ctx);
  ctx.pass('S07', `ARK-${product} is the pinned root, self-signed (RSASSA-PSS) and valid`);
  checkSuppliedChain(supplied, anchors, kind, ctx);
  const intermediate = checkIntermediate(anchors, ark, kind, product, ctx);
  ctx.pass('S08', `${intermediateName(kind)} for SIGNING_KEY ${kind.toUpperCase()} is the pin, signed by the ARK, CA pathlen 0, valid`);
  return { ark, intermediate };
}
