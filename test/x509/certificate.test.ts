/**
 * parseCertificate against every real certificate in the shared vectors
 * (values from the manifest's checks and from node:crypto's OpenSSL decoder),
 * then the strict-DER and profile rejections on edited certificates.
 */
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TeeVerifyError } from '../../src/index.js';
import { parseCertificate, sha256Hex, splitPckCertChain, type CertificateInfo } from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, rawEcPoint, readVectorFile } from '../helpers/vectors.js';
import { bool, concat, context, fromHex, hex, int, octets, oid, rawInt, seq, set, tlv, utf8 } from './helpers/der.js';
import { INTEL_ROOT_SHA256, certificatesOf, isoSeconds, quoteChains } from './helpers/real.js';
import { editTbs, extensionItems } from './helpers/rebuild.js';

const BAD_DER = { code: 'ERR_BAD_DER', errorClass: 'PARSE' };

/** node:crypto's view of the same DER, for a differential check. */
function nodeView(cert: CertificateInfo) {
  const x = new X509Certificate(cert.der);
  return {
    // node prints the subject in encoding order, one attribute per line; RFC 4514 reverses it.
    subject: x.subject.split('\n').reverse().join(','),
    issuer: x.issuer.split('\n').reverse().join(','),
    serial: BigInt(`0x${x.serialNumber}`).toString(16),
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    ca: x.ca,
  };
}

function expectMatchesOpenSsl(cert: CertificateInfo): void {
  const n = nodeView(cert);
  expect(cert.subject).toBe(n.subject);
  expect(cert.issuer).toBe(n.issuer);
  expect(cert.serialNumber).toBe(n.serial);
  expect(cert.notBefore.toISOString()).toBe(n.notBefore);
  expect(cert.notAfter.toISOString()).toBe(n.notAfter);
  expect(cert.basicConstraints?.ca ?? false).toBe(n.ca);
  if (cert.publicKey.kind === 'ec') {
    const key = new X509Certificate(cert.der).publicKey;
    expect(hex(cert.publicKey.xy)).toBe(hex(rawEcPoint(key)));
  }
}

/** The TBS is the exact span of the input between the outer header and the signature algorithm. */
function expectTbsIsSpan(cert: CertificateInfo): void {
  expect(cert.tbs.buffer).toBe(cert.der.buffer);
  const headerLength = cert.tbs.byteOffset - cert.der.byteOffset;
  expect(headerLength).toBeGreaterThanOrEqual(2);
  expect(headerLength).toBeLessThanOrEqual(4);
  expect(cert.tbs[0]).toBe(0x30);
}

describe.skipIf(!HAVE_VECTORS)('Intel PCK chains inside real quotes', () => {
  const chains = quoteChains();

  it.each(chains.map((c) => [c.entry.id, c] as const))('%s', (_id, { entry, pem }) => {
    const [leaf, ca, root] = splitPckCertChain(pem).map(parseCertificate) as [CertificateInfo, CertificateInfo, CertificateInfo];
    const checks = entry.checks;
    expect([leaf, ca, root].map((c) => c.subjectAttributes.CN)).toEqual(checks['pck_chain_subjects']);
    expect([isoSeconds(leaf.notBefore), isoSeconds(leaf.notAfter)]).toEqual(checks['pck_leaf_validity']);
    for (const c of [leaf, ca, root]) {
      expectMatchesOpenSsl(c);
      expectTbsIsSpan(c);
      expect(c.version).toBe(3);
      expect(c.publicKey).toMatchObject({ kind: 'ec', curve: 'P-256' });
      expect(c.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
      expect(c.subjectAttributes).toMatchObject({ O: 'Intel Corporation', L: 'Santa Clara', ST: 'CA', C: 'US' });
    }
    // The issuer chain links by name and by key identifier (X04, T10, T11).
    expect(leaf.issuer).toBe(ca.subject);
    expect(ca.issuer).toBe(root.subject);
    expect(root.issuer).toBe(root.subject);
    expect(leaf.authorityKeyId).toBe(ca.subjectKeyId);
    expect(ca.authorityKeyId).toBe(root.subjectKeyId);
    expect(root.subject).toBe('C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX Root CA') // RFC 4514: last RDN first;
    expect(sha256Hex(root.der)).toBe(INTEL_ROOT_SHA256); // T09 pins this
    // Profiles the verifier will check (T10, T11).
    expect(leaf.basicConstraints).toEqual({ ca: false });
    expect(ca.basicConstraints).toEqual({ ca: true, pathLength: 0 });
    expect(root.basicConstraints).toEqual({ ca: true, pathLength: 1 });
    expect(leaf.keyUsage).toEqual(['digitalSignature', 'nonRepudiation']);
    expect(ca.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    const kind = ca.subjectAttributes.CN === 'Intel SGX PCK Platform CA' ? 'platform' : 'processor';
    // Older leaves name the v3 endpoint.
    expect(leaf.crlDistributionPoints).toHaveLength(1);
    expect(leaf.crlDistributionPoints[0]).toMatch(new RegExp(`^https://api\\.trustedservices\\.intel\\.com/sgx/certification/v[34]/pckcrl\\?ca=${kind}&encoding=der$`));
    expect(ca.crlDistributionPoints).toEqual(['https://certificates.trustedservices.intel.com/IntelSGXRootCA.der']);
    expect(leaf.extensionOids).toContain('1.2.840.113741.1.13.1');
    expect(leaf.extensions.find((e) => e.oid === '2.5.29.19')?.critical).toBe(true);
  });

  it('the roots in quotes are the pinned Intel root files byte for byte', () => {
    const pinned = [
      new Uint8Array(readVectorFile('phala-dcap-qvl/src/TrustedRootCA.der')),
      ...certificatesOf('go-tdx-guest/verify/trusted_root.pem').map((c) => c.der),
    ];
    for (const der of pinned) expect(sha256Hex(der)).toBe(INTEL_ROOT_SHA256);
    for (const { pem } of chains) expect(hex(splitPckCertChain(pem)[2])).toBe(hex(pinned[0] as Uint8Array));
  });
});

describe.skipIf(!HAVE_VECTORS)('Intel issuer chains (TCB Signing, PCK CRL issuer)', () => {
  it.each([
    'go-tdx-guest/extracted/tcb_info_issuer_chain.pem',
    'go-tdx-guest/extracted/pck_crl_issuer_chain.pem',
    'oasis-core/go/common/sgx/pcs/testdata/tcb_info_v3_fmspc_00606A000000_certs.pem',
  ])('%s', (file) => {
    const certs = certificatesOf(file);
    for (const c of certs) expectMatchesOpenSsl(c);
    const root = certs[certs.length - 1] as CertificateInfo;
    expect(sha256Hex(root.der)).toBe(INTEL_ROOT_SHA256);
    if (file.includes('tcb_info')) {
      expect(certs[0]?.subject).toBe('C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX TCB Signing');
      // Manifest entries naming this chain state the TCB Signing certificate's validity.
      const entry = loadManifest().find((e) => e.collateral?.['tcb_info_issuer_chain'] === file);
      if (entry) expect([isoSeconds(certs[0]!.notBefore), isoSeconds(certs[0]!.notAfter)]).toEqual(entry.checks['tcb_signing_cert_validity']);
    }
  });
});

describe.skipIf(!HAVE_VECTORS)('AMD certificates', () => {
  const manifest = loadManifest();

  const leafEntries = manifest.filter((e) => e.checks?.['vcek_serial'] !== undefined || e.kind === 'vcek-cert');
  it.each(leafEntries.map((e) => [e.id, e] as const))('%s: VCEK / VLEK', (_id, entry) => {
    const c = entry.collateral;
    const file = c['vcek'] ?? c['vlek'] ?? c['vcek_ask_ark_chain'] ?? entry.file;
    const leaf = certificatesOf(file)[0] as CertificateInfo;
    const checks = entry.checks;
    expectMatchesOpenSsl(leaf);
    expectTbsIsSpan(leaf);
    expect(leaf.serialNumber).toBe('0'); // KDS VCEKs have serial 0 (§4.3) and must parse
    expect(leaf.serialNumber).toBe(checks['vcek_serial'] ?? checks['serial']);
    expect(leaf.subjectAttributes.CN).toBe(checks['vcek_subject_cn'] ?? checks['subject_cn']);
    if (checks['vcek_issuer_cn']) expect(leaf.issuerAttributes.CN).toBe(checks['vcek_issuer_cn']);
    expect([isoSeconds(leaf.notBefore), isoSeconds(leaf.notAfter)]).toEqual(checks['vcek_validity'] ?? checks['validity']);
    expect(leaf.publicKey).toMatchObject({ kind: 'ec', curve: 'P-384' });
    expect(leaf.signatureAlgorithm).toBe('1.2.840.113549.1.1.10');
    expect(leaf.version).toBe(3);
  });

  const chainEntries = manifest.filter((e) => e.kind === 'amd-cert-chain');
  it.each(chainEntries.map((e) => [e.id, e] as const))('%s: ASK / ASVK and ARK as the manifest lists them', (_id, entry) => {
    const certs = certificatesOf(entry.file);
    const expected = entry.checks['certs'] as { subject: string; issuer: string; serial: string; not_before: string; not_after: string }[];
    expect(
      certs.map((c) => ({
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serialNumber,
        not_before: isoSeconds(c.notBefore),
        not_after: isoSeconds(c.notAfter),
      })),
    ).toEqual(expected.map(({ subject, issuer, serial, not_before, not_after }) => ({ subject, issuer, serial, not_before, not_after })));
    for (const c of certs) {
      expectMatchesOpenSsl(c);
      expect(c.publicKey).toMatchObject({ kind: 'rsa', bits: 4096 });
      expect(c.basicConstraints?.ca).toBe(true);
    }
    const [intermediate, ark] = certs as [CertificateInfo, CertificateInfo];
    expect(intermediate.basicConstraints).toEqual({ ca: true, pathLength: 0 });
    expect(intermediate.keyUsage).toEqual(['keyCertSign']); // AMD encodes it as 03 02 01 04
    const product = (ark.subjectAttributes.CN as string).replace('ARK-', '');
    const kind = intermediate.subjectAttributes.CN?.startsWith('SEV-VLEK') ? 'vlek' : 'vcek';
    expect(intermediate.crlDistributionPoints).toEqual([`https://kdsintf.amd.com/${kind}/v1/${product}/crl`]);
  });
});

describe('serial numbers', () => {
  // A minimal v3-shaped certificate assembled by hand around a real-looking TBS.
  const name = seq(set(seq(oid('2.5.4.3'), utf8('x'))));
  const validity = seq(tlv(0x17, new Uint8Array(Buffer.from('240101000000Z'))), tlv(0x17, new Uint8Array(Buffer.from('300101000000Z'))));
  const ecdsa = seq(oid('1.2.840.10045.4.3.2'));
  // A valid P-256 point (the generator of the curve).
  const g = fromHex(
    '04' + '6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296' + '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
  );
  const spki = seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, concat([Uint8Array.of(0), g])));
  const sig = tlv(0x03, concat([Uint8Array.of(0), seq(int(1), int(1))]));
  const cert = (serial: Uint8Array, ...extra: Uint8Array[]) =>
    seq(seq(context(0, true, int(2)), serial, ecdsa, name, validity, name, spki, ...extra), ecdsa, sig);

  it.each([
    ['0', [0x00]],
    ['1', [0x01]],
    ['80', [0x00, 0x80]], // DER sign byte is not part of the number
    ['ff00', [0x00, 0xff, 0x00]],
  ])('canonical hex %s', (expected, content) => {
    expect(parseCertificate(cert(rawInt(content))).serialNumber).toBe(expected);
  });

  it.each([
    ['negative', [0xff]],
    ['padded with 00', [0x00, 0x01]],
    ['empty', []],
  ])('rejects a %s serial', (_name, content) => {
    expectError(() => parseCertificate(cert(rawInt(content))), BAD_DER);
  });

  it('accepts a hand-built baseline', () => {
    const c = parseCertificate(cert(int(5)));
    expect(c.subject).toBe('CN=x');
    expect(c.version).toBe(3);
    expect(c.extensionOids).toEqual([]);
    expect(c.crlDistributionPoints).toEqual([]);
  });
});

describe.skipIf(!HAVE_VECTORS)('rejections on edited real certificates', () => {
  const [leafDer] = splitPckCertChain(quoteChains()[0]!.pem);
  const leaf = leafDer as Uint8Array;
  const replaceExtensions = (items: Uint8Array[]) =>
    editTbs(leaf, (fields) => {
      const { index } = extensionItems(fields);
      fields[index] = context(3, true, seq(...items));
      return fields;
    });
  const items = () => extensionItems(parseTbsFields(leaf)).items;

  function parseTbsFields(der: Uint8Array): Uint8Array[] {
    let captured: Uint8Array[] = [];
    editTbs(der, (f) => (captured = f));
    return captured;
  }

  it('baseline: the unedited re-assembly parses to the same certificate', () => {
    expect(hex(editTbs(leaf, (f) => f))).toBe(hex(leaf));
  });

  it('rejects trailing bytes after the certificate', () => {
    expectError(() => parseCertificate(concat([leaf, Uint8Array.of(0)])), BAD_DER);
  });

  it('every truncation is ERR_BAD_DER, never a crash', () => {
    for (let n = 0; n < leaf.length; n++) expectError(() => parseCertificate(leaf.subarray(0, n)), BAD_DER);
  });

  it('random byte flips give a certificate or a typed error, never anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: leaf.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const copy = Uint8Array.from(leaf);
        copy[at] = (copy[at] as number) ^ mask;
        try {
          parseCertificate(copy);
        } catch (err) {
          expect(err).toBeInstanceOf(TeeVerifyError);
          expect(['ERR_BAD_DER', 'ERR_BAD_PUBLIC_KEY', 'ERR_UNSUPPORTED_KEY_TYPE']).toContain((err as TeeVerifyError).code);
        }
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it('rejects an outer signature algorithm that differs from the TBS one', () => {
    const copy = Uint8Array.from(leaf);
    const outerAlg = fromHex('300a06082a8648ce3d040302');
    const at = Buffer.from(copy).lastIndexOf(Buffer.from(outerAlg));
    copy[at + outerAlg.length - 1] = 0x03; // ecdsa-with-SHA384 outside, SHA256 inside
    expectError(() => parseCertificate(copy), BAD_DER);
  });

  it('rejects an explicit v1 version and an unknown version', () => {
    expectError(() => parseCertificate(editTbs(leaf, (f) => [context(0, true, int(0)), ...f.slice(1)])), BAD_DER);
    expectError(() => parseCertificate(editTbs(leaf, (f) => [context(0, true, int(3)), ...f.slice(1)])), BAD_DER);
  });

  it('rejects extensions in a certificate without a version (v1)', () => {
    expectError(() => parseCertificate(editTbs(leaf, (f) => f.slice(1))), BAD_DER);
  });

  it('rejects a field after the extensions', () => {
    expectError(() => parseCertificate(editTbs(leaf, (f) => [...f, int(0)])), BAD_DER);
  });

  it('rejects a repeated extension and an empty extension list', () => {
    const list = items();
    expectError(() => parseCertificate(replaceExtensions([...list, list[0] as Uint8Array])), BAD_DER);
    expectError(() => parseCertificate(replaceExtensions([])), BAD_DER);
  });

  it('rejects an explicitly encoded critical FALSE', () => {
    const list = items();
    list[0] = seq(oid('2.5.29.35'), bool(false), octets(seq()));
    expectError(() => parseCertificate(replaceExtensions(list)), BAD_DER);
  });

  it('rejects basicConstraints with cA FALSE encoded and with a negative pathLen', () => {
    const list = items();
    const bcIndex = list.findIndex((item) => hex(item).includes(hex(oid('2.5.29.19'))));
    list[bcIndex] = seq(oid('2.5.29.19'), bool(true), octets(seq(bool(false))));
    expectError(() => parseCertificate(replaceExtensions(list)), BAD_DER);
    list[bcIndex] = seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true), rawInt([0xff]))));
    expectError(() => parseCertificate(replaceExtensions(list)), BAD_DER);
  });

  it('rejects a standard extension whose value is not strict DER', () => {
    const list = items();
    const skiIndex = list.findIndex((item) => hex(item).includes(hex(oid('2.5.29.14'))));
    list[skiIndex] = seq(oid('2.5.29.14'), octets(concat([octets([1, 2, 3]), Uint8Array.of(0)])));
    expectError(() => parseCertificate(replaceExtensions(list)), BAD_DER);
    list[skiIndex] = seq(oid('2.5.29.14'), octets(octets([])));
    expectError(() => parseCertificate(replaceExtensions(list)), BAD_DER); // V04: an empty key id
  });

  it('rejects an impossible validity date (X01)', () => {
    expectError(
      () =>
        parseCertificate(
          editTbs(leaf, (f) => {
            f[4] = seq(tlv(0x17, new Uint8Array(Buffer.from('250230000000Z'))), tlv(0x17, new Uint8Array(Buffer.from('300101000000Z'))));
            return f;
          }),
        ),
      BAD_DER,
    );
  });

  describe('public keys', () => {
    const withKey = (spki: Uint8Array) =>
      editTbs(leaf, (f) => {
        f[6] = spki;
        return f;
      });
    const leafKey = parseCertificate(leaf).publicKey;
    const xy = leafKey.kind === 'ec' ? leafKey.xy : new Uint8Array(64);
    const ecSpki = (curveOid: string, point: Uint8Array) =>
      seq(seq(oid('1.2.840.10045.2.1'), oid(curveOid)), tlv(0x03, concat([Uint8Array.of(0), point])));

    it('baseline: the leaf key re-encoded parses', () => {
      expect(parseCertificate(withKey(ecSpki('1.2.840.10045.3.1.7', concat([Uint8Array.of(4), xy])))).publicKey).toMatchObject({ kind: 'ec' });
    });

    it('rejects a point off the curve (PARSE, ERR_BAD_PUBLIC_KEY)', () => {
      const bad = concat([Uint8Array.of(4), xy]);
      bad[64] = (bad[64] as number) ^ 1;
      expectError(() => parseCertificate(withKey(ecSpki('1.2.840.10045.3.1.7', bad))), { code: 'ERR_BAD_PUBLIC_KEY', errorClass: 'PARSE' });
    });

    it('rejects a compressed point', () => {
      expectError(() => parseCertificate(withKey(ecSpki('1.2.840.10045.3.1.7', concat([Uint8Array.of(2), xy.subarray(0, 32)])))), BAD_DER);
    });

    it('P-521 and Ed25519 keys are UNSUPPORTED', () => {
      const unsupported = { code: 'ERR_UNSUPPORTED_KEY_TYPE', errorClass: 'UNSUPPORTED' };
      expectError(() => parseCertificate(withKey(ecSpki('1.3.132.0.35', concat([Uint8Array.of(4), xy])))), unsupported);
      expectError(() => parseCertificate(withKey(seq(seq(oid('1.3.101.112')), tlv(0x03, new Uint8Array(33))))), unsupported);
    });
  });
});

describe('names', () => {
  const spki = (() => {
    const g = fromHex(
      '04' + '6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296' + '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
    );
    return seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, concat([Uint8Array.of(0), g])));
  })();
  const validity = seq(tlv(0x17, new Uint8Array(Buffer.from('240101000000Z'))), tlv(0x17, new Uint8Array(Buffer.from('300101000000Z'))));
  const ecdsa = seq(oid('1.2.840.10045.4.3.2'));
  const sig = tlv(0x03, concat([Uint8Array.of(0), seq(int(1), int(1))]));
  const withSubject = (subject: Uint8Array) => parseCertificate(seq(seq(context(0, true, int(2)), int(1), ecdsa, subject, validity, subject, spki), ecdsa, sig));
  const atv = (type: string, value: Uint8Array) => seq(oid(type), value);

  it('RFC 4514: reversed order, escaping, multi-valued RDNs, dotted types as #hex', () => {
    const c = withSubject(
      seq(
        set(atv('2.5.4.6', tlv(0x13, new Uint8Array(Buffer.from('US'))))),
        set(atv('2.5.4.10', utf8('A, "B" + <C>;\\')), atv('2.5.4.11', utf8(' lead#'))),
        set(atv('2.5.4.5', tlv(0x13, new Uint8Array(Buffer.from('42'))))),
        set(atv('2.5.4.3', utf8('#x '))),
      ),
    );
    expect(c.subject).toBe('CN=\\#x\\ ,2.5.4.5=#13023432,O=A\\, \\"B\\" \\+ \\<C\\>\\;\\\\+OU=\\ lead#,C=US');
    expect(c.subjectAttributes).toEqual({ CN: '#x ', O: 'A, "B" + <C>;\\', OU: ' lead#', C: 'US' });
  });

  it('leaves out an attribute that occurs twice, so "CN ===" never picks one of two', () => {
    const c = withSubject(seq(set(atv('2.5.4.3', utf8('Intel SGX PCK Platform CA'))), set(atv('2.5.4.3', utf8('evil')))));
    expect(c.subjectAttributes.CN).toBeUndefined();
    expect(c.subject).toBe('CN=evil,CN=Intel SGX PCK Platform CA');
  });

  it.each([
    ['an empty RDN', seq(set())],
    ['invalid UTF-8', seq(set(atv('2.5.4.3', tlv(0x0c, Uint8Array.of(0xc3)))))],
    ['a PrintableString with "@"', seq(set(atv('2.5.4.3', tlv(0x13, new Uint8Array(Buffer.from('a@b'))))))],
    ['an attribute without a value', seq(set(seq(oid('2.5.4.3'))))],
  ])('rejects %s', (_name, subject) => {
    expectError(() => withSubject(subject), BAD_DER);
  });
});
