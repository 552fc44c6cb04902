/**
 * s13 parity #1 (medium): verify, batch and serve put a "trust roots … replace the pinned Intel / AMD
 * production roots" warning on every result judged under other anchors; the key broker's release
 * rows (its audit record, the input of `batch` re-verification) carried nothing, so a key released
 * under a test PKI logged like a production release. Its start-line notice compared the object
 * (`!== PRODUCTION_TRUST_ROOTS`), not the certificates as serve does (isPinnedProductionRoots).
 *
 * Now every release under replaced roots stores serve's warning, word for word, and the start line
 * is decided by the certificates' bytes.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { appraise } from '../../src/attestation-service/appraise.js';
import { PolicySet } from '../../src/attestation-service/policies.js';
import { parseRequest } from '../../src/attestation-service/requests.js';
import { TokenSigner } from '../../src/attestation-service/signer.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../../src/index.js';
import { replacedTrustRootsWarning } from '../../src/kbs/transfer.js';
import { collateralOf, makePlatform, newClient, quoteFor, registerKey, sha512, startHarness, tdxPolicy, transferPath, type Harness } from './helpers.js';

const ROOTS_WARNING = /trust roots/i;

describe('s13 parity #1: a release under replaced trust roots says so', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => h?.close());

  it('the release row stores the warning serve puts on the same evidence under the same roots', async () => {
    const keyId = await registerKey(h, randomBytes(32));
    const client = newClient(2048);
    const quote = quoteFor(h.platform, sha512(client.spkiDer));
    const r = await h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: client.userData }, headers: { 'Attestation-Type': 'TDX' }, token: null });
    expect(r.status).toBe(200);
    const db = await h.storage();
    const row = await db.get<{ warnings: string }>("SELECT warnings FROM attestation_log WHERE decision = 'released' AND key_id = ? ORDER BY seq DESC LIMIT 1", [keyId]);
    const release = { warnings: JSON.parse(row?.warnings ?? '[]') as string[] };
    const label = h.platform.trustRoots.label;
    const expected = `trust roots "${label}" replace the pinned Intel / AMD production roots`;
    expect(release.warnings).toContain(expected);

    // serve (appraise) on the same quote, roots, collateral and instant: the very same text.
    const ctx = { collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, policies: new PolicySet({ p: tdxPolicy(h.platform) }), signer: new TokenSigner(), tokenTtlSeconds: 300, verifierBuild: 'x', issuer: 'x' };
    const served = await appraise(ctx, parseRequest({ evidence: quote.toString('base64'), policy: 'p' }), h.platform.at);
    const servedRoots = served.warnings.concat(served.policy.warnings).filter((w) => ROOTS_WARNING.test(w));
    expect(servedRoots).toEqual([expected]);
    expect(release.warnings.filter((w) => ROOTS_WARNING.test(w))).toEqual(servedRoots);
    expect(replacedTrustRootsWarning(label)).toBe(expected);
  });
});

describe('s13 parity #1: the start line compares the certificates, not the object', () => {
  const deepCopy = (roots: TrustRoots, label: string): TrustRoots => ({
    label,
    intelRootCas: roots.intelRootCas.map((der) => new Uint8Array(der)),
    amd: Object.fromEntries(Object.entries(roots.amd).map(([product, a]) => [product, a && Object.fromEntries(Object.entries(a).map(([k, der]) => [k, der && new Uint8Array(der)]))])),
  }) as TrustRoots;

  async function startLines(trustRoots: TrustRoots): Promise<string[]> {
    const lines: string[] = [];
    const b = await startHarness({ trustRoots, log: (l) => lines.push(l) });
    await b.close();
    return lines.filter((l) => /NON-PRODUCTION TRUST ROOTS/.test(l));
  }

  it('a copy of the pinned production roots (another object, another label) is not reported as non-production', async () => {
    expect(await startLines(deepCopy(PRODUCTION_TRUST_ROOTS, 'pinned-copy'))).toEqual([]);
  });

  it('a test PKI still is', async () => {
    const lines = await startLines(makePlatform().trustRoots);
    expect(lines).toHaveLength(1);
  });
});
