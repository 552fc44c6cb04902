/**
 * Review of session 7, finding 2: T11's "leaf AKI = intermediate SKI" had no
 * test that failed when the comparison was removed. This leaf is signed by
 * the intermediate and correct in every other respect; only its AKI names
 * another key.
 */
import { describe, expect, it } from 'vitest';

import { deriveEcKeyPair } from '../../src/testing/index.js';
import { authorityKeyIdentifier } from '../../src/testing/x509-builder.js';
import { catchError } from '../helpers/expect-error.js';
import { expectSyntheticFailure, platform, verifySynthetic } from './intel/helpers/synthetic.js';

const AKI_OID = '2.5.29.35';

/** A PCK leaf whose AKI is computed from `key` instead of the intermediate's key. */
function leafWithAkiOf(key: Parameters<typeof authorityKeyIdentifier>[0]) {
  return platform({ pki: { overrides: { pck: { extensions: (list) => list.map((e) => (e.oid === AKI_OID ? authorityKeyIdentifier(key) : e)) } } } });
}

describe('review s7: T11 leaf AKI = intermediate SKI', () => {
  it('a validly signed leaf whose AKI names another key is CHAIN at T11', () => {
    const other = deriveEcKeyPair('review-s7-aki', 'ca', 'P-256').publicKey;
    const p = leafWithAkiOf(other);
    const err = catchError(() => verifySynthetic(p));
    expect({ errorClass: err.errorClass, check: err.check, aki: /AKI/.test(err.message) }).toEqual({ errorClass: 'CHAIN', check: 'T11', aki: true });
    expectSyntheticFailure(p, { errorClass: 'CHAIN', check: 'T11' });
  });

  it('control: the same override with the intermediate key verifies (the override itself breaks nothing else)', () => {
    const base = platform();
    const p = leafWithAkiOf(base.pki.pckCa.key.publicKey);
    expect(verifySynthetic(p).ok).toBe(true);
  });
});
