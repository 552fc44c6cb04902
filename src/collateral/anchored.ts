/**
 * Whether an artifact's signatures lead to given trust roots. Used only to
 * rank a cached version against an explicit bundle's (X03, provider.ts): a
 * cached version may overrule the bundle only when it is provably genuine
 * under the roots the verification will use. It never makes anything trusted:
 * the verifier checks every artifact it uses itself (validity windows are
 * the caller's: the cache selects by window before this runs).
 */
import type { TrustRoots } from '../verify/roots/index.js';
import { parseCertificate, verifyCertificateSignature, type CertificateInfo } from '../x509/index.js';
import type { CollateralArtifact } from './artifact.js';
import type { AmdProduct } from './keys.js';
import { chainOf, checkArtifactSignatures, checkChainLinks } from './signatures.js';

const sameDer = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** The top of a chain is a root itself (same DER) or is signed by one. */
function endsInRoot(top: CertificateInfo, roots: readonly CertificateInfo[]): boolean {
  return roots.some((root) => sameDer(top.der, root.der) || verifies(top, root));
}

function verifies(child: CertificateInfo, parent: CertificateInfo): boolean {
  try {
    return verifyCertificateSignature(child, parent.publicKey);
  } catch {
    return false;
  }
}

function allPass(run: () => { ok: boolean }[]): boolean {
  try {
    return run().every((c) => c.ok);
  } catch {
    return false; // unparsable chain or document: not anchored
  }
}

/** `amd/<kind>/<product>/...` keys name their product third. */
function productOf(key: string): AmdProduct | undefined {
  const p = key.split('/')[2];
  return p === 'Milan' || p === 'Genoa' || p === 'Turin' ? p : undefined;
}

/**
 * True when `artifact` is signed, link by link, up to one of `roots`: Intel
 * TCB info, QE identity and PCK CRL through their issuer chain to an Intel
 * root CA, the Root CA CRL by a pinned Intel root CA itself; AMD chains equal
 * the pinned intermediate and ARK of their product, a CRL is signed by the
 * pinned ARK, a VCEK by the ASK. X03: the two root-signed CRLs are checked
 * against the pinned certificate directly; a chain attached to them is
 * ignored (and refused where artifacts enter, validate.ts). False for
 * anything else (a VLEK never comes from a cache or bundle).
 */
export function chainsToRoots(artifact: CollateralArtifact, roots: TrustRoots): boolean {
  try {
    return anchored(artifact, roots);
  } catch {
    return false;
  }
}

function anchored(a: CollateralArtifact, roots: TrustRoots): boolean {
  switch (a.kind) {
    case 'intel-tcb-info':
    case 'intel-qe-identity':
    case 'intel-pck-crl': {
      const chain = chainOf(a);
      const top = chain[chain.length - 1];
      return top !== undefined && endsInRoot(top, roots.intelRootCas.map(parseCertificate)) && allPass(() => checkArtifactSignatures(a));
    }
    case 'intel-root-ca-crl':
      return roots.intelRootCas.some((der) => allPass(() => checkArtifactSignatures(a, parseCertificate(der))));
    case 'amd-cert-chain': {
      const anchors = roots.amd[productOf(a.key)!];
      const [intermediate, ark] = chainOf(a);
      const expected = a.key.endsWith('/vlek') ? anchors?.asvk : anchors?.ask;
      return anchors !== undefined && expected !== undefined && intermediate !== undefined && ark !== undefined && sameDer(intermediate.der, expected) && sameDer(ark.der, anchors.ark);
    }
    case 'amd-crl': {
      const anchors = roots.amd[productOf(a.key)!];
      return anchors !== undefined && allPass(() => checkArtifactSignatures(a, parseCertificate(anchors.ark)));
    }
    case 'amd-vcek': {
      const anchors = roots.amd[productOf(a.key)!];
      return anchors !== undefined && allPass(() => checkChainLinks([parseCertificate(a.body), parseCertificate(anchors.ask)]));
    }
    default:
      return false;
  }
}
