/**
 * AMD-shaped synthetic PKI (checklist §4.3): RSA ARK (self-signed) -> ASK and
 * ASVK -> VCEK and VLEK (EC P-384), every RSA signature RSASSA-PSS SHA-384,
 * MGF1-SHA-384, salt 48. CNs are AMD's (verifiers check them: S08, S10); the
 * O and OU say "tee-verify test" so the names cannot pass for AMD's. RSA keys
 * come from test/pki (see rsa-keys.ts); the EC leaf keys derive from the seed.
 */
import { defaultKdsValues, kdsExtensions, type KdsExtensionValues } from './kds-extension.js';
import { loadAmdRsaKeys, type AmdRsaKeys } from './rsa-keys.js';
import { deriveEcKeyPair, deriveSerial } from './seed.js';
import { defaultChipId, defaultSnpTcb, type SnpTcbValues, type TestSnpProduct } from './snp-tcb.js';
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
  type DistinguishedName,
  type NameAttributeType,
} from './x509-builder.js';

export type AmdCertRole = 'ark' | 'ask' | 'asvk' | 'vcek' | 'vlek';

export interface AmdTestPkiOptions {
  seed: string;
  product: TestSnpProduct;
  validity: Validity;
  /** TCB written into the VCEK / VLEK (the report's REPORTED_TCB). Default per product. */
  tcb?: SnpTcbValues;
  /** 64-byte CHIP_ID the VCEK hwID is taken from. Default derived from the seed (Turin: 8 bytes + zeros). */
  chipId?: Uint8Array;
  /** VLEK cspId. Default "tee-verify-test-csp". */
  cspId?: string;
  /** Field overrides of the leaf KDS extensions. */
  kds?: { vcek?: Partial<KdsExtensionValues>; vlek?: Partial<KdsExtensionValues> };
  /** Default: loadAmdRsaKeys(product) from the committed test/pki. */
  rsaKeys?: AmdRsaKeys;
  /** Base of the CRL distribution points; default https://kdsintf.amd.com (S08 checks the exact URL). */
  kdsBaseUrl?: string;
  /** Name attributes other than CN; default AMD's order with "tee-verify test" as O and OU. */
  location?: DistinguishedName;
  overrides?: Partial<Record<AmdCertRole, CertificateOverrides>>;
}

export interface AmdTestPki {
  product: TestSnpProduct;
  ark: TestCertificate;
  ask: TestCertificate;
  asvk: TestCertificate;
  vcek: TestCertificate;
  vlek: TestCertificate;
  tcb: SnpTcbValues;
  chipId: Uint8Array;
  vcekKds: KdsExtensionValues;
  vlekKds: KdsExtensionValues;
  /** PEM ASK || ARK, as KDS serves /vcek/v1/{product}/cert_chain. */
  vcekCertChainPem: string;
  /** PEM ASVK || ARK, as KDS serves /vlek/v1/{product}/cert_chain. */
  vlekCertChainPem: string;
}

const DEFAULT_LOCATION: DistinguishedName = [
  ['OU', 'tee-verify test'],
  ['C', 'US'],
  ['L', 'Santa Clara'],
  ['ST', 'CA'],
  ['O', 'tee-verify test (AMD-shaped)'],
];

function withCn(location: DistinguishedName, cn: string): DistinguishedName {
  return [...location, ['CN' as NameAttributeType, cn]];
}

/** Builds ARK, ASK, ASVK, VCEK and VLEK for one product. */
export function createAmdTestPki(options: AmdTestPkiOptions): AmdTestPki {
  const { seed, product } = options;
  assertValidity(options.validity, 'createAmdTestPki');
  const keys = options.rsaKeys ?? loadAmdRsaKeys(product);
  const loc = options.location ?? DEFAULT_LOCATION;
  const kdsBase = options.kdsBaseUrl ?? 'https://kdsintf.amd.com';
  const o = options.overrides ?? {};
  const tcb = options.tcb ?? defaultSnpTcb(product);
  const chipId = options.chipId ?? defaultChipId(seed, product);
  const vcekKds = { ...defaultKdsValues(product, tcb, { kind: 'vcek', chipId }), ...options.kds?.vcek };
  const vlekKds = {
    ...defaultKdsValues(product, tcb, { kind: 'vlek', cspId: options.cspId ?? 'tee-verify-test-csp' }),
    ...options.kds?.vlek,
  };
  const label = `amd:${product}`;
  const common = { validity: options.validity, signature: 'rsa-pss-sha384' as const };

  const ark = issueCertificate(
    {
      ...common,
      role: 'ark',
      subject: withCn(loc, `ARK-${product}`),
      issuer: undefined,
      serial: deriveSerial(seed, `${label}:ark`),
      key: keys.ark,
      extensions: (key) => [
        subjectKeyIdentifier(key.publicKey),
        keyUsage(['keyCertSign', 'cRLSign']),
        basicConstraints(true),
        crlDistributionPoint(`${kdsBase}/vcek/v1/${product}/crl`),
      ],
    },
    o.ark,
  );
  const intermediate = (role: 'ask' | 'asvk', cn: string, kdsPath: string): TestCertificate =>
    issueCertificate(
      {
        ...common,
        role,
        subject: withCn(loc, cn),
        issuer: ark,
        serial: deriveSerial(seed, `${label}:${role}`),
        key: keys[role],
        extensions: (key, issuerKey) => [
          subjectKeyIdentifier(key.publicKey),
          authorityKeyIdentifier(issuerKey.publicKey),
          keyUsage(['keyCertSign', 'cRLSign']),
          basicConstraints(true, 0),
          crlDistributionPoint(`${kdsBase}/${kdsPath}/v1/${product}/crl`),
        ],
      },
      o[role],
    );
  const ask = intermediate('ask', `SEV-${product}`, 'vcek');
  const asvk = intermediate('asvk', `SEV-VLEK-${product}`, 'vlek');
  const vcek = issueCertificate(
    {
      ...common,
      role: 'vcek',
      subject: withCn(loc, 'SEV-VCEK'),
      issuer: ask,
      serial: Uint8Array.of(0), // KDS VCEKs carry serial 0 (§4.3); verifiers must accept it
      key: deriveEcKeyPair(seed, `${label}:vcek`, 'P-384'),
      extensions: () => kdsExtensions(vcekKds),
    },
    o.vcek,
  );
  const vlek = issueCertificate(
    {
      ...common,
      role: 'vlek',
      subject: withCn(loc, 'SEV-VLEK'),
      issuer: asvk,
      serial: deriveSerial(seed, `${label}:vlek`),
      key: deriveEcKeyPair(seed, `${label}:vlek`, 'P-384'),
      extensions: () => kdsExtensions(vlekKds),
    },
    o.vlek,
  );
  return {
    product,
    ark,
    ask,
    asvk,
    vcek,
    vlek,
    tcb,
    chipId,
    vcekKds,
    vlekKds,
    vcekCertChainPem: ask.pem + ark.pem,
    vlekCertChainPem: asvk.pem + ark.pem,
  };
}
