/**
 * T08: the PEM chain inside quotes and issuer-chain files. Real chains split
 * into the same DER node:crypto reads; every deviation from the strict form
 * is PARSE / ERR_BAD_PEM with check T08.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { splitPckCertChain, splitPemCertificates } from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, readVectorFile } from '../helpers/vectors.js';
import { concat, fromHex } from './helpers/der.js';
import { quoteChains } from './helpers/real.js';
import { ECDSA_SHA256, ecKeys, makeCertificate, pem } from './helpers/synthetic.js';

const T08 = { code: 'ERR_BAD_PEM', errorClass: 'PARSE', check: 'T08' };
const ISSUER_CHAINS = [
  'go-tdx-guest/extracted/pck_crl_issuer_chain.pem',
  'go-tdx-guest/extracted/tcb_info_issuer_chain.pem',
  'go-tdx-guest/extracted/qe_identity_issuer_chain.pem',
  'oasis-core/go/common/sgx/pcs/testdata/tcb_info_v3_fmspc_00606A000000_certs.pem',
  'go-sev-guest/verify/trust/ask_ark_milan.pem',
  'trustee/deps/verifier/src/snp/milan_ask_ark_asvk.pem',
  'virtee-sev/tests/certs_data/cert_chain_turin',
];

describe.skipIf(!HAVE_VECTORS)('real chains', () => {
  const chains = quoteChains();

  it('finds the PCK chain of every quote with one (20 in the manifest)', () => {
    expect(chains.length).toBe(20);
  });

  it.each(chains.map((c) => [c.entry.id, c.pem] as const))('%s: three certificates, the DER OpenSSL reads', (_id, chainPem) => {
    expect([0x00, 0x0a]).toContain(chainPem[chainPem.length - 1]); // most quotes end the chain with one NUL
    const ders = splitPckCertChain(chainPem);
    const text = Buffer.from(chainPem).toString('latin1');
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(ders.map((d) => Buffer.from(d).toString('hex'))).toEqual(blocks.map((b) => new X509Certificate(b).raw.toString('hex')));
  });

  it.each(ISSUER_CHAINS)('%s splits', (file) => {
    const ders = splitPemCertificates(readVectorFile(file));
    expect(ders.length).toBeGreaterThanOrEqual(2);
    for (const der of ders) expect(() => new X509Certificate(der)).not.toThrow();
  });

  it('accepts a string as well as bytes', () => {
    const file = readVectorFile(ISSUER_CHAINS[0] as string);
    expect(splitPemCertificates(file.toString('latin1'))).toEqual(splitPemCertificates(new Uint8Array(file)));
  });
});

describe('malformed PEM', async () => {
  const keys = await ecKeys('P-256');
  const der = await makeCertificate({ subject: 'CN=pem test', publicKey: keys.publicKey, signingKey: keys.privateKey, algorithm: ECDSA_SHA256 });
  const one = pem(der);
  const chain = one + one + one;

  it('baseline: a synthetic chain, CRLF endings and trailing whitespace are fine', () => {
    expect(splitPckCertChain(chain).length).toBe(3);
    expect(splitPemCertificates(one.replace(/\n/g, '\r\n')).length).toBe(1);
    expect(splitPemCertificates(`${one}\n \t\n`).length).toBe(1);
    expect(splitPemCertificates(`${one}\0`).length).toBe(1);
  });

  const body = Buffer.from(der).toString('base64');
  it.each([
    ['empty input', ''],
    ['only whitespace', ' \n'],
    ['text before the first block', `junk\n${one}`],
    ['whitespace before the first block', `\n${one}`],
    ['text between blocks', `${one}junk\n${one}`],
    ['text after the last block', `${one}junk`],
    ['text right after END', one.replace('-----END CERTIFICATE-----\n', '-----END CERTIFICATE-----junk\n')],
    ['two trailing NULs', `${one}\0\0`],
    ['a NUL that is not last', `${one}\0\n`],
    ['a NUL between blocks', `${one}\0${one}`],
    ['a private key block', one.replace(/CERTIFICATE/g, 'PRIVATE KEY')],
    ['a CRL block', one.replace(/CERTIFICATE/g, 'X509 CRL')],
    ['mismatched END label', one.replace('END CERTIFICATE', 'END X509 CRL')],
    ['missing END line', one.replace(/-----END CERTIFICATE-----\n$/, '')],
    ['RFC 1421 headers', one.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n\n')],
    ['a blank line in the body', one.replace('-----\n', '-----\n\n')],
    ['a space inside the body', one.replace(body.slice(0, 10), `${body.slice(0, 5)} ${body.slice(5, 10)}`)],
    ['a non-base64 character', one.replace(body.slice(0, 4), `${body.slice(0, 3)}*`)],
    ['padding inside the body', one.replace(body.slice(0, 8), `${body.slice(0, 2)}==${body.slice(4, 8)}`)],
    ['a body length not a multiple of 4', one.replace(body.slice(0, 4), body.slice(0, 3))],
    ['a non-ASCII byte', `${one}\u00e9`],
    ['BEGIN not followed by a line break', one.replace('-----BEGIN CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----')],
  ])('rejects %s', (_name, input) => {
    expectError(() => splitPemCertificates(input), T08);
  });

  it('rejects base64 with non-zero padding bits', () => {
    // "MAA=" is 30 00; "MAB=" decodes to the same bytes in lenient decoders.
    expect(splitPemCertificates('-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n').length).toBe(1);
    expectError(() => splitPemCertificates('-----BEGIN CERTIFICATE-----\nMAB=\n-----END CERTIFICATE-----\n'), T08);
  });

  it('rejects trailing bytes after the DER inside a block, with the DER error as cause', () => {
    const err = expectError(() => splitPemCertificates(pem(concat([der, Uint8Array.of(0)]))), T08);
    expect((err.cause as { code?: string }).code).toBe('ERR_BAD_DER');
  });

  it('rejects a block whose DER is not strict', () => {
    const nonMinimal = fromHex('30820003' + '020101');
    expectError(() => splitPemCertificates(pem(nonMinimal)), T08);
  });

  it('rejects a block that is not a SEQUENCE', () => {
    expectError(() => splitPemCertificates(pem(fromHex('020101'))), T08);
  });

  it('splitPckCertChain: exactly three certificates (T08)', () => {
    expectError(() => splitPckCertChain(one + one), T08);
    expectError(() => splitPckCertChain(chain + one), T08);
  });

  it('rejects input that is neither a string nor bytes', () => {
    expectError(() => splitPemCertificates(42 as unknown as string), T08);
  });
});
