/**
 * Review s11 (client-coll #3): a rogue collateral mirror must not make the
 * attested client revoke a good gateway's key. Collateral that fails its own
 * checks (a TCB info, QE identity or CRL whose signature does not verify, a
 * document that is not the one asked for) judges the collateral, not the TEE:
 * such a refusal is no verdict on the bound TEE (judgesBoundTee), even when
 * the evidence states this connection's binding, so a key an earlier
 * attestation trusted stays trusted and requests in flight are not cut.
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, type CollateralArtifact, type IntelCollateralSource } from '../../src/index.js';
import type { PckCa, QeIdentityRequest, TcbInfoRequest } from '../../src/collateral/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { bindingReportData } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import { judgesBoundTee, presentedCertificate, verifyBoundEvidence } from '../../src/gateway/verify.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { startStub, type Stub } from './review-s6-stub.js';

type Tamper = 'none' | 'tcb-info-signature' | 'tcb-info-content' | 'qe-identity-signature' | 'pck-crl-signature' | 'root-ca-crl-signature';

/** One hex digit of the JSON document's "signature" member changed: still well-formed, no longer Intel's. */
function badJsonSignature(a: CollateralArtifact): CollateralArtifact {
  const text = Buffer.from(a.body).toString('utf8');
  const at = text.lastIndexOf('"signature":"') + '"signature":"'.length;
  const flipped = text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
  return validateArtifact({ ...a, body: new Uint8Array(Buffer.from(flipped)), source: { origin: 'network', url: 'https://pccs.rogue.example/' } });
}

/** A TCB info whose content was edited (every UpToDate level made Revoked) with Intel's signature kept. */
function editedTcbInfo(a: CollateralArtifact): CollateralArtifact {
  const text = Buffer.from(a.body).toString('utf8');
  const edited = text.replace(/"tcbStatus":"UpToDate"/g, '"tcbStatus":"Revoked"');
  if (edited === text) throw new Error('the TCB info has no UpToDate level to edit');
  return validateArtifact({ ...a, body: new Uint8Array(Buffer.from(edited)), source: { origin: 'network', url: 'https://pccs.rogue.example/' } });
}

/** The last byte of a DER CRL's signature changed. */
function badCrlSignature(a: CollateralArtifact): CollateralArtifact {
  const body = Uint8Array.from(a.body);
  body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x01;
  return validateArtifact({ ...a, body, source: { origin: 'network', url: 'https://pccs.rogue.example/' } });
}

/** A PCCS mirror that answers from the genuine bundle, or tampers with one artifact. */
class Mirror implements IntelCollateralSource {
  tamper: Tamper = 'none';
  readonly #genuine: BundleSource;
  constructor(artifacts: readonly CollateralArtifact[]) {
    this.#genuine = new BundleSource([...artifacts]);
  }
  async tcbInfo(r: TcbInfoRequest): Promise<CollateralArtifact> {
    const a = await this.#genuine.tcbInfo(r);
    if (this.tamper === 'tcb-info-signature') return badJsonSignature(a);
    if (this.tamper === 'tcb-info-content') return editedTcbInfo(a);
    return a;
  }
  async qeIdentity(r: QeIdentityRequest): Promise<CollateralArtifact> {
    const a = await this.#genuine.qeIdentity(r);
    return this.tamper === 'qe-identity-signature' ? badJsonSignature(a) : a;
  }
  async pckCrl(ca: PckCa): Promise<CollateralArtifact> {
    const a = await this.#genuine.pckCrl(ca);
    return this.tamper === 'pck-crl-signature' ? badCrlSignature(a) : a;
  }
  async rootCaCrl(): Promise<CollateralArtifact> {
    const a = await this.#genuine.rootCaCrl();
    return this.tamper === 'root-ca-crl-signature' ? badCrlSignature(a) : a;
  }
}

const TAMPERED: readonly Tamper[] = ['tcb-info-signature', 'tcb-info-content', 'qe-identity-signature', 'pck-crl-signature', 'root-ca-crl-signature'];

let policy: ReturnType<typeof tdxPolicy>;
beforeAll(async () => {
  policy = tdxPolicy(await mrTdOf(simulated));
});

describe('verifyBoundEvidence: tampered collateral is no verdict on the bound TEE', () => {
  const mirror = new Mirror(simulated.collateral as never[]);
  const service = new CollateralService({ intel: mirror, cache: null });

  async function refusalFor(tamper: Tamper, corruptQuote = false, at = new Date()): Promise<AttestationRefusedError> {
    mirror.tamper = tamper;
    const tls = await generateTls(['127.0.0.1']);
    const presented = presentedCertificate(new Uint8Array(new X509Certificate(tls.cert).raw));
    const nonce = randomBytes(32);
    const { evidence } = await simulated.getEvidence(bindingReportData(nonce, presented.spkiSha256));
    const bytes = Uint8Array.from(evidence);
    if (corruptQuote) bytes[0x286] = (bytes[0x286] ?? 0) ^ 0xff; // inside the quote's ECDSA signature (TDX v4: 0x27C..0x2BB)
    try {
      await verifyBoundEvidence({ evidence: bytes }, nonce, presented, { policy, collateral: service, at, ...(simulated.trustRoots ? { trustRoots: simulated.trustRoots } : {}) });
    } catch (e) {
      expect(e).toBeInstanceOf(AttestationRefusedError);
      return e as AttestationRefusedError;
    } finally {
      mirror.tamper = 'none';
    }
    throw new Error('expected a refusal');
  }

  for (const tamper of TAMPERED) {
    it(`${tamper}: refused, and not a verdict on the TEE that holds the key`, async () => {
      const e = await refusalFor(tamper);
      expect(judgesBoundTee(e)).toBe(false);
    });
  }

  it('only stale collateral (every copy past its window, ERR_COLLATERAL_EXPIRED): not a verdict on the TEE either', async () => {
    const e = await refusalFor('none', false, new Date(Date.now() + 40 * 86_400_000));
    expect((e.cause as { code?: string }).code).toBe('ERR_COLLATERAL_EXPIRED');
    expect(judgesBoundTee(e)).toBe(false);
  });

  it('genuine collateral, a corrupted quote signature with this binding stated: a verdict on the bound TEE (control)', async () => {
    const e = await refusalFor('none', true);
    expect(e.code).toBe('ERR_ATTEST_EVIDENCE');
    expect(judgesBoundTee(e)).toBe(true);
  });
});

/** The same service as clientOptions', asked afresh on every attestation (no memo of the genuine answer). */
class FreshCollateral extends CollateralService {
  override cachedFor(): undefined {
    return undefined;
  }
}

describe('AttestedClient: a rogue mirror does not revoke a trusted key', () => {
  let stub: Stub;
  afterEach(async () => {
    await stub?.close();
  });

  const attestations = (): number => stub.requests.filter((r) => r.path === '/v1/attestation').length;
  const chat = async (client: AttestedClient): Promise<number> => {
    const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat('hi', false) });
    await r.text();
    return r.status;
  };

  for (const tamper of ['tcb-info-signature', 'pck-crl-signature'] as const) {
    it(`${tamper} on a fresh attestation: refused, and the key stays trusted (no new attestation for the next request)`, async () => {
      stub = await startStub();
      const mirror = new Mirror(simulated.collateral as never[]);
      const client = new AttestedClient(stub.url, { ...clientOptions(policy), collateral: new FreshCollateral({ intel: mirror, cache: null }) });
      try {
        expect(await chat(client)).toBe(200);
        mirror.tamper = tamper;
        const refusal = await client.attest().then(
          () => undefined,
          (e: unknown) => e,
        );
        mirror.tamper = 'none';
        expect(refusal).toBeInstanceOf(AttestationRefusedError);
        const before = attestations();
        expect(await chat(client)).toBe(200);
        expect(attestations()).toBe(before);
        expect(judgesBoundTee(refusal)).toBe(false);
      } finally {
        await client.close();
      }
    });
  }
});
