/**
 * Review, session 6: parsed certificates, CRLs and PEM splits are cached for
 * the whole process and shared. A caller that changes a parse result must not
 * change what every later parse or verification of the same bytes sees: the
 * shared value is frozen (a change throws), and bytes changed in place are
 * detected and parsed again.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { parseCertificate, parseCrl, splitPemCertificates, parseAmdKdsExtensions } from '../../src/x509/index.js';
import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { TempDirs, cliJson, entryOf } from '../cli/helpers.js';
import { ecKeys, makeCrl } from './helpers/synthetic.js';

const repoVectors = new URL('../../vectors/', import.meta.url);
const vcekDer = () => new Uint8Array(readFileSync(new URL('snp-v3-milan-vcek.der', repoVectors)));
const chainPem = () => readFileSync(new URL('amd-milan-cert-chain.pem', repoVectors), 'latin1');

/** Changes one byte in place, as a careless caller might. */
function flip(bytes: Uint8Array, at: number): void {
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
}

describe('the parse cache hands out values no caller can change for the next', () => {
  it('a certificate: its objects, arrays, dates and names are read-only, and a second parse is unchanged', () => {
    const a = parseCertificate(vcekDer());
    const extensions = a.extensions.length;
    const cn = a.subjectAttributes.CN;
    expect(() => {
      a.extensions.length = 0;
    }).toThrow(TypeError);
    expect(() => a.extensions.pop()).toThrow(TypeError);
    expect(() => {
      (a.subjectAttributes as { CN?: string }).CN = 'SEV-Milan';
    }).toThrow(TypeError);
    expect(() => {
      (a as { basicConstraints?: unknown }).basicConstraints = { ca: true };
    }).toThrow(TypeError);
    expect(() => a.notAfter.setFullYear(2200)).toThrow(TypeError);
    const b = parseCertificate(vcekDer()); // a fresh buffer, the same content
    expect(b.extensions.length).toBe(extensions);
    expect(b.subjectAttributes.CN).toBe(cn);
    expect(b.basicConstraints?.ca).not.toBe(true);
    expect(b.notAfter.getTime()).toBe(a.notAfter.getTime());
  });

  it('bytes changed in place (typed arrays cannot be frozen) are parsed again, not served', () => {
    const a = parseCertificate(vcekDer());
    const original = Buffer.from(a.tbs).toString('hex');
    flip(a.tbs, a.tbs.length - 1);
    flip(a.publicKey.spki, 0);
    const b = parseCertificate(vcekDer());
    expect(b).not.toBe(a);
    expect(Buffer.from(b.tbs).toString('hex')).toBe(original);
    expect(b.publicKey.spki[0]).toBe(0x30);
  });

  it("a date changed behind the lock (Date.prototype.setTime.call) is noticed too", () => {
    const a = parseCertificate(vcekDer());
    const notAfter = a.notAfter.getTime();
    Date.prototype.setTime.call(a.notAfter, Date.UTC(2200, 0, 1));
    expect(parseCertificate(vcekDer()).notAfter.getTime()).toBe(notAfter);
  });

  it('decoded KDS extensions are shared too: read-only, hwID checked', () => {
    const cert = parseCertificate(vcekDer());
    const ext = parseAmdKdsExtensions(cert);
    expect(() => {
      (ext as { snpSPL: number }).snpSPL = 255;
    }).toThrow(TypeError);
    const hwId = Buffer.from(ext.hwId!).toString('hex');
    flip(ext.hwId!, 0);
    expect(Buffer.from(parseAmdKdsExtensions(cert).hwId!).toString('hex')).toBe(hwId);
  });

  it('PEM splits: the DER of a block changed by a caller is split again', () => {
    for (const input of [chainPem(), new TextEncoder().encode(chainPem())]) {
      const first = splitPemCertificates(input);
      const der = Buffer.from(first[0]!).toString('hex');
      first[0]![0] = 0;
      expect(Buffer.from(splitPemCertificates(input)[0]!).toString('hex')).toBe(der);
    }
  });
});

describe('CRLs', async () => {
  const keys = await ecKeys('P-256');
  const crlDer = () => makeCrl({ issuerCn: 'test CA', signingKey: keys.privateKey, serials: ['01', '02'] });

  it('revoked serials, dates and extensions are read-only; a second parse is unchanged', () => {
    const a = parseCrl(crlDer());
    // The type says ReadonlySet; a caller who casts it away still cannot change it.
    const serials = a.revokedSerials as Set<string>;
    expect(() => serials.clear()).toThrow(TypeError);
    expect(() => serials.delete('1')).toThrow(TypeError);
    expect(() => serials.add('3')).toThrow(TypeError);
    expect(() => a.nextUpdate!.setTime(Date.UTC(2200, 0, 1))).toThrow(TypeError);
    expect(() => {
      (a as { revokedCount: number }).revokedCount = 0;
    }).toThrow(TypeError);
    // Behind the locks (Set.prototype.delete.call): refused too, the set is a read-only view (review s6b).
    expect(() => Set.prototype.delete.call(a.revokedSerials, '1')).toThrow(TypeError);
    const b = parseCrl(crlDer());
    expect([...b.revokedSerials].sort()).toEqual(['1', '2']);
    expect(b.revokedCount).toBe(2);
  });
});

const temps = new TempDirs();
afterAll(() => temps.cleanup());

function pemOf(rel: string): string {
  const raw = readFileSync(vectorPath(rel));
  if (raw.subarray(0, 10).toString('latin1').startsWith('-----')) return raw.toString('latin1');
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

describe.skipIf(!HAVE_VECTORS)('a verification after a caller changed the shared VCEK', () => {
  it('still passes S11 (before the fix, a VCEK whose `extensions` a caller emptied failed S11 in every later verification)', async () => {
    const e = entryOf('ms-tee-attestation-verification/genoa');
    const certs = temps.file('certs.pem', ['vcek', 'ask', 'ark'].map((r) => pemOf(e.collateral[r]!)).join('\n'));
    const argv = ['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--no-cache', '--certs', certs, '--skip-crl'];
    // First a caller's parse of the same VCEK (nothing decoded its extensions yet in this process) ...
    const vcek = parseCertificate(splitPemCertificates(pemOf(e.collateral['vcek']!))[0]!);
    try {
      vcek.extensions.length = 0;
    } catch {
      // read-only: the change is refused
    }
    // ... then the verification.
    const after = await cliJson(argv);
    expect(after.json['error']).toBeNull();
    expect((after.json['checks'] as { id: string }[]).map((c) => c.id)).toContain('S11');
  });
});
