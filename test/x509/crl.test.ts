/**
 * parseCrl against the real Intel (PCK, Root CA) and AMD (KDS) CRLs: issuer,
 * dates, revoked serials and counts as the manifest states them, signatures
 * by the issuing CA (T13, T14, S09), issuer binding by AKI = SKI (X04); then
 * canonical serials and the rejections.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import {
  parseCertificate,
  parseCrl,
  splitPckCertChain,
  splitPemCertificates,
  verifyCrlSignature,
  type CertificateInfo,
  type CrlInfo,
} from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readVectorFile, vectorPath } from '../helpers/vectors.js';
import { concat, context, fromHex, hex, int, octets, oid, rawInt, seq } from './helpers/der.js';
import { certificatesOf, isoSeconds, quoteChains } from './helpers/real.js';
import { editTbs } from './helpers/rebuild.js';
import { ECDSA_SHA256, ecKeys, makeCertificate, makeCrl, pem } from './helpers/synthetic.js';

const BAD_DER = { code: 'ERR_BAD_DER', errorClass: 'PARSE' };

interface ExpectedCrl {
  issuer: string;
  this_update: string;
  next_update: string;
  revoked_count: number;
}

function expectCrl(crl: CrlInfo, expected: ExpectedCrl, issuer: CertificateInfo): void {
  expect(crl.issuer).toBe(expected.issuer); // the manifest prints RFC 4514 too
  expect(isoSeconds(crl.thisUpdate)).toBe(expected.this_update);
  expect(isoSeconds(crl.nextUpdate as Date)).toBe(expected.next_update);
  expect(crl.revokedCount).toBe(expected.revoked_count);
  expect(crl.revokedSerials.size).toBe(expected.revoked_count);
  // T13 / T14: signed by the issuing CA; X04: bound to it by name and key id; QVL requires number and AKI.
  expect(verifyCrlSignature(crl, issuer.publicKey)).toBe(true);
  expect(crl.issuer).toBe(issuer.subject);
  expect(crl.authorityKeyId).toBe(issuer.subjectKeyId);
  expect(crl.crlNumber).toBeTypeOf('bigint');
  expect(crl.tbs.buffer).toBe(crl.der.buffer);
}

describe.skipIf(!HAVE_VECTORS)('Intel CRLs', () => {
  const manifest = loadManifest();

  it('go-tdx-guest pckcrl and rootcrl.der', () => {
    const entry = manifest.find((e) => e.id === 'go-tdx-guest/tdx_prod_quote_SPR_E4');
    if (!entry) throw new Error('manifest entry missing');
    const [platformCa, root] = certificatesOf(entry.collateral['pck_crl_issuer_chain'] as string) as [CertificateInfo, CertificateInfo];
    const pck = parseCrl(new Uint8Array(readVectorFile(entry.collateral['pck_crl'] as string)));
    const rootCrl = parseCrl(new Uint8Array(readVectorFile(entry.collateral['root_ca_crl'] as string)));
    expectCrl(pck, entry.checks['pck_crl'] as ExpectedCrl, platformCa);
    expectCrl(rootCrl, entry.checks['root_ca_crl'] as ExpectedCrl, root);
    expect(verifyCrlSignature(pck, root.publicKey)).toBe(false); // wrong issuer key
    expect(rootCrl.revokedSerials.has(platformCa.serialNumber)).toBe(false);
    for (const serial of pck.revokedSerials) expect(serial).toMatch(/^[1-9a-f][0-9a-f]*$/);
  });

  const bundles = manifest.filter((e) => e.collateral?.['collateral_bundle']);
  it.each(bundles.map((e) => [e.id, e] as const))('%s: the bundle CRLs (hex DER)', (_id, entry) => {
    const bundle = JSON.parse(readFileSync(vectorPath(entry.collateral['collateral_bundle'] as string), 'utf8')) as Record<string, string>;
    const [ca, root] = splitPemCertificates(bundle['pck_crl_issuer_chain'] as string).map(parseCertificate) as [CertificateInfo, CertificateInfo];
    const pck = parseCrl(fromHex(bundle['pck_crl'] as string));
    const rootCrl = parseCrl(fromHex(bundle['root_ca_crl'] as string));
    expectCrl(pck, entry.checks['pck_crl'] as ExpectedCrl, ca);
    expectCrl(rootCrl, entry.checks['root_ca_crl'] as ExpectedCrl, root);
    // The quote's own leaf and intermediate are not revoked (manifest: pck_leaf_revoked false).
    const chain = quoteChains().find((c) => c.entry.id === entry.id);
    const [leaf, intermediate] = splitPckCertChain(chain!.pem).map(parseCertificate) as [CertificateInfo, CertificateInfo];
    expect(pck.revokedSerials.has(leaf.serialNumber)).toBe(false);
    expect(rootCrl.revokedSerials.has(intermediate.serialNumber)).toBe(false);
    expect(pck.issuer).toBe(leaf.issuer); // T14: the CRL of the leaf's own CA
  });
});

describe.skipIf(!HAVE_VECTORS)('AMD KDS CRLs (PEM, RSASSA-PSS by the ARK)', () => {
  it('Genoa: revokes 20001, not the ASK; signed by ARK-Genoa', () => {
    const entry = loadManifest().find((e) => e.id === 'openpcc/azure_sevsnp_genoa');
    if (!entry) throw new Error('manifest entry missing');
    const crl = parseCrl(new Uint8Array(readVectorFile(entry.collateral['amd_crl'] as string)));
    const certs = certificatesOf(entry.collateral['ask_ark_chain'] as string);
    const ark = certs.find((c) => c.subjectAttributes.CN === 'ARK-Genoa') as CertificateInfo;
    const ask = certs.find((c) => c.subjectAttributes.CN === 'SEV-Genoa') as CertificateInfo;
    expectCrl(crl, entry.checks['crl'] as ExpectedCrl, ark);
    expect([...crl.revokedSerials]).toEqual(entry.checks['crl_revoked_serials']);
    expect(crl.revokedSerials.has(ask.serialNumber)).toBe(false);
    expect(crl.signatureAlgorithm).toBe('1.2.840.113549.1.1.10');
  });

  it('Milan: no revoked entries; signed by ARK-Milan, not by the ASK', () => {
    const crl = parseCrl(new Uint8Array(readVectorFile('openpcc/extracted/test_amd_milan_crl.pem')));
    const certs = certificatesOf('openpcc/extracted/test_amd_sev_milan_root_certs.pem');
    const ark = certs.find((c) => c.subjectAttributes.CN === 'ARK-Milan') as CertificateInfo;
    const ask = certs.find((c) => c.subjectAttributes.CN === 'SEV-Milan') as CertificateInfo;
    expect(crl.revokedCount).toBe(0);
    expect(verifyCrlSignature(crl, ark.publicKey)).toBe(true);
    expect(verifyCrlSignature(crl, ask.publicKey)).toBe(false);
    expect(crl.authorityKeyId).toBe(ark.subjectKeyId);
  });

  it('DER and PEM of the same CRL parse alike', () => {
    const text = readVectorFile('openpcc/extracted/test_amd_genoa_crl.pem');
    const fromPem = parseCrl(new Uint8Array(text));
    const fromDer = parseCrl(Uint8Array.from(fromPem.der));
    expect(hex(fromDer.tbs)).toBe(hex(fromPem.tbs));
    expect(fromDer.crlNumber).toBe(fromPem.crlNumber);
  });
});

describe('synthetic CRLs', async () => {
  const keys = await ecKeys('P-256');
  const base = { issuerCn: 'test CA', signingKey: keys.privateKey };
  const caKey = parseCertificate(await makeCertificate({ subject: 'CN=test CA', publicKey: keys.publicKey, signingKey: keys.privateKey, algorithm: ECDSA_SHA256 })).publicKey;
  const crlNumber = { oid: '2.5.29.20', value: int(7) };

  it('serials are canonical: the DER sign byte never makes two serials differ (T14)', () => {
    const crl = parseCrl(makeCrl({ ...base, serials: ['0080', '01', '00abcdef', '00ff00'], extensions: [crlNumber] }));
    expect([...crl.revokedSerials].sort()).toEqual(['1', '80', 'abcdef', 'ff00']);
    expect(crl.crlNumber).toBe(7n);
  });

  it('a CRL without nextUpdate parses with nextUpdate undefined (the verifier rejects it, X02)', () => {
    const crl = parseCrl(makeCrl({ ...base, serials: [], nextUpdate: null }));
    expect(crl.nextUpdate).toBeUndefined();
    expect(crl.revokedCount).toBe(0);
    expect(crl.crlNumber).toBeUndefined();
  });

  it('a flipped TBS byte fails signature verification', () => {
    const der = makeCrl({ ...base, serials: ['1234'] });
    const crl = parseCrl(der);
    expect(verifyCrlSignature(crl, caKey)).toBe(true);
    const flipped = Uint8Array.from(crl.tbs);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(verifyCrlSignature({ ...crl, tbs: flipped }, caKey)).toBe(false);
  });

  it('rejects trailing bytes, a negative serial, an explicit v1 version, a mismatched algorithm and a negative CRL number', () => {
    const der = makeCrl({ ...base, serials: ['1234'], extensions: [crlNumber] });
    expectError(() => parseCrl(concat([der, Uint8Array.of(0)])), BAD_DER);
    // fields: version, signature, issuer, thisUpdate, nextUpdate, revoked, [0] extensions
    expectError(() => parseCrl(editTbs(der, (f) => { f[5] = seq(seq(rawInt([0xfe]), f[3] as Uint8Array)); return f; })), BAD_DER);
    expectError(() => parseCrl(editTbs(der, (f) => [int(0), ...f.slice(1)])), BAD_DER);
    expectError(() => parseCrl(editTbs(der, (f) => { f[1] = seq(oid('1.2.840.10045.4.3.3')); return f; })), BAD_DER);
    expectError(
      () => parseCrl(editTbs(der, (f) => { f[6] = context(0, true, seq(seq(oid('2.5.29.20'), octets(rawInt([0xff]))))); return f; })),
      BAD_DER,
    );
    expectError(() => parseCrl(editTbs(der, (f) => [...f, int(1)])), BAD_DER);
  });

  it('PEM: exactly one X509 CRL block', () => {
    const der = makeCrl({ ...base, serials: [] });
    expect(parseCrl(new Uint8Array(Buffer.from(pem(der, 'X509 CRL')))).revokedCount).toBe(0);
    const twice = pem(der, 'X509 CRL') + pem(der, 'X509 CRL');
    expectError(() => parseCrl(new Uint8Array(Buffer.from(twice))), { code: 'ERR_BAD_PEM', errorClass: 'PARSE' });
    expectError(() => parseCrl(new Uint8Array(Buffer.from(pem(der, 'CERTIFICATE')))), { code: 'ERR_BAD_PEM', errorClass: 'PARSE' });
  });
});

