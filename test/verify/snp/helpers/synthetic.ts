/**
 * A synthetic AMD-shaped setup (src/testing): ARK -> ASK/ASVK -> VCEK/VLEK of
 * one product, a report signed by the leaf, the matching TrustRoots and an
 * ARK-signed CRL. Defects are injected with the PKI's per-certificate
 * overrides, so every signature around the defect stays valid.
 */
import { constants, sign, type KeyObject } from 'node:crypto';

import { parseEvidence, type SnpReport } from '../../../../src/index.js';
import type { TrustRoots } from '../../../../src/verify/roots/index.js';
import type { AmdCollateralInput } from '../../../../src/verify/snp/index.js';
import {
  buildSnpReport,
  createAmdTestPki,
  type AmdTestPki,
  type AmdTestPkiOptions,
  type SnpReportOptions,
  type TestSnpProduct,
} from '../../../../src/testing/index.js';
import * as der from '../../../../src/testing/der.js';
import { authorityKeyIdentifier, encodeExtension, encodeName, signatureAlgorithm, type CertExtension } from '../../../../src/testing/x509-builder.js';

export const VALIDITY = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2034-01-01T00:00:00Z') };
export const AT = new Date('2025-06-01T00:00:00Z');
export const CRL_WINDOW = { thisUpdate: new Date('2025-05-01T00:00:00Z'), nextUpdate: new Date('2025-07-01T00:00:00Z') };

export interface CrlOptions {
  /** Serials (unsigned big-endian hex) to list as revoked. */
  revoked?: string[];
  thisUpdate?: Date;
  /** null: no nextUpdate at all. */
  nextUpdate?: Date | null;
  /** Default: the ARK's private key. */
  signingKey?: KeyObject;
  crlNumber?: number;
  /** More CRL extensions after AKI and CRL number. */
  extraExtensions?: CertExtension[];
  /** Extensions on every revoked entry. */
  entryExtensions?: CertExtension[];
}

/** An ARK-signed v2 CRL (RSASSA-PSS SHA-384, AKI and CRL number), as KDS serves them. */
export function buildAmdCrl(pki: AmdTestPki, o: CrlOptions = {}): Uint8Array {
  const ext = (oid: string, value: Uint8Array) => der.sequence(der.objectIdentifier(oid), der.octetString(value));
  const aki = authorityKeyIdentifier(pki.ark.key.publicKey);
  const fields = [der.integer(1), signatureAlgorithm('rsa-pss-sha384'), encodeName(pki.ark.subject), der.time(o.thisUpdate ?? CRL_WINDOW.thisUpdate)];
  const next = o.nextUpdate === undefined ? CRL_WINDOW.nextUpdate : o.nextUpdate;
  if (next !== null) fields.push(der.time(next));
  const revoked = o.revoked ?? [];
  if (revoked.length > 0) {
    const entryExtensions = o.entryExtensions?.length ? [der.sequence(...o.entryExtensions.map(encodeExtension))] : [];
    fields.push(der.sequence(...revoked.map((s) => der.sequence(der.integer(new Uint8Array(Buffer.from(s, 'hex'))), der.time(CRL_WINDOW.thisUpdate), ...entryExtensions))));
  }
  fields.push(der.explicit(0, der.sequence(ext(aki.oid, aki.value), ext('2.5.29.20', der.integer(o.crlNumber ?? 7)), ...(o.extraExtensions ?? []).map(encodeExtension))));
  const tbs = der.sequence(...fields);
  const key = o.signingKey ?? pki.ark.key.privateKey;
  const signature = new Uint8Array(sign('sha384', tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
  return der.sequence(tbs, signatureAlgorithm('rsa-pss-sha384'), der.bitString(signature));
}

export function testRoots(pki: AmdTestPki, label = 'test-pki'): TrustRoots {
  return { label, intelRootCas: [], amd: { [pki.product]: { ark: pki.ark.der, ask: pki.ask.der, asvk: pki.asvk.der } } };
}

export interface SetupOptions {
  product?: TestSnpProduct;
  signingKey?: 'vcek' | 'vlek';
  version?: 2 | 3 | 4 | 5;
  seed?: string;
  pki?: Partial<Omit<AmdTestPkiOptions, 'seed' | 'product' | 'validity'>> & { validity?: AmdTestPkiOptions['validity'] };
  report?: Partial<Omit<SnpReportOptions, 'version' | 'product' | 'signingKey'>>;
  crl?: CrlOptions;
}

export interface Setup {
  pki: AmdTestPki;
  bytes: Uint8Array;
  report: SnpReport;
  roots: TrustRoots;
  /** Leaf, [intermediate, ARK] (as the extended-report table carries them) and CRL. */
  collateral: AmdCollateralInput;
  options: { at: Date; trustRoots: TrustRoots; allowedVersions?: number[] };
}

export function setup(o: SetupOptions = {}): Setup {
  const product = o.product ?? 'Milan';
  const signingKey = o.signingKey ?? 'vcek';
  const version = o.version ?? (product === 'Turin' ? 5 : 3);
  const seed = o.seed ?? `snp-verify:${product}`;
  const pki = createAmdTestPki({ seed, product, validity: VALIDITY, ...o.pki });
  const leaf = signingKey === 'vcek' ? pki.vcek : pki.vlek;
  const built = buildSnpReport({ version, product, signingKey, key: leaf.key.privateKey, seed, ...o.report });
  const report = parseEvidence(built.bytes, version === 2 ? { snpProduct: product } : {}) as SnpReport;
  const roots = testRoots(pki);
  const collateral: AmdCollateralInput = {
    signingCertificate: leaf.der,
    certChain: [signingKey === 'vcek' ? pki.ask.der : pki.asvk.der, pki.ark.der],
    crl: buildAmdCrl(pki, o.crl),
  };
  // Default versions (S03): 3, 4, 5, and 2 because the product is named above.
  const options = { at: AT, trustRoots: roots };
  return { pki, bytes: built.bytes, report, roots, collateral, options };
}
