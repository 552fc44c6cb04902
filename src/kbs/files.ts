/**
 * Secrets on disk next to the database: the master key (32 random bytes,
 * base64, mode 0600) and the self-signed TLS certificate generated on first
 * start (ECDSA P-256 via @peculiar/x509 and WebCrypto; key mode 0600).
 * A master key file that group or others may read, or that is reached through
 * a symbolic link, is refused (ERR_KBS_CONFIG; review s7): the key opens every
 * stored key. New secret files are created exclusively (O_EXCL | O_NOFOLLOW),
 * mode exactly 0600, as admin-token-file.ts does.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, closeSync, constants, existsSync, fchmodSync, fstatSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';

import * as x509 from '@peculiar/x509';

import { generateEcdsaCryptoKeys } from '../crypto/ec-keys.js';
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
  const existing = readSecretFile(file);
  if (existing !== undefined) return { key: decodeMaster(existing, file), source: 'file', warnings };
  const key = randomBytes(MASTER_KEY_BYTES);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, source: 'generated', warnings };
}

const configError = (message: string): KbsError => new KbsError('ERR_KBS_CONFIG', 500, message);

/** The master key file's text, undefined when there is none; never through a symlink, never readable by group or others. */
function readSecretFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw configError(`the master key file ${file} is a symbolic link; give the file itself (a link can be redirected)`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw configError(`the master key file ${file} is not a regular file`);
    const mode = st.mode & 0o777;
    if (mode & 0o077) throw configError(`the master key file ${file} has mode ${mode.toString(8)}: group or others may read it; chmod 600 ${file}`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` exclusively (never through a symlink), mode exactly 0600, with `text`. */
function writeNewSecretFile(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') throw configError(`${path} exists already (a file or a symbolic link) and is never overwritten; move it away or give both the TLS certificate and its key`);
    throw configError(`cannot create ${path}: ${(e as Error).message}`);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A self-signed certificate for `hosts` (DNS names or IP addresses), created once and reused. */
export async function selfSignedTls(certFile: string, keyFile: string, hosts: string[]): Promise<{ cert: string; key: string; generated: boolean }> {
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), generated: false };
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await generateEcdsaCryptoKeys('P-256'); // no key-generation job: src/crypto/ec-keys.ts
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
  writeNewSecretFile(keyFile, keyPem);
  writeFileSync(certFile, certPem, { flag: 'wx' });
  return { cert: certPem, key: keyPem, generated: true };
}
