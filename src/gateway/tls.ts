/**
 * The gateway's TLS identity: by default a self-signed ECDSA P-256 certificate
 * generated at every start with @peculiar/x509 and WebCrypto and held only in
 * memory; PEM files only when the operator names them (--tls-cert/--tls-key,
 * loaded, or generated and written once when neither exists). Clients do not
 * trust it by a CA: the attestation binds its public key, so whoever holds the
 * private key passes that binding (docs/gateway.md, "TLS identity").
 *
 * A key file the operator names is read under the shared secret-file rule (readPrivateKeyFile; s16
 * red team, env finding 4): never through a symbolic link, a regular file (or an inherited
 * descriptor), no group or other access (a root-owned file's group may read it), owned by this user
 * or root, not empty, at most 64 KiB. `tee-verify serve --tls-key / --signing-key` and `tee-kbs serve
 * --tls-key` read theirs with it too.
 */
import { closeSync, constants, fchmodSync, lstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { X509Certificate, webcrypto } from 'node:crypto';

import * as x509 from '@peculiar/x509';

import { generateEcdsaCryptoKeys } from '../crypto/ec-keys.js';
import { isModelError } from '../model/errors.js';
import { readKeyFileBytes } from '../model/key-file.js';

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
 * The most a private key file may hold: a PEM key of any usual size (RSA 8192 bits is 6.4 KB) with
 * the certificate chain beside it (the haproxy-style `--tls-cert F --tls-key F` bundle, which Node
 * and OpenSSL read by skipping the certificate blocks). The rule is about mode, owner and link; the
 * bound only stops an endless pipe or a huge file. s16 change review of cce6563, #4: 4 KiB refused a
 * chain + key bundle and RSA keys above 4096 bits, which had worked.
 */
export const MAX_PRIVATE_KEY_FILE_BYTES = 65536;

/** How a caller names its key file in refusals: its option, and a file name for a `3<FILE` example. */
export interface PrivateKeyFileNames {
  option: string;
  example: string;
}
const TLS_KEY_NAMES: PrivateKeyFileNames = { option: '--tls-key', example: 'tls.key' };

/**
 * A private key file's text (PEM), read under the secret-file rule that tee-model --key-file and
 * tee-kbs admin key --key-file share (src/model/key-file.ts, readKeyFileBytes): no symbolic link
 * (ELOOP), a regular file, or an inherited descriptor (/dev/fd/N, /proc/self/fd/N, /dev/stdin); no
 * permission bit for group or others (a file owned by root may also let its group read it: 0440,
 * 0640); owned by the user this process runs as or by root; not empty (nor only white space); at
 * most MAX_PRIVATE_KEY_FILE_BYTES. s16 red team, env finding 4: the gateway's --tls-key (the key its
 * attestation binds), serve's --tls-key / --signing-key (the key of every EAR token) and tee-kbs's
 * --tls-key were read with any mode, owner or link. An Error naming the file otherwise (the caller
 * adds its option and code); its advice names `names.option` (default --tls-key).
 */
export async function readPrivateKeyFile(path: string, names: PrivateKeyFileNames = TLS_KEY_NAMES): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readKeyFileBytes(path, { maxBytes: MAX_PRIVATE_KEY_FILE_BYTES, ...names });
  } catch (e) {
    if (isModelError(e) && e.details['reason'] === 'too-large') {
      throw new Error(`the key file ${path} is larger than ${MAX_PRIVATE_KEY_FILE_BYTES / 1024} KiB, more than a PEM private key with its certificate chain takes`, { cause: e });
    }
    throw new Error((e as Error).message, { cause: e });
  }
  try {
    // s16 change review of cce6563, #1: serve's HTTPS listener started with an empty key and failed every handshake.
    if (bytes.every((b) => b === 0x20 || (b >= 0x09 && b <= 0x0d))) throw new Error(`the key file ${path} is empty`);
    return bytes.toString('utf8');
  } finally {
    bytes.fill(0);
  }
}

/** Whether `path` exists as a directory entry (a dangling symbolic link does too; existsSync says no). */
function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Creates `path` exclusively, never through a symbolic link (O_EXCL | O_NOFOLLOW), mode exactly `mode`, with `text`. */
function writeNewFile(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') throw new Error(`${path} appeared meanwhile (a file or a symbolic link) and is never overwritten: give both files, or two new paths`);
    throw e;
  }
  try {
    fchmodSync(fd, mode); // whatever the umask
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Operator-named PEM files: loaded when both exist (the key under readPrivateKeyFile's rule),
 * generated and written when neither does (the key mode 0600, the certificate 0644, each created
 * exclusively and never through a symbolic link). One without the other is refused (RangeError): a
 * half-present identity is a mistake, and generating the missing half would silently replace a key.
 * A dangling symbolic link counts as present (it used to be written through).
 */
export async function loadOrCreateTls(certFile: string, keyFile: string, hosts: string[]): Promise<TlsIdentity & { generated: boolean }> {
  const haveCert = entryExists(certFile);
  const haveKey = entryExists(keyFile);
  if (haveCert && haveKey) {
    const key = await readPrivateKeyFile(keyFile);
    return { cert: readFileSync(certFile, 'utf8'), key, generated: false };
  }
  if (haveCert || haveKey) throw new RangeError(`${haveCert ? keyFile : certFile} does not exist while ${haveCert ? certFile : keyFile} does: give both files, or two new paths`);
  const { cert, key } = await generateTls(hosts);
  writeNewFile(keyFile, key, 0o600);
  try {
    writeNewFile(certFile, cert, 0o644);
  } catch (e) {
    rmSync(keyFile, { force: true }); // ours, just made: no half-present identity is left behind
    throw e;
  }
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
