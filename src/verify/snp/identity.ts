/**
 * The collateral a verification used (result.collateral): the pinned chain,
 * the VCEK / VLEK and the CRL, each with its own validity window, and the
 * earliest expiry, until which the result is usable (X16). The VCEK is
 * identified by (product, hwID, TCB), never by its serial (S35).
 */
import type { SnpProduct } from '../../evidence/types.js';
import { artifactKey } from '../../collateral/keys.js';
import type { AmdKdsExtension, CertificateInfo, CrlInfo } from '../../x509/index.js';
import type { CollateralIdentity } from '../types.js';
import type { PinnedChain, SigningKeyKind } from './chain.js';
import type { AmdCollateralInput } from './types.js';

type Artifact = CollateralIdentity['artifacts'][number];

function leafKey(product: SnpProduct, kind: SigningKeyKind, ext: AmdKdsExtension, leaf: CertificateInfo): string {
  const tcb = { bootloader: ext.blSPL, tee: ext.teeSPL, snp: ext.snpSPL, microcode: ext.ucodeSPL, ...(ext.fmcSPL === undefined ? {} : { fmc: ext.fmcSPL }) };
  // S35: a VCEK is (product, hwID, full TCB incl. FMC); VLEKs have no hwID and are named by CSP and serial.
  if (kind === 'vcek' && ext.hwId !== undefined) return artifactKey.vcek({ product, hwId: ext.hwId, ...tcb });
  return `amd/vlek/${product}/${encodeURIComponent(ext.cspId ?? '')}/${leaf.serialNumber}`;
}

/**
 * ISO text by instant: a platform's chain, VCEK and CRL bring the same few
 * dates to every result, and formatting them was a visible part of a warm
 * verification. Keyed by the time value (a string is immutable); bounded.
 */
const isoByTime = new Map<number, string>();
const MAX_ISO = 256;

function iso(d: Date): string {
  const t = d.getTime();
  let text = isoByTime.get(t);
  if (text === undefined) {
    text = d.toISOString(); // throws for an invalid Date, as before
    if (isoByTime.size >= MAX_ISO) isoByTime.delete(isoByTime.keys().next().value as number);
    isoByTime.set(t, text);
  }
  return text;
}
const later = (a: Date, b: Date) => (a.getTime() >= b.getTime() ? a : b);
const earlier = (a: Date, b: Date) => (a.getTime() <= b.getTime() ? a : b);

export function collateralIdentity(
  input: AmdCollateralInput,
  used: { product: SnpProduct; kind: SigningKeyKind; chain: PinnedChain; leaf: CertificateInfo; ext: AmdKdsExtension; crl: CrlInfo | undefined },
): CollateralIdentity {
  const { product, kind, chain, leaf, ext, crl } = used;
  const p = input.provenance ?? {};
  const artifacts: Artifact[] = [
    {
      key: p.certChain?.key ?? artifactKey.certChain(product, kind),
      kind: 'amd-cert-chain',
      origin: 'pinned', // the chain used is always the trust roots', whatever travelled with the evidence
      notBefore: iso(later(chain.ark.notBefore, chain.intermediate.notBefore)),
      notAfter: iso(earlier(chain.ark.notAfter, chain.intermediate.notAfter)),
    },
    {
      key: p.signingCertificate?.key ?? leafKey(product, kind, ext, leaf),
      kind: kind === 'vcek' ? 'amd-vcek' : 'amd-vlek',
      origin: p.signingCertificate?.origin ?? 'caller',
      notBefore: iso(leaf.notBefore),
      notAfter: iso(leaf.notAfter),
    },
  ];
  if (crl !== undefined && crl.nextUpdate !== undefined) {
    const entry: Artifact = {
      key: p.crl?.key ?? artifactKey.amdCrl(product, kind),
      kind: 'amd-crl',
      origin: p.crl?.origin ?? 'caller',
      notBefore: iso(crl.thisUpdate),
      notAfter: iso(crl.nextUpdate),
    };
    if (crl.crlNumber !== undefined) entry.sequence = crl.crlNumber.toString();
    artifacts.push(entry);
  }
  const earliest = artifacts.reduce((min, a) => (a.notAfter < min ? a.notAfter : min), artifacts[0]?.notAfter ?? '');
  return { artifacts, earliestExpiry: earliest };
}
