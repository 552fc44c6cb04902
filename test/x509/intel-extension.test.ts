/**
 * T15: the SGX extension of PCK leaves. Real leaves decode to the manifest's
 * FMSPC, PCE-ID, component SVNs and PCESVN; our encoder rebuilds the real
 * values byte for byte (so the malformed variants below differ only where
 * intended); every deviation from §2.3 is PARSE / ERR_BAD_EXTENSION / T15.
 */
import { describe, expect, it } from 'vitest';

import {
  INTEL_PCK_CA_NAMES,
  parseCertificate,
  parseIntelSgxExtension,
  pckCaKind,
  splitPckCertChain,
  type CertificateInfo,
  type PckSgxExtension,
} from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS } from '../helpers/vectors.js';
import { bool, concat, enumerated, hex, int, octets, oid, rawInt, seq } from './helpers/der.js';
import { quoteChains } from './helpers/real.js';
import { ECDSA_SHA256, ecKeys, makeCertificate } from './helpers/synthetic.js';

const SGX = '1.2.840.113741.1.13.1';
const T15 = { code: 'ERR_BAD_EXTENSION', errorClass: 'PARSE', check: 'T15' };

const entry = (suffix: string, value: Uint8Array) => seq(oid(`${SGX}.${suffix}`), value);

interface Tweaks {
  /** Replace top-level entries (index -> bytes) or drop them (null). */
  top?: Record<number, Uint8Array | null>;
  extraTop?: Uint8Array[];
  tcb?: Record<number, Uint8Array | null>;
  extraTcb?: Uint8Array[];
  configuration?: Uint8Array[];
}

/** Encodes extension values the way Intel does (entries in OID order). */
function sgxValue(v: PckSgxExtension, t: Tweaks = {}): Uint8Array {
  const tcbItems: (Uint8Array | null)[] = [
    ...v.tcb.components.map((svn, i) => entry(`2.${i + 1}`, int(svn))),
    entry('2.17', int(v.tcb.pcesvn)),
    entry('2.18', octets(v.tcb.cpusvn)),
  ];
  for (const [i, bytes] of Object.entries(t.tcb ?? {})) tcbItems[Number(i)] = bytes;
  const cfg = v.configuration;
  const configuration = t.configuration ?? [
    ...(cfg?.dynamicPlatform === undefined ? [] : [entry('7.1', bool(cfg.dynamicPlatform))]),
    ...(cfg?.cachedKeys === undefined ? [] : [entry('7.2', bool(cfg.cachedKeys))]),
    ...(cfg?.smtEnabled === undefined ? [] : [entry('7.3', bool(cfg.smtEnabled))]),
  ];
  const top: (Uint8Array | null)[] = [
    entry('1', octets(v.ppid)),
    entry('2', seq(...(tcbItems.filter(Boolean) as Uint8Array[]), ...(t.extraTcb ?? []))),
    entry('3', octets(Buffer.from(v.pceId, 'hex'))),
    entry('4', octets(Buffer.from(v.fmspc, 'hex'))),
    entry('5', enumerated(v.sgxType)),
  ];
  if (v.platformInstanceId) top.push(entry('6', octets(v.platformInstanceId)));
  if (v.configuration) top.push(entry('7', seq(...configuration)));
  for (const [i, bytes] of Object.entries(t.top ?? {})) top[Number(i)] = bytes;
  return seq(...(top.filter(Boolean) as Uint8Array[]), ...(t.extraTop ?? []));
}

/** The leaf with its SGX extension value replaced (a parsed certificate, as the parser takes). */
function withSgxValue(leaf: CertificateInfo, value: Uint8Array): CertificateInfo {
  return { ...leaf, extensions: leaf.extensions.map((e) => (e.oid === SGX ? { ...e, value } : e)) };
}

describe.skipIf(!HAVE_VECTORS)('real PCK leaves', () => {
  const chains = quoteChains();

  it.each(chains.map((c) => [c.entry.id, c] as const))('%s', (_id, { entry: e, pem }) => {
    const [leaf, ca] = splitPckCertChain(pem).map(parseCertificate) as [CertificateInfo, CertificateInfo];
    const kind = pckCaKind(leaf);
    expect(`Intel SGX PCK ${kind === 'platform' ? 'Platform' : 'Processor'} CA`).toBe(ca.subjectAttributes.CN);
    const sgx = parseIntelSgxExtension(leaf);
    const checks = e.checks as { fmspc: string; pceid: string; pck_tcb: { sgx_comp_svns: number[]; pcesvn: number } };
    expect(sgx.fmspc).toBe(checks.fmspc);
    expect(sgx.fmspc).toMatch(/^[0-9a-f]{12}$/);
    expect(sgx.pceId).toBe(checks.pceid);
    expect(sgx.tcb.components).toEqual(checks.pck_tcb.sgx_comp_svns);
    expect(sgx.tcb.pcesvn).toBe(checks.pck_tcb.pcesvn);
    expect(sgx.ppid.length).toBe(16);
    expect(sgx.tcb.cpusvn.length).toBe(16);
    expect([0, 1, 2]).toContain(sgx.sgxType);
    if (kind === 'platform') {
      expect(sgx.platformInstanceId?.length).toBe(16);
      expect(sgx.configuration).toBeDefined();
    } else {
      expect(sgx.platformInstanceId).toBeUndefined();
      expect(sgx.configuration).toBeUndefined();
    }
    // Our encoder reproduces Intel's bytes: the malformed variants differ only where a test says.
    const real = leaf.extensions.find((x) => x.oid === SGX)?.value as Uint8Array;
    expect(hex(sgxValue(sgx))).toBe(hex(real));
  });

  it('covers both CA kinds', () => {
    const kinds = new Set(chains.map(({ pem }) => pckCaKind(parseCertificate(splitPckCertChain(pem)[0]))));
    expect([...kinds].sort()).toEqual(['platform', 'processor']);
  });
});

describe.skipIf(!HAVE_VECTORS)('malformed SGX extensions (T15)', () => {
  const chains = quoteChains();
  const leafOf = (kind: 'platform' | 'processor') =>
    chains.map(({ pem }) => parseCertificate(splitPckCertChain(pem)[0])).find((l) => pckCaKind(l) === kind) as CertificateInfo;
  const platform = leafOf('platform');
  const processor = leafOf('processor');
  const pv = parseIntelSgxExtension(platform);
  const qv = parseIntelSgxExtension(processor);
  const bad = (leaf: CertificateInfo, value: Uint8Array) => expectError(() => parseIntelSgxExtension(withSgxValue(leaf, value)), T15);

  it('baseline: re-encoded values parse to the same result', () => {
    expect(parseIntelSgxExtension(withSgxValue(platform, sgxValue(pv)))).toEqual(pv);
    expect(parseIntelSgxExtension(withSgxValue(processor, sgxValue(qv)))).toEqual(qv);
  });

  it('missing, or present twice', () => {
    expectError(() => parseIntelSgxExtension({ ...platform, extensions: platform.extensions.filter((e) => e.oid !== SGX) }), T15);
    const twice = platform.extensions.find((e) => e.oid === SGX)!;
    expectError(() => parseIntelSgxExtension({ ...platform, extensions: [...platform.extensions, twice] }), T15);
  });

  it.each([
    ['a duplicate top-level entry', (v: PckSgxExtension) => sgxValue(v, { extraTop: [entry('4', octets(Buffer.from(v.fmspc, 'hex')))] })],
    ['a missing PCE-ID entry', (v: PckSgxExtension) => sgxValue(v, { top: { 2: null } })],
    ['a missing TCB entry', (v: PckSgxExtension) => sgxValue(v, { top: { 1: null } })],
    ['an unknown entry .8', (v: PckSgxExtension) => sgxValue(v, { extraTop: [entry('8', int(0))] })],
    ['17 TCB entries', (v: PckSgxExtension) => sgxValue(v, { tcb: { 5: null } })],
    ['19 TCB entries (a duplicate component)', (v: PckSgxExtension) => sgxValue(v, { extraTcb: [entry('2.3', int(2))] })],
    ['an unknown TCB entry', (v: PckSgxExtension) => sgxValue(v, { tcb: { 5: entry('2.19', int(0)) } })],
    ['a component SVN of 256', (v: PckSgxExtension) => sgxValue(v, { tcb: { 0: entry('2.1', int(256)) } })],
    ['a negative component SVN', (v: PckSgxExtension) => sgxValue(v, { tcb: { 0: entry('2.1', rawInt([0xff])) } })],
    ['a padded component SVN', (v: PckSgxExtension) => sgxValue(v, { tcb: { 0: entry('2.1', rawInt([0x00, 0x03])) } })],
    ['a component SVN as OCTET STRING', (v: PckSgxExtension) => sgxValue(v, { tcb: { 0: entry('2.1', octets([3])) } })],
    ['a PCESVN of 65536', (v: PckSgxExtension) => sgxValue(v, { tcb: { 16: entry('2.17', int(65536)) } })],
    ['a 15-byte CPUSVN', (v: PckSgxExtension) => sgxValue(v, { tcb: { 17: entry('2.18', octets(new Uint8Array(15))) } })],
    ['a CPUSVN as INTEGER', (v: PckSgxExtension) => sgxValue(v, { tcb: { 17: entry('2.18', int(1)) } })],
    ['a 15-byte PPID', (v: PckSgxExtension) => sgxValue(v, { top: { 0: entry('1', octets(new Uint8Array(15))) } })],
    ['a 17-byte PPID', (v: PckSgxExtension) => sgxValue(v, { top: { 0: entry('1', octets(new Uint8Array(17))) } })],
    ['a 3-byte PCE-ID', (v: PckSgxExtension) => sgxValue(v, { top: { 2: entry('3', octets([0, 0, 0])) } })],
    ['a 5-byte FMSPC', (v: PckSgxExtension) => sgxValue(v, { top: { 3: entry('4', octets([0x90, 0xc0, 0x6f, 0, 0])) } })],
    ['an FMSPC as INTEGER', (v: PckSgxExtension) => sgxValue(v, { top: { 3: entry('4', int(0x90c06f000000)) } })],
    ['an SGX Type as INTEGER', (v: PckSgxExtension) => sgxValue(v, { top: { 4: entry('5', int(v.sgxType)) } })],
    ['an SGX Type of 3', (v: PckSgxExtension) => sgxValue(v, { top: { 4: entry('5', enumerated(3)) } })],
    ['an entry with a third element', (v: PckSgxExtension) => sgxValue(v, { top: { 2: seq(oid(`${SGX}.3`), octets([0, 0]), int(0)) } })],
    ['an entry whose OID is not an OID', (v: PckSgxExtension) => sgxValue(v, { top: { 2: seq(int(3), octets([0, 0])) } })],
    ['trailing bytes after the value', (v: PckSgxExtension) => concat([sgxValue(v), Uint8Array.of(0)])],
    ['a value that is not a SEQUENCE', () => octets([1, 2, 3])],
    ['a non-DER length', (v: PckSgxExtension) => { const b = sgxValue(v); return concat([Uint8Array.of(0x30, 0x83, 0x00), b.subarray(2)]); }],
  ])('processor and platform leaves reject %s', (_name, build) => {
    bad(processor, build(qv));
    bad(platform, build(pv));
  });

  it('entry counts follow the issuing CA: 5 for Processor, 7 for Platform', () => {
    // A platform-shaped value under a processor leaf, and the reverse.
    bad(processor, sgxValue(pv));
    bad(platform, sgxValue(qv));
    // Platform leaves need both .6 and .7.
    bad(platform, sgxValue(pv, { top: { 5: null } }));
    bad(platform, sgxValue(pv, { top: { 6: null } }));
    bad(platform, sgxValue(pv, { top: { 5: entry('6', octets(new Uint8Array(15))) } }));
  });

  it.each([
    ['an unknown configuration flag', [entry('7.4', bool(true))]],
    ['a duplicate configuration flag', [entry('7.1', bool(true)), entry('7.1', bool(false))]],
    ['a configuration flag as INTEGER', [entry('7.1', int(1))]],
    ['a configuration BOOLEAN of 01', [entry('7.1', Uint8Array.of(0x01, 0x01, 0x01))]],
  ])('platform configuration: rejects %s', (_name, configuration) => {
    bad(platform, sgxValue(pv, { configuration }));
  });

  it('platform configuration flags are each optional', () => {
    const value = sgxValue(pv, { configuration: [entry('7.3', bool(false))] });
    expect(parseIntelSgxExtension(withSgxValue(platform, value)).configuration).toEqual({ smtEnabled: false });
    expect(parseIntelSgxExtension(withSgxValue(platform, sgxValue(pv, { configuration: [] }))).configuration).toEqual({});
  });

  it('an explicit caKind overrides the issuer name', () => {
    expectError(() => parseIntelSgxExtension(platform, { caKind: 'processor' }), T15);
    expect(parseIntelSgxExtension(processor, { caKind: 'processor' })).toEqual(qv);
  });
});

describe('pckCaKind: exact CN equality, never substrings', async () => {
  const keys = await ecKeys('P-256');
  const leafIssuedBy = async (issuer: string) =>
    parseCertificate(
      await makeCertificate({ subject: 'CN=Intel SGX PCK Certificate', issuer, publicKey: keys.publicKey, signingKey: keys.privateKey, algorithm: ECDSA_SHA256 }),
    );

  it.each([
    ['CN=Intel SGX PCK Platform CA, O=Intel Corporation', 'platform'],
    ['CN=Intel SGX PCK Processor CA, O=Intel Corporation', 'processor'],
  ] as const)('%s -> %s', async (issuer, kind) => {
    expect(pckCaKind(await leafIssuedBy(issuer))).toBe(kind);
  });

  it.each([
    'CN=Intel SGX PCK Platform CA (test), O=Intel Corporation',
    'CN=xIntel SGX PCK Platform CA',
    'CN=intel sgx pck platform ca',
    'CN=Intel SGX Root CA',
    'O=Intel SGX PCK Platform CA',
    'CN=Intel SGX PCK Platform CA, CN=Intel SGX PCK Processor CA',
  ])('rejects %s', async (issuer) => {
    const leaf = await leafIssuedBy(issuer);
    expectError(() => pckCaKind(leaf), T15);
  });

  it('takes other names for a synthetic PKI', async () => {
    const leaf = await leafIssuedBy('CN=tee-verify Test SGX PCK Processor CA');
    expect(pckCaKind(leaf, { platform: 'tee-verify Test SGX PCK Platform CA', processor: 'tee-verify Test SGX PCK Processor CA' })).toBe('processor');
    expect(INTEL_PCK_CA_NAMES.platform).toBe('Intel SGX PCK Platform CA');
  });

  it('end to end: a synthetic Processor-CA leaf with a 5-entry extension', async () => {
    const v: PckSgxExtension = {
      ppid: new Uint8Array(16).fill(7),
      tcb: { components: [7, 7, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0], pcesvn: 13, cpusvn: new Uint8Array(16) },
      pceId: '0000',
      fmspc: '90c06f000000',
      sgxType: 0,
    };
    const der = await makeCertificate({
      subject: 'CN=Intel SGX PCK Certificate',
      issuer: 'CN=Intel SGX PCK Processor CA',
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      algorithm: ECDSA_SHA256,
      extensions: [{ oid: SGX, value: sgxValue(v) }],
    });
    expect(parseIntelSgxExtension(parseCertificate(der))).toEqual(v);
  });
});
