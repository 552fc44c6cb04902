/**
 * Certificate and CRL signatures over the exact TBS bytes: every real chain
 * link verifies (and agrees with OpenSSL through node:crypto), a flipped TBS
 * byte never does, and only the three accepted schemes with their exact
 * parameters are verified at all (RSASSA-PSS: SHA-384, MGF1-SHA-384, salt 48).
 */
import { KeyObject, X509Certificate, constants, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  parseCertificate,
  signatureScheme,
  splitPckCertChain,
  verifyCertificateSignature,
  type CertificateInfo,
} from '../../src/x509/index.js';
import { children, parseDer, type DerNode } from '../../src/x509/asn1.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest } from '../helpers/vectors.js';
import { concat, context, int, nul, oid, seq, tlv } from './helpers/der.js';
import { certificatesOf, quoteChains } from './helpers/real.js';
import { join, split } from './helpers/rebuild.js';
import { ECDSA_SHA256, ECDSA_SHA384, ecKeys, makeCertificate, pssKeys, type KeyPair, type SigningAlgorithm } from './helpers/synthetic.js';

const UNSUPPORTED = { code: 'ERR_UNSUPPORTED_SIGNATURE_ALGORITHM', errorClass: 'UNSUPPORTED' };
const OID_PSS = '1.2.840.113549.1.1.10';
const SHA384 = '2.16.840.1.101.3.4.2.2';
const SHA256 = '2.16.840.1.101.3.4.2.1';
const MGF1 = '1.2.840.113549.1.1.8';

/** A TBS with one byte flipped: a signature over it must never verify. */
function flipTbs(cert: CertificateInfo, at: number): CertificateInfo {
  const tbs = Uint8Array.from(cert.tbs);
  tbs[at] = (tbs[at] as number) ^ 0x01;
  return { ...cert, tbs };
}

/** Every issuer -> subject link of the real chains, with OpenSSL's verdict. */
function realLinks(): { label: string; subject: CertificateInfo; issuer: CertificateInfo }[] {
  const links: { label: string; subject: CertificateInfo; issuer: CertificateInfo }[] = [];
  for (const { entry, pem } of quoteChains()) {
    const [leaf, ca, root] = splitPckCertChain(pem).map(parseCertificate) as [CertificateInfo, CertificateInfo, CertificateInfo];
    links.push({ label: `${entry.id} leaf`, subject: leaf, issuer: ca }, { label: `${entry.id} CA`, subject: ca, issuer: root }, { label: `${entry.id} root`, subject: root, issuer: root });
  }
  for (const entry of loadManifest()) {
    const c = entry.collateral ?? {};
    const leafFile = c['vcek'] ?? c['vlek'] ?? (entry.kind === 'vcek-cert-chain' ? entry.file : undefined);
    const chainFiles = [c['ask_ark_chain'] ?? c['ask_ark_asvk_chain'], c['ask'], c['ark']].filter((f): f is string => f !== undefined);
    if (!leafFile || chainFiles.length === 0) continue;
    const leaf = certificatesOf(leafFile)[0] as CertificateInfo;
    const chain = chainFiles.flatMap(certificatesOf);
    const ask = chain.find((x) => x.subject === leaf.issuer) as CertificateInfo;
    const ark = chain.find((x) => x.subject === ask.issuer) as CertificateInfo;
    links.push({ label: `${entry.id} VCEK`, subject: leaf, issuer: ask }, { label: `${entry.id} ASK`, subject: ask, issuer: ark }, { label: `${entry.id} ARK`, subject: ark, issuer: ark });
  }
  for (const entry of loadManifest().filter((e) => e.kind === 'amd-cert-chain')) {
    const [intermediate, ark] = certificatesOf(entry.file) as [CertificateInfo, CertificateInfo];
    links.push({ label: `${entry.id} ASK/ASVK`, subject: intermediate, issuer: ark }, { label: `${entry.id} ARK`, subject: ark, issuer: ark });
  }
  return links;
}

describe.skipIf(!HAVE_VECTORS)('real chains', () => {
  const links = realLinks();

  it('covers Intel (ECDSA P-256) and AMD (RSASSA-PSS) links', () => {
    expect(links.filter((l) => l.subject.signatureAlgorithm === OID_PSS).length).toBeGreaterThanOrEqual(40);
    expect(links.filter((l) => l.subject.signatureAlgorithm === '1.2.840.10045.4.3.2').length).toBe(60);
  });

  it.each(links.map((l) => [l.label, l] as const))('%s verifies, agrees with OpenSSL, and fails with a flipped TBS byte', (_label, { subject, issuer }) => {
    expect(verifyCertificateSignature(subject, issuer.publicKey)).toBe(true);
    expect(new X509Certificate(subject.der).verify(new X509Certificate(issuer.der).publicKey)).toBe(true);
    for (const at of [0, 7, subject.tbs.length >> 1, subject.tbs.length - 1]) {
      expect(verifyCertificateSignature(flipTbs(subject, at), issuer.publicKey)).toBe(false);
    }
  });

  it('trustee\'s "invalid" VCEKs parse but are not signed by the Milan ASK', () => {
    const ask = certificatesOf('trustee/deps/verifier/src/snp/milan_ask_ark_asvk.pem').find((c) => c.subjectAttributes.CN === 'SEV-Milan') as CertificateInfo;
    for (const file of ['test-vcek-invalid-legacy.der', 'test-vcek-invalid-new.der']) {
      const vcek = certificatesOf(`trustee/deps/verifier/test_data/snp/${file}`)[0] as CertificateInfo;
      expect(vcek.issuer).toBe(ask.subject);
      expect(verifyCertificateSignature(vcek, ask.publicKey)).toBe(false);
    }
  });

  it('a flipped byte in the DER itself re-parses and then fails to verify', () => {
    const { subject, issuer } = links[0] as (typeof links)[number];
    const der = Uint8Array.from(subject.der);
    const [tbs] = children(parseDer(der)) as [DerNode];
    const serial = children(tbs)[1] as DerNode; // after the [0] version
    const lastSerialByte = serial.offset + serial.der.length - 1;
    der[lastSerialByte] = (der[lastSerialByte] as number) ^ 0x01;
    const changed = parseCertificate(der);
    expect(changed.serialNumber).not.toBe(subject.serialNumber);
    expect(verifyCertificateSignature(changed, issuer.publicKey)).toBe(false);
  });

  it('the wrong issuer key does not verify: a VCEK by the ARK, an Intel leaf by the root', () => {
    const vcek = links.find((l) => l.label.endsWith('VCEK')) as (typeof links)[number];
    const ark = links.find((l) => l.label.endsWith('ARK') && l.label.startsWith(vcek.label.replace(' VCEK', ''))) as (typeof links)[number];
    expect(verifyCertificateSignature(vcek.subject, ark.subject.publicKey)).toBe(false);
    const leaf = links.find((l) => l.label.endsWith('leaf')) as (typeof links)[number];
    const root = links.find((l) => l.label === leaf.label.replace('leaf', 'root')) as (typeof links)[number];
    expect(verifyCertificateSignature(leaf.subject, root.subject.publicKey)).toBe(false);
    // A key of the wrong type or curve is a mismatch, not an error.
    expect(verifyCertificateSignature(leaf.subject, vcek.subject.publicKey)).toBe(false); // P-384 key, SHA-256 signature
    expect(verifyCertificateSignature(vcek.subject, leaf.issuer.publicKey)).toBe(false); // EC key, PSS signature
  });

  it('a VCEK whose PSS parameters are edited is rejected as UNSUPPORTED (salt 32, SHA-256)', () => {
    const vcek = links.find((l) => l.label.endsWith('VCEK')) as (typeof links)[number];
    const params = (hash: string, salt: number) =>
      seq(oid(OID_PSS), seq(context(0, true, seq(oid(hash), nul())), context(1, true, seq(oid(MGF1), seq(oid(hash), nul()))), context(2, true, int(salt))));
    for (const [hash, salt] of [[SHA384, 32], [SHA256, 48]] as const) {
      const alg = params(hash, salt);
      const parts = split(vcek.subject.der);
      const edited = join({ ...parts, algorithm: alg, tbsFields: parts.tbsFields.map((f, i) => (i === 2 ? alg : f)) });
      const cert = parseCertificate(edited);
      expectError(() => verifyCertificateSignature(cert, vcek.issuer.publicKey), UNSUPPORTED);
    }
  });
});

describe('synthetic certificates', async () => {
  const p256 = await ecKeys('P-256');
  const p384 = await ecKeys('P-384');
  const make = (keys: KeyPair, algorithm: SigningAlgorithm) =>
    makeCertificate({ subject: 'CN=sig test', publicKey: keys.publicKey, signingKey: keys.privateKey, algorithm }).then(parseCertificate);

  it('ECDSA P-256 / SHA-256 and P-384 / SHA-384 verify', async () => {
    const a = await make(p256, ECDSA_SHA256);
    const b = await make(p384, ECDSA_SHA384);
    expect(verifyCertificateSignature(a, a.publicKey)).toBe(true);
    expect(verifyCertificateSignature(b, b.publicKey)).toBe(true);
    expect(signatureScheme(b)).toEqual({ kind: 'ecdsa', curve: 'P-384', hash: 'sha384' });
  });

  it('a P-256 key with SHA-384 is outside the profile: does not verify', async () => {
    const c = await make(p256, ECDSA_SHA384);
    expect(verifyCertificateSignature(c, c.publicKey)).toBe(false);
  });

  it('RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48 verifies', async () => {
    const keys = await pssKeys('SHA-384');
    const c = await make(keys, { name: 'RSA-PSS', saltLength: 48 });
    expect(signatureScheme(c)).toEqual({ kind: 'rsa-pss', hash: 'sha384', saltLength: 48 });
    expect(verifyCertificateSignature(c, c.publicKey)).toBe(true);
    expect(verifyCertificateSignature(flipTbs(c, 10), c.publicKey)).toBe(false);
    const sig = Uint8Array.from(c.signature);
    expect(verifyCertificateSignature({ ...c, signature: sig.subarray(1) }, c.publicKey)).toBe(false); // wrong length
  });

  it('RSASSA-PSS: a signature made with another salt length than the declared 48 does not verify', async () => {
    const keys = await pssKeys('SHA-384');
    const c = await make(keys, { name: 'RSA-PSS', saltLength: 48 });
    const key = KeyObject.from(keys.privateKey);
    for (const saltLength of [0, 32, 64]) {
      const other = new Uint8Array(sign('sha384', c.tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }));
      expect(verifyCertificateSignature({ ...c, signature: other }, c.publicKey), `salt ${saltLength}`).toBe(false);
    }
    const same = new Uint8Array(sign('sha384', c.tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
    expect(verifyCertificateSignature({ ...c, signature: same }, c.publicKey)).toBe(true);
  });

  it('RSASSA-PSS with other parameters is UNSUPPORTED: salt 32, or SHA-256 throughout', async () => {
    const salt32 = await make(await pssKeys('SHA-384'), { name: 'RSA-PSS', saltLength: 32 });
    expectError(() => verifyCertificateSignature(salt32, salt32.publicKey), UNSUPPORTED);
    const sha256 = await make(await pssKeys('SHA-256'), { name: 'RSA-PSS', saltLength: 32 });
    expectError(() => verifyCertificateSignature(sha256, sha256.publicKey), UNSUPPORTED);
  });

  it('ECDSA signature encodings: malformed is PARSE, out of range is a mismatch', async () => {
    const c = await make(p256, ECDSA_SHA256);
    const withSig = (sig: Uint8Array): CertificateInfo => ({ ...c, signature: sig });
    expectError(() => verifyCertificateSignature(withSig(concat([c.signature, Uint8Array.of(0)])), c.publicKey), {
      code: 'ERR_BAD_SIGNATURE_ENCODING',
      errorClass: 'PARSE',
    });
    expectError(() => verifyCertificateSignature(withSig(seq(int(1))), c.publicKey), { code: 'ERR_BAD_SIGNATURE_ENCODING' });
    expect(verifyCertificateSignature(withSig(seq(int(0), int(1))), c.publicKey)).toBe(false);
    expect(verifyCertificateSignature(withSig(seq(int(1n << 256n), int(1))), c.publicKey)).toBe(false);
    expect(verifyCertificateSignature(withSig(seq(tlv(0x02, Uint8Array.of(0xff)), int(1))), c.publicKey)).toBe(false); // negative r
  });
});

describe('signatureScheme', () => {
  const pss = (...fields: Uint8Array[]) => ({ signatureAlgorithm: OID_PSS, signatureAlgorithmParameters: seq(...fields) });
  const hash = (h: string, withNull = true) => seq(oid(h), ...(withNull ? [nul()] : []));
  const good = [context(0, true, hash(SHA384)), context(1, true, seq(oid(MGF1), hash(SHA384))), context(2, true, int(48))];

  it('accepts AMD\'s encoding (explicit trailerField 1) and absent hash parameters', () => {
    expect(signatureScheme(pss(...good, context(3, true, int(1))))).toEqual({ kind: 'rsa-pss', hash: 'sha384', saltLength: 48 });
    expect(signatureScheme(pss(context(0, true, hash(SHA384, false)), context(1, true, seq(oid(MGF1), hash(SHA384, false))), good[2] as Uint8Array)).kind).toBe('rsa-pss');
  });

  it.each([
    ['no parameters (SHA-1 defaults)', { signatureAlgorithm: OID_PSS, signatureAlgorithmParameters: undefined }],
    ['default hash (SHA-1)', pss(good[1] as Uint8Array, good[2] as Uint8Array)],
    ['SHA-256 hash', pss(context(0, true, hash(SHA256)), good[1] as Uint8Array, good[2] as Uint8Array)],
    ['default MGF (MGF1-SHA-1)', pss(good[0] as Uint8Array, good[2] as Uint8Array)],
    ['MGF1 with SHA-256', pss(good[0] as Uint8Array, context(1, true, seq(oid(MGF1), hash(SHA256))), good[2] as Uint8Array)],
    ['a mask generation function other than MGF1', pss(good[0] as Uint8Array, context(1, true, seq(oid('1.2.3.4'), hash(SHA384))), good[2] as Uint8Array)],
    ['default salt (20)', pss(good[0] as Uint8Array, good[1] as Uint8Array)],
    ['salt 32', pss(good[0] as Uint8Array, good[1] as Uint8Array, context(2, true, int(32)))],
    ['salt 0', pss(good[0] as Uint8Array, good[1] as Uint8Array, context(2, true, int(0)))],
    ['trailerField 2', pss(...good, context(3, true, int(2)))],
    ['sha256WithRSAEncryption', { signatureAlgorithm: '1.2.840.113549.1.1.11', signatureAlgorithmParameters: nul() }],
    ['ecdsa-with-SHA512', { signatureAlgorithm: '1.2.840.10045.4.3.4', signatureAlgorithmParameters: undefined }],
  ])('rejects %s as UNSUPPORTED', (_name, obj) => {
    expectError(() => signatureScheme(obj), UNSUPPORTED);
  });

  it.each([
    ['ECDSA with NULL parameters', { signatureAlgorithm: '1.2.840.10045.4.3.2', signatureAlgorithmParameters: nul() }],
    ['PSS fields out of order', pss(good[1] as Uint8Array, good[0] as Uint8Array, good[2] as Uint8Array)],
    ['a PSS field with an implicit tag', pss(tlv(0x80, Uint8Array.of(1)), ...good.slice(1))],
    ['a hash with non-NULL parameters', pss(context(0, true, seq(oid(SHA384), int(0))), good[1] as Uint8Array, good[2] as Uint8Array)],
  ])('rejects %s as PARSE', (_name, obj) => {
    expectError(() => signatureScheme(obj), { code: 'ERR_BAD_DER', errorClass: 'PARSE' });
  });
});
