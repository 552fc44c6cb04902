/**
 * X04: a CRL is bound to its issuing CA by name AND by authority key
 * identifier = the CA's subject key identifier. The CRLs here carry the right
 * issuer NAME but the AKI of another CA with the very same DN (a second test
 * PKI, or AMD's Genoa RSA key under the name ARK-Milan). The verifiers cite
 * the check where the CRL is used: T13 (Root CA CRL), T14 (PCK CRL), S09
 * (AMD CRL), each COLLATERAL_MISMATCH.
 *
 * Two shapes per CRL: signed by the other CA (without the AKI comparison this
 * becomes COLLATERAL_SIG, so the class tells the comparison ran first), and
 * signed by the right CA's key with only the AKI wrong (without the
 * comparison this CRL would be accepted).
 */
import type { KeyObject } from 'node:crypto';
import { constants, sign } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { createAmdTestPki, createIntelTestPki, loadAmdRsaKeys, type AmdTestPki, type TestCertificate } from '../../src/testing/index.js';
import * as der from '../../src/testing/der.js';
import { authorityKeyIdentifier, encodeName, keyIdentifier, signatureAlgorithm } from '../../src/testing/x509-builder.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { parseCertificate, parseCrl } from '../../src/x509/index.js';
import { catchError } from '../helpers/expect-error.js';
import { AT as INTEL_AT, expectSyntheticFailure, platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { VALIDITY, setup } from './snp/helpers/synthetic.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('X04, Intel: a CRL with its issuer name but another CA key identifier', () => {
  const base = platform();
  // Same seed-independent DNs (Intel's CNs under the test organisation), other keys.
  const other = createIntelTestPki({ seed: 'x04: another CA with the same names', validity: { notBefore: new Date(INTEL_AT.getTime() - 365 * 86_400_000), notAfter: new Date(INTEL_AT.getTime() + 365 * 86_400_000) } });
  const foreignAki = (ca: TestCertificate) => ({ omitAuthorityKeyId: true, extraExtensions: [authorityKeyIdentifier(ca.key.publicKey)] });

  it('the premise: same DN, different key identifiers, and the unaltered platform verifies', () => {
    expect(other.root.subject).toEqual(base.pki.root.subject);
    expect(other.pckCa.subject).toEqual(base.pki.pckCa.subject);
    expect(hex(keyIdentifier(other.root.key.publicKey))).not.toBe(hex(keyIdentifier(base.pki.root.key.publicKey)));
    expect(verifySynthetic(base).tcbStatus).toBe('UpToDate');
  });

  it('X04: a Root CA CRL of another root with the same name is COLLATERAL_MISMATCH at T13', () => {
    const p = platform({ rootCaCrl: { ...foreignAki(other.root), signingKey: other.root.key.privateKey } });
    const crl = parseCrl(p.collateral.rootCaCrl!.body);
    expect(crl.issuer).toBe(parseCrl(base.collateral.rootCaCrl!.body).issuer);
    expect(crl.authorityKeyId).toBe(hex(keyIdentifier(other.root.key.publicKey)));
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T13' });
  });

  it('X04: a Root CA CRL signed by the root but naming another key is COLLATERAL_MISMATCH at T13', () => {
    const p = platform({ rootCaCrl: foreignAki(other.root) });
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T13' });
  });

  it('X04: a PCK CRL of another PCK Platform CA with the same name is COLLATERAL_MISMATCH at T14', () => {
    const p = platform({ pckCrl: { ...foreignAki(other.pckCa), signingKey: other.pckCa.key.privateKey } });
    const crl = parseCrl(p.collateral.pckCrl!.body);
    expect(crl.issuer).toBe(parseCrl(base.collateral.pckCrl!.body).issuer);
    expect(crl.authorityKeyId).toBe(hex(keyIdentifier(other.pckCa.key.publicKey)));
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T14' });
  });

  it('X04: a PCK CRL signed by the PCK CA but naming another key is COLLATERAL_MISMATCH at T14', () => {
    const p = platform({ pckCrl: foreignAki(other.pckCa) });
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T14' });
  });
});

interface AmdCrlParts {
  /** Whose name is written as the issuer. */
  issuerOf: AmdTestPki;
  /** AKI of this key; undefined leaves the AKI out. */
  akiKey: KeyObject | undefined;
  signingKey: KeyObject;
}

/** An ARK-style CRL (RSASSA-PSS SHA-384, current at the SNP instant) assembled from explicit parts. */
function amdCrl(parts: AmdCrlParts): Uint8Array {
  const ext = (oid: string, value: Uint8Array) => der.sequence(der.objectIdentifier(oid), der.octetString(value));
  const extensions = [ext('2.5.29.20', der.integer(7))];
  if (parts.akiKey) {
    const aki = authorityKeyIdentifier(parts.akiKey);
    extensions.unshift(ext(aki.oid, aki.value));
  }
  const tbs = der.sequence(
    der.integer(1),
    signatureAlgorithm('rsa-pss-sha384'),
    encodeName(parts.issuerOf.ark.subject),
    der.time(new Date('2025-05-01T00:00:00Z')),
    der.time(new Date('2025-07-01T00:00:00Z')),
    der.explicit(0, der.sequence(...extensions)),
  );
  const signature = new Uint8Array(sign('sha384', tbs, { key: parts.signingKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
  return der.sequence(tbs, signatureAlgorithm('rsa-pss-sha384'), der.bitString(signature));
}

describe('X04, SNP: a CRL named ARK-Milan that belongs to another ARK key', () => {
  const s = setup();
  // An "ARK-Milan" with Genoa's RSA key: the test keys are per product, so this is another CA of the same name.
  const rogue = createAmdTestPki({ seed: 'x04: rogue ARK', product: 'Milan', validity: VALIDITY, rsaKeys: loadAmdRsaKeys('Genoa') });
  const run = (crl: Uint8Array) => catchError(() => verifySnpReport(s.report, { ...s.collateral, crl }, s.options));

  it('the premise: same ARK name, other key, and the CRL built here passes when its parts are right', () => {
    expect(rogue.ark.subject).toEqual(s.pki.ark.subject);
    expect(hex(keyIdentifier(rogue.ark.key.publicKey))).not.toBe(hex(keyIdentifier(s.pki.ark.key.publicKey)));
    const good = amdCrl({ issuerOf: s.pki, akiKey: s.pki.ark.key.publicKey, signingKey: s.pki.ark.key.privateKey });
    expect(verifySnpReport(s.report, { ...s.collateral, crl: good }, s.options).warnings).toEqual([]);
  });

  it('X04: a CRL of another ARK with the same name is COLLATERAL_MISMATCH at S09', () => {
    const crl = amdCrl({ issuerOf: rogue, akiKey: rogue.ark.key.publicKey, signingKey: rogue.ark.key.privateKey });
    expect(parseCrl(crl).issuer).toBe(parseCertificate(s.pki.ark.der).subject);
    expect(parseCrl(crl).authorityKeyId).toBe(hex(keyIdentifier(rogue.ark.key.publicKey)));
    const err = run(crl);
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });
  });

  it('X04: a CRL signed by the ARK but naming another key is COLLATERAL_MISMATCH at S09', () => {
    const crl = amdCrl({ issuerOf: s.pki, akiKey: rogue.ark.key.publicKey, signingKey: s.pki.ark.key.privateKey });
    const err = run(crl);
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });
  });

  // S40 (no "skip if absent"): as the Intel verifier (COLLATERAL_FORMAT, T13 / T14); AMD's KDS CRLs all carry an AKI.
  it('X04 / S40: a CRL without an AKI is refused at S09', () => {
    const crl = amdCrl({ issuerOf: s.pki, akiKey: undefined, signingKey: s.pki.ark.key.privateKey });
    const err = run(crl);
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'S09' });
  });
});
