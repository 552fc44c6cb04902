/**
 * Review s13 CR polb, finding 2 (docs): since 9b8a041 every TDX policy translateItaPolicy makes
 * requires SEPT_VE_DISABLE (TDATTRIBUTES bit 28, T34), an ITA document has no field that relaxes it,
 * and the key broker translates stored ITA policies again at every use, so their behaviour changed
 * with the default. docs/policy.md's ITA section and docs/kbs.md did not say so. (Kept under
 * test/vtpm/ with this session's other polb fix; the subject is the policy and key-broker docs.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, translateItaPolicy } from '../../src/policy/index.js';
import { syntheticTdx, tdx } from './helpers.js';

const section = (file: string, start: string, end: string): string => {
  const md = readFileSync(file, 'utf8');
  const from = md.indexOf(start);
  expect(from).toBeGreaterThanOrEqual(0);
  return md.slice(from, md.indexOf(end, from + start.length));
};

describe('translateItaPolicy and the SEPT_VE_DISABLE default (the behaviour the docs describe)', () => {
  const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0n } } }); // an Azure TDX TD's attributes
  const doc = { attestation_type: 'TDX', tdx: { attributes: { mrtd: [tdx(r).mrTd], enforce_tcb_upto_date: true } } };

  it('control: a TDX ITA policy pinning the TD refuses it on T34 /requireSeptVeDisable alone', () => {
    const p = translateItaPolicy(doc);
    expect((p as unknown as Record<string, unknown>)['requireSeptVeDisable']).toBe(true);
    const a = evaluatePolicy(r, p);
    expect(a.violations.map((v) => [v.check, v.path])).toEqual([['T34', '/requireSeptVeDisable']]);
  });

  it('control: the ITA document cannot relax it (closed schema: ERR_POLICY_INVALID)', () => {
    const relaxed = { ...doc, tdx: { attributes: { ...doc.tdx.attributes, requireSeptVeDisable: false } } };
    expect(() => translateItaPolicy(relaxed)).toThrow(expect.objectContaining({ code: 'ERR_POLICY_INVALID' }));
  });
});

describe('the docs say it plainly', () => {
  it('docs/policy.md ITA section: the table row, no ITA relaxation, the native way out, stored policies changed', () => {
    const ita = section('docs/policy.md', '## Intel Trust Authority key-transfer policies', '\n## ');
    expect(ita).toMatch(/\| — \(TDX[^|]*\| `requireSeptVeDisable: true`/);
    expect(ita).toMatch(/ITA does not look at SEPT_VE_DISABLE/);
    expect(ita).toMatch(/native policy with `"requireSeptVeDisable": false`/);
    expect(ita).toMatch(/translates it again at every use/);
    expect(ita).toMatch(/stored ITA policy\s+changed behaviour/);
  });

  it('docs/kbs.md: stored ITA policies are translated at every transfer and now refuse a TD without bit 28', () => {
    const kbs = readFileSync('docs/kbs.md', 'utf8');
    const item = kbs.slice(kbs.indexOf('* **TDX policies require SEPT_VE_DISABLE unless they say otherwise, ITA policies always'), kbs.indexOf('* **ITA policies require an UpToDate TCB'));
    expect(item.length).toBeGreaterThan(0);
    expect(item).toMatch(/translates it\s+again at every transfer/);
    expect(item).toMatch(/existing ITA policies changed behaviour on upgrade/);
    expect(item).toMatch(/`"requireSeptVeDisable": false`/);
    expect(item).toMatch(/ERR_KBS_POLICY/);
  });
});
