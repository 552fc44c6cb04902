/**
 * Review s11 changes-b #1, #5, #6: whether a refused SEV-SNP attestation judges the TEE that holds
 * the presented key depends on where the failing certificate came from (the evidence's own
 * certificate table, or KDS / a mirror / a bundle), never on whether an auxblob was present. A rogue
 * KDS mirror that serves a genuine, ASK-signed VCEK of another chip or TCB, or a foreign ASK, must
 * not revoke a good gateway's key; a bad certificate the TEE sent itself, a report signature that
 * fails under the VCEK of the chip and TCB it states, a revocation by a genuine CRL (SNP and Intel)
 * and a policy failure stay verdicts.
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { CollateralService, loadPolicy, parseEvidence, type AmdCollateralSource, type CollateralArtifact, type SnpReport } from '../../src/index.js';
import { BundleSource } from '../../src/collateral/bundle.js';
import { UnknownPlatformError } from '../../src/collateral/errors.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type VcekRequest } from '../../src/collateral/keys.js';
import { validateArtifact, validateArtifactForKey } from '../../src/collateral/validate.js';
import { TeeVerifyError } from '../../src/errors.js';
import { AttestationRefusedError } from '../../src/gateway/index.js';
import { bindingReportData } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import { judgesBoundTee, presentedCertificate, verifyBoundEvidence, type PresentedCertificate } from '../../src/gateway/verify.js';
import { buildSnpReport, createAmdTestPki, createSyntheticIntelPlatform, deriveBytes, deriveEcKeyPair, loadAmdRsaKeys, type AmdTestPki } from '../../src/testing/index.js';
import { buildSnpCertTable } from '../../src/testing/snp-cert-table-builder.js';
import { AT, buildAmdCrl, VALIDITY } from '../verify/snp/helpers/synthetic.js';
import { tdxPolicy } from './helpers.js';

const product: AmdProduct = 'Milan';
const seed = 's11-snp-mirror';
const mirrorUrl = 'https://kds.rogue.example/';

let presentedMemo: PresentedCertificate | undefined;
async function presented(): Promise<PresentedCertificate> {
  if (!presentedMemo) presentedMemo = presentedCertificate(new Uint8Array(new X509Certificate((await generateTls(['127.0.0.1'])).cert).raw));
  return presentedMemo;
}

const genuine = createAmdTestPki({ seed, product, validity: VALIDITY });
/** An ASK-signed VCEK of another chip: AMD's KDS serves it to anyone who names that chip. */
const otherChip = createAmdTestPki({ seed, product, validity: VALIDITY, chipId: deriveBytes(seed, 'another chip', 64), overrides: { vcek: { key: deriveEcKeyPair(seed, 'other chip vcek', 'P-384') } } });
/** The VCEK of this chip at another TCB (snp + 1): also ASK-signed, also served by KDS. */
const otherTcb = createAmdTestPki({ seed, product, validity: VALIDITY, tcb: { ...genuine.tcb, snp: genuine.tcb.snp + 1 }, overrides: { vcek: { key: deriveEcKeyPair(seed, 'other tcb vcek', 'P-384') } } });
/** A PKI that is not AMD's, with certificates named like AMD's (SEV-Milan, ARK-Milan, SEV-VCEK). */
const foreign = createAmdTestPki({ seed: `${seed} foreign`, product, validity: VALIDITY, chipId: genuine.chipId, rsaKeys: loadAmdRsaKeys('Genoa') });
const roots = { label: 'test-pki', intelRootCas: [], amd: { [product]: { ark: genuine.ark.der, ask: genuine.ask.der, asvk: genuine.asvk.der } } };

interface MirrorAnswers {
  vcek?: Uint8Array | 'unknown-platform';
  chainPem?: string;
  crl?: Uint8Array;
  /** Hand the artifacts over without the key binding (a source that skips validateArtifactForKey). */
  unbound?: boolean;
}

/** A KDS mirror: answers through validateArtifactForKey as AmdKdsSource does, with the answers given. */
class Mirror implements AmdCollateralSource {
  constructor(readonly answers: MirrorAnswers) {}
  #artifact(kind: CollateralArtifact['kind'], key: string, body: Uint8Array): CollateralArtifact {
    const a = { kind, key, body, source: { origin: 'network' as const, url: mirrorUrl } };
    return this.answers.unbound ? validateArtifact(a) : validateArtifactForKey(a);
  }
  async vcek(r: VcekRequest): Promise<CollateralArtifact> {
    const v = this.answers.vcek ?? genuine.vcek.der;
    if (v === 'unknown-platform') throw new UnknownPlatformError(`KDS knows no chip ${Buffer.from(r.hwId).toString('hex').slice(0, 16)}...`, { url: mirrorUrl, status: 404, artifact: artifactKey.vcek(r) } as never, undefined);
    return this.#artifact('amd-vcek', artifactKey.vcek(r), v);
  }
  async certChain(p: AmdProduct, k: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#artifact('amd-cert-chain', artifactKey.certChain(p, k), new Uint8Array(Buffer.from(this.answers.chainPem ?? genuine.ask.pem + genuine.ark.pem)));
  }
  async crl(p: AmdProduct, k: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#artifact('amd-crl', artifactKey.amdCrl(p, k), this.answers.crl ?? buildAmdCrl(genuine));
  }
}

interface Shape extends MirrorAnswers {
  /** Certificates the TEE sends in its own table (auxblob). */
  table?: { guid: 'vcek' | 'vlek' | 'ask' | 'ark'; der: Uint8Array }[];
  signingKey?: 'vcek' | 'vlek';
  corruptSignature?: boolean;
  wrongMeasurement?: boolean;
}

interface Outcome {
  ok: boolean;
  code?: string;
  cause?: string;
  verdict?: boolean;
}

async function attest(shape: Shape): Promise<Outcome> {
  const p = await presented();
  const nonce = randomBytes(32);
  const signingKey = shape.signingKey ?? 'vcek';
  const key = (signingKey === 'vlek' ? genuine.vlek : genuine.vcek).key.privateKey;
  const built = buildSnpReport({ version: 3, product, signingKey, key, seed, reportData: new Uint8Array(bindingReportData(nonce, p.spkiSha256)) });
  const bytes = Uint8Array.from(built.bytes);
  if (shape.corruptSignature) bytes[0x2a0 + 8] = (bytes[0x2a0 + 8] ?? 0) ^ 0x01; // inside the signature's R, the report body untouched
  const report = parseEvidence(built.bytes) as SnpReport;
  const measurement = Buffer.from(report.measurement).toString('hex');
  const policy = loadPolicy({ tee: 'snp', measurement: [shape.wrongMeasurement ? 'ab'.repeat(48) : measurement], hostData: 'any', ...(signingKey === 'vlek' ? { signingKeys: ['vlek'] } : {}) } as never);
  const collateral = new CollateralService({ amd: new Mirror(shape), cache: null });
  const auxblob = shape.table ? buildSnpCertTable(shape.table) : undefined;
  try {
    await verifyBoundEvidence({ evidence: bytes, ...(auxblob ? { auxblob } : {}) }, nonce, p, { policy, collateral, at: AT, trustRoots: roots });
    return { ok: true };
  } catch (e) {
    expect(e).toBeInstanceOf(AttestationRefusedError);
    const cause = (e as AttestationRefusedError).cause as TeeVerifyError | undefined;
    return { ok: false, code: (e as AttestationRefusedError).code, cause: cause ? `${cause.code}/${cause.check ?? ''}` : '', verdict: judgesBoundTee(e) };
  }
}

describe('SEV-SNP: what a KDS mirror served is no verdict on the bound TEE', () => {
  it('control: genuine collateral, no table, and with the full table: verified', async () => {
    expect(await attest({})).toEqual({ ok: true });
    expect(await attest({ table: [{ guid: 'vcek', der: genuine.vcek.der }, { guid: 'ask', der: genuine.ask.der }, { guid: 'ark', der: genuine.ark.der }] })).toEqual({ ok: true });
  });

  it('the VCEK of another chip: refused where it enters (ERR_COLLATERAL_MISMATCH, S14), not a verdict', async () => {
    expect(await attest({ vcek: otherChip.vcek.der })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_COLLATERAL_MISMATCH/S14', verdict: false });
  });

  it('the VCEK of this chip at another TCB: ERR_COLLATERAL_MISMATCH (S13), not a verdict', async () => {
    expect(await attest({ vcek: otherTcb.vcek.der })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_COLLATERAL_MISMATCH/S13', verdict: false });
  });

  it('a source that skips the key binding: S12 fails under a fetched VCEK that is not the report\'s (S13 / S14 would fail), not a verdict', async () => {
    expect(await attest({ vcek: otherChip.vcek.der, unbound: true })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: false });
    expect(await attest({ vcek: otherTcb.vcek.der, unbound: true })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: false });
  });

  it('a table with only the VCEK, a foreign ASK from the mirror: S37 judges the fetched chain, not a verdict', async () => {
    const r = await attest({ table: [{ guid: 'vcek', der: genuine.vcek.der }], chainPem: foreign.ask.pem + genuine.ark.pem });
    expect(r).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_CHAIN/S37', verdict: false });
  });

  it('a table with ASK and ARK but no VCEK, a VCEK from the mirror not signed by the ASK: S10 judges the fetched VCEK, not a verdict', async () => {
    const r = await attest({ table: [{ guid: 'ask', der: genuine.ask.der }, { guid: 'ark', der: genuine.ark.der }], vcek: foreign.vcek.der });
    expect(r).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_CHAIN/S10', verdict: false });
  });

  it('no table, a VCEK from the mirror not signed by the ASK: not a verdict', async () => {
    expect(await attest({ vcek: foreign.vcek.der })).toMatchObject({ ok: false, cause: 'ERR_CHAIN/S10', verdict: false });
  });

  it('ERR_COLLATERAL_UNKNOWN_PLATFORM (the mirror says KDS knows no such chip): not a verdict', async () => {
    expect(await attest({ vcek: 'unknown-platform' })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_COLLATERAL_UNKNOWN_PLATFORM/', verdict: false });
  });
});

describe('SEV-SNP: still a verdict on the bound TEE', () => {
  it('the TEE sends the VCEK of another chip in its table: a verdict', async () => {
    const r = await attest({ table: [{ guid: 'vcek', der: otherChip.vcek.der }, { guid: 'ask', der: genuine.ask.der }, { guid: 'ark', der: genuine.ark.der }] });
    expect(r).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('the TEE sends a VCEK not signed by the ASK (the chain fetched): S10, a verdict', async () => {
    expect(await attest({ table: [{ guid: 'vcek', der: foreign.vcek.der }] })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_CHAIN/S10', verdict: true });
  });

  it('the TEE sends a foreign ASK in its table: S37, a verdict', async () => {
    const r = await attest({ table: [{ guid: 'vcek', der: genuine.vcek.der }, { guid: 'ask', der: foreign.ask.der }, { guid: 'ark', der: genuine.ark.der }] });
    expect(r).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_CHAIN/S37', verdict: true });
  });

  it('a bad report signature under the VCEK from the table: S12, a verdict', async () => {
    const table = [{ guid: 'vcek' as const, der: genuine.vcek.der }, { guid: 'ask' as const, der: genuine.ask.der }, { guid: 'ark' as const, der: genuine.ark.der }];
    expect(await attest({ table, corruptSignature: true })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('a bad report signature under the fetched VCEK of the chip and TCB the report states: S12, a verdict', async () => {
    expect(await attest({ corruptSignature: true })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('a genuine CRL revokes the ASK above the VCEK (fetched CRL, fetched VCEK): S09 REVOKED, a verdict', async () => {
    expect(await attest({ crl: buildAmdCrl(genuine, { revoked: [genuine.ask.serialHex] }) })).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_REVOKED/S09', verdict: true });
  });

  it('a genuine CRL revokes the VLEK the TEE sent: S09 REVOKED, a verdict', async () => {
    const table = [{ guid: 'vlek' as const, der: genuine.vlek.der }, { guid: 'ask' as const, der: genuine.asvk.der }, { guid: 'ark' as const, der: genuine.ark.der }];
    const chainPem = genuine.asvk.pem + genuine.ark.pem;
    expect(await attest({ signingKey: 'vlek', table, chainPem })).toEqual({ ok: true }); // control
    const r = await attest({ signingKey: 'vlek', table, chainPem, crl: buildAmdCrl(genuine, { revoked: [genuine.vlek.serialHex] }) });
    expect(r).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_REVOKED/S09', verdict: true });
  });

  it('a policy failure (another measurement): a verdict', async () => {
    expect(await attest({ wrongMeasurement: true })).toMatchObject({ ok: false, code: 'ERR_ATTEST_POLICY', verdict: true });
  });
});

describe('Intel: a genuine PCK CRL revoking the PCK leaf is still a verdict', () => {
  it('T14 REVOKED: a verdict on the bound TEE (control: the same platform without the revocation verifies)', async () => {
    const p = await presented();
    const at = new Date('2025-06-01T00:00:00Z');
    const outcome = async (revoke: boolean): Promise<Outcome> => {
      const nonce = randomBytes(32);
      const tdBody = { reportData: new Uint8Array(bindingReportData(nonce, p.spkiSha256)) };
      const base = createSyntheticIntelPlatform({ tee: 'tdx', at, quote: { tdBody } });
      const platform = revoke ? createSyntheticIntelPlatform({ tee: 'tdx', at, quote: { tdBody }, pckCrl: { revokedSerials: [base.pki.pck.serialHex] } }) : base;
      const collateral = new CollateralService({ intel: new BundleSource(Object.values(platform.collateral).filter((a): a is CollateralArtifact => a !== undefined)), cache: null });
      const mrTd = Buffer.from((parseEvidence(platform.quote.bytes) as { body: { mrTd: Uint8Array } }).body.mrTd).toString('hex');
      try {
        await verifyBoundEvidence({ evidence: platform.quote.bytes }, nonce, p, { policy: tdxPolicy(mrTd), collateral, at, trustRoots: platform.trustRoots });
        return { ok: true };
      } catch (e) {
        const cause = (e as AttestationRefusedError).cause as TeeVerifyError | undefined;
        return { ok: false, code: (e as AttestationRefusedError).code, cause: `${cause?.code}/${cause?.check ?? ''}`, verdict: judgesBoundTee(e) };
      }
    };
    expect(await outcome(false)).toEqual({ ok: true });
    expect(await outcome(true)).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_REVOKED/T14', verdict: true });
  });
});
