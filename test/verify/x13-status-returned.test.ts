/**
 * X13: the verifier returns the TCB status (and advisories) of a correctly
 * signed quote instead of throwing on it; the policy turns a status it does
 * not accept into a refusal, cited as T33 with class TCB_STATUS (V15, V41: a
 * dropped or lenient status check accepts OutOfDate).
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import type { JsonObject } from '../../src/testing/index.js';
import { platform, verifySynthetic } from './intel/helpers/synthetic.js';

const STATUSES = ['OutOfDate', 'ConfigurationNeeded', 'SWHardeningNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded'];

function atStatus(status: string, tee: 'tdx' | 'sgx') {
  const mutate = (doc: JsonObject) => {
    const top = (doc['tcbLevels'] as JsonObject[])[0]!;
    top['tcbStatus'] = status;
    top['advisoryIDs'] = ['INTEL-SA-00837'];
  };
  return verifySynthetic(platform({ tee, tcbInfo: { mutate } }));
}

describe('X13: status is returned, policy decides', () => {
  for (const tee of ['tdx', 'sgx'] as const) {
    it(`X13 (${tee}): every non-UpToDate status is returned with its advisories, and the default policy refuses it at T33`, () => {
      for (const status of STATUSES) {
        const result = atStatus(status, tee);
        expect({ status: result.tcbStatus, advisories: result.advisoryIds }).toEqual({ status, advisories: ['INTEL-SA-00837'] });
        const appraisal = evaluatePolicy(result, defaultPolicy(tee));
        expect(appraisal.ok).toBe(false);
        expect(appraisal.violations.map((v) => [v.check, v.errorClass])).toEqual([['T33', 'TCB_STATUS']]);
      }
    });
  }

  it('X13: a policy that lists the status and its advisory accepts it, with a warning at T33', () => {
    const result = atStatus('OutOfDate', 'tdx');
    const policy = loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'], acceptedAdvisoryIds: ['INTEL-SA-00837'] } });
    const appraisal = evaluatePolicy(result, policy);
    expect(appraisal.violations).toEqual([]);
    expect(appraisal.warnings.some((w) => w.startsWith('T33: TCB status OutOfDate accepted'))).toBe(true);
  });
});
