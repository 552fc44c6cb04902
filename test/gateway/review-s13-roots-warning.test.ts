/**
 * s13 parity #1 (medium): verify, batch and serve put a "trust roots … replace the pinned Intel / AMD
 * production roots" warning on every result judged under other anchors; the gateway client's
 * GatewayVerification.warnings carried nothing, so `tee-verify chat --trust-root` (or an
 * AttestedClient given a test PKI) showed a verification that looked like one under Intel's roots.
 *
 * Now verifyBoundEvidence adds serve's warning, word for word, whenever the roots are not the pinned
 * ones by their certificates' bytes (isPinnedProductionRoots), and chat prints it with the verification.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { bindingReportData, spkiSha256 } from '../../src/gateway/binding.js';
import { replacedTrustRootsWarning, verifyBoundEvidence } from '../../src/gateway/verify.js';
import { replacedTrustRootsWarning as brokerWording } from '../../src/kbs/transfer.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

let h: Harness;
let mrTd: string;
beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  mrTd = await mrTdOf(simulated);
});
afterAll(async () => h?.close());

describe('s13 parity #1: the gateway client says when the trust roots were replaced', () => {
  it('verifyBoundEvidence under a test PKI carries serve\'s warning (the broker words it the same)', async () => {
    const certDer = anyCertificate();
    const nonce = randomBytes(32);
    const ev = await simulated.getEvidence(new Uint8Array(bindingReportData(nonce, spkiSha256(certDer))));
    const o = clientOptions(tdxPolicy(mrTd));
    const v = await verifyBoundEvidence({ evidence: ev.evidence }, nonce, certDer, { policy: tdxPolicy(mrTd), collateral: o.collateral!, trustRoots: simulated.trustRoots, at: new Date() });
    const label = simulated.trustRoots.label;
    const expected = `trust roots "${label}" replace the pinned Intel / AMD production roots`;
    expect(v.warnings.filter((w) => /trust roots/i.test(w))).toEqual([expected]);
    expect(replacedTrustRootsWarning(label)).toBe(expected);
    expect(brokerWording(label)).toBe(expected);
  });

  it('tee-verify chat --trust-root prints it with the verification, and --json carries it', async () => {
    const root = join(h.dir, 'root.pem');
    const bundle = join(h.dir, 'bundle.json');
    const policy = join(h.dir, 'policy.json');
    writeFileSync(root, simulated.trustRootPem);
    writeFileSync(bundle, simulated.collateralBundle());
    writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    const expected = `trust roots "trust-root:${root}" replace the pinned Intel / AMD production roots`;
    const chat = async (extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      let stdout = '';
      let stderr = '';
      const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {}, stdin: Readable.from([]) };
      const code = await run(['chat', '--gateway', h.gateway.url, '--trust-root', root, '--collateral', bundle, '--policy', policy, '--token', h.token, '--prompt', 'hello', ...extra], io);
      return { code, stdout, stderr };
    };
    const text = await chat([]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`  warning: ${expected}\n`);
    const json = await chat(['--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).verification.warnings).toContain(expected);
  });
});

/** Any DER certificate (the test PKI's root): the binding commits to its SPKI only. */
function anyCertificate(): Uint8Array {
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(simulated.trustRootPem)![0];
  return new Uint8Array(new X509Certificate(pem).raw);
}
