import 'reflect-metadata';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { BasicConstraintsExtension, X509Certificate } from '@peculiar/x509';
import { describe, expect, it } from 'vitest';

import {
  createAmdTestPki,
  createIntelTestPki,
  dnToString,
  ecPublicKeyXY,
  SGX_EXTENSION_OID,
  type AmdTestPki,
  type IntelTestPki,
  type TestCertificate,
} from '../../src/testing/index.js';
import { parseAmdKdsExtensions, parseCertificate } from '../../src/x509/index.js';

const parseKdsExtensions = (der: Uint8Array) => parseAmdKdsExtensions(parseCertificate(der));
import { children, hex, tbsOf, VALIDITY, verifiesWith } from './helpers.js';

const intelRoles = ['root', 'pckCa', 'pck', 'tcbSigning'] as const;
const amdRoles = ['ark', 'ask', 'asvk', 'vcek', 'vlek'] as const;

function shape(c: TestCertificate) {
  return {
    subject: dnToString(c.subject),
    issuer: dnToString(c.issuer),
    serial: c.serialHex,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    extensions: c.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: hex(e.value) })),
    tbs: hex(tbsOf(c.der)),
  };
}

describe('Intel-shaped test PKI', () => {
  const pki: IntelTestPki = createIntelTestPki({ seed: 'pki-test', validity: VALIDITY });

  it('is deterministic for a seed: same subjects, serials, validity, extensions and TBS bytes', () => {
    const again = createIntelTestPki({ seed: 'pki-test', validity: VALIDITY });
    for (const role of intelRoles) expect(shape(again[role])).toEqual(shape(pki[role]));
    expect(again.sgx).toEqual(pki.sgx);
  });

  it('derives different keys and serials from another seed', () => {
    const other = createIntelTestPki({ seed: 'another seed', validity: VALIDITY });
    for (const role of intelRoles) {
      expect(other[role].serialHex).not.toBe(pki[role].serialHex);
      expect(hex(ecPublicKeyXY(other[role].key.publicKey))).not.toBe(hex(ecPublicKeyXY(pki[role].key.publicKey)));
    }
  });

  it('chains root -> PCK CA -> PCK and root -> TCB Signing with valid P-256 signatures', async () => {
    expect(verifiesWith(pki.root.der, pki.root.der)).toBe(true);
    expect(verifiesWith(pki.pckCa.der, pki.root.der)).toBe(true);
    expect(verifiesWith(pki.pck.der, pki.pckCa.der)).toBe(true);
    expect(verifiesWith(pki.tcbSigning.der, pki.root.der)).toBe(true);
    const leaf = new X509Certificate(pki.pck.der);
    const ca = new X509Certificate(pki.pckCa.der);
    expect(await leaf.verify({ publicKey: ca.publicKey, date: new Date('2026-06-01T00:00:00Z') })).toBe(true);
  });

  it("uses Intel's CNs under a synthetic organisation and the CA profile of §2.3", () => {
    expect(dnToString(pki.root.subject)).toBe('CN=Intel SGX Root CA, O=tee-verify test, L=Santa Clara, ST=CA, C=US');
    expect(dnToString(pki.pckCa.subject)).toBe('CN=Intel SGX PCK Platform CA, O=tee-verify test, L=Santa Clara, ST=CA, C=US');
    expect(dnToString(pki.pck.subject)).toBe('CN=Intel SGX PCK Certificate, O=tee-verify test, L=Santa Clara, ST=CA, C=US');
    expect(dnToString(pki.tcbSigning.subject)).toBe('CN=Intel SGX TCB Signing, O=tee-verify test, L=Santa Clara, ST=CA, C=US');
    for (const role of intelRoles) expect(new NodeX509(pki[role].der).subject).not.toMatch(/Intel Corporation/);
    const bc = (der: Uint8Array) => new X509Certificate(der).getExtension(BasicConstraintsExtension);
    expect(bc(pki.root.der)?.ca).toBe(true);
    expect(bc(pki.pckCa.der)?.ca).toBe(true);
    expect(bc(pki.pckCa.der)?.pathLength).toBe(0);
    expect(bc(pki.pck.der)?.ca).toBe(false);
    expect(pki.pckChainPem).toBe(pki.pck.pem + pki.pckCa.pem + pki.root.pem); // T08 order
  });

  it('writes the SGX extension with 7 entries (Platform CA) and an 18-entry TCB (T15)', () => {
    const ext = pki.pck.extensions.find((e) => e.oid === SGX_EXTENSION_OID);
    expect(ext?.critical).toBe(false);
    const top = children(children(ext!.value)[0]!.content);
    expect(top).toHaveLength(7);
    const tcb = children(top[1]!.content);
    expect(children(tcb[1]!.content)).toHaveLength(18);
    const fmspc = children(top[3]!.content)[1]!;
    expect(fmspc.tag).toBe(0x04);
    expect(hex(fmspc.content)).toBe(hex(pki.sgx.fmspc));
  });

  it('writes 5 entries for a Processor CA leaf', () => {
    const processor = createIntelTestPki({ seed: 'pki-test', validity: VALIDITY, caType: 'processor' });
    const ext = processor.pck.extensions.find((e) => e.oid === SGX_EXTENSION_OID)!;
    expect(children(children(ext.value)[0]!.content)).toHaveLength(5);
    expect(dnToString(processor.pckCa.subject)).toContain('PCK Processor CA');
  });

  it('applies per-certificate overrides with valid signatures around the defect', () => {
    const expired = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') };
    const custom = createIntelTestPki({
      seed: 'pki-test',
      validity: VALIDITY,
      sgx: { fmspc: Uint8Array.from([1, 2, 3, 4, 5, 6]) },
      overrides: {
        pck: { validity: expired, extensions: (defaults) => defaults.filter((e) => e.oid !== SGX_EXTENSION_OID) },
        tcbSigning: { corruptSignature: true },
      },
    });
    expect(custom.pck.notAfter.toISOString()).toBe('2021-01-01T00:00:00.000Z');
    expect(new Date(new NodeX509(custom.pck.der).validTo).toISOString()).toBe('2021-01-01T00:00:00.000Z');
    expect(custom.pck.extensions.some((e) => e.oid === SGX_EXTENSION_OID)).toBe(false);
    expect(verifiesWith(custom.pck.der, custom.pckCa.der)).toBe(true);
    expect(verifiesWith(custom.tcbSigning.der, custom.root.der)).toBe(false);
    expect(hex(custom.sgx.fmspc)).toBe('010203040506');
  });

  it('never reads the clock: validity is required', () => {
    expect(() => createIntelTestPki({ seed: 'x', validity: undefined as never })).toThrow(/validity/);
  });
});

describe('AMD-shaped test PKI', () => {
  const milan: AmdTestPki = createAmdTestPki({ seed: 'pki-test', product: 'Milan', validity: VALIDITY });
  const turin: AmdTestPki = createAmdTestPki({ seed: 'pki-test', product: 'Turin', validity: VALIDITY });

  it('is deterministic for a seed', () => {
    const again = createAmdTestPki({ seed: 'pki-test', product: 'Milan', validity: VALIDITY });
    for (const role of amdRoles) expect(shape(again[role])).toEqual(shape(milan[role]));
  });

  it('chains ARK -> ASK -> VCEK and ARK -> ASVK -> VLEK with RSASSA-PSS SHA-384 (salt 48)', () => {
    expect(verifiesWith(milan.ark.der, milan.ark.der)).toBe(true);
    expect(verifiesWith(milan.ask.der, milan.ark.der)).toBe(true);
    expect(verifiesWith(milan.asvk.der, milan.ark.der)).toBe(true);
    expect(verifiesWith(milan.vcek.der, milan.ask.der)).toBe(true);
    expect(verifiesWith(milan.vlek.der, milan.asvk.der)).toBe(true);
    expect(verifiesWith(milan.vcek.der, milan.asvk.der)).toBe(false);
    const alg = new X509Certificate(milan.vcek.der).signatureAlgorithm as { name: string; saltLength?: number; hash?: { name: string } };
    expect(alg.name).toBe('RSA-PSS');
    expect(alg.saltLength).toBe(48);
    expect(alg.hash?.name).toBe('SHA-384');
  });

  it('uses AMD CNs, a synthetic O, P-384 leaves and serial 0 for the VCEK', () => {
    expect(dnToString(milan.ark.subject)).toMatch(/O=tee-verify test .*CN=ARK-Milan$/);
    expect(dnToString(milan.ask.subject)).toMatch(/CN=SEV-Milan$/);
    expect(dnToString(milan.asvk.subject)).toMatch(/CN=SEV-VLEK-Milan$/);
    expect(dnToString(milan.vcek.subject)).toMatch(/CN=SEV-VCEK$/);
    expect(dnToString(milan.vlek.subject)).toMatch(/CN=SEV-VLEK$/);
    expect(new NodeX509(milan.vcek.der).serialNumber).toBe('0');
    expect(milan.vcek.serialHex).toBe('00');
    expect(milan.vcek.key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });

  it('writes Milan KDS extensions: structVersion 0, spl_4, 64-byte hwID = CHIP_ID', () => {
    const ext = parseKdsExtensions(milan.vcek.der);
    expect(ext).toMatchObject({ structVersion: 0, productName: 'Milan-B0', blSPL: 4, teeSPL: 0, snpSPL: 0x18, ucodeSPL: 0xdb, spl4: 0, spl5: 0 });
    expect(ext.fmcSPL).toBeUndefined();
    expect(hex(ext.hwId!)).toBe(hex(milan.chipId));
    expect(ext.cspId).toBeUndefined();
  });

  it('writes Turin KDS extensions: structVersion 1, fmcSPL, no spl_4, 8-byte hwID', () => {
    const ext = parseKdsExtensions(turin.vcek.der);
    expect(ext).toMatchObject({ structVersion: 1, productName: 'Turin', fmcSPL: 1, blSPL: 1, teeSPL: 1, snpSPL: 3, ucodeSPL: 0x4f });
    expect(ext.spl4).toBeUndefined();
    expect(hex(ext.hwId!)).toBe(hex(turin.chipId.subarray(0, 8)));
    expect(turin.chipId.subarray(8).every((b) => b === 0)).toBe(true);
  });

  it('gives the VLEK a cspId and no hwID', () => {
    const ext = parseKdsExtensions(milan.vlek.der);
    expect(ext.cspId).toBe('tee-verify-test-csp');
    expect(ext.hwId).toBeUndefined();
  });

  it('takes TCB, chip ID and per-certificate overrides', () => {
    const chipId = new Uint8Array(64).fill(7);
    const custom = createAmdTestPki({
      seed: 'pki-test',
      product: 'Genoa',
      validity: VALIDITY,
      tcb: { bootloader: 1, tee: 2, snp: 3, microcode: 4 },
      chipId,
      overrides: { ask: { subject: [['CN', 'SEV-Milan']] } },
    });
    const ext = parseKdsExtensions(custom.vcek.der);
    expect(ext).toMatchObject({ blSPL: 1, teeSPL: 2, snpSPL: 3, ucodeSPL: 4, productName: 'Genoa-B1' });
    expect(hex(ext.hwId!)).toBe(hex(chipId));
    expect(dnToString(custom.vcek.issuer)).toBe('CN=SEV-Milan');
    expect(verifiesWith(custom.vcek.der, custom.ask.der)).toBe(true);
  });
});
