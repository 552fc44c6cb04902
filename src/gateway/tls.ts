/**
 * The gateway's TLS identity: by default a self-signed ECDSA P-256 certificate
 * generated at every start with @peculiar/x509 and WebCrypto and held only in
 * memory; PEM files only when the operator names them (--tls-cert/--tls-key,
 * loaded, or generated and written once when neither exists). Clients do not
 * trust it by a CA: the attestation binds its public key, so whoever holds the
 * private key passes that binding (docs/gateway.md, "TLS identity").
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate, webcrypto } from 'node:crypto';

import * as x509 from '@peculiar/x509';

import { generateEcdsaCryptoKeys } from '../crypto/ec-keys.js';

/** PEM text of one DER certificate (64-character lines). */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * The leaf of a PEM certificate file (its first certificate), alone. What the
 * gateway names in its answers: a client that pins the named PEM as its only
 * trust anchor (GENXT's aTLS client does) must not come to trust whatever
 * intermediates a --tls-cert chain file also holds.
 */
let lastLeaf: { pem: string; leaf: string } | undefined;
export function leafCertificatePem(pem: string): string {
  // One gateway names the same certificate in every answer: remember the last one.
  if (lastLeaf?.pem !== pem) lastLeaf = { pem, leaf: certificatePem(new Uint8Array(new X509Certificate(pem).raw)) };
  return lastLeaf.leaf;
}

export interface TlsIdentity {
  cert: string;
  key: string;
}

/**
 * Operator-named PEM files: loaded when both exist, generated and written (key mode 0600) when
 * neither does. One without the other is refused (RangeError): a half-present identity is a
 * mistake, and generating the missing half would silently replace a key.
 */
export async function loadOrCreateTls(certFile: string, keyFile: string, hosts: string[]): Promise<TlsIdentity & { generated: boolean }> {
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (haveCert && haveKey) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), generated: false };
  if (haveCert || haveKey) throw new RangeError(`${haveCert ? keyFile : certFile} does not exist while ${haveCert ? certFile : keyFile} does: give both files, or two new paths`);
  const { cert, key } = await generateTls(hosts);
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert, { mode: 0o644 });
  return { cert, key, generated: true };
}

/**
 * A fresh self-signed identity held only in memory: what every gateway uses when no files are
 * given (its key never leaves the TEE's memory; the attestation binds it).
 */
export async function generateTls(hosts: string[]): Promise<TlsIdentity> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await generateEcdsaCryptoKeys('P-256'); // no key-generation job: src/crypto/ec-keys.ts
  const now = Date.now();
  const names = [...new Set(hosts)].map((h) => ({ type: /^[\d.]+$|:/.test(h) ? ('ip' as const) : ('dns' as const), value: h }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=tee-verify gateway',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [new x509.SubjectAlternativeNameExtension(names), new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem') + '\n', key: keyPem };
}
