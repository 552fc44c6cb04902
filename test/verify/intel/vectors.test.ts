/**
 * Positive controls and manifest outcomes: every shared Intel vector with
 * collateral verifies, at its verification_time (and each variant's), to
 * exactly the manifest's outcome: for `valid` the TCB status and advisory
 * IDs, for `invalid` the typed error the failure text names. Production trust
 * roots throughout. Where the source shipped no CRL or QE identity, the
 * explicit relaxation is passed and its warning asserted.
 */
import { describe, expect, it } from 'vitest';

import { SignatureMemo } from '../../../src/crypto/memo.js';
import { verifyIntelQuote } from '../../../src/verify/intel/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import type { TdxClaims } from '../../../src/verify/types.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest } from '../../helpers/vectors.js';
import { INTEL_KINDS, intelEntriesWithCollateral, intelEntry, parseIntelQuote, realCollateral, type IntelEntry, type Variant } from './helpers/real.js';

/** The error class and check each `invalid` outcome's failure text names. */
function expectedFailure(failure: string, at: string, id: string): { errorClass: string; check: string } {
  if (/TCB level not supported|no TCB level|TCB_NOT_SUPPORTED/i.test(failure)) return { errorClass: 'TCB_UNSUPPORTED', check: 'T30' };
  // The "bad" chain is a PCK Platform CA chain in place of the TCB Signing chain: its
  // signature cannot verify, and T16's exact TCB Signing DN refuses the chain first.
  if (/"bad" chain/.test(failure)) return { errorClass: 'CHAIN', check: 'T16' };
  if (/expired|not yet valid|in the future/i.test(failure)) {
    if (/certificate/i.test(failure)) return { errorClass: 'EXPIRED', check: 'T12' };
    // QE identity issueDate in the future: the TCB info (checked first, T18) is not yet valid either.
    if (id.startsWith('oasis-core/') && at === '2022-12-16T12:45:35Z') return { errorClass: 'EXPIRED', check: 'T18' };
    return { errorClass: 'EXPIRED', check: /QE identity/.test(failure) ? 'T21' : 'T18' };
  }
  throw new Error(`no expectation for failure text: ${failure}`);
}

const RELAXATION_WARNINGS = { skipCrl: ['T13 skipped', 'T14 skipped'], skipQeIdentity: ['T20 skipped', 'T21 skipped', 'T24 skipped', 'T25 skipped'] };

function verifyEntry(entry: IntelEntry, at: string, override?: Record<string, string>, memo?: SignatureMemo) {
  const { collateral, relaxations } = realCollateral(entry, override);
  const quote = parseIntelQuote(entry);
  return { relaxations, run: () => verifyIntelQuote(quote, collateral, { at: new Date(at), relaxations, ...(memo ? { memo } : {}) }) };
}

function checkValid(entry: IntelEntry, at: string): void {
  const { relaxations, run } = verifyEntry(entry, at);
  const result = run();
  expect(result.ok).toBe(true);
  expect(result.tcbStatus).toBe(entry.expected.tcb_status);
  expect(result.advisoryIds).toEqual(entry.expected.advisory_ids ?? []);
  expect(result.at).toBe(new Date(at).toISOString());
  expect(result.trustRoots).toBe('production');
  expect(result.tee).toBe(entry.kind === 'sgx-quote-v3' ? 'sgx' : 'tdx');
  expect(result.claims.kind).toBe(result.tee);
  if (result.claims.kind !== 'snp') expect(result.claims.fmspc).toBe(entry.fmspc);
  const mrTd = (entry.checks as { mr_td?: string }).mr_td;
  if (mrTd) expect((result.claims as TdxClaims).mrTd).toBe(mrTd);
  for (const [name, warnings] of Object.entries(RELAXATION_WARNINGS)) {
    const used = relaxations[name as keyof typeof relaxations] === true;
    for (const w of warnings) expect(result.warnings.some((x) => x.startsWith(w)), `${name} warning "${w}"`).toBe(used);
  }
  expect(Date.parse(result.collateral.earliestExpiry)).toBeGreaterThanOrEqual(Date.parse(at));
  const ids = result.checks.map((c) => c.id);
  expect(ids[0]).toBe('T01');
  expect(ids.at(-1)).toBe('T51');
  for (const id of ['T09', 'T22', 'T23', 'T26', 'T30', 'T32', 'T33', 'T45', 'T46']) expect(ids).toContain(id);
}

function checkInvalid(entry: IntelEntry, variant: Pick<Variant, 'verification_time' | 'collateral_override' | 'expected'>): void {
  const { run } = verifyEntry(entry, variant.verification_time, variant.collateral_override);
  const err = catchError(run);
  expect({ errorClass: err.errorClass, check: err.check }).toEqual(expectedFailure(variant.expected.failure ?? '', variant.verification_time, entry.id));
}

describe.skipIf(!HAVE_VECTORS)('shared Intel vectors with collateral (production roots)', () => {
  const entries = intelEntriesWithCollateral();

  it('covers every Intel vector of the manifest that ships collateral', () => {
    expect(entries.map((e) => e.id)).toEqual(
      expect.arrayContaining(['phala-dcap-qvl/tdx_quote', 'phala-dcap-qvl/sgx_quote', 'oasis-core/quote_v3_ecdsa_p256_pck_chain', 'go-tdx-guest/quote_v5_sample', 'trustee/tdx_quote_6']),
    );
    expect(entries.length).toBeGreaterThanOrEqual(10);
  });

  for (const entry of entries) {
    const at = entry.verification_time!;
    it(`${entry.id} at ${at}: ${entry.expected.outcome}${entry.expected.tcb_status ? ` ${entry.expected.tcb_status}` : ''}`, () => {
      if (entry.expected.outcome.startsWith('valid')) checkValid(entry, at);
      else checkInvalid(entry, { verification_time: at, expected: entry.expected });
    });
    for (const variant of entry.variants ?? []) {
      it(`${entry.id} variant at ${variant.verification_time}: ${variant.expected.outcome}`, () => checkInvalid(entry, variant));
    }
  }

  it('a quote with a non-zero trailer verifies only through the dangerous parse, with a warning', () => {
    const entry = intelEntry('go-tdx-guest/tdx_prod_quote_SPR_E4');
    const { collateral } = realCollateral(entry);
    const quote = parseIntelQuote(entry);
    expect(quote.trailing.allZero).toBe(false);
    // The TCB evaluation fails as the manifest says, after T05 accepted the trailer with a warning.
    const err = catchError(() => verifyIntelQuote(quote, collateral, { at: new Date(entry.verification_time!) }));
    expect(err.check).toBe('T30');
  });

  it('memoises chain, CRL, collateral and QE report signatures across verifications of one platform', () => {
    const entry = intelEntry('phala-dcap-qvl/tdx_quote');
    const memo = new SignatureMemo();
    const { run } = verifyEntry(entry, entry.verification_time!, undefined, memo);
    run();
    const first = memo.misses;
    expect(first).toBeGreaterThanOrEqual(7); // 2 PCK links, 2 CRLs, TCB Signing link, 2 JSON signatures, QE report
    // The same quote again: the platform memo replays T08–T25 and T27–T33 without asking the signature
    // memo anything; T26, the quote's own signature, is checked again outright (never memoised).
    const before = memo.hits;
    run();
    expect(memo.misses).toBe(first);
    expect(memo.hits).toBe(before);
    // A relaxation named (even false) bypasses the platform memo: every signature check is asked of the memo again.
    const { collateral } = realCollateral(entry);
    verifyIntelQuote(parseIntelQuote(entry), collateral, { at: new Date(entry.verification_time!), relaxations: { skipCrl: false }, memo });
    expect(memo.misses).toBe(first);
    expect(memo.hits).toBeGreaterThanOrEqual(before + first);
  });
});

describe.skipIf(!HAVE_VECTORS)('Intel vectors without collateral fail closed', () => {
  const entries = loadManifest().filter((e) => INTEL_KINDS.has(e.kind) && e.expected.outcome.startsWith('signatures-valid')) as IntelEntry[];

  for (const entry of entries) {
    it(`${entry.id}: chain and signatures are fine, full verification is COLLATERAL_UNAVAILABLE`, () => {
      const validity = (entry.checks as { pck_leaf_validity?: [string, string] }).pck_leaf_validity;
      const at = new Date(Date.parse(validity![0]) + 86_400_000);
      const quote = parseIntelQuote(entry);
      const err = catchError(() => verifyIntelQuote(quote, {}, { at, trustRoots: PRODUCTION_TRUST_ROOTS }));
      expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_UNAVAILABLE', check: 'T13' });
    });
  }
});
