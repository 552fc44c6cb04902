/**
 * Evidence in the TLS handshake: the server name that carries the nonce, the per-connection
 * evidence certificate (checked by OpenSSL through node:crypto X509Certificate, by an independent
 * strict DER parse, and by a real TLS handshake, where the span the reader locates is checked against
 * the handshake key with verify.ts presentedCertificateBySpan), and the client's strict DER reader on
 * hostile input.
 */
import { createHash, generateKeyPairSync, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';

import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';

import { AttestationRefusedError } from '../../src/gateway/errors.js';
import {
  HANDSHAKE_CERTIFICATE_MAX_BYTES,
  HANDSHAKE_EVIDENCE_OID,
  HANDSHAKE_NONCE_BYTES,
  HANDSHAKE_SNI_SUFFIX,
  evidenceCertificate,
  evidenceCertificatePem,
  evidenceCertificateSigner,
  handshakeServername,
  nonceOfServername,
  readPresentedCertificate,
  type HandshakeEvidence,
} from '../../src/gateway/handshake-evidence.js';
import { generateTls, type TlsIdentity } from '../../src/gateway/tls.js';
import { presentedCertificateBySpan } from '../../src/gateway/verify.js';
import { bitString, boolean, explicit, integer, objectIdentifier, octetString, sequence, tlv, utf8String } from '../../src/testing/der.js';
import { children, decodeOid, parseDer, type DerNode } from '../../src/x509/asn1.js';

// ------------------------------------------------------------------------------------------------
// Helpers

/** An independent base32 (RFC 4648, lowercase, no padding) through a bit string. */
function refBase32(bytes: Uint8Array): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
  const padded = bits.padEnd(Math.ceil(bits.length / 5) * 5, '0');
  let out = '';
  for (let i = 0; i < padded.length; i += 5) out += 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(padded.slice(i, i + 5), 2)];
  return out;
}

const pem = (label: string, der: Uint8Array): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;

/** A self-signed normal certificate for a WebCrypto key pair (as tls.ts makes the P-256 one). */
async function webIdentity(keyAlg: Record<string, unknown>, signingAlgorithm: Record<string, unknown>): Promise<TlsIdentity> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = (await webcrypto.subtle.generateKey(keyAlg as never, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01' + randomBytes(8).toString('hex'),
    name: 'CN=tee-verify gateway test, O=handshake',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: cert.toString('pem') + '\n', key: pem('PRIVATE KEY', pkcs8) };
}

const spkiOf = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** readPresentedCertificate's outcome as data: 'undefined', 'refused' (typed), or the parse. Any other throw fails the test. */
function outcome(der: Uint8Array): 'undefined' | 'refused' | NonNullable<ReturnType<typeof readPresentedCertificate>> {
  let r;
  try {
    r = readPresentedCertificate(der);
  } catch (e) {
    if (e instanceof AttestationRefusedError && e.code === 'ERR_ATTEST_EXCHANGE') return 'refused';
    throw e;
  }
  return r ?? 'undefined';
}

const sameEvidence = (a: HandshakeEvidence | undefined, b: HandshakeEvidence | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.tee === b.tee &&
  Buffer.from(a.nonce).equals(Buffer.from(b.nonce)) &&
  Buffer.from(a.evidence).equals(Buffer.from(b.evidence)) &&
  (a.auxblob === undefined) === (b.auxblob === undefined) &&
  (a.auxblob === undefined || Buffer.from(a.auxblob).equals(Buffer.from(b.auxblob as Uint8Array)));

// ------------------------------------------------------------------------------------------------

describe('server name', () => {
  const name = (n: Uint8Array): string => handshakeServername(n);

  it('round-trips, is n + 52 lowercase base32 characters + the suffix, and matches an independent base32', () => {
    const nonces = [Buffer.alloc(32), Buffer.alloc(32, 0xff), ...Array.from({ length: 20 }, () => randomBytes(32))];
    for (const nonce of nonces) {
      const s = name(nonce);
      expect(s).toBe(`n${refBase32(nonce)}${HANDSHAKE_SNI_SUFFIX}`);
      expect(s).toMatch(/^n[a-z2-7]{51}[aq]\.attest\.tee-verify\.invalid$/);
      expect(s.length).toBe(79);
      expect(nonceOfServername(s)?.equals(nonce)).toBe(true);
    }
    expect(name(Buffer.alloc(32))).toBe(`n${'a'.repeat(52)}${HANDSHAKE_SNI_SUFFIX}`);
    expect(name(Buffer.alloc(32, 0xff))).toBe(`n${'7'.repeat(51)}q${HANDSHAKE_SNI_SUFFIX}`);
    // The returned nonce has its own memory (not a view of Node's shared pool).
    const n = nonceOfServername(name(Buffer.alloc(32, 7))) as Buffer;
    expect(n.byteOffset).toBe(0);
    expect(n.buffer.byteLength).toBe(32);
  });

  it('handshakeServername takes exactly 32 bytes', () => {
    expect(HANDSHAKE_NONCE_BYTES).toBe(32);
    for (const n of [0, 16, 31, 33, 64]) expect(() => handshakeServername(new Uint8Array(n))).toThrow(RangeError);
    expect(() => handshakeServername('x'.repeat(32) as unknown as Uint8Array)).toThrow(RangeError);
  });

  it('refuses every deviation', () => {
    const nonce = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const good = name(nonce);
    const b32 = good.slice(1, 53);
    expect(b32.endsWith('a') || b32.endsWith('q')).toBe(true);
    const bad: Array<string | undefined | null> = [
      undefined,
      null,
      '',
      'localhost',
      HANDSHAKE_SNI_SUFFIX,
      // wrong suffix
      `n${b32}.attest.tee-verify.example`,
      `n${b32}.attest.tee-verify.invalid.`,
      `n${b32}.attest.tee-verify.invalie`,
      `n${b32}`,
      // uppercase, anywhere
      good.toUpperCase(),
      `N${b32}${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32.slice(0, 10)}${b32.slice(10, 11).toUpperCase()}${b32.slice(11)}${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32}${HANDSHAKE_SNI_SUFFIX.toUpperCase()}`,
      // 51 and 53 characters
      `n${b32.slice(0, 51)}${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32}a${HANDSHAKE_SNI_SUFFIX}`,
      `n${refBase32(Buffer.concat([nonce, Buffer.of(0)]))}${HANDSHAKE_SNI_SUFFIX}`,
      // non-canonical last character (nonzero pad bits): every letter but a and q
      ...'bcdefghijklmnoprstuvwxyz234567'.split('').map((c) => `n${b32.slice(0, 51)}${c}${HANDSHAKE_SNI_SUFFIX}`),
      // characters outside the alphabet
      ...'01890=-_.*é'.split('').map((c) => `n${c}${b32.slice(1)}${HANDSHAKE_SNI_SUFFIX}`),
      // another prefix, extra labels
      `m${b32}${HANDSHAKE_SNI_SUFFIX}`,
      `x.n${b32}${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32}.x${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32.slice(0, 26)}.${b32.slice(26)}${HANDSHAKE_SNI_SUFFIX}`,
      `n${b32}${HANDSHAKE_SNI_SUFFIX}`.repeat(2),
      'n'.repeat(100_000),
    ];
    for (const s of bad) expect(nonceOfServername(s), String(s)).toBeUndefined();
    expect(nonceOfServername(42 as unknown as string)).toBeUndefined();
    expect(nonceOfServername(good)?.equals(nonce)).toBe(true);
    // Of the last character's 32 values, exactly two are canonical.
    const accepted = 'abcdefghijklmnopqrstuvwxyz234567'.split('').filter((c) => nonceOfServername(`n${b32.slice(0, 51)}${c}${HANDSHAKE_SNI_SUFFIX}`) !== undefined);
    expect(accepted).toEqual(['a', 'q']);
  });
});

// ------------------------------------------------------------------------------------------------

interface Identity {
  label: string;
  tls: TlsIdentity;
  normal: X509Certificate;
}

const identities: Identity[] = [];
const evidence = (tee: HandshakeEvidence['tee'], aux: boolean): HandshakeEvidence => ({
  tee,
  nonce: randomBytes(32),
  evidence: randomBytes(tee === 'snp' ? 1184 : 5006),
  ...(aux ? { auxblob: randomBytes(3000) } : {}),
});

beforeAll(async () => {
  const make = async (label: string, tls: TlsIdentity): Promise<void> => {
    identities.push({ label, tls, normal: new X509Certificate(tls.cert) });
  };
  await make('P-256', await generateTls(['127.0.0.1']));
  await make('P-384', await webIdentity({ name: 'ECDSA', namedCurve: 'P-384' }, { name: 'ECDSA', hash: 'SHA-384' }));
  await make(
    'RSA 2048',
    await webIdentity({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }),
  );
  await make('Ed25519', await webIdentity({ name: 'Ed25519' }, { name: 'Ed25519' }));
});

describe('evidenceCertificate', () => {
  it('is a valid self-signed certificate for the same key and subject, carrying the evidence (P-256, P-384, RSA 2048, Ed25519)', () => {
    const now = new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 987));
    expect(identities.map((i) => i.label)).toEqual(['P-256', 'P-384', 'RSA 2048', 'Ed25519']);
    for (const id of identities) {
      const signer = evidenceCertificateSigner(id.tls.key, id.tls.cert);
      expect(signer.keyType, id.label).toBe(id.label === 'RSA 2048' ? 'RSA' : id.label);
      expect(signer.spki.equals(spkiOf(id.normal.publicKey))).toBe(true);
      for (const [tee, aux] of [['tdx', false], ['snp', true], ['sgx', false]] as const) {
        const ev = evidence(tee, aux);
        const der = evidenceCertificate(signer, ev, now);
        const x = new X509Certificate(der);
        expect(x.verify(x.publicKey), id.label).toBe(true); // OpenSSL accepts its self-signature
        expect(x.checkIssued(x)).toBe(true);
        expect(x.publicKey.equals(id.normal.publicKey)).toBe(true);
        expect(x.subject).toBe(id.normal.subject);
        expect(x.issuer).toBe(id.normal.subject);
        expect(new Date(x.validFrom).getTime()).toBe(Date.UTC(2031, 4, 6, 6, 8, 9));
        expect(new Date(x.validTo).getTime()).toBe(Date.UTC(2031, 4, 7, 7, 8, 9));
        expect(x.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
        expect(x.ca).toBe(false);
        // The normal certificate's SPKI bytes, verbatim.
        const read = readPresentedCertificate(der);
        expect(read).toBeDefined();
        expect(Buffer.from(read!.spki).equals(spkiOf(x.publicKey))).toBe(true);
        expect(read!.spki.buffer).toBe(der.buffer); // a span, not a copy
        const got = read!.evidence!;
        expect(got.tee).toBe(tee);
        expect(got.nonce.equals(ev.nonce)).toBe(true);
        expect(Buffer.from(got.evidence).equals(Buffer.from(ev.evidence))).toBe(true);
        if (aux) expect(Buffer.from(got.auxblob!).equals(Buffer.from(ev.auxblob!))).toBe(true);
        else expect('auxblob' in got).toBe(false);
        // PEM of the same shape.
        const text = evidenceCertificatePem(signer, ev, now);
        expect(text).toMatch(/^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
        const again = new X509Certificate(text);
        expect(again.verify(again.publicKey)).toBe(true);
        expect(again.serialNumber).not.toBe(x.serialNumber); // a fresh serial each time
      }
    }
  });

  it('encodes exactly the documented DER (independent strict parse)', () => {
    const id = identities[0]!;
    const signer = evidenceCertificateSigner(id.tls.key, id.tls.cert);
    const ev = evidence('snp', true);
    const der = new Uint8Array(evidenceCertificate(signer, ev, new Date(Date.UTC(2049, 11, 31, 23, 30, 0))));
    const root = parseDer(der); // strict DER throughout (src/x509/asn1.ts)
    const [tbs, alg, sig] = children(root) as [DerNode, DerNode, DerNode];
    expect(sig.tag).toBe(0x03);
    const t = children(tbs);
    expect(t.map((n) => n.tag)).toEqual([0xa0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xa3]);
    expect(Buffer.from(t[0]!.der).toString('hex')).toBe('a003020102');
    expect(t[1]!.content.length).toBe(16);
    expect(Buffer.from(t[2]!.der).equals(Buffer.from(alg.der))).toBe(true);
    expect(decodeOid(children(alg)[0], 'alg')).toBe('1.2.840.10045.4.3.2');
    expect(children(alg).length).toBe(1);
    expect(Buffer.from(t[3]!.der).equals(Buffer.from(t[5]!.der))).toBe(true); // issuer = subject
    // Validity across 2050: UTCTime then GeneralizedTime.
    const [nb, na] = children(t[4]!) as [DerNode, DerNode];
    expect([nb.tag, Buffer.from(nb.content).toString('ascii')]).toEqual([0x17, '491231223000Z']);
    expect([na.tag, Buffer.from(na.content).toString('ascii')]).toEqual([0x18, '20500101233000Z']);
    // One extension: our OID, no critical flag, the HandshakeEvidence.
    const exts = children(children(t[7]!)[0]!);
    expect(exts.length).toBe(1);
    const ext = children(exts[0]!);
    expect(ext.length).toBe(2);
    expect(decodeOid(ext[0], 'oid')).toBe(HANDSHAKE_EVIDENCE_OID);
    expect(Buffer.from(ext[0]!.der).toString('hex')).toBe('0614698' + '3b4faf1e8d9c0faa4f3a7858497d5f9f1ab17'); // as documented in the module header
    expect(ext[1]!.tag).toBe(0x04);
    const value = parseDer(ext[1]!.content);
    const fields = children(value);
    expect(fields.map((n) => n.tag)).toEqual([0x02, 0x0c, 0x04, 0x04, 0x80]);
    expect(Buffer.from(fields[0]!.der).toString('hex')).toBe('020101');
    expect(Buffer.from(fields[1]!.content).toString()).toBe('snp');
    expect(Buffer.from(fields[2]!.content).equals(ev.nonce)).toBe(true);
    expect(Buffer.from(fields[3]!.content).equals(Buffer.from(ev.evidence))).toBe(true);
    expect(Buffer.from(fields[4]!.content).equals(Buffer.from(ev.auxblob!))).toBe(true);
    // GeneralizedTime also before 1950, and X509Certificate reads both.
    const old = new X509Certificate(evidenceCertificate(signer, ev, new Date(Date.UTC(1949, 5, 1))));
    expect(new Date(old.validFrom).getTime()).toBe(Date.UTC(1949, 4, 31, 23));
  });

  it('refuses evidence outside HandshakeEvidence and keys it cannot sign with', () => {
    const id = identities[0]!;
    const signer = evidenceCertificateSigner(id.tls.key, id.tls.cert);
    const now = new Date();
    const ok = evidence('tdx', false);
    expect(() => evidenceCertificate(signer, { ...ok, nonce: randomBytes(31) }, now)).toThrow(RangeError);
    expect(() => evidenceCertificate(signer, { ...ok, evidence: new Uint8Array(0) }, now)).toThrow(RangeError);
    expect(() => evidenceCertificate(signer, { ...ok, evidence: new Uint8Array(1_048_577) }, now)).toThrow(RangeError);
    expect(() => evidenceCertificate(signer, { ...ok, tee: 'sev' as 'snp' }, now)).toThrow(RangeError);
    expect(() => evidenceCertificate(signer, ok, new Date(NaN))).toThrow(RangeError);
    expect(() => evidenceCertificate(signer, ok, new Date(8.64e15))).toThrow(RangeError); // notAfter past the last Date
    expect(() => evidenceCertificate(signer, ok, new Date(Date.UTC(9999, 11, 31, 12)))).toThrow(RangeError); // notAfter in year 10000
    expect(() => evidenceCertificate({ keyType: 'P-256', spki: Buffer.alloc(0) }, ok, now)).toThrow(TypeError);
    // Within the ASN.1 limit but larger than an OpenSSL client takes in a handshake.
    expect(() => evidenceCertificate(signer, { ...ok, evidence: new Uint8Array(1_048_576) }, now)).toThrow(/max_cert_list/);

    const keyPem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const [type, opts, name] of [
      ['ed448', {}, /ed448/],
      ['rsa-pss', { modulusLength: 1024 }, /rsa-pss/],
      ['ec', { namedCurve: 'secp256k1' }, /secp256k1/],
    ] as const) {
      const { privateKey } = generateKeyPairSync(type as 'ec', opts as { namedCurve: string });
      expect(() => evidenceCertificateSigner(keyPem(privateKey), id.tls.cert)).toThrow(name);
      expect(() => evidenceCertificateSigner(keyPem(privateKey), id.tls.cert)).toThrow(RangeError);
    }
    // A certificate for another key.
    expect(() => evidenceCertificateSigner(identities[1]!.tls.key, id.tls.cert)).toThrow(RangeError);
  });
});

// ------------------------------------------------------------------------------------------------

describe('Node TLS', () => {
  it('presents the evidence certificate to a client that asks in its server name, the normal one otherwise', async () => {
    for (const id of identities) {
      const signer = evidenceCertificateSigner(id.tls.key, id.tls.cert);
      const made = new Map<string, Buffer>();
      const server = createTlsServer({
        key: id.tls.key,
        cert: id.tls.cert,
        SNICallback: (servername, cb) => {
          const nonce = nonceOfServername(servername);
          if (!nonce) return cb(null);
          const text = evidenceCertificatePem(signer, { tee: 'tdx', nonce, evidence: Buffer.from('quote for ' + servername) }, new Date());
          made.set(servername, new X509Certificate(text).raw);
          cb(null, createSecureContext({ key: id.tls.key, cert: text }));
        },
      });
      server.on('secureConnection', (s: TLSSocket) => s.end());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const peerOf = async (servername: string | undefined): Promise<X509Certificate> => {
        const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
        await once(socket, 'secureConnect');
        const peer = socket.getPeerX509Certificate() as X509Certificate;
        socket.destroy();
        return peer;
      };
      try {
        const nonce = randomBytes(32);
        const servername = handshakeServername(nonce);
        const peer = await peerOf(servername);
        expect(peer.raw.equals(made.get(servername)!), id.label).toBe(true);
        const der = new Uint8Array(peer.raw.buffer, peer.raw.byteOffset, peer.raw.length);
        const read = readPresentedCertificate(der)!;
        expect(read.evidence!.nonce.equals(nonce)).toBe(true);
        expect(Buffer.from(read.evidence!.evidence).toString()).toBe('quote for ' + servername);
        // The span is the handshake key's canonical SPKI for all four key types (the normal certificate's
        // SPKI as @peculiar/x509 / node wrote it, copied verbatim), so the client's fast path answers, with
        // the hash of the key's own SPKI export (what binding.ts hashes and the gateway binds).
        const exported = spkiOf(peer.publicKey);
        expect(Buffer.from(read.spki).equals(exported), id.label).toBe(true);
        const byspan = presentedCertificateBySpan(der, read.spki, peer.publicKey);
        expect(byspan, id.label).toBeDefined();
        expect(byspan!.spkiSha256.equals(createHash('sha256').update(exported).digest()), id.label).toBe(true);
        expect(byspan!.spkiSha256Hex).toBe(createHash('sha256').update(exported).digest('hex'));
        expect(byspan!.certificateSha256).toBe(createHash('sha256').update(der).digest('hex'));
        // Another connection's key (the normal certificate of another identity): no answer.
        const other = identities.find((o) => o !== id)!;
        expect(presentedCertificateBySpan(der, read.spki, other.normal.publicKey), id.label).toBeUndefined();

        const normal = await peerOf(undefined);
        expect(normal.raw.equals(id.normal.raw)).toBe(true);
        const plain = readPresentedCertificate(normal.raw)!;
        expect(plain.evidence).toBeUndefined();
        expect(Buffer.from(plain.spki).equals(spkiOf(normal.publicKey))).toBe(true);
      } finally {
        server.close();
      }
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('certificate size', () => {
  it('a certificate of HANDSHAKE_CERTIFICATE_MAX_BYTES passes a Node TLS handshake (1.3 and 1.2); the writer refuses one byte more', async () => {
    const id = identities.find((i) => i.label === 'Ed25519')!; // fixed-size signature: an exact size
    const signer = evidenceCertificateSigner(id.tls.key, id.tls.cert);
    const ev = (n: number): HandshakeEvidence => ({ tee: 'tdx', nonce: randomBytes(32), evidence: new Uint8Array(n) });
    const size = 100_000 + HANDSHAKE_CERTIFICATE_MAX_BYTES - evidenceCertificate(signer, ev(100_000), new Date()).length;
    expect(evidenceCertificate(signer, ev(size), new Date()).length).toBe(HANDSHAKE_CERTIFICATE_MAX_BYTES);
    expect(() => evidenceCertificate(signer, ev(size + 1), new Date())).toThrow(RangeError);
    expect(HANDSHAKE_CERTIFICATE_MAX_BYTES).toBe(102_391);
    const server = createTlsServer({
      key: id.tls.key,
      cert: id.tls.cert,
      SNICallback: (servername, cb) => cb(null, createSecureContext({ key: id.tls.key, cert: evidenceCertificatePem(signer, { ...ev(size), nonce: nonceOfServername(servername)! }, new Date()) })),
    });
    server.on('secureConnection', (s: TLSSocket) => s.end());
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
        const nonce = randomBytes(32);
        const socket = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, maxVersion, servername: handshakeServername(nonce) });
        await once(socket, 'secureConnect');
        const raw = (socket.getPeerX509Certificate() as X509Certificate).raw;
        socket.destroy();
        expect(raw.length, maxVersion).toBe(HANDSHAKE_CERTIFICATE_MAX_BYTES);
        expect(readPresentedCertificate(raw)!.evidence!.nonce.equals(nonce)).toBe(true);
      }
    } finally {
      server.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('readPresentedCertificate on malformed certificates', () => {
  /** Rebuilds a certificate from a real one's parts, changed as asked (signature not recomputed: the reader does not check it). */
  let parts: { tbs: DerNode[]; alg: Uint8Array; sig: Uint8Array; ev: HandshakeEvidence; real: Buffer };
  beforeAll(() => {
    const id = identities[0]!;
    const ev = evidence('snp', true);
    const real = evidenceCertificate(evidenceCertificateSigner(id.tls.key, id.tls.cert), ev, new Date());
    const [tbs, alg, sig] = children(parseDer(new Uint8Array(real))) as [DerNode, DerNode, DerNode];
    parts = { tbs: children(tbs), alg: alg.der, sig: sig.der, ev, real };
  });

  const OID = objectIdentifier(HANDSHAKE_EVIDENCE_OID);
  const ext = (value: Uint8Array, critical?: boolean): Uint8Array => (critical === undefined ? sequence(OID, octetString(value)) : sequence(OID, boolean(critical), octetString(value)));
  const hev = (o: { version?: number; tee?: string; nonce?: Uint8Array; evidence?: Uint8Array; aux?: Uint8Array | null; tail?: Uint8Array } = {}): Uint8Array =>
    sequence(
      integer(o.version ?? 1),
      utf8String(o.tee ?? 'snp'),
      octetString(o.nonce ?? parts.ev.nonce),
      octetString(o.evidence ?? parts.ev.evidence),
      ...(o.aux === null ? [] : [tlv(0x80, o.aux ?? parts.ev.auxblob!)]),
      ...(o.tail ? [o.tail] : []),
    );
  const cert = (o: { version?: Uint8Array | null; serial?: Uint8Array; extensions?: Uint8Array[] | null; sigAlg?: Uint8Array; extra?: Uint8Array[] } = {}): Uint8Array => {
    const t = parts.tbs;
    const extensions = o.extensions === null ? [] : [explicit(3, sequence(...(o.extensions ?? [ext(hev())])))];
    const tbs = sequence(...(o.version === null ? [] : [o.version ?? t[0]!.der]), o.serial ?? t[1]!.der, o.sigAlg ?? t[2]!.der, t[3]!.der, t[4]!.der, t[5]!.der, t[6]!.der, ...(o.extra ?? []), ...extensions);
    return sequence(tbs, parts.alg, parts.sig);
  };

  it('the rebuilt certificate equals the real one (the builder is faithful)', () => {
    expect(Buffer.from(cert()).equals(parts.real)).toBe(true);
    expect(sameEvidence((outcome(cert()) as { evidence: HandshakeEvidence }).evidence, parts.ev)).toBe(true);
  });

  it('each variant gives its documented outcome', () => {
    const spkiLen = parts.tbs[6]!.der.length;
    const cases: Array<[string, Uint8Array, 'undefined' | 'refused' | 'parsed']> = [
      // Our extension is wrong: well-formed certificate, typed refusal.
      ['duplicate extension', cert({ extensions: [ext(hev()), ext(hev())] }), 'refused'],
      ['duplicate extension (different content)', cert({ extensions: [ext(hev()), sequence(objectIdentifier('2.5.29.19'), octetString(sequence())), ext(hev({ tee: 'tdx' }))] }), 'refused'],
      ['critical flag', cert({ extensions: [ext(hev(), true)] }), 'refused'],
      ['HandshakeEvidence version 2', cert({ extensions: [ext(hev({ version: 2 }))] }), 'refused'],
      ['HandshakeEvidence version 0', cert({ extensions: [ext(hev({ version: 0 }))] }), 'refused'],
      ['HandshakeEvidence version 257', cert({ extensions: [ext(hev({ version: 257 }))] }), 'refused'],
      ['nonce 31 bytes', cert({ extensions: [ext(hev({ nonce: randomBytes(31) }))] }), 'refused'],
      ['nonce 33 bytes', cert({ extensions: [ext(hev({ nonce: randomBytes(33) }))] }), 'refused'],
      ['unknown tee', cert({ extensions: [ext(hev({ tee: 'sev' }))] }), 'refused'],
      ['uppercase tee', cert({ extensions: [ext(hev({ tee: 'TDX' }))] }), 'refused'],
      ['tee as PrintableString', cert({ extensions: [ext(sequence(integer(1), tlv(0x13, Buffer.from('tdx')), octetString(parts.ev.nonce), octetString(parts.ev.evidence)))] }), 'refused'],
      ['empty evidence', cert({ extensions: [ext(hev({ evidence: new Uint8Array(0) }))] }), 'refused'],
      ['evidence of exactly 1 MiB (the reader takes the ASN.1 limit)', cert({ extensions: [ext(hev({ evidence: new Uint8Array(1_048_576), aux: null }))] }), 'parsed'],
      ['evidence of 1 MiB + 1', cert({ extensions: [ext(hev({ evidence: new Uint8Array(1_048_577), aux: null }))] }), 'refused'],
      ['trailing byte inside HandshakeEvidence', cert({ extensions: [ext(hev({ tail: Uint8Array.of(0x05, 0x00) }))] }), 'refused'],
      ['trailing byte inside HandshakeEvidence (no auxblob)', cert({ extensions: [ext(hev({ aux: null, tail: Uint8Array.of(0x04, 0x00) }))] }), 'refused'],
      ['auxblob constructed [0]', cert({ extensions: [ext(hev({ aux: null, tail: tlv(0xa0, octetString(Buffer.alloc(3))) }))] }), 'refused'],
      ['trailing byte after HandshakeEvidence', cert({ extensions: [ext(Buffer.concat([hev(), Buffer.of(0)]))] }), 'refused'],
      ['non-minimal length inside HandshakeEvidence (81 20)', cert({ extensions: [ext(sequence(integer(1), utf8String('snp'), Buffer.concat([Buffer.of(0x04, 0x81, 0x20), parts.ev.nonce]), octetString(parts.ev.evidence)))] }), 'refused'],
      ['non-minimal length inside HandshakeEvidence (82 00 20)', cert({ extensions: [ext(sequence(integer(1), utf8String('snp'), Buffer.concat([Buffer.of(0x04, 0x82, 0x00, 0x20), parts.ev.nonce]), octetString(parts.ev.evidence)))] }), 'refused'],
      ['non-minimal INTEGER version', cert({ extensions: [ext(sequence(Uint8Array.of(0x02, 0x02, 0x00, 0x01), utf8String('snp'), octetString(parts.ev.nonce), octetString(parts.ev.evidence)))] }), 'refused'],
      ['indefinite length HandshakeEvidence', cert({ extensions: [ext(Buffer.concat([Buffer.of(0x30, 0x80), Buffer.from(hev()).subarray(4), Buffer.of(0, 0)]))] }), 'refused'],
      ['empty extension value', cert({ extensions: [ext(new Uint8Array(0))] }), 'refused'],
      // The certificate is not of the expected shape: undefined (the slow path).
      ['certificate version 2', cert({ version: explicit(0, integer(1)) }), 'undefined'],
      ['certificate version 2 without extensions', cert({ version: explicit(0, integer(1)), extensions: null }), 'undefined'],
      ['non-minimal length in the tbs (a0 81 03)', cert({ version: Uint8Array.of(0xa0, 0x81, 0x03, 0x02, 0x01, 0x02) }), 'undefined'],
      ['non-minimal INTEGER certificate version', cert({ version: explicit(0, Uint8Array.of(0x02, 0x02, 0x00, 0x02)) }), 'undefined'],
      ['non-minimal serial', cert({ serial: Buffer.concat([Buffer.of(0x02, 0x11, 0x00), parts.tbs[1]!.content]) }), 'undefined'],
      ['certificate version 1 (no [0])', cert({ version: null, extensions: null }), 'undefined'],
      ['certificate version 4', cert({ version: explicit(0, integer(3)) }), 'undefined'],
      ['critical FALSE encoded (not DER)', cert({ extensions: [ext(hev(), false)] }), 'undefined'],
      ['empty extensions', cert({ extensions: [] }), 'undefined'],
      ['extension OID with a 0x80 padding octet', cert({ extensions: [ext(hev()), sequence(Uint8Array.of(0x06, 0x03, 0x2a, 0x80, 0x01), octetString(Buffer.alloc(1)))] }), 'undefined'],
      ['extension OID ending inside an arc', cert({ extensions: [ext(hev()), sequence(Uint8Array.of(0x06, 0x02, 0x2a, 0x81), octetString(Buffer.alloc(1)))] }), 'undefined'],
      ['empty extension OID', cert({ extensions: [ext(hev()), sequence(Uint8Array.of(0x06, 0x00), octetString(Buffer.alloc(1)))] }), 'undefined'],
      ['our OID with a padding octet (not our extension, and not DER)', cert({ extensions: [sequence(Buffer.concat([Buffer.of(0x06, OID.length - 1, 0x80), OID.subarray(2)]), octetString(hev()))] }), 'undefined'],
      ['signature BIT STRING with unused bits', sequence(sequence(...parts.tbs.map((n) => n.der)), parts.alg, tlv(0x03, Buffer.concat([Buffer.of(1), parts.sig.subarray(parts.sig.length - 64)]))), 'undefined'],
      ['tbs signature differs from the outer one', cert({ sigAlg: sequence(objectIdentifier('1.2.840.10045.4.3.3')) }), 'undefined'],
      ['trailing byte after the Certificate', Buffer.concat([cert(), Buffer.of(0)]), 'undefined'],
      ['indefinite length Certificate', Buffer.concat([Buffer.of(0x30, 0x80), Buffer.from(cert()).subarray(4), Buffer.of(0, 0)]), 'undefined'],
      ['non-minimal Certificate length', (() => { const c = Buffer.from(cert()); return Buffer.concat([Buffer.of(0x30, 0x83, 0x00), c.subarray(2)]); })(), 'undefined'],
      ['five length octets', (() => { const c = Buffer.from(cert()); return Buffer.concat([Buffer.of(0x30, 0x85, 0, 0, 0), c.subarray(2)]); })(), 'undefined'],
      ['extra element in the tbs', cert({ extra: [integer(1)] }), 'undefined'],
      ['high-tag-number extension in the tbs', cert({ extra: [Uint8Array.of(0x9f, 0x20, 0x00)] }), 'undefined'],
      ['empty', new Uint8Array(0), 'undefined'],
      ['garbage', new Uint8Array(64).fill(0x30), 'undefined'],
      // Still the expected shape.
      ['[1] and [2] skipped', cert({ extra: [tlv(0x81, Uint8Array.of(0, 1)), tlv(0xa2, bitString(Uint8Array.of(1)))] }), 'parsed'],
      ['other extensions beside ours, one critical', cert({ extensions: [sequence(objectIdentifier('2.5.29.19'), boolean(true), octetString(sequence())), ext(hev()), sequence(objectIdentifier('1.2.3.4'), octetString(Buffer.alloc(0)))] }), 'parsed'],
      ['no auxblob', cert({ extensions: [ext(hev({ aux: null }))] }), 'parsed'],
      ['empty auxblob', cert({ extensions: [ext(hev({ aux: new Uint8Array(0) }))] }), 'parsed'],
      ['no extensions', cert({ extensions: null }), 'parsed'],
    ];
    for (const [what, der, expected] of cases) {
      const got = outcome(der);
      expect(typeof got === 'string' ? got : 'parsed', what).toBe(expected);
      if (typeof got !== 'string') expect(got.spki.length, what).toBe(spkiLen);
    }
    const parsed = (der: Uint8Array): HandshakeEvidence | undefined => (outcome(der) as { evidence: HandshakeEvidence | undefined }).evidence;
    expect(parsed(cert({ extensions: null }))).toBeUndefined();
    expect(parsed(cert({ extensions: [ext(hev({ aux: null }))] }))!.auxblob).toBeUndefined();
    expect(parsed(cert({ extensions: [ext(hev({ aux: new Uint8Array(0) }))] }))!.auxblob!.length).toBe(0);
  });

  it('never throws anything but the typed refusal on ~2000 mutations of a real evidence certificate', () => {
    const real = new Uint8Array(parts.real);
    // Where the extension's value lies: any change there that still parses must change the evidence.
    const value = Buffer.from(hev());
    const vStart = Buffer.from(real).indexOf(value);
    expect(vStart).toBeGreaterThan(0);
    const vEnd = vStart + value.length;
    const rnd = prng(0x5eed17);
    const int = (n: number): number => Math.floor(rnd() * n);
    const seen = { undefined: 0, refused: 0, parsed: 0, same: 0 };
    for (let i = 0; i < 2000; i++) {
      let m: Uint8Array;
      let flippedAt = -1;
      const op = int(6);
      if (op === 0 || op === 1) {
        // A byte flip; half of them in the first 40 bytes or around the extension, where the headers are.
        m = new Uint8Array(real);
        flippedAt = op === 0 ? int(real.length) : rnd() < 0.5 ? int(40) : vStart - 20 + int(60);
        m[flippedAt] = (m[flippedAt]! ^ (1 + int(255))) & 0xff;
      } else if (op === 2) {
        m = real.subarray(0, int(real.length)); // truncation
      } else if (op === 3) {
        const at = int(real.length);
        m = new Uint8Array(Buffer.concat([real.subarray(0, at), Uint8Array.of(int(256)), real.subarray(at)])); // insertion
      } else if (op === 4) {
        const at = int(real.length);
        m = new Uint8Array(Buffer.concat([real.subarray(0, at), real.subarray(at + 1)])); // deletion
      } else {
        m = new Uint8Array(real); // a length-like value
        const at = rnd() < 0.5 ? int(40) : vStart - 20 + int(60);
        m[at] = [0x80, 0x81, 0x82, 0x84, 0x85, 0xff, 0x00, 0x7f][int(8)]!;
        flippedAt = m[at] === real[at] ? -1 : at;
      }
      const got = outcome(m); // throws (failing the test) on anything untyped
      if (typeof got === 'string') {
        seen[got]++;
        continue;
      }
      seen.parsed++;
      expect(got.spki.buffer).toBe(m.buffer);
      if (sameEvidence(got.evidence, parts.ev)) {
        seen.same++;
        // Unchanged evidence: the change was outside the extension's value.
        if (flippedAt >= 0) expect(flippedAt < vStart || flippedAt >= vEnd, `mutation ${i} at ${flippedAt}`).toBe(true);
      }
    }
    // The loop reached all three outcomes.
    expect(seen.undefined).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(10);
    expect(seen.parsed).toBeGreaterThan(10);
    expect(seen.same).toBeGreaterThan(0);
  });
});
