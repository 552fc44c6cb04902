/**
 * Signature checks of collateral artifacts, memoised by content digest:
 * signed JSON (TCB info, QE identity) by the first certificate of its issuer
 * chain, a CRL by the first certificate of its issuer chain (or a given
 * issuer), and each certificate of a chain by the next one. This proves
 * internal consistency only; whether the chain ends in a pinned root, and
 * whether everything is inside its validity window, is the verifier's call.
 */
import { defaultSignatureMemo, type SignatureMemo } from '../crypto/memo.js';
import { ecdsaVerify } from '../crypto/ecdsa.js';
import { parseCertificate, parseCrl, splitPemCertificates, type CertificateInfo } from '../x509/index.js';
import { verifySignedObject, withSignedBytes } from '../x509/signature.js';
import type { CollateralArtifact } from './artifact.js';
import { parseSignedJson } from './strict-json.js';

export interface SignatureCheck {
  /** What was checked, e.g. "tcbInfo signature" or "chain[0] by chain[1]". */
  subject: string;
  ok: boolean;
}

function spki(cert: CertificateInfo): Uint8Array {
  return cert.publicKey.spki;
}

/** Each certificate of `chain` (leaf first) is signed by the next one. */
export function checkChainLinks(chain: CertificateInfo[], memo: SignatureMemo = defaultSignatureMemo): SignatureCheck[] {
  const out: SignatureCheck[] = [];
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    const ok = memo.verify('x509-cert', [child.tbs, child.signature, spki(parent)], ([tbs, signature]) =>
      verifySignedObject(withSignedBytes(child, tbs!, signature!), parent.publicKey),
    );
    out.push({ subject: `chain[${i}] signed by chain[${i + 1}]`, ok });
  }
  return out;
}

/** The issuer chain of an artifact (header chain, or the body for KDS cert_chain), leaf first. */
export function chainOf(artifact: CollateralArtifact): CertificateInfo[] {
  const pem = artifact.kind === 'amd-cert-chain' ? artifact.body : artifact.issuerChainPem;
  return pem ? splitPemCertificates(pem).map(parseCertificate) : [];
}

/** CRLs signed by a pinned root directly: Intel's Root CA CRL (the root CA), AMD's CRLs (the ARK). */
export function isRootSignedCrl(kind: CollateralArtifact['kind']): boolean {
  return kind === 'intel-root-ca-crl' || kind === 'amd-crl';
}

/**
 * Checks the signatures an artifact carries. A CRL signed by a root (Intel's
 * Root CA CRL, AMD's CRLs) is checked by `issuer` only, the pinned root or
 * ARK the caller passes: a chain attached to one is ignored, never a signer
 * (review s8 #3: any attached self-made chain "verified" it). Without
 * `issuer` its signature check fails.
 */
export function checkArtifactSignatures(
  artifact: CollateralArtifact,
  issuer?: CertificateInfo,
  memo: SignatureMemo = defaultSignatureMemo,
): SignatureCheck[] {
  const rootSigned = isRootSignedCrl(artifact.kind);
  const chain = rootSigned ? [] : chainOf(artifact);
  const checks = checkChainLinks(chain, memo);
  const signer = rootSigned ? issuer : (chain[0] ?? issuer);
  switch (artifact.kind) {
    case 'intel-tcb-info':
    case 'intel-qe-identity': {
      const member = artifact.kind === 'intel-tcb-info' ? 'tcbInfo' : 'enclaveIdentity';
      const { signedBytes, signature } = parseSignedJson(artifact.body, member);
      const key = signer?.publicKey;
      const ok = key?.kind === 'ec' && key.curve === 'P-256'
        ? memo.verify('ecdsa-p256', [signedBytes, signature, key.xy], ([m, sig, xy]) => ecdsaVerify('P-256', xy!, m!, sig!))
        : false;
      checks.push({ subject: `${member} signature`, ok });
      break;
    }
    case 'intel-pck-crl':
    case 'intel-root-ca-crl':
    case 'amd-crl': {
      const crl = parseCrl(artifact.body);
      const ok = signer
        ? memo.verify('x509-crl', [crl.tbs, crl.signature, spki(signer)], ([tbs, sig]) => verifySignedObject(withSignedBytes(crl, tbs!, sig!), signer.publicKey))
        : false;
      checks.push({ subject: 'CRL signature', ok });
      break;
    }
    default:
      break;
  }
  return checks;
}
