/**
 * Synthetic certificates and CRLs built with @peculiar/x509 and our own
 * keys, for defects no real certificate has. Every date is explicit.
 */
import 'reflect-metadata';
import { KeyObject, sign, webcrypto } from 'node:crypto';

import * as x509 from '@peculiar/x509';

import * as der from './der.js';
import { generateEcdsaCryptoKeys } from '../../../src/crypto/ec-keys.js';

x509.cryptoProvider.set(webcrypto);

export const NOT_BEFORE = new Date('2024-01-01T00:00:00Z');
export const NOT_AFTER = new Date('2030-01-01T00:00:00Z');

export interface RawExt {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

// WebCrypto types from node:crypto: the project's lib has no DOM.
export type KeyPair = webcrypto.CryptoKeyPair;

export async function ecKeys(curve: 'P-256' | 'P-384'): Promise<KeyPair> {
  return generateEcdsaCryptoKeys(curve); // no key-generation job (docs/decisions.md, session 8)
}

export async function pssKeys(hash: 'SHA-256' | 'SHA-384', bits = 2048): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: 'RSA-PSS', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash },
    true,
    ['sign', 'verify'],
  )) as KeyPair;
}

export type SigningAlgorithm = webcrypto.EcdsaParams | webcrypto.RsaPssParams | webcrypto.Algorithm;

export interface CertOptions {
  subject: string;
  issuer?: string;
  serial?: string;
  publicKey: webcrypto.CryptoKey;
  signingKey: webcrypto.CryptoKey;
  algorithm: SigningAlgorithm;
  extensions?: RawExt[];
  notBefore?: Date;
  notAfter?: Date;
}

/** basicConstraints cA TRUE: @peculiar/x509 writes an empty (non-RFC) Extensions list when given none. */
const DEFAULT_EXTENSION: RawExt = { oid: '2.5.29.19', critical: true, value: Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff) };

export async function makeCertificate(o: CertOptions): Promise<Uint8Array> {
  const extensions = o.extensions?.length ? o.extensions : [DEFAULT_EXTENSION];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? '01',
    subject: o.subject,
    issuer: o.issuer ?? o.subject,
    notBefore: o.notBefore ?? NOT_BEFORE,
    notAfter: o.notAfter ?? NOT_AFTER,
    signingAlgorithm: o.algorithm,
    publicKey: o.publicKey,
    signingKey: o.signingKey,
    extensions: extensions.map((e) => new x509.Extension(e.oid, e.critical ?? false, e.value)),
  });
  return new Uint8Array(cert.rawData);
}

export interface CrlOptions {
  /** Common name of the issuer. */
  issuerCn: string;
  /** ECDSA P-256 key of the issuer. */
  signingKey: webcrypto.CryptoKey;
  /** Revoked serials as hex INTEGER content, written verbatim (so "0080" is 00 80). */
  serials: string[];
  thisUpdate?: Date;
  nextUpdate?: Date | null;
  extensions?: RawExt[];
}

const utcTime = (d: Date): Uint8Array => der.tlv(0x17, new Uint8Array(Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`)));

/**
 * A v2 CRL signed with ecdsa-with-SHA256, encoded here rather than by
 * @peculiar/x509, which writes empty crlEntryExtensions lists (not RFC 5280).
 */
export function makeCrl(o: CrlOptions): Uint8Array {
  const algorithm = der.seq(der.oid('1.2.840.10045.4.3.2'));
  const issuer = der.seq(der.set(der.seq(der.oid('2.5.4.3'), der.utf8(o.issuerCn))));
  const entries = o.serials.map((serial) => der.seq(der.tlv(0x02, der.fromHex(serial)), utcTime(NOT_BEFORE)));
  const extensions = (o.extensions ?? []).map((e) => der.seq(der.oid(e.oid), ...(e.critical ? [der.bool(true)] : []), der.octets(e.value)));
  const tbs = der.seq(
    der.int(1),
    algorithm,
    issuer,
    utcTime(o.thisUpdate ?? NOT_BEFORE),
    ...(o.nextUpdate === null ? [] : [utcTime(o.nextUpdate ?? NOT_AFTER)]),
    ...(entries.length ? [der.seq(...entries)] : []),
    ...(extensions.length ? [der.context(0, true, der.seq(...extensions))] : []),
  );
  const signature = sign('sha256', tbs, { key: KeyObject.from(o.signingKey), dsaEncoding: 'der' });
  return der.seq(tbs, algorithm, der.tlv(0x03, Uint8Array.of(0), new Uint8Array(signature)));
}

export const ECDSA_SHA256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const ECDSA_SHA384: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' };

/** Base64 PEM with 64-character lines, LF endings. */
export function pem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
