/**
 * Secrets on disk next to the database: the master key (32 random bytes,
 * base64, mode 0600) and the self-signed TLS certificate generated on first
 * start (ECDSA P-256 via @peculiar/x509 and WebCrypto; key mode 0600).
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';

import * as x509 from '@peculiar/x509';

import { MASTER_KEY_BYTES } from './crypto.js';
import { KbsError } from './errors.js';

export const MASTER_KEY_ENV = 'TEE_KBS_MASTER_KEY';

function decodeMaster(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== MASTER_KEY_BYTES) throw new KbsError('ERR_KBS_STORAGE', 500, `${where}: the master key must be ${MASTER_KEY_BYTES} bytes, base64`);
  return key;
}

/**
 * The master key: from the environment (base64), else from `file`, which is
 * created with 0600 permissions on first start. Returns where it came from.
 */
export function loadMasterKey(file: string, env: NodeJS.ProcessEnv = process.env): { key: Buffer; source: 'env' | 'file' | 'generated'; warnings: string[] } {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv) return { key: decodeMaster(fromEnv, MASTER_KEY_ENV), source: 'env', warnings: [] };
  const warnings: string[] = [];
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) warnings.push(`master key file ${file} has mode ${mode.toString(8)}; it should be 600`);
    return { key: decodeMaster(readFileSync(file, 'utf8'), file), source: 'file', warnings };
  }
  const key = randomBytes(MASTER_KEY_BYTES);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, source: 'generated', warnings };
}

/** A self-signed certificate for `hosts` (DNS names or IP addresses), created once and reused. */
export async function selfSignedTls(certFile: string, keyFile: string, hosts: string[]): Promise<{ cert: string; key: string; generated: boolean }> {
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), generated: false };
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = new Date();
  const names = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=tee-kbs self-signed',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 365 * 86_400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [new x509.SubjectAlternativeNameExtension(names), new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem') + '\n';
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem);
  return { cert: certPem, key: keyPem, generated: true };
}
