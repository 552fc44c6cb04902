/**
 * T46 (review of session 9, finding 7): a non-terminal TCB status is a
 * status, not success. The verifier returns it on a result that is ok; the
 * caller's policy gates on it, and the default policy refuses it at T33 with
 * class TCB_STATUS. This is the refusal the stricter check-ids rule counts
 * for T46 (REPORTED_AS T33); before, only the check list naming T46 did.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy } from '../../src/policy/index.js';
import type { JsonObject } from '../../src/testing/index.js';
import { platform, verifySynthetic } from './intel/helpers/synthetic.js';

function resultAt(status: string, tee: 'tdx' | 'sgx') {
  const mutate = (doc: JsonObject) => ((doc['tcbLevels'] as JsonObject[])[0]!['tcbStatus'] = status);
  return verifySynthetic(platform({ tee, tcbInfo: { mutate } }));
}

describe('review s9: T46, a non-terminal status is returned, and the caller gates on it', () => {
  for (const tee of ['tdx', 'sgx'] as const) {
    it(`T46 (${tee}): OutOfDate and ConfigurationNeeded verify with their status; the default policy refuses each at T33`, () => {
      for (const status of ['OutOfDate', 'ConfigurationNeeded']) {
        const result = resultAt(status, tee);
        expect({ ok: result.ok, tcbStatus: result.tcbStatus }).toEqual({ ok: true, tcbStatus: status });
        const appraisal = evaluatePolicy(result, defaultPolicy(tee));
        expect(appraisal.ok).toBe(false);
        expect(appraisal.violations).toEqual([expect.objectContaining({ check: 'T33', errorClass: 'TCB_STATUS' })]);
      }
    });
  }

  it('control: UpToDate passes the default policy', () => {
    for (const tee of ['tdx', 'sgx'] as const) expect(evaluatePolicy(resultAt('UpToDate', tee), defaultPolicy(tee)).ok).toBe(true);
  });
});
