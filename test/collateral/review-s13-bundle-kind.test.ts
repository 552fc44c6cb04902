/**
 * Review s13 #3: a bundle (which can come from the attester) whose artifact has an unknown or
 * missing `kind` threw an untyped TypeError (`Cannot read properties of undefined (reading
 * 'validity')`), and a dcap-qvl `pck_crl` that is no CRL the evidence parser's ERR_BAD_DER (PARSE).
 * Both are ERR_COLLATERAL_FORMAT (COLLATERAL_FORMAT), like every other malformed bundle field
 * (docs/error-codes.md). Fails on the code before.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle, importBundle, importDcapQvlCollateral, type CollateralArtifact } from '../../src/collateral/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { readBundle } from '../../src/cli/sources.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date('2026-06-01T00:00:00Z'), seed: 'review s13 bundle kind' });
const rootCaCrl = p.collateral.rootCaCrl!;
const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s13-kind-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const formatError = { name: 'CollateralFormatError', code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT' };

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return 'no error';
}

/** A valid bundle of the Root CA CRL with its artifact's JSON changed by `edit`. */
function bundleWith(edit: (a: { [k: string]: unknown }) => void): string {
  const doc = JSON.parse(exportBundle([rootCaCrl])) as { artifacts: { [k: string]: unknown }[] };
  edit(doc.artifacts[0]!);
  return JSON.stringify(doc);
}

describe('bundle artifact kinds (review s13 #3)', () => {
  it('control: the unchanged bundle imports', () => {
    expect(importBundle(bundleWith(() => {})).map((a) => a.kind)).toEqual(['intel-root-ca-crl']);
  });

  it.each([
    ['an unknown kind', (a: { [k: string]: unknown }) => (a['kind'] = 'no-such-kind')],
    ['no kind', (a: { [k: string]: unknown }) => delete a['kind']],
    ['a kind of another type', (a: { [k: string]: unknown }) => (a['kind'] = { x: 1 })],
    ['the kind of another key', (a: { [k: string]: unknown }) => (a['kind'] = 'amd-crl')],
  ])('%s is ERR_COLLATERAL_FORMAT', (_, edit) => {
    expect(thrown(() => importBundle(bundleWith(edit)))).toMatchObject(formatError);
  });

  it('validateArtifact: an unknown kind (a cache file, a custom caller) is ERR_COLLATERAL_FORMAT', () => {
    const a = { ...rootCaCrl, kind: 'no-such-kind' } as unknown as CollateralArtifact;
    expect(thrown(() => validateArtifact(a))).toMatchObject(formatError);
  });

  it('the CLI names the typed error for --collateral', async () => {
    const file = join(dir, 'badkind.json');
    writeFileSync(file, bundleWith((a) => (a['kind'] = 'nope')));
    const err = (await readBundle(file).then(() => 'no error', (e: unknown) => e)) as Error;
    expect(err.message).toContain('ERR_COLLATERAL_FORMAT');
    expect(err.message).not.toContain('TypeError');
  });
});

describe('dcap-qvl collateral (review s13 #3)', () => {
  it('a pck_crl that is not hex of a DER CRL is ERR_COLLATERAL_FORMAT, not ERR_BAD_DER', () => {
    const doc = {
      tcb_info: '{"id":"TDX","fmspc":"00806f050000"}',
      tcb_info_signature: 'aa',
      qe_identity: '{}',
      qe_identity_signature: 'aa',
      pck_crl: 'deadbeef',
      tcb_info_issuer_chain: 'x',
      qe_identity_issuer_chain: 'x',
      pck_crl_issuer_chain: 'x',
      root_ca_crl: 'aa',
    };
    expect(thrown(() => importDcapQvlCollateral(JSON.stringify(doc)))).toMatchObject(formatError);
  });
});
