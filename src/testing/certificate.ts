/**
 * One issued test certificate and the per-certificate overrides every chain
 * accepts, so a test can build a defect (wrong dates, subject, extension or
 * key) with valid signatures around it.
 */
import type { KeyObject } from 'node:crypto';

import type { TestKeyPair } from './seed.js';
import {
  buildCertificate,
  derToPem,
  type CertExtension,
  type DistinguishedName,
  type SignatureScheme,
} from './x509-builder.js';

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateOverrides {
  validity?: Validity;
  subject?: DistinguishedName;
  /** Default: the issuer certificate's subject. */
  issuer?: DistinguishedName;
  /** Unsigned big-endian serial bytes. */
  serial?: Uint8Array;
  /** The certificate's own key pair (its public key goes into the certificate). */
  key?: TestKeyPair;
  /** Sign with this key instead of the issuer's (a forged link). */
  signingKey?: KeyObject;
  /** Replace, drop or add extensions; receives the defaults. */
  extensions?: (defaults: CertExtension[]) => CertExtension[];
  /** Flip a bit of the signature. */
  corruptSignature?: boolean;
}

export interface TestCertificate {
  /** Role in the chain, e.g. "root", "pck", "vcek". */
  role: string;
  der: Uint8Array;
  pem: string;
  subject: DistinguishedName;
  issuer: DistinguishedName;
  /** Lowercase hex of the serial as encoded (unsigned). */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  extensions: CertExtension[];
  key: TestKeyPair;
}

export interface IssueSpec {
  role: string;
  subject: DistinguishedName;
  /** The issuer; undefined for a self-signed certificate. */
  issuer: TestCertificate | undefined;
  serial: Uint8Array;
  validity: Validity;
  key: TestKeyPair;
  extensions: (subjectKey: TestKeyPair, issuerKey: TestKeyPair) => CertExtension[];
  signature: SignatureScheme;
}

/** Applies `overrides` to `spec` and signs the result. */
export function issueCertificate(spec: IssueSpec, overrides: CertificateOverrides = {}): TestCertificate {
  const key = overrides.key ?? spec.key;
  const issuerKey = spec.issuer?.key ?? key;
  const subject = overrides.subject ?? spec.subject;
  const issuer = overrides.issuer ?? spec.issuer?.subject ?? subject;
  const validity = overrides.validity ?? spec.validity;
  const serial = overrides.serial ?? spec.serial;
  const defaults = spec.extensions(key, issuerKey);
  const extensions = overrides.extensions ? overrides.extensions(defaults) : defaults;
  const der = buildCertificate({
    serial,
    issuer,
    subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    publicKey: key.publicKey,
    extensions,
    signingKey: overrides.signingKey ?? issuerKey.privateKey,
    signature: spec.signature,
    corruptSignature: overrides.corruptSignature ?? false,
  });
  return {
    role: spec.role,
    der,
    pem: derToPem(der),
    subject,
    issuer,
    serialHex: Buffer.from(serial).toString('hex'),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    extensions,
    key,
  };
}

export function assertValidity(v: Validity | undefined, what: string): asserts v is Validity {
  if (!v || !(v.notBefore instanceof Date) || !(v.notAfter instanceof Date)) {
    throw new TypeError(`${what}: validity {notBefore, notAfter} must be given as Dates (no implicit clock)`);
  }
  if (Number.isNaN(v.notBefore.getTime()) || Number.isNaN(v.notAfter.getTime())) {
    throw new TypeError(`${what}: validity dates must be valid`);
  }
}
