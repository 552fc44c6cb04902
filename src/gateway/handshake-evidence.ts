/**
 * Evidence in the TLS handshake (docs/gateway.md, "Evidence in the handshake"), RA-TLS style: the
 * client asks for evidence in its ClientHello's server name, the gateway answers the handshake with
 * a per-connection self-signed certificate for its one TLS key that carries the evidence. This module
 * is the encoding on both sides: the server name, the certificate the gateway writes, and the strict
 * DER reader the client runs on the certificate it was presented (hostile input).
 *
 * Server name (SNI)
 * -----------------
 *   servername = "n" ‖ base32(nonce) ‖ ".attest.tee-verify.invalid"
 *
 * nonce = exactly HANDSHAKE_NONCE_BYTES (32) random bytes. base32 = RFC 4648 alphabet in lowercase
 * (`a-z2-7`), no padding: 32 bytes -> 52 characters, the last character carrying 1 bit and 4 zero
 * bits (so it is 'a' or 'q'). The whole name is 79 ASCII characters; the first label (53 characters)
 * fits DNS's 63. `.invalid` (RFC 6761) never resolves. nonceOfServername accepts only exactly this
 * form: the total length is checked first, then the "n" prefix and the suffix (case-sensitive: an
 * uppercase letter anywhere is refused), then each of the 52 characters against the lowercase alphabet,
 * then canonicity (nonzero pad bits in the last character are refused: one nonce has one spelling).
 *
 * Certificate
 * -----------
 * A DER X.509 v3 certificate ([0] EXPLICIT INTEGER 2):
 *   serialNumber  16 random bytes, positive (first byte 0x40..0x7f: minimal and non-negative)
 *   signature     = signatureAlgorithm (below)
 *   issuer        = subject = the Name DER span of the gateway's normal certificate, copied
 *   validity      notBefore = now - 1 h, notAfter = now + 24 h (whole seconds, truncated); UTCTime
 *                 (YYMMDDHHMMSSZ) for years 1950-2049, GeneralizedTime (YYYYMMDDHHMMSSZ) otherwise
 *   subjectPublicKeyInfo  the normal certificate's SPKI DER bytes, exactly
 *   extensions    [3] EXPLICIT SEQUENCE { Extension { extnID HANDSHAKE_EVIDENCE_OID, critical absent
 *                 (FALSE), extnValue OCTET STRING { HandshakeEvidence } } }: one extension, nothing else
 *
 *   HANDSHAKE_EVIDENCE_OID = 2.25.290409780302948687190822312376096544151 (the UUID
 *   da7ae3a2-cc0f-4939-a70a-10bd5f3c5597 as an OID, ITU-T X.667), DER (22 bytes):
 *     06 14 69 83 b4 fa f1 e8 d9 c0 fa a4 f3 a7 85 84 97 d5 f9 f1 ab 17
 *
 *   HandshakeEvidence ::= SEQUENCE {
 *     version   INTEGER (1),                          -- 02 01 01
 *     tee       UTF8String ("tdx" | "sgx" | "snp"),   -- 0c 03 ...
 *     nonce     OCTET STRING (SIZE (32)),             -- 04 20 ...
 *     evidence  OCTET STRING (SIZE (1..1048576)),     -- the raw quote / report
 *     auxblob   [0] IMPLICIT OCTET STRING OPTIONAL    -- 80 ..: the SEV-SNP certificate table; absent when
 *   }                                                 --   the provider gave none
 * (An empty auxblob, 80 00, is valid DER and reads back as an empty auxblob; the gateway omits it.)
 * The whole certificate is at most HANDSHAKE_CERTIFICATE_MAX_BYTES (102391) bytes: the writer refuses a
 * larger one (OpenSSL clients refuse a Certificate message above 102400 bytes); the reader takes the
 * ASN.1 limits above.
 *
 * Signature, by the private key's type (node:crypto sign over the tbsCertificate's DER):
 *   EC P-256  ecdsa-with-SHA256  1.2.840.10045.4.3.2  (AlgorithmIdentifier without parameters)
 *   EC P-384  ecdsa-with-SHA384  1.2.840.10045.4.3.3  signature = DER Ecdsa-Sig-Value
 *   EC P-521  ecdsa-with-SHA512  1.2.840.10045.4.3.4
 *   RSA       sha256WithRSAEncryption 1.2.840.113549.1.1.11, parameters NULL; PKCS#1 v1.5
 *   Ed25519   1.3.101.112, no parameters; sign(null, tbs)
 * Any other key (RSA-PSS, Ed448, DSA, another curve): evidenceCertificateSigner throws RangeError.
 *
 * Reader (client side)
 * --------------------
 * readPresentedCertificate walks the certificate's DER once, without copies (subarrays of the input;
 * only the returned nonce is copied) and without a general ASN.1 decoder: definite lengths only, minimal
 * length octets (at most 4), no high tag numbers, every TLV inside its parent, nothing after the
 * Certificate or inside a SEQUENCE it walks. The shape must be exactly Certificate = SEQUENCE { tbs
 * SEQUENCE, AlgorithmIdentifier SEQUENCE, BIT STRING (0 unused bits) }; tbs = [0] { INTEGER 2 }, serial
 * (minimal INTEGER), signature SEQUENCE (byte-equal to the outer AlgorithmIdentifier, RFC 5280 4.1.1.2),
 * issuer, validity, subject, subjectPublicKeyInfo (SEQUENCEs, not descended into), optional [1] and [2]
 * (skipped), optional [3] { SEQUENCE (SIZE 1..MAX) OF Extension }. Extension = SEQUENCE { OID (well formed),
 * BOOLEAN critical only when TRUE (01 01 ff), OCTET STRING }. Not that shape: undefined (the caller takes
 * the slow X509Certificate path). That shape, but our extension present twice, marked critical, or its
 * content not exactly the HandshakeEvidence above (in DER): AttestationRefusedError ERR_ATTEST_EXCHANGE.
 *
 * The SPKI span the reader returns stands for the gateway's key only once the client has checked it against
 * the key OpenSSL verified the handshake with: verify.ts presentedCertificateBySpan decodes the span (DER
 * only), keeps it only when it is that key's canonical SPKI encoding, and answers the digests only when the
 * handshake's key equals it (KeyObject.equals); otherwise the caller exports the handshake key itself.
 */
import { createPrivateKey, randomFillSync, sign, X509Certificate, type KeyObject } from 'node:crypto';

import { AttestationRefusedError } from './errors.js';

export const HANDSHAKE_NONCE_BYTES = 32;
/** servername = 'n' + base32(nonce) + HANDSHAKE_SNI_SUFFIX */
export const HANDSHAKE_SNI_SUFFIX = '.attest.tee-verify.invalid';
/** X.509 extension OID (a UUID OID under 2.25, ITU-T X.667: no registration needed). */
export const HANDSHAKE_EVIDENCE_OID = '2.25.290409780302948687190822312376096544151';
export const HANDSHAKE_EVIDENCE_VERSION = 1;
/** The most evidence bytes the extension may carry (HandshakeEvidence.evidence SIZE (1..1048576)). */
export const HANDSHAKE_EVIDENCE_MAX_BYTES = 1_048_576;
/**
 * The largest evidence certificate evidenceCertificate writes (DER bytes). An OpenSSL client (Node's)
 * refuses a Certificate handshake message above its max_cert_list, 102400 bytes by default, which Node
 * cannot change: the handshake then fails with ERR_SSL_EXCESSIVE_MESSAGE_SIZE (and the server sees alert
 * 47). TLS 1.3 frames one certificate with 9 bytes (request context length 1, list length 3, entry
 * length 3, entry extensions length 2), so 102391 bytes is the largest that passes (measured: 102392
 * fails with TLS 1.3; TLS 1.2 frames with 6). A larger one is refused with RangeError, so that the
 * gateway answers with its normal certificate and the client asks in-band.
 */
export const HANDSHAKE_CERTIFICATE_MAX_BYTES = 102_391;

// ---------------------------------------------------------------------------------------------------
// Server name

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** char code -> 5-bit value, or -1 (lowercase alphabet only). */
const B32_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 32; i++) B32_VALUE[B32.charCodeAt(i)] = i;
const B32_CHARS = Math.ceil((HANDSHAKE_NONCE_BYTES * 8) / 5); // 52
const SERVERNAME_LENGTH = 1 + B32_CHARS + HANDSHAKE_SNI_SUFFIX.length; // 79

/** The SNI server name that carries `nonce` (exactly 32 bytes, else RangeError). */
export function handshakeServername(nonce: Uint8Array): string {
  if (!(nonce instanceof Uint8Array) || nonce.length !== HANDSHAKE_NONCE_BYTES) throw new RangeError(`the handshake nonce must be exactly ${HANDSHAKE_NONCE_BYTES} bytes`);
  let out = 'n';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < nonce.length; i++) {
    acc = ((acc << 8) | (nonce[i] as number)) & 0xfff; // at most 4 + 8 bits are pending
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out + HANDSHAKE_SNI_SUFFIX;
}

/** The nonce a server name carries, or undefined when it is not exactly such a name (any deviation). */
export function nonceOfServername(servername: string | undefined | null): Buffer | undefined {
  if (typeof servername !== 'string' || servername.length !== SERVERNAME_LENGTH) return undefined;
  if (servername.charCodeAt(0) !== 0x6e /* n */ || !servername.endsWith(HANDSHAKE_SNI_SUFFIX)) return undefined;
  const out = Buffer.alloc(HANDSHAKE_NONCE_BYTES); // its own memory, not a view of the shared pool
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 1; i <= B32_CHARS; i++) {
    const c = servername.charCodeAt(i);
    const v = c < 128 ? (B32_VALUE[c] as number) : -1;
    if (v < 0) return undefined;
    acc = ((acc << 5) | v) & 0x1fff; // at most 7 + 5 bits are pending
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // 52 * 5 = 260 bits: 4 pad bits remain, which must be zero (canonical spelling).
  if (o !== HANDSHAKE_NONCE_BYTES || (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// DER encoding (server side)

export interface HandshakeEvidence {
  tee: 'tdx' | 'sgx' | 'snp';
  /** 32 bytes. */
  nonce: Buffer;
  /** The raw quote / report. */
  evidence: Uint8Array;
  /** SEV-SNP certificate table, when the provider gave one. */
  auxblob?: Uint8Array;
}

const TEES = ['tdx', 'sgx', 'snp'] as const;

function lengthOctets(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  if (n < 0x100) return Buffer.of(0x81, n);
  if (n < 0x10000) return Buffer.of(0x82, n >>> 8, n & 0xff);
  if (n < 0x1000000) return Buffer.of(0x83, n >>> 16, (n >>> 8) & 0xff, n & 0xff);
  return Buffer.of(0x84, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** One TLV whose content is the concatenation of `parts`. */
function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  return Buffer.concat([Buffer.of(tag), lengthOctets(n), ...parts]);
}

/** DER content octets of a dotted OID. */
function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [];
  for (const arc of [(arcs[0] as bigint) * 40n + (arcs[1] as bigint), ...arcs.slice(2)]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn) | (chunk.length > 0 ? 0x80 : 0));
      v >>= 7n;
    } while (v > 0n);
    out.push(...chunk);
  }
  return Buffer.from(out);
}

const oid = (dotted: string): Buffer => tlv(0x06, oidContent(dotted));

/** The extension's OID as DER content bytes (what the reader compares). */
const EVIDENCE_OID_CONTENT = oidContent(HANDSHAKE_EVIDENCE_OID);
const EVIDENCE_OID_DER = tlv(0x06, EVIDENCE_OID_CONTENT);
const TEE_BYTES = TEES.map((t) => Buffer.from(t, 'ascii'));

/** The DER of one HandshakeEvidence value (the extension's OCTET STRING content). */
function encodeHandshakeEvidence(ev: HandshakeEvidence): Buffer {
  if (!TEES.includes(ev.tee)) throw new RangeError(`handshake evidence: unknown tee ${JSON.stringify(ev.tee)}`);
  if (!(ev.nonce instanceof Uint8Array) || ev.nonce.length !== HANDSHAKE_NONCE_BYTES) throw new RangeError(`handshake evidence: the nonce must be ${HANDSHAKE_NONCE_BYTES} bytes`);
  if (!(ev.evidence instanceof Uint8Array) || ev.evidence.length < 1 || ev.evidence.length > HANDSHAKE_EVIDENCE_MAX_BYTES) {
    throw new RangeError(`handshake evidence: the evidence must be 1 to ${HANDSHAKE_EVIDENCE_MAX_BYTES} bytes`);
  }
  if (ev.auxblob !== undefined && !(ev.auxblob instanceof Uint8Array)) throw new RangeError('handshake evidence: auxblob must be bytes');
  return tlv(
    0x30,
    Buffer.of(0x02, 0x01, HANDSHAKE_EVIDENCE_VERSION),
    tlv(0x0c, Buffer.from(ev.tee, 'ascii')),
    tlv(0x04, ev.nonce),
    tlv(0x04, ev.evidence),
    ...(ev.auxblob === undefined ? [] : [tlv(0x80, ev.auxblob)]),
  );
}

const two = (n: number): string => (n < 10 ? '0' : '') + n;

/** RFC 5280 Time: UTCTime for 1950-2049, GeneralizedTime otherwise; whole seconds. */
function encodeTime(ms: number): Buffer {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) throw new RangeError('evidence certificate: the validity is outside years 0000-9999');
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + 'Z';
  if (year >= 1950 && year <= 2049) return tlv(0x17, Buffer.from(two(year % 100) + rest, 'ascii'));
  return tlv(0x18, Buffer.from(String(year).padStart(4, '0') + rest, 'ascii'));
}

/** What the server needs once per TLS identity (computed at start; throws RangeError for an unsupported key). */
export interface EvidenceCertificateSigner {
  /** 'P-256', 'P-384', 'P-521', 'RSA' or 'Ed25519'. */
  readonly keyType: string;
  /** The normal certificate's SubjectPublicKeyInfo DER bytes (a copy), which every evidence certificate carries. */
  readonly spki: Buffer;
}

interface SignerState {
  key: KeyObject;
  /** node:crypto sign's algorithm: null for Ed25519. */
  digest: string | null;
  /** AlgorithmIdentifier DER, tbs and outer. */
  algorithm: Buffer;
  /** [0] EXPLICIT INTEGER 2. */
  version: Buffer;
  /** signature AlgorithmIdentifier ‖ issuer Name (between serial and validity). */
  afterSerial: Buffer;
  /** subject Name ‖ SPKI (between validity and extensions). */
  afterValidity: Buffer;
}

const SIGNERS = new WeakMap<EvidenceCertificateSigner, SignerState>();

const EC_CURVES: Record<string, { name: string; digest: string; oid: string }> = {
  prime256v1: { name: 'P-256', digest: 'sha256', oid: '1.2.840.10045.4.3.2' },
  secp384r1: { name: 'P-384', digest: 'sha384', oid: '1.2.840.10045.4.3.3' },
  secp521r1: { name: 'P-521', digest: 'sha512', oid: '1.2.840.10045.4.3.4' },
};

/**
 * What the server needs once per TLS identity: the private key, its signature algorithm, and the normal
 * certificate's subject Name and SPKI as DER spans. The certificate PEM may hold a chain: its first
 * certificate is the one. RangeError for a key type it cannot sign with (naming the type), for a
 * certificate whose key is not the private key's, or for a certificate that is not a strictly DER X.509
 * certificate (v1 to v3; its Name and SPKI cannot then be copied as spans); other errors (unreadable PEM) as
 * node:crypto throws them.
 */
export function evidenceCertificateSigner(privateKeyPem: string, certificatePem: string): EvidenceCertificateSigner {
  const key = createPrivateKey(privateKeyPem);
  const type = key.asymmetricKeyType;
  let keyType: string;
  let digest: string | null;
  let algorithm: Buffer;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const c = curve === undefined ? undefined : EC_CURVES[curve];
    if (!c) throw new RangeError(`evidence certificates cannot be signed with an EC key on curve ${curve ?? '(explicit parameters)'}: P-256, P-384, P-521, RSA or Ed25519 only`);
    keyType = c.name;
    digest = c.digest;
    algorithm = tlv(0x30, oid(c.oid));
  } else if (type === 'rsa') {
    keyType = 'RSA';
    digest = 'sha256';
    algorithm = tlv(0x30, oid('1.2.840.113549.1.1.11'), Buffer.of(0x05, 0x00));
  } else if (type === 'ed25519') {
    keyType = 'Ed25519';
    digest = null;
    algorithm = tlv(0x30, oid('1.3.101.112'));
  } else {
    throw new RangeError(`evidence certificates cannot be signed with a ${type ?? 'non-asymmetric'} key: EC P-256, P-384, P-521, RSA or Ed25519 only`);
  }
  const cert = new X509Certificate(certificatePem);
  if (!cert.checkPrivateKey(key)) throw new RangeError("the TLS certificate's public key is not the TLS private key's");
  const der = new Uint8Array(cert.raw.buffer, cert.raw.byteOffset, cert.raw.length);
  if (!walkCertificate(der, false)) throw new RangeError('the TLS certificate is not a strictly DER-encoded X.509 certificate: evidence certificates copy its subject and key as DER spans');
  const subject = Buffer.from(der.subarray(W.subjectStart, W.subjectEnd));
  const spki = Buffer.from(der.subarray(W.spkiStart, W.spkiEnd));
  const signer: EvidenceCertificateSigner = Object.freeze({ keyType, spki });
  SIGNERS.set(signer, {
    key,
    digest,
    algorithm,
    version: Buffer.of(0xa0, 0x03, 0x02, 0x01, 0x02),
    afterSerial: Buffer.concat([algorithm, subject]),
    afterValidity: Buffer.concat([subject, spki]),
  });
  return signer;
}

/**
 * A fresh self-signed DER certificate: subject = issuer = the normal certificate's subject (copy its
 * Name DER span), the normal certificate's SPKI bytes exactly, random 16-byte positive serial,
 * notBefore = now - 1 h, notAfter = now + 24 h, one non-critical extension HANDSHAKE_EVIDENCE_OID.
 * RangeError for evidence outside HandshakeEvidence's constraints, an unusable `now`, or a certificate
 * larger than HANDSHAKE_CERTIFICATE_MAX_BYTES (an OpenSSL client would fail the handshake on it).
 */
export function evidenceCertificate(signer: EvidenceCertificateSigner, ev: HandshakeEvidence, now: Date): Buffer {
  const s = SIGNERS.get(signer);
  if (!s) throw new TypeError('not an EvidenceCertificateSigner from evidenceCertificateSigner()');
  const t = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(t)) throw new RangeError('evidence certificate: `now` is not a valid Date');
  const serial = randomFillSync(Buffer.alloc(16));
  serial[0] = 0x40 | ((serial[0] as number) & 0x3f); // positive, and minimal (no leading 00 / ff octet)
  const value = encodeHandshakeEvidence(ev);
  const extensions = tlv(0xa3, tlv(0x30, tlv(0x30, EVIDENCE_OID_DER, tlv(0x04, value))));
  const tbs = tlv(0x30, s.version, tlv(0x02, serial), s.afterSerial, tlv(0x30, encodeTime(t - 3_600_000), encodeTime(t + 86_400_000)), s.afterValidity, extensions);
  const signature = sign(s.digest, tbs, s.key);
  const der = tlv(0x30, tbs, s.algorithm, tlv(0x03, Buffer.of(0), signature));
  if (der.length > HANDSHAKE_CERTIFICATE_MAX_BYTES) {
    throw new RangeError(`evidence certificate: ${der.length} bytes, more than the ${HANDSHAKE_CERTIFICATE_MAX_BYTES} an OpenSSL client accepts in a handshake (max_cert_list)`);
  }
  return der;
}

/** PEM text of evidenceCertificate(...) (Node's createSecureContext wants PEM). */
export function evidenceCertificatePem(signer: EvidenceCertificateSigner, ev: HandshakeEvidence, now: Date): string {
  const b64 = evidenceCertificate(signer, ev, now).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}

// ---------------------------------------------------------------------------------------------------
// Strict DER reader (client side; hostile input)

/** The content start and end of the TLV readTlv just read. Synchronous use only. */
let tStart = 0;
let tEnd = 0;

/**
 * Reads the TLV at `p`, which must lie wholly within `end`: its identifier octet, or -1 for anything not DER: high tag number,
 * indefinite length, more than 4 length octets, non-minimal length, content past `end`.
 */
function readTlv(b: Uint8Array, p: number, end: number): number {
  if (end - p < 2) return -1;
  const tag = b[p] as number;
  if ((tag & 0x1f) === 0x1f) return -1;
  let len = b[p + 1] as number;
  p += 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || end - p < n || b[p] === 0) return -1;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[p++] as number);
    if (len < 0x80) return -1;
  }
  if (len > end - p) return -1;
  tStart = p;
  tEnd = p + len;
  return tag;
}

/** A minimal two's-complement INTEGER content. */
function minimalInteger(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 1) return false;
  if (e - s === 1) return true;
  const b0 = b[s] as number;
  const b1 = (b[s + 1] as number) & 0x80;
  return !(b0 === 0x00 && b1 === 0) && !(b0 === 0xff && b1 !== 0);
}

/** A well-formed OBJECT IDENTIFIER content: not empty, each subidentifier minimal and terminated. */
function wellFormedOid(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 1 || ((b[e - 1] as number) & 0x80) !== 0) return false;
  let first = true;
  for (let i = s; i < e; i++) {
    const x = b[i] as number;
    if (first && x === 0x80) return false;
    first = (x & 0x80) === 0;
  }
  return true;
}

function spanEquals(b: Uint8Array, s: number, e: number, other: Uint8Array, os: number, oe: number): boolean {
  if (e - s !== oe - os) return false;
  for (let i = 0; i < e - s; i++) if (b[s + i] !== other[os + i]) return false;
  return true;
}

/** What walkCertificate found (spans of the input). Synchronous use only. */
const W = { subjectStart: 0, subjectEnd: 0, spkiStart: 0, spkiEnd: 0, extCount: 0, extCritical: false, extStart: 0, extEnd: 0 };

/**
 * Walks a Certificate of the shape in the header comment and fills W. false when `b` is not exactly that.
 * `requireV3` false lets a certificate without extensions omit the version (the gateway's own, at start).
 */
function walkCertificate(b: Uint8Array, requireV3 = true): boolean {
  W.extCount = 0;
  W.extCritical = false;
  const n = b.length;
  if (readTlv(b, 0, n) !== 0x30 || tEnd !== n) return false;
  const certEnd = tEnd;
  if (readTlv(b, tStart, certEnd) !== 0x30) return false;
  const tbsStart = tStart;
  const tbsEnd = tEnd;
  const algStart = tEnd;
  if (readTlv(b, algStart, certEnd) !== 0x30) return false;
  const algEnd = tEnd;
  if (readTlv(b, algEnd, certEnd) !== 0x03 || tEnd !== certEnd || tEnd - tStart < 2 || b[tStart] !== 0) return false;

  let p = tbsStart;
  let tag = readTlv(b, p, tbsEnd);
  let v3 = false;
  if (tag === 0xa0) {
    const vEnd = tEnd;
    if (readTlv(b, tStart, vEnd) !== 0x02 || tEnd !== vEnd || tEnd - tStart !== 1) return false;
    const version = b[tStart];
    if (version === 2) v3 = true;
    // v2 (INTEGER 1) in an operator's file: accepted for copying spans at start, never by the client reader.
    else if (requireV3 || version !== 1) return false;
    p = vEnd;
    tag = readTlv(b, p, tbsEnd);
  } else if (requireV3) {
    return false;
  }
  // serialNumber
  if (tag !== 0x02 || !minimalInteger(b, tStart, tEnd)) return false;
  p = tEnd;
  // signature: byte-equal to the outer AlgorithmIdentifier
  const sigStart = p;
  if (readTlv(b, p, tbsEnd) !== 0x30 || !spanEquals(b, sigStart, tEnd, b, algStart, algEnd)) return false;
  p = tEnd;
  // issuer, validity
  if (readTlv(b, p, tbsEnd) !== 0x30) return false;
  p = tEnd;
  if (readTlv(b, p, tbsEnd) !== 0x30) return false;
  p = tEnd;
  // subject
  const subjectStart = p;
  if (readTlv(b, p, tbsEnd) !== 0x30) return false;
  const subjectEnd = tEnd;
  p = tEnd;
  // subjectPublicKeyInfo
  const spkiStart = p;
  if (readTlv(b, p, tbsEnd) !== 0x30) return false;
  const spkiEnd = tEnd;
  p = tEnd;
  // issuerUniqueID [1], subjectUniqueID [2]: skipped
  if (p < tbsEnd) {
    tag = readTlv(b, p, tbsEnd);
    if (tag === 0x81 || tag === 0xa1) p = tEnd;
  }
  if (p < tbsEnd) {
    tag = readTlv(b, p, tbsEnd);
    if (tag === 0x82 || tag === 0xa2) p = tEnd;
  }
  // extensions [3]
  if (p < tbsEnd) {
    if (readTlv(b, p, tbsEnd) !== 0xa3 || !v3) return false;
    const xEnd = tEnd;
    p = xEnd;
    if (readTlv(b, tStart, xEnd) !== 0x30 || tEnd !== xEnd || tStart === tEnd) return false;
    let q = tStart;
    while (q < xEnd) {
      if (readTlv(b, q, xEnd) !== 0x30) return false;
      const eEnd = tEnd;
      q = eEnd;
      if (readTlv(b, tStart, eEnd) !== 0x06 || !wellFormedOid(b, tStart, tEnd)) return false;
      const ours = spanEquals(b, tStart, tEnd, EVIDENCE_OID_CONTENT, 0, EVIDENCE_OID_CONTENT.length);
      tag = readTlv(b, tEnd, eEnd);
      let critical = false;
      if (tag === 0x01) {
        if (tEnd - tStart !== 1 || b[tStart] !== 0xff) return false; // DER: DEFAULT FALSE is never encoded
        critical = true;
        tag = readTlv(b, tEnd, eEnd);
      }
      if (tag !== 0x04 || tEnd !== eEnd) return false;
      if (ours) {
        W.extCount++;
        W.extCritical ||= critical;
        if (W.extCount === 1) {
          W.extStart = tStart;
          W.extEnd = tEnd;
        }
      }
    }
  }
  if (p !== tbsEnd) return false;
  W.subjectStart = subjectStart;
  W.subjectEnd = subjectEnd;
  W.spkiStart = spkiStart;
  W.spkiEnd = spkiEnd;
  return true;
}

function refused(reason: string): AttestationRefusedError {
  return new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `the handshake certificate's evidence extension (${HANDSHAKE_EVIDENCE_OID}) ${reason}`);
}

/** Decodes the HandshakeEvidence DER in b[s, e); refuses anything but exactly that (AttestationRefusedError). */
function decodeHandshakeEvidence(b: Uint8Array, s: number, e: number): HandshakeEvidence {
  if (readTlv(b, s, e) !== 0x30 || tEnd !== e) throw refused('is not one DER SEQUENCE');
  let p = tStart;
  const end = tEnd;
  if (readTlv(b, p, end) !== 0x02) throw refused('has no version INTEGER');
  // One content octet 01 is the only DER of INTEGER 1: anything else is another version or not DER.
  if (tEnd - tStart !== 1 || b[tStart] !== HANDSHAKE_EVIDENCE_VERSION) throw refused(`has a version other than ${HANDSHAKE_EVIDENCE_VERSION}`);
  p = tEnd;
  if (readTlv(b, p, end) !== 0x0c) throw refused('has no tee UTF8String');
  let tee: HandshakeEvidence['tee'] | undefined;
  for (let i = 0; i < TEES.length; i++) {
    const t = TEE_BYTES[i] as Buffer;
    if (spanEquals(b, tStart, tEnd, t, 0, t.length)) tee = TEES[i];
  }
  if (tee === undefined) throw refused('names a tee other than tdx, sgx or snp');
  p = tEnd;
  if (readTlv(b, p, end) !== 0x04) throw refused('has no nonce OCTET STRING');
  if (tEnd - tStart !== HANDSHAKE_NONCE_BYTES) throw refused(`has a nonce of ${tEnd - tStart} bytes, not ${HANDSHAKE_NONCE_BYTES}`);
  const nonce = Buffer.alloc(HANDSHAKE_NONCE_BYTES); // a copy with its own memory: the caller compares and keeps it
  nonce.set(b.subarray(tStart, tEnd));
  p = tEnd;
  if (readTlv(b, p, end) !== 0x04) throw refused('has no evidence OCTET STRING');
  if (tEnd - tStart < 1 || tEnd - tStart > HANDSHAKE_EVIDENCE_MAX_BYTES) throw refused(`has evidence of ${tEnd - tStart} bytes, not 1 to ${HANDSHAKE_EVIDENCE_MAX_BYTES}`);
  const evidence = b.subarray(tStart, tEnd);
  p = tEnd;
  let auxblob: Uint8Array | undefined;
  if (p < end) {
    if (readTlv(b, p, end) !== 0x80) throw refused('has bytes after the evidence that are not an auxblob [0]');
    auxblob = b.subarray(tStart, tEnd);
    p = tEnd;
  }
  if (p !== end) throw refused('has bytes after its last field');
  return auxblob === undefined ? { tee, nonce, evidence } : { tee, nonce, evidence, auxblob };
}

export interface ReadCertificate {
  /** The SubjectPublicKeyInfo's DER bytes: a subarray of the input, never re-encoded. */
  spki: Uint8Array;
  /** Our extension's content, when the certificate has it. */
  evidence: HandshakeEvidence | undefined;
}

/**
 * Strict DER read of a presented certificate. Returns undefined when `der` is not a strictly DER-encoded
 * X.509 v3 certificate of the expected shape (the caller then falls back to the slow X509Certificate path).
 * Throws AttestationRefusedError('ERR_ATTEST_EXCHANGE', ...) (src/gateway/errors.ts) when the certificate
 * is well formed but our extension is present more than once, marked critical, or its content is malformed
 * (wrong version, nonce not 32 bytes, unknown tee, empty evidence, lengths, trailing bytes, ...).
 * The evidence and auxblob are subarrays of `der`; the nonce is a copy. Nothing is verified here: not the
 * signature, not the validity, not the nonce (the caller compares it with its own).
 */
export function readPresentedCertificate(der: Uint8Array): ReadCertificate | undefined {
  if (!(der instanceof Uint8Array) || !walkCertificate(der)) return undefined;
  const spki = der.subarray(W.spkiStart, W.spkiEnd);
  if (W.extCount === 0) return { spki, evidence: undefined };
  if (W.extCount > 1) throw refused(`is present ${W.extCount} times`);
  if (W.extCritical) throw refused('is marked critical');
  return { spki, evidence: decodeHandshakeEvidence(der, W.extStart, W.extEnd) };
}
