/**
 * s14 change review, R3: VT09 without the AK's TPMT_PUBLIC is a `not-checked` record with no
 * warning (c4bcdbf, docs/vtpm.md VT09: nothing relied on is left open, the AK is bound by VT04 and
 * the signature by VT07, and VT05 already warns), but the general contracts (docs/cli.md `checks`,
 * CheckRecord.status in src/verify/types.ts) said every not-checked record comes with a warning and
 * a description starting "not checked". The docs route was taken: both now name two kinds, "not
 * established" (a warning) and "not applicable" (a "not applicable: " description, no warning).
 * This test holds the verifier to that contract on a TPM-only bundle whose AK is a PEM (VT05 not
 * established, VT09 not applicable) and checks both documents say it. Fails on the docs before
 * (2 of 3; the behaviour is unchanged and its test passes).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

const repo = new URL('../../', import.meta.url);
const read = (rel: string) => readFileSync(new URL(rel, repo), 'utf8');

function pemAkBundle() {
  const { publicKey, privateKey } = generateEcKeyObjects('P-256');
  const nonce = new Uint8Array(randomBytes(32));
  const values = { 0: new Uint8Array(32).fill(1), 7: new Uint8Array(32).fill(7) };
  const selections = [{ bank: 'sha256' as const, pcrs: [0, 7] }];
  const attest = buildTpmsAttest({
    qualifiedSigner: new Uint8Array(Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)])),
    extraData: nonce,
    selections,
    pcrDigest: quotePcrDigest(selections, { sha256: values }),
  });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const bundle: VtpmBundle = {
    nonce,
    tpm: { ak: { pem }, quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }], pcrs: { sha256: { '0': values[0], '7': values[7] } } },
  };
  return { bundle, nonce, publicKey };
}

/** "quote N: not applicable: …" or "not applicable: …". */
const NOT_APPLICABLE = /^(quote \d+: )?not applicable: /;

describe('s14 change review R3: two kinds of not-checked record', () => {
  it('a not-applicable record (VT09) has no warning; every other not-checked record (VT05) has one', async () => {
    const q = pemAkBundle();
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey });
    const skipped = r.checks.filter((c) => c.status === 'not-checked');
    expect(skipped.map((c) => c.id).sort()).toEqual(['VT05', 'VT09']);
    for (const c of skipped) {
      if (NOT_APPLICABLE.test(c.description)) {
        expect(c.id).toBe('VT09');
        expect(r.warnings.some((w) => w.startsWith(c.id))).toBe(false);
      } else {
        expect(r.warnings.some((w) => w.startsWith(`${c.id} not checked`))).toBe(true);
      }
    }
  });

  it('docs/cli.md (checks) names both kinds and how a script tells them apart', () => {
    const row = read('docs/cli.md').split('\n').find((l) => l.startsWith('| `checks` |'))!;
    expect(row).toMatch(/\*Not established\*/);
    expect(row).toMatch(/\*Not applicable\*/);
    expect(row).toMatch(/VT09/);
    expect(row).toMatch(/every other `"not-checked"` record has a warning/);
  });

  it('CheckRecord.status (src/verify/types.ts) names both kinds', () => {
    const types = read('src/verify/types.ts');
    const doc = types.slice(types.indexOf('export interface CheckRecord'), types.indexOf("status?: 'not-checked'"));
    expect(doc).toMatch(/not established/);
    expect(doc).toMatch(/not applicable/);
    expect(doc).toMatch(/VT09/);
  });
});
