/**
 * Review of session 9 (verifier tests), finding 5: platform levels are
 * matched highest first in QVL's order: SGX components, then PCESVN, then TDX
 * components. The "listed lowest first" test only varied the SGX components,
 * so a sort that ignored PCESVN or the TDX components passed; real TCB info
 * repeats SGX components with different PCESVNs. Here two levels differ only
 * in PCESVN (or only in the TDX components) and are listed lowest first.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import type { TdxClaims } from '../../src/verify/types.js';
import { platform, verifySynthetic } from './intel/helpers/synthetic.js';

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const levels = (d: JsonObject) => d['tcbLevels'] as JsonObject[];
const tcb = (level: JsonObject) => level['tcb'] as JsonObject;
const tee = (...head: number[]) => Uint8Array.from([...head, ...new Array(16 - head.length).fill(0)]);

/**
 * Replaces the levels with the top level (exactly the PCK's TCB, UpToDate)
 * and an OutOfDate copy that `lower` changes, listed lowest first.
 */
function lowestFirst(lower: (t: JsonObject) => void) {
  return (d: JsonObject) => {
    const top = levels(d)[0]!;
    const below: JsonObject = { ...copy(top), tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00837'] };
    lower(tcb(below));
    d['tcbLevels'] = [below, top];
  };
}

const pcesvnTwoLower = (t: JsonObject) => (t['pcesvn'] = (t['pcesvn'] as number) - 2);
const tdxComponentLower = (t: JsonObject) => ((t['tdxtcbcomponents'] as { svn: number }[])[2]!.svn -= 1);

function matched(o: Parameters<typeof platform>[0]) {
  const r = verifySynthetic(platform(o));
  return { tcbStatus: r.tcbStatus, advisoryIds: r.advisoryIds };
}

describe('review s9: levels equal in SGX components are ordered by PCESVN, then TDX components (T30)', () => {
  it('TDX: PCESVN at the top level and two below, listed lowest first: the PCK reaches the top level', () => {
    const o = { tcbInfo: { mutate: lowestFirst(pcesvnTwoLower) } };
    expect(platform(o).tcbInfo['tcbLevels']).toMatchObject([{ tcbStatus: 'OutOfDate' }, { tcbStatus: 'UpToDate' }]); // as signed: lowest first
    expect(matched(o)).toEqual({ tcbStatus: 'UpToDate', advisoryIds: [] });
  });

  it('SGX: the same two PCESVNs, listed lowest first', () => {
    expect(matched({ tee: 'sgx', tcbInfo: { mutate: lowestFirst(pcesvnTwoLower) } })).toEqual({ tcbStatus: 'UpToDate', advisoryIds: [] });
  });

  it('TDX: equal SGX components and PCESVN, TDX component 2 at the top level and one below, listed lowest first', () => {
    const r = verifySynthetic(platform({ quote: { tdBody: { teeTcbSvn: tee(5, 1, 2) } }, tcbInfo: { mutate: lowestFirst(tdxComponentLower) } }));
    expect({ tcbStatus: r.tcbStatus, advisoryIds: r.advisoryIds }).toEqual({ tcbStatus: 'UpToDate', advisoryIds: [] });
    expect((r.claims as TdxClaims).platform.tcbDate).toBe('2024-03-13T00:00:00Z');
  });

  it('control: a PCK below the top level\'s PCESVN matches the lower level', () => {
    // Both levels raised by one PCESVN (p + 1 and p - 1): the PCK at p reaches only the lower one.
    const raise = (d: JsonObject) => levels(d).forEach((l) => (tcb(l)['pcesvn'] = (tcb(l)['pcesvn'] as number) + 1));
    const o = { tcbInfo: { mutate: (d: JsonObject) => (lowestFirst(pcesvnTwoLower)(d), raise(d)) } };
    expect(matched(o)).toEqual({ tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'] });
  });
});
