/**
 * Intel-shaped synthetic PKI (checklist §2.3): P-256 root (self-signed CA) ->
 * PCK Platform (or Processor) CA (pathlen 0) -> PCK Certificate with the SGX
 * extension, plus the TCB Signing certificate issued by the root. CNs are
 * Intel's ("Intel SGX Root CA", "Intel SGX PCK Platform CA", ...) because
 * verifiers compare them exactly (T10, T11, T16), as the AMD-shaped PKI uses
 * AMD's; the organisation is "tee-verify test", and no certificate passes for
 * Intel's: the verifier pins the real root by its DER. All keys derive from
 * the seed.
 */
import { deriveBytes, deriveEcKeyPair, deriveSerial, type TestKeyPair } from './seed.js';
import { sgxExtension, type SgxExtensionValues } from './sgx-extension.js';
import {
  assertValidity,
  issueCertificate,
  type CertificateOverrides,
  type TestCertificate,
  type Validity,
} from './certificate.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoint,
  keyUsage,
  subjectKeyIdentifier,
  type CertExtension,
  type DistinguishedName,
} from './x509-builder.js';

export type PckCaType = 'platform' | 'processor';

export interface IntelTestPkiOptions {
  seed: string;
  /** Validity of every certificate unless overridden per certificate. */
  validity: Validity;
  /** Default "platform" (7-entry SGX extension); "processor" gives 5 entries. */
  caType?: PckCaType;
  /** Field overrides of the PCK leaf's SGX extension. */
  sgx?: Partial<SgxExtensionValues>;
  /** Synthetic CRL host; default https://pki.tee-verify.invalid (never fetched). */
  crlBaseUrl?: string;
  overrides?: Partial<Record<'root' | 'pckCa' | 'pck' | 'tcbSigning', CertificateOverrides>>;
}

export interface IntelTestPki {
  root: TestCertificate;
  pckCa: TestCertificate;
  pck: TestCertificate;
  tcbSigning: TestCertificate;
  caType: PckCaType;
  /** The values written into the PCK leaf's SGX extension. */
  sgx: SgxExtensionValues;
  /** PEM leaf || intermediate || root, as quotes carry it (T08). */
  pckChainPem: string;
  /** PEM TCB Signing || root, as the TCB-Info-Issuer-Chain header carries it. */
  tcbSigningChainPem: string;
}

const LOCATION: DistinguishedName = [
  ['O', 'tee-verify test'],
  ['L', 'Santa Clara'],
  ['ST', 'CA'],
  ['C', 'US'],
];

/** Intel's CN for a role ("Intel SGX <role>") under the test organisation. */
export function intelTestName(commonName: string): DistinguishedName {
  return [['CN', `Intel SGX ${commonName}`], ...LOCATION];
}

/** Real-shaped default TCB: 16 component SVNs, PCESVN 13, CPUSVN = the components. */
export function defaultSgxValues(seed: string, caType: PckCaType): SgxExtensionValues {
  const components = [7, 7, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
  const values: SgxExtensionValues = {
    ppid: deriveBytes(seed, 'intel:ppid', 16),
    tcb: { components, pceSvn: 13, cpuSvn: Uint8Array.from(components) },
    pceId: Uint8Array.of(0x00, 0x00),
    fmspc: Uint8Array.from(Buffer.from('90c06f000000', 'hex')),
    sgxType: caType === 'platform' ? 1 : 0,
  };
  if (caType === 'platform') {
    values.platformInstanceId = deriveBytes(seed, 'intel:platform-instance-id', 16);
    values.configuration = { dynamicPlatform: true, cachedKeys: true, smtEnabled: true };
  }
  return values;
}

/** Builds the whole chain; deterministic for (seed, options) except signature bytes. */
export function createIntelTestPki(options: IntelTestPkiOptions): IntelTestPki {
  const { seed } = options;
  assertValidity(options.validity, 'createIntelTestPki');
  const caType = options.caType ?? 'platform';
  const crl = options.crlBaseUrl ?? 'https://pki.tee-verify.invalid';
  const o = options.overrides ?? {};
  const sgx: SgxExtensionValues = { ...defaultSgxValues(seed, caType), ...options.sgx };
  const rootCrl = crlDistributionPoint(`${crl}/IntelSGXRootCA.der`);
  const caLabel = caType === 'platform' ? 'PCK Platform CA' : 'PCK Processor CA';

  const root = issueCertificate(
    {
      role: 'root',
      subject: intelTestName('Root CA'),
      issuer: undefined,
      serial: deriveSerial(seed, 'intel:root'),
      validity: options.validity,
      key: deriveEcKeyPair(seed, 'intel:root', 'P-256'),
      signature: 'ecdsa-sha256',
      extensions: (key) => [
        authorityKeyIdentifier(key.publicKey),
        rootCrl,
        subjectKeyIdentifier(key.publicKey),
        keyUsage(['keyCertSign', 'cRLSign']),
        basicConstraints(true, 1),
      ],
    },
    o.root,
  );
  // Intel's extension order: AKI, CRL DP, SKI, keyUsage, basicConstraints.
  const caExtensions =
    (pathLength: number | undefined, usage: 'ca' | 'leaf', crlUrl: string) =>
    (key: TestKeyPair, issuerKey: TestKeyPair): CertExtension[] => [
      authorityKeyIdentifier(issuerKey.publicKey),
      crlDistributionPoint(crlUrl),
      subjectKeyIdentifier(key.publicKey),
      keyUsage(usage === 'ca' ? ['keyCertSign', 'cRLSign'] : ['digitalSignature', 'nonRepudiation']),
      basicConstraints(usage === 'ca', pathLength),
    ];
  const pckCa = issueCertificate(
    {
      role: 'pckCa',
      subject: intelTestName(caLabel),
      issuer: root,
      serial: deriveSerial(seed, `intel:pck-ca:${caType}`),
      validity: options.validity,
      key: deriveEcKeyPair(seed, `intel:pck-ca:${caType}`, 'P-256'),
      signature: 'ecdsa-sha256',
      extensions: caExtensions(0, 'ca', `${crl}/IntelSGXRootCA.der`),
    },
    o.pckCa,
  );
  const leafExtensions = caExtensions(undefined, 'leaf', `${crl}/sgx/certification/v4/pckcrl?ca=${caType}&encoding=der`);
  const pck = issueCertificate(
    {
      role: 'pck',
      subject: intelTestName('PCK Certificate'),
      issuer: pckCa,
      serial: deriveSerial(seed, 'intel:pck'),
      validity: options.validity,
      key: deriveEcKeyPair(seed, 'intel:pck', 'P-256'),
      signature: 'ecdsa-sha256',
      extensions: (key, issuerKey) => [...leafExtensions(key, issuerKey), sgxExtension(sgx)],
    },
    o.pck,
  );
  const tcbSigning = issueCertificate(
    {
      role: 'tcbSigning',
      subject: intelTestName('TCB Signing'),
      issuer: root,
      serial: deriveSerial(seed, 'intel:tcb-signing'),
      validity: options.validity,
      key: deriveEcKeyPair(seed, 'intel:tcb-signing', 'P-256'),
      signature: 'ecdsa-sha256',
      extensions: caExtensions(undefined, 'leaf', `${crl}/IntelSGXRootCA.der`),
    },
    o.tcbSigning,
  );
  return {
    root,
    pckCa,
    pck,
    tcbSigning,
    caType,
    sgx,
    pckChainPem: pck.pem + pckCa.pem + root.pem,
    tcbSigningChainPem: tcbSigning.pem + root.pem,
  };
}
