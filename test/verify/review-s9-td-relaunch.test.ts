/**
 * Review of session 9 (verifier tests), finding 3: TD relaunch (T32,
 * checklist §2.6 step 4) is advised only when the platform's SGX level is not
 * itself behind and the module is what is out of date. Neither precondition
 * had a test: without either, a platform that is itself out of date was
 * reported as "relaunch advised". Each case below is one change away from a
 * control that does give TD_RELAUNCH_ADVISED.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import type { TdxClaims } from '../../src/verify/types.js';
import { platform, verifySynthetic } from './intel/helpers/synthetic.js';

const tee = (...head: number[]) => Uint8Array.from([...head, ...new Array(16 - head.length).fill(0)]);
const levels = (d: JsonObject) => d['tcbLevels'] as JsonObject[];
const tdxSvns = (level: JsonObject) => (level['tcb'] as JsonObject)['tdxtcbcomponents'] as { svn: number }[];

/**
 * A v5 / body type 3 TD whose TEE_TCB_SVN2 reaches the latest module (7) and
 * TDX level (TEE_TCB_SVN2[2] = 3). Level 0 is reached by the PCK's SGX
 * components but needs TEE_TCB_SVN[2] = 3, so the TD's TDX level is level 1
 * (OutOfDate); `moduleIsvsvn` picks the module level (7 UpToDate, 3 and up
 * OutOfDate) and `sgxLevelStatus` the status of level 0.
 */
function relaunchCandidate(o: { moduleIsvsvn: number; sgxLevelStatus: string }) {
  const p = platform({
    version: 5,
    bodyType: 3,
    quote: { tdBody: { teeTcbSvn: tee(o.moduleIsvsvn, 1, 2), teeTcbSvn2: tee(7, 1, 3) } },
    tcbInfo: {
      mutate: (d) => {
        const identity = (d['tdxModuleIdentities'] as JsonObject[])[0]!;
        identity['tcbLevels'] = [
          { tcb: { isvsvn: 7 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
          { tcb: { isvsvn: 3 }, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate' },
        ];
        const top = levels(d)[0]!;
        tdxSvns(top)[2]!.svn = 3;
        top['tcbStatus'] = o.sgxLevelStatus;
      },
    },
  });
  const r = verifySynthetic(p);
  const claims = r.claims as TdxClaims;
  return { tcbStatus: r.tcbStatus, platform: claims.platform.status, module: claims.module?.status };
}

describe('review s9: TD relaunch needs an SGX level that is not behind and a module that is (T32, §2.6 step 4)', () => {
  it('control: SGX level UpToDate, TDX level and module OutOfDate, TEE_TCB_SVN2 at the latest -> TD_RELAUNCH_ADVISED', () => {
    expect(relaunchCandidate({ moduleIsvsvn: 5, sgxLevelStatus: 'UpToDate' })).toEqual({ tcbStatus: 'TD_RELAUNCH_ADVISED', platform: 'OutOfDate', module: 'OutOfDate' });
  });

  it('the platform TDX level is OutOfDate but the module is UpToDate: OutOfDate, no relaunch', () => {
    expect(relaunchCandidate({ moduleIsvsvn: 7, sgxLevelStatus: 'UpToDate' })).toEqual({ tcbStatus: 'OutOfDate', platform: 'OutOfDate', module: 'UpToDate' });
  });

  it('the SGX level above the TDX level is itself OutOfDate: OutOfDate, no relaunch', () => {
    expect(relaunchCandidate({ moduleIsvsvn: 5, sgxLevelStatus: 'OutOfDate' })).toEqual({ tcbStatus: 'OutOfDate', platform: 'OutOfDate', module: 'OutOfDate' });
  });
});
