/**
 * Secrets on disk next to the database: the master key (32 random bytes,
 * base64, mode 0600) and the self-signed TLS certificate generated on first
 * start (ECDSA P-256 via @peculiar/x509 and WebCrypto; key mode 0600).
 * A master key file that group or others may read, that is reached through
 * a symbolic link, or that belongs to a user other than this process's or root
 * is refused (ERR_KBS_CONFIG; review s7, the owner since review s14): the key opens every
 * stored key. The bootstrap secret file (it mints an all-scope admin token) is read under the same
 * rules, plus a root-owned group-read exception and a size bound (review s14 #2); both may be an
 * inherited descriptor (/dev/fd/N, /dev/stdin), as tee-model --key-file.
 * New secret files are created exclusively (O_EXCL | O_NOFOLLOW),
 * mode exactly 0600, as admin-token-file.ts does.
 */
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, type Stats, writeFileSync, writeSync } from 'node:fs';

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
  return readProtectedFile(file, { what: 'the master key file' });
}

/** The longest bootstrap secret file read (a password of at least 16 characters; more is not a secret file). */
export const MAX_BOOTSTRAP_SECRET_FILE_BYTES = 4096;

/**
 * The bootstrap secret from `file` (`serve --bootstrap-secret-file`, `admin token --secret-file`),
 * trimmed. The secret is exchanged for an admin token with every scope and no expiry, so its file is
 * held to the master key file's rules (review s14 #2; it was read with no check): never through a
 * symbolic link (a link can be redirected), a regular file, no permission bit for group or others,
 * owned by the user this process runs as or by root, at most MAX_BOOTSTRAP_SECRET_FILE_BYTES; a
 * missing file too is ERR_KBS_CONFIG naming the file. As for tee-model --key-file
 * (src/model/key-file.ts): a file owned by root may also let its group read it (0440, 0640), which is
 * what a Kubernetes secret volume with fsGroup is (the kubelet adds group read whatever defaultMode
 * says; give `<mount>/..data/<name>`, the file behind the volume's link), and `/dev/fd/N`,
 * `/proc/self/fd/N` and `/dev/stdin` read the inherited descriptor (readProtectedFile).
 */
export function readBootstrapSecretFile(file: string): string {
  const text = readProtectedFile(file, { what: 'the bootstrap secret file', rootGroupRead: true, maxBytes: MAX_BOOTSTRAP_SECRET_FILE_BYTES });
  if (text === undefined) throw configError(`the bootstrap secret file ${file} does not exist`);
  return text.trim();
}

/** The most read from a pipe or socket named by an inherited descriptor when the caller gives no bound. */
const MAX_SECRET_PIPE_BYTES = 4096;

/** `/dev/fd/N`, `/proc/self/fd/N`: an inherited descriptor, by number (as src/model/key-file.ts). */
const FD_PATH = /^\/(?:dev|proc\/self)\/fd\/(\d{1,9})$/;

/** The descriptor `path` names, or undefined for an ordinary path. */
function inheritedFd(path: string): number | undefined {
  if (path === '/dev/stdin') return 0;
  const n = FD_PATH.exec(path)?.[1];
  return n === undefined ? undefined : Number(n);
}

type ProtectedFileRules = {
  what: string;
  rootGroupRead?: boolean;
  maxBytes?: number;
  /** Whether /dev/fd/N, /proc/self/fd/N and /dev/stdin name an inherited descriptor (a file given by the operator); default true. */
  descriptors?: boolean;
};

/**
 * The mode and owner rules of a secret file (regular files only): no group or other permission bit
 * (with `rootGroupRead`, a root-owned file may also let its group read it: 0440 / 0640), and owned by
 * the user this process runs as or by root (review s14 change review #2: PostgreSQL's key-file rule,
 * which the group exception copies, has it too). Another user's 0600 file is readable only by a process
 * running as root, and that user can read and rewrite the secret. ERR_KBS_CONFIG otherwise.
 */
function checkSecretFileStat(st: Pick<Stats, 'mode' | 'uid'>, file: string, o: ProtectedFileRules): void {
  const mode = st.mode & 0o777;
  const shared = mode & 0o077;
  if (shared !== 0 && !(o.rootGroupRead === true && st.uid === 0 && shared === 0o040)) {
    const exception = o.rootGroupRead === true ? ' (a file owned by root may also let its group read it: 0440 or 0640)' : '';
    throw configError(`${o.what} ${file} has mode ${mode.toString(8)}: group or others may read it; chmod 600 ${file}${exception}`);
  }
  const euid = process.geteuid?.();
  if (euid !== undefined && st.uid !== euid && st.uid !== 0) {
    throw configError(`${o.what} ${file} is owned by uid ${st.uid}, neither the user this process runs as (uid ${euid}) nor root: that user can read and rewrite it; chown ${euid} ${file}`);
  }
}

/** Reads at most `bound` + 1 bytes with `readAt` (bytes so far to bytes read; 0 at the end); more than `bound` is ERR_KBS_CONFIG. */
function readBoundedSync(readAt: (buf: Buffer, offset: number) => number, bound: number, file: string, what: string): string {
  // One byte past the bound: a file that grows after fstat, or an endless pipe, is still not read whole.
  const buf = Buffer.alloc(bound + 1);
  try {
    let length = 0;
    while (length < buf.length) {
      const n = readAt(buf, length);
      if (n === 0) break;
      length += n;
    }
    if (length > bound) throw configError(`${what} ${file} is larger than ${bound} bytes`);
    return buf.toString('utf8', 0, length);
  } finally {
    buf.fill(0);
  }
}

/**
 * Whether another descriptor of this process holds the same pipe or socket as `fd`: then both ends are
 * ours (libuv's signal and wake-up pipes), not a descriptor someone passed (src/model/key-file.ts,
 * review s11 changes-d #1: reading one hung). Undefined where /proc cannot tell.
 */
function heldTwice(fd: number): boolean | undefined {
  try {
    const target = readlinkSync(`/proc/self/fd/${fd}`);
    return readdirSync('/proc/self/fd').some((n) => {
      if (n === String(fd)) return false;
      try {
        return readlinkSync(`/proc/self/fd/${n}`) === target;
      } catch {
        return false; // closed meanwhile (the listing's own descriptor)
      }
    });
  } catch {
    return undefined;
  }
}

/** Waits `ms` without returning to the event loop (the readers here are synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A secret from an inherited descriptor (`/dev/fd/N`, `/proc/self/fd/N`, `/dev/stdin`: `3<secret`,
 * `<(vault read …)`, a pipe into stdin), the exception tee-model --key-file makes (docs/decisions.md,
 * "`--key-file` on an inherited descriptor"): the descriptor itself is used, never the link, so nothing
 * can redirect it. A regular file behind it gets the mode and owner rules and is read by position from
 * its start (the offset, shared with whoever passed it, is left alone); a pipe or socket, which only the
 * holders of the descriptor can read, is read to its end up to the bound. The descriptor is left open.
 */
function readInheritedFd(fd: number, file: string, o: ProtectedFileRules): string {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EBADF') throw configError(`${o.what} ${file} names descriptor ${fd}, which this process has not inherited open (pass it, e.g. ${fd}<secret)`);
    throw configError(`cannot read ${o.what} ${file}: ${(e as Error).message}`);
  }
  const bound = o.maxBytes ?? MAX_SECRET_PIPE_BYTES;
  const failed = (e: unknown): never => {
    if ((e as NodeJS.ErrnoException).code === 'EBADF') throw configError(`${o.what} ${file} names descriptor ${fd}, which is not open for reading (pass the secret on it, e.g. ${fd}<secret)`);
    throw configError(`cannot read ${o.what} ${file}: ${(e as Error).message}`);
  };
  if (st.isFile()) {
    checkSecretFileStat(st, file, o);
    return readBoundedSync((buf, offset) => {
      try {
        return readSync(fd, buf, offset, buf.length - offset, offset);
      } catch (e) {
        return failed(e);
      }
    }, o.maxBytes ?? Math.max(st.size, MAX_SECRET_PIPE_BYTES), file, o.what);
  }
  if (!st.isFIFO() && !st.isSocket()) throw configError(`${o.what} ${file} is not a regular file, a pipe or a socket`);
  const channel = process.env['NODE_CHANNEL_FD'];
  if (heldTwice(fd) === true || (channel !== undefined && Number(channel) === fd)) {
    throw configError(`${o.what} ${file} names descriptor ${fd}, which this process opened for itself, not one passed to it (pass the secret on it, e.g. ${fd}<secret)`);
  }
  return readBoundedSync((buf, offset) => {
    for (;;) {
      try {
        return readSync(fd, buf, offset, buf.length - offset, null);
      } catch (e) {
        // A descriptor left non-blocking by whoever passed it: wait for the writer.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') sleepSync(10);
        else failed(e);
      }
    }
  }, bound, file, o.what);
}

/**
 * A secret file's text, undefined when it does not exist: opened with O_NOFOLLOW (a symbolic link is
 * ERR_KBS_CONFIG), a regular file, the mode and owner rules of checkSecretFileStat, at most `maxBytes`
 * when given. `/dev/fd/N`, `/proc/self/fd/N` and `/dev/stdin` read the inherited descriptor instead
 * (readInheritedFd). Every refusal is ERR_KBS_CONFIG naming `what` and the file.
 */
function readProtectedFile(file: string, o: ProtectedFileRules): string | undefined {
  const inherited = o.descriptors === false ? undefined : inheritedFd(file);
  if (inherited !== undefined) return readInheritedFd(inherited, file, o);
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once (and is refused below) instead of waiting for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw configError(`${o.what} ${file} is a symbolic link; give the file itself (a link can be redirected${o.rootGroupRead ? '; for a Kubernetes secret volume, <mount>/..data/<name>' : ''})${o.descriptors === false ? '' : ', or pass it on a descriptor: /dev/fd/N or /dev/stdin'}`);
    throw configError(`cannot read ${o.what} ${file}: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw configError(`${o.what} ${file} is not a regular file`);
    checkSecretFileStat(st, file, o);
    if (o.maxBytes === undefined) return readFileSync(fd, 'utf8');
    return readBoundedSync((buf, offset) => readSync(fd, buf, offset, buf.length - offset, null), o.maxBytes, file, o.what);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` exclusively (never through a symlink), mode exactly 0600, with `text`. */
function writeNewSecretFile(path: string, text: string): void {
  writeNewFile(path, text, 0o600);
}

/** Creates `path` exclusively (never through a symlink), mode exactly `mode`, with `text`; ERR_KBS_CONFIG otherwise. */
function writeNewFile(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') throw configError(`${path} exists already (a file or a symbolic link) and is never overwritten; move it away or give both the TLS certificate and its key`);
    throw configError(`cannot create ${path}: ${(e as Error).message}`);
  }
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` exists as a directory entry (a dangling symbolic link does too; existsSync says no). */
function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw configError(`cannot inspect ${path}: ${(e as Error).message}`);
  }
}

/**
 * The self-signed pair's state, checked before anything is written (review s14 #5): 'absent' (neither
 * file: a pair is generated), or the pair read back, after checking that the key belongs to the
 * certificate. Exactly one of the two files, a symbolic link at either path, a key file that group or
 * others may access or that another user owns (readProtectedFile; s14 change review #3), or a pair that
 * does not match or does not parse, is ERR_KBS_CONFIG naming the files: a certificate without its key used to make a new key, then fail on
 * the existing certificate with a raw EEXIST and leave the key behind, so that every later start met a
 * certificate and key that did not match (an untyped OpenSSL error, exit 2).
 */
export function selfSignedPairOf(certFile: string, keyFile: string): { cert: string; key: string } | 'absent' {
  const haveCert = entryExists(certFile);
  const haveKey = entryExists(keyFile);
  if (!haveCert && !haveKey) return 'absent';
  const how = `move it away (a new self-signed pair is then generated) or give the certificate and its key (--tls-cert / --tls-key)`;
  if (!haveKey) throw configError(`the self-signed TLS certificate ${certFile} exists without its key ${keyFile}: ${how}`);
  if (!haveCert) throw configError(`the self-signed TLS key ${keyFile} exists without its certificate ${certFile}: ${how}`);
  // Never through a symbolic link at either path, and the key under the secret files' rules: mode 0600
  // (no group or other bit), owned by this process's user or root (s14 change review #3: both were read
  // with readFileSync, which follows links, and a 0644 key was used silently).
  const cert = readPublicFile(certFile, 'the self-signed TLS certificate', how);
  let key: string | undefined;
  try {
    key = readProtectedFile(keyFile, { what: 'the self-signed TLS key', descriptors: false });
  } catch (e) {
    throw e instanceof KbsError ? configError(`${e.message}; ${how}`) : e;
  }
  if (key === undefined) throw configError(`the self-signed TLS key ${keyFile} vanished while it was read: ${how}`);
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw configError(`the self-signed TLS pair ${certFile} / ${keyFile} cannot be used: ${(e as Error).message}; move both away (a new pair is then generated) or give --tls-cert / --tls-key`);
  }
  if (!matches) throw configError(`the self-signed TLS key ${keyFile} does not belong to the certificate ${certFile}: move both away (a new pair is then generated) or give --tls-cert / --tls-key`);
  return { cert, key };
}

/**
 * A file that is not secret (a certificate), read never through a symbolic link, only if it is a regular
 * file (a FIFO is opened without waiting and refused); ERR_KBS_CONFIG naming `what`, the file and `how`.
 */
function readPublicFile(file: string, what: string, how: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw configError(`${what} ${file} is a symbolic link (a link can be redirected): ${how}`);
    throw configError(`cannot read ${what} ${file}: ${(e as Error).message}; ${how}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw configError(`${what} ${file} is not a regular file: ${how}`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** A self-signed certificate for `hosts` (DNS names or IP addresses), created once and reused. */
export async function selfSignedTls(certFile: string, keyFile: string, hosts: string[]): Promise<{ cert: string; key: string; generated: boolean }> {
  const existing = selfSignedPairOf(certFile, keyFile);
  if (existing !== 'absent') return { ...existing, generated: false };
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
  try {
    writeNewFile(certFile, certPem, 0o644);
  } catch (e) {
    rmSync(keyFile, { force: true }); // the key this call created: never a key without its certificate
    throw e;
  }
  return { cert: certPem, key: keyPem, generated: true };
}
