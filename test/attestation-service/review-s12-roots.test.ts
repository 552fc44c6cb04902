/**
 * Review s12 (svc #3): whether the roots were "the pinned production roots" was decided by the caller's
 * TrustRoots.label: the test PKI's roots labelled "production" gave an affirming EAR, no warning and a
 * false `trust_roots: "production"`. Now the certificates decide (DER equality with the embedded
 * anchors), and the label "production" is reserved for those: startAttestationService and appraise
 * refuse it on other anchors (ERR_INVALID_ARGUMENT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { appraise, type AppraiseContext } from '../../src/attestation-service/appraise.js';
import { isPinnedProductionRoots } from '../../src/attestation-service/appraise.js';
import { PolicySet } from '../../src/attestation-service/policies.js';
import { parseRequest } from '../../src/attestation-service/requests.js';
import { TokenSigner } from '../../src/attestation-service/signer.js';
import type { AttestationService } from '../../src/attestation-service/index.js';
import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, PRODUCTION_TRUST_ROOTS, TeeVerifyError, type TrustRoots } from '../../src/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { intelRecords } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';
import { NOW, post, simulatedCollateral, startService, tdxQuote, trustRoots } from './helpers.js';

const ROOTS_WARNING = /replace the pinned Intel \/ AMD production roots/;
const copy = (der: Uint8Array) => new Uint8Array(der);
const P = PRODUCTION_TRUST_ROOTS;
const milan = P.amd.Milan!;

describe('isPinnedProductionRoots: by DER, not by label', () => {
  it('the embedded anchors, a structural copy under any label, or a subset of them', () => {
    expect(isPinnedProductionRoots(undefined)).toBe(true);
    expect(isPinnedProductionRoots(P)).toBe(true);
    expect(isPinnedProductionRoots({ label: 'copy', intelRootCas: P.intelRootCas.map(copy), amd: { Milan: { ark: copy(milan.ark), ask: copy(milan.ask), asvk: copy(milan.asvk) } } })).toBe(true);
    expect(isPinnedProductionRoots({ label: 'trust-root:intel.pem', intelRootCas: [copy(P.intelRootCas[0]!)], amd: {} })).toBe(true);
  });

  it('any other anchor, whatever the label says', () => {
    expect(isPinnedProductionRoots({ ...trustRoots, label: 'production' })).toBe(false);
    expect(isPinnedProductionRoots({ ...P, intelRootCas: [...P.intelRootCas, trustRoots.intelRootCas[0]!] })).toBe(false);
    expect(isPinnedProductionRoots({ ...P, amd: { ...P.amd, Milan: { ...milan, ask: P.amd.Genoa!.ask } } })).toBe(false);
    expect(isPinnedProductionRoots({ ...P, amd: { ...P.amd, Milan: { ...milan, ark: trustRoots.amd.Milan!.ark } } })).toBe(false);
    expect(isPinnedProductionRoots({ ...P, amd: { Bergamo: milan } as unknown as TrustRoots['amd'] })).toBe(false);
  });
});

describe('the label "production" on other anchors', () => {
  it('startAttestationService refuses it', async () => {
    const err = await startService({ trustRoots: { ...trustRoots, label: 'production' } }).then(
      async (svc) => {
        await svc.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect((err as TeeVerifyError).code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('appraise refuses it; under another label the result warns and is at most "warning"', async () => {
    const quote = await tdxQuote();
    const ctx = (roots: TrustRoots): AppraiseContext => ({
      collateral: simulatedCollateral(),
      trustRoots: roots,
      policies: new PolicySet(),
      signer: new TokenSigner(),
      tokenTtlSeconds: 300,
      verifierBuild: 'test',
      issuer: 'test',
    });
    const req = () => parseRequest({ evidence: quote.toString('base64') });
    const err = await appraise(ctx({ ...trustRoots, label: 'production' }), req(), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect((err as TeeVerifyError).code).toBe('ERR_INVALID_ARGUMENT');
    const ok = await appraise(ctx(trustRoots), req(), NOW);
    expect(ok.status).toBe('warning');
    expect(ok.warnings).toEqual([expect.stringMatching(ROOTS_WARNING)]);
  });
});

describe.skipIf(!HAVE_VECTORS)('the production anchors under another label (real TDX vector)', () => {
  const entry = HAVE_VECTORS ? findEntry('phala-dcap-qvl/tdx_quote')! : undefined;
  let server: CollateralServer;
  let http: HttpClient;
  let svc: AttestationService;
  let at: Date;

  beforeAll(async () => {
    at = new Date(entry!.verification_time!);
    server = await CollateralServer.start(intelRecords(entry!));
    http = new HttpClient({ retries: 0 });
    const collateral = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) });
    // Intel's real root as a --trust-root would load it: the same certificate, so no relaxation.
    svc = await startService({ collateral, trustRoots: { label: 'trust-root:intel-root.pem', intelRootCas: [copy(P.intelRootCas[0]!)], amd: {} }, now: () => at });
  });
  afterAll(async () => {
    await svc?.close();
    await http?.close();
    await server?.close();
  });

  it('gets no trust-roots warning', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: Buffer.from(readEvidenceBytes(entry!)).toString('base64') });
    expect(r.status).toBe(200);
    expect(r.json.trustRoots).toBe('trust-root:intel-root.pem');
    expect(r.json.warnings.filter((w: string) => ROOTS_WARNING.test(w))).toEqual([]);
  });
});
