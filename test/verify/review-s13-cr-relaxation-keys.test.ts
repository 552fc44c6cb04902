/**
 * Review s13 CR intel, finding 2: docs/verification-intel.md and
 * docs/verification-snp.md said a `relaxations` key they did not list is
 * ERR_INVALID_ARGUMENT, but both verifiers accept all three Relaxations keys
 * (skipCrl, skipQeIdentity, collateralGraceSeconds), and neither doc named
 * collateralGraceSeconds. Decision: verifySnpReport keeps accepting
 * skipQeIdentity, since its type names it through the shared Relaxations, as
 * it does minTcbEvaluationDataNumber. It has no SEV-SNP effect (nothing
 * skipped, no warning), and the docs now say so. This file pins that behaviour
 * and checks that each doc's closed-set paragraph names every accepted key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { verifyEvidence, verifyIntelQuote, verifySnpReport } from '../../src/index.js';
import { RELAXATION_KEYS } from '../../src/option-keys.js';
import { INTEL_VERIFY_OPTION_KEYS } from '../../src/verify/intel/context.js';
import { SNP_VERIFY_OPTION_KEYS } from '../../src/verify/snp/context.js';
import type { SnpVerifyOptions } from '../../src/verify/snp/index.js';
import type { IntelVerifyOptions } from '../../src/verify/intel/context.js';
import type { IntelCollateralInput } from '../../src/verify/intel/index.js';
import type { IntelCollateral } from '../../src/collateral/service.js';
import { expectError } from '../helpers/expect-error.js';
import { AT as IAT, parsed, platform } from './intel/helpers/synthetic.js';
import { AT, CRL_WINDOW, setup } from './snp/helpers/synthetic.js';

const docsDir = join(import.meta.dirname, '../../docs');

/** The paragraph of a verifier doc that states its closed option set. */
function closedSetParagraph(file: string): string {
  const text = readFileSync(join(docsDir, file), 'utf8');
  const start = text.indexOf('The options are a closed set');
  expect(start, `${file} states the closed set`).toBeGreaterThanOrEqual(0);
  const end = text.indexOf('\n\n', start);
  return text.slice(start, end < 0 ? undefined : end);
}

describe('docs: the closed-set paragraphs name exactly what each verifier accepts', () => {
  for (const [file, keys] of [
    ['verification-intel.md', INTEL_VERIFY_OPTION_KEYS],
    ['verification-snp.md', SNP_VERIFY_OPTION_KEYS],
  ] as const) {
    it(`${file}: every options key and every relaxations key is named`, () => {
      const paragraph = closedSetParagraph(file);
      for (const key of [...Object.keys(keys), ...Object.keys(RELAXATION_KEYS)]) expect(paragraph, `${file} names ${key}`).toContain(`\`${key}\``);
    });
  }

  it('verification-snp.md says skipQeIdentity has no SEV-SNP effect', () => {
    expect(closedSetParagraph('verification-snp.md')).toMatch(/skipQeIdentity`? are accepted[^.]*no SEV-SNP effect/);
  });
});

describe('verifySnpReport: the relaxations keys', () => {
  it('skipQeIdentity is accepted and changes nothing: same checks, no warning', () => {
    const s = setup();
    const plain = verifySnpReport(s.report, s.collateral, s.options);
    const relaxed = verifySnpReport(s.report, s.collateral, { ...s.options, relaxations: { skipQeIdentity: true } });
    expect(relaxed.ok).toBe(true);
    expect(relaxed.warnings).toEqual(plain.warnings);
    expect(relaxed.checks.map((c) => c.id)).toEqual(plain.checks.map((c) => c.id));
  });

  it('collateralGraceSeconds lets an AMD CRL past its nextUpdate through, with the grace warning (S09)', () => {
    const nextUpdate = new Date(AT.getTime() - 3600_000);
    const s = setup({ crl: { thisUpdate: CRL_WINDOW.thisUpdate, nextUpdate } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_EXPIRED' });
    const r = verifySnpReport(s.report, s.collateral, { ...s.options, relaxations: { collateralGraceSeconds: 2 * 3600 } });
    expect(r.warnings.some((w) => w.startsWith('grace period used: S09'))).toBe(true);
  });

  it('any other relaxations key is refused (collateralGrace)', () => {
    const s = setup();
    const err = expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, relaxations: { collateralGrace: 60 } } as SnpVerifyOptions), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('collateralGrace');
  });

});

describe('verifyIntelQuote: the relaxations keys', () => {
  it('collateralGraceSeconds is accepted (it was not in verification-intel.md)', () => {
    const p = platform();
    expect(verifyIntelQuote(parsed(p), p.collateral, { at: IAT, trustRoots: p.trustRoots, relaxations: { skipCrl: false, skipQeIdentity: false, collateralGraceSeconds: 60 } }).ok).toBe(true);
  });

  it('verifyEvidence still accepts skipQeIdentity for Intel evidence', async () => {
    const p = platform();
    const collateral: IntelCollateral = {
      kind: 'intel',
      tee: 'tdx',
      fmspc: Buffer.from(p.pki.sgx.fmspc).toString('hex'),
      pckCa: p.pki.caType,
      ...(p.collateral as Required<IntelCollateralInput>),
      warnings: [],
    };
    const result = await verifyEvidence(p.quote.bytes, { collateral, at: IAT, trustRoots: p.trustRoots, relaxations: { skipQeIdentity: true } });
    expect(result.ok).toBe(true);
  });

  it('any other relaxations key is refused (skipQEIdentity)', () => {
    const p = platform();
    const err = expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: IAT, trustRoots: p.trustRoots, relaxations: { skipQEIdentity: true } } as unknown as IntelVerifyOptions), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('skipQEIdentity');
  });
});
