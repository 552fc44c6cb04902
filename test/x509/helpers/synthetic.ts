/**
 * Synthetic certificates and CRLs built with @peculiar/x509 and our own
 * keys, for defects no real certificate has. Every date is explicit.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';

import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const NOT_BEFORE = new Date('2024-01-01T00:00:00Z');
export const NOT_AFTER = new Date('2030-01-01T00:00:00Z');

export interface RawExt {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export type KeyPair = CryptoKeyPair;

export async function ecKeys(curve: 'P-256' | 'P-384'): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify'])) as KeyPair;
}

export async function pssKeys(hash: 'SHA-256' | 'SHA-384', bits = 2048): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: 'RSA-PSS', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash },
    true,
    ['sign', 'verify'],
  )) as KeyPair;
}

export type SigningAlgorithm = EcdsaParams | RsaPssParams | Algorithm;

export interface CertOptions {
  subject: string;
  issuer?: string;
  serial?: string;
  publicKey: CryptoKey;
  signingKey: CryptoKey;
  algorithm: SigningAlgorithm;
  extensions?: RawExt[];
  notBefore?: Date;
  notAfter?: Date;
}

export async function makeCertificate(o: CertOptions): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? '01',
    subject: o.subject,
    issuer: o.issuer ?? o.subject,
    notBefore: o.notBefore ?? NOT_BEFORE,
    notAfter: o.notAfter ?? NOT_AFTER,
    signingAlgorithm: o.algorithm,
    publicKey: o.publicKey,
    signingKey: o.signingKey,
    extensions: (o.extensions ?? []).map((e) => new x509.Extension(e.oid, e.critical ?? false, e.value)),
  });
  return new Uint8Array(cert.rawData);
}

export interface CrlOptions {
  issuer: string;
  signingKey: CryptoKey;
  algorithm: SigningAlgorithm;
  serials: string[];
  thisUpdate?: Date;
  nextUpdate?: Date | null;
  extensions?: RawExt[];
}

export async function makeCrl(o: CrlOptions): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: o.issuer,
    thisUpdate: o.thisUpdate ?? NOT_BEFORE,
    ...(o.nextUpdate === null ? {} : { nextUpdate: o.nextUpdate ?? NOT_AFTER }),
    entries: o.serials.map((serialNumber) => ({ serialNumber, revocationDate: NOT_BEFORE })),
    signingAlgorithm: o.algorithm,
    signingKey: o.signingKey,
    extensions: (o.extensions ?? []).map((e) => new x509.Extension(e.oid, e.critical ?? false, e.value)),
  });
  return new Uint8Array(crl.rawData);
}

export const ECDSA_SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const ECDSA_SHA384: EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' };

/** Base64 PEM with 64-character lines, LF endings. */
export function pem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
