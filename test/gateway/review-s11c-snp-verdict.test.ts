/**
 * Review s11 changes-c #1, #2: shapes of forged SEV-SNP evidence the TEE (or its host) chooses must
 * stay verdicts on the bound TEE, so the holder of a stolen gateway key who serves them is revoked:
 * a Turin report with non-zero CHIP_ID bytes 8..63 whose signature fails under its own fetched VCEK
 * (S12), and a report whose leaf no source serves (VLEK-signed; a masked or all-zero CHIP_ID) sent
 * without that leaf in its certificate table (S05). A random CHIP_ID that KDS (or a mirror) does not
 * know stays no verdict: the documented trade-off (docs/decisions.md).
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { CollateralService, loadPolicy, parseEvidence, type AmdCollateralSource, type CollateralArtifact, type SnpReport } from '../../src/index.js';
import { UnknownPlatformError } from '../../src/collateral/errors.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type VcekRequest } from '../../src/collateral/keys.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { TeeVerifyError } from '../../src/errors.js';
import { AttestationRefusedError } from '../../src/gateway/index.js';
import { bindingReportData } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import { judgesBoundTee, presentedCertificate, verifyBoundEvidence, type PresentedCertificate } from '../../src/gateway/verify.js';
import { buildSnpReport, createAmdTestPki, type AmdTestPki } from '../../src/testing/index.js';
import { buildSnpCertTable } from '../../src/testing/snp-cert-table-builder.js';
import { AT, buildAmdCrl, VALIDITY } from '../verify/snp/helpers/synthetic.js';

const seed = 's11c-snp-verdict';
const mirrorUrl = 'https://kds.mirror.example/';

let presentedMemo: PresentedCertificate | undefined;
async function presented(): Promise<PresentedCertificate> {
  if (!presentedMemo) presentedMemo = presentedCertificate(new Uint8Array(new X509Certificate((await generateTls(['127.0.0.1'])).cert).raw));
  return presentedMemo;
}

const pkis = new Map<AmdProduct, AmdTestPki>();
function pkiOf(product: AmdProduct): AmdTestPki {
  let p = pkis.get(product);
  if (!p) pkis.set(product, (p = createAmdTestPki({ seed, product, validity: VALIDITY })));
  return p;
}

/** A KDS mirror answering what genuine KDS would, through the key binding; or 404 for every chip. */
class Mirror implements AmdCollateralSource {
  vcekRequests = 0;
  constructor(readonly pki: AmdTestPki, readonly unknownPlatform = false) {}
  #artifact(kind: CollateralArtifact['kind'], key: string, body: Uint8Array): CollateralArtifact {
    return validateArtifactForKey({ kind, key, body, source: { origin: 'network', url: mirrorUrl } });
  }
  async vcek(r: VcekRequest): Promise<CollateralArtifact> {
    this.vcekRequests++;
    if (this.unknownPlatform) throw new UnknownPlatformError('KDS knows no such chip', { url: mirrorUrl, status: 404, artifact: artifactKey.vcek(r) } as never, undefined);
    return this.#artifact('amd-vcek', artifactKey.vcek(r), this.pki.vcek.der);
  }
  async certChain(p: AmdProduct, k: AmdKeyKind): Promise<CollateralArtifact> {
    const ca = k === 'vlek' ? this.pki.asvk : this.pki.ask;
    return this.#artifact('amd-cert-chain', artifactKey.certChain(p, k), new Uint8Array(Buffer.from(ca.pem + this.pki.ark.pem)));
  }
  async crl(p: AmdProduct, k: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#artifact('amd-crl', artifactKey.amdCrl(p, k), buildAmdCrl(this.pki));
  }
}

interface Shape {
  product: AmdProduct;
  signingKey?: 'vcek' | 'vlek';
  /** The certificate table the TEE sends (auxblob); none when absent. */
  table?: ('leaf' | 'ask' | 'ark')[];
  corruptSignature?: boolean;
  chipId?: Uint8Array;
  maskChipKey?: boolean;
  unknownPlatform?: boolean;
}

interface Outcome {
  ok: boolean;
  code?: string;
  cause?: string;
  verdict?: boolean;
  vcekRequests: number;
}

async function attest(shape: Shape): Promise<Outcome> {
  const pki = pkiOf(shape.product);
  const p = await presented();
  const nonce = randomBytes(32);
  const signingKey = shape.signingKey ?? 'vcek';
  const leaf = signingKey === 'vlek' ? pki.vlek : pki.vcek;
  const built = buildSnpReport({
    version: 3,
    product: shape.product,
    signingKey,
    key: leaf.key.privateKey,
    seed,
    ...(shape.chipId ? { chipId: shape.chipId } : {}),
    ...(shape.maskChipKey ? { maskChipKey: true } : {}),
    reportData: new Uint8Array(bindingReportData(nonce, p.spkiSha256)),
  } as never);
  const bytes = Uint8Array.from(built.bytes);
  if (shape.corruptSignature) bytes[0x2a0 + 8] = (bytes[0x2a0 + 8] ?? 0) ^ 0x01; // inside the signature's R; the body is untouched
  const report = parseEvidence(built.bytes) as SnpReport;
  const policy = loadPolicy({ tee: 'snp', measurement: [Buffer.from(report.measurement).toString('hex')], hostData: 'any', ...(signingKey === 'vlek' ? { signingKeys: ['vlek'] } : {}) } as never);
  const mirror = new Mirror(pki, shape.unknownPlatform);
  const collateral = new CollateralService({ amd: mirror, cache: null });
  const der = { leaf: leaf.der, ask: (signingKey === 'vlek' ? pki.asvk : pki.ask).der, ark: pki.ark.der };
  const auxblob = shape.table ? buildSnpCertTable(shape.table.map((t) => ({ guid: t === 'leaf' ? signingKey : t, der: der[t] }))) : undefined;
  const roots = { label: 'test-pki', intelRootCas: [], amd: { [shape.product]: { ark: pki.ark.der, ask: pki.ask.der, asvk: pki.asvk.der } } };
  try {
    await verifyBoundEvidence({ evidence: bytes, ...(auxblob ? { auxblob } : {}) }, nonce, p, { policy, collateral, at: AT, trustRoots: roots });
    return { ok: true, vcekRequests: mirror.vcekRequests };
  } catch (e) {
    expect(e).toBeInstanceOf(AttestationRefusedError);
    const cause = (e as AttestationRefusedError).cause as TeeVerifyError | undefined;
    return { ok: false, code: (e as AttestationRefusedError).code, cause: cause ? `${cause.code}/${cause.check ?? ''}` : '', verdict: judgesBoundTee(e), vcekRequests: mirror.vcekRequests };
  }
}

/** A Turin CHIP_ID: the genuine 8 bytes, then `tail` in bytes 8..63. */
function turinChip(tail: number): Uint8Array {
  const chip = new Uint8Array(64).fill(tail, 8);
  chip.set(pkiOf('Turin').chipId.subarray(0, 8));
  return chip;
}

describe('review s11 changes-c #1: a Turin S12 failure under the report\'s own fetched VCEK is a verdict', () => {
  it('control: the genuine Turin report verifies with the fetched VCEK', async () => {
    expect(await attest({ product: 'Turin', chipId: turinChip(0) })).toMatchObject({ ok: true });
  });

  it('a bad signature with CHIP_ID[8:64] zero: S12, a verdict', async () => {
    expect(await attest({ product: 'Turin', chipId: turinChip(0), corruptSignature: true })).toMatchObject({ code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('a bad signature with non-zero CHIP_ID[8:64] (the VCEK is still fetched by bytes 0..7): S12, a verdict', async () => {
    expect(await attest({ product: 'Turin', chipId: turinChip(0x77), corruptSignature: true })).toMatchObject({ code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('a good signature with non-zero CHIP_ID[8:64]: S44, a verdict', async () => {
    expect(await attest({ product: 'Turin', chipId: turinChip(0x77) })).toMatchObject({ code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SNP_CHIP/S44', verdict: true });
  });
});

describe('review s11 changes-c #2: a leaf no source serves, missing from the table, is an evidence defect (S05)', () => {
  const vlekTable: Shape['table'] = ['leaf', 'ask', 'ark'];

  it('control: a VLEK report with its table verifies; with a bad signature it is S12, a verdict', async () => {
    expect(await attest({ product: 'Milan', signingKey: 'vlek', table: vlekTable })).toMatchObject({ ok: true });
    expect(await attest({ product: 'Milan', signingKey: 'vlek', table: vlekTable, corruptSignature: true })).toMatchObject({ cause: 'ERR_SIG_REPORT/S12', verdict: true });
  });

  it('a VLEK-signed report without a table: ERR_SNP_SIGNER at S05, a verdict, nothing fetched', async () => {
    const out = await attest({ product: 'Milan', signingKey: 'vlek', corruptSignature: true });
    expect(out).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SNP_SIGNER/S05', verdict: true, vcekRequests: 0 });
  });

  it('a VLEK-signed report whose table holds only the ASVK and ARK: S05, a verdict', async () => {
    expect(await attest({ product: 'Genoa', signingKey: 'vlek', table: ['ask', 'ark'] })).toMatchObject({ cause: 'ERR_SNP_SIGNER/S05', verdict: true });
  });

  it('a VCEK report with an all-zero CHIP_ID and no table: S05, a verdict, no VCEK fetched', async () => {
    const out = await attest({ product: 'Milan', chipId: new Uint8Array(64), corruptSignature: true });
    expect(out).toEqual({ ok: false, code: 'ERR_ATTEST_EVIDENCE', cause: 'ERR_SNP_SIGNER/S05', verdict: true, vcekRequests: 0 });
  });

  it('a Turin VCEK report whose fetched hwID bytes (CHIP_ID[0:8]) are zero: S05, a verdict', async () => {
    const chip = new Uint8Array(64).fill(0x11, 8);
    expect(await attest({ product: 'Turin', chipId: chip, corruptSignature: true })).toMatchObject({ cause: 'ERR_SNP_SIGNER/S05', verdict: true, vcekRequests: 0 });
  });

  it('a VCEK report with MASK_CHIP_KEY set and no table: S05, a verdict', async () => {
    expect(await attest({ product: 'Milan', maskChipKey: true, chipId: new Uint8Array(64) })).toMatchObject({ cause: 'ERR_SNP_SIGNER/S05', verdict: true, vcekRequests: 0 });
  });

  it('the same zero-CHIP_ID report with its VCEK in the table is judged as before (S14 on the report: a verdict)', async () => {
    expect(await attest({ product: 'Milan', chipId: new Uint8Array(64), table: ['leaf', 'ask', 'ark'] })).toMatchObject({ cause: 'ERR_SNP_CHIP/S14', verdict: true });
  });

  it('trade-off kept: a random CHIP_ID that KDS (or a mirror) does not know is ERR_COLLATERAL_UNKNOWN_PLATFORM, no verdict', async () => {
    const out = await attest({ product: 'Milan', chipId: randomBytes(64), unknownPlatform: true, corruptSignature: true });
    expect(out).toMatchObject({ cause: 'ERR_COLLATERAL_UNKNOWN_PLATFORM/', verdict: false, vcekRequests: 1 });
  });
});
