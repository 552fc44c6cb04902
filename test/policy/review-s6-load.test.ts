/**
 * Review s6, finding 4: loadPolicy validated the caller's object and then
 * stored a JSON.stringify re-read of it, so what was checked was not what was
 * kept: an array's toJSON turned a pinned mrTd into "any", and a getter
 * flipped allowDebug between the two readings. The object is now copied once
 * (own data properties only) and that copy is validated and normalised.
 */
import { describe, expect, it } from 'vitest';

import { loadPolicy } from '../../src/policy/index.js';

const MRTD = 'a'.repeat(96);
const base = { tee: 'tdx', mrTd: [MRTD], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };

function outcome(input: object): { code?: string; keyword?: string; path?: string; mrTd?: unknown; allowDebug?: unknown } {
  try {
    const p = loadPolicy(input) as unknown as { mrTd: unknown; allowDebug: unknown };
    return { mrTd: p.mrTd, allowDebug: p.allowDebug };
  } catch (e) {
    const err = e as { code?: string; details?: { keyword?: string; path?: string } };
    return { code: err.code, keyword: err.details?.keyword, path: err.details?.path };
  }
}

describe('loadPolicy reads an object once (review s6)', () => {
  it('an allow list with toJSON (which turned it into "any") is refused, never loaded as "any"', () => {
    const r = outcome({ ...base, mrTd: Object.assign([MRTD], { toJSON: () => 'any' }) });
    expect(r).toMatchObject({ code: 'ERR_POLICY_INVALID', path: '/mrTd' });
    expect(r.mrTd).toBeUndefined();
  });

  it('a getter (false while checked, true when copied) is refused: allowDebug never becomes true unchecked', () => {
    let reads = 0;
    const doc: Record<string, unknown> = { ...base };
    Object.defineProperty(doc, 'allowDebug', { enumerable: true, get: () => reads++ >= 2 });
    expect(outcome(doc)).toMatchObject({ code: 'ERR_POLICY_INVALID', path: '/allowDebug' });
  });

  it.each([
    ['a toJSON on the document', { ...base, toJSON: () => ({ ...base, mrTd: 'any' }) }, '/toJSON'],
    ['an extra array property', { ...base, mrTd: Object.assign([MRTD], { note: 1 }) }, '/mrTd'],
    ['a sparse array', { ...base, mrTd: [MRTD, , MRTD] }, '/mrTd'], // eslint-disable-line no-sparse-arrays
    ['a class instance', { ...base, tcb: new (class Tcb { acceptedStatuses = ['UpToDate']; })() }, '/tcb'],
    ['an array subclass', { ...base, mrTd: new (class L extends Array<string> {})() }, '/mrTd'],
    ['a symbol key', { ...base, [Symbol('x')]: 1 }, ''],
    ['a function value', { ...base, allowDebug: () => true }, '/allowDebug'],
    ['undefined inside an array', { ...base, mrTd: [MRTD, undefined] }, '/mrTd/1'],
    ['an undefined field (refused before too)', { ...base, allowDebug: undefined }, '/allowDebug'],
  ])('%s: ERR_POLICY_INVALID', (_name, doc, path) => {
    expect(outcome(doc as object)).toMatchObject({ code: 'ERR_POLICY_INVALID', path });
  });

  it('a non-enumerable property is refused (JSON would have dropped it silently)', () => {
    const doc: Record<string, unknown> = { ...base };
    Object.defineProperty(doc, 'allowDebug', { enumerable: false, value: true });
    expect(outcome(doc)).toMatchObject({ code: 'ERR_POLICY_INVALID', path: '/allowDebug' });
  });

  it('an own "__proto__" key is data (an unknown field), never the prototype', () => {
    const doc = JSON.parse(`{"__proto__":{"allowDebug":true},"tee":"tdx","mrTd":"any","mrConfigId":"any","mrOwner":"any","mrOwnerConfig":"any"}`) as object;
    expect(outcome(doc)).toMatchObject({ code: 'ERR_POLICY_INVALID', path: '/__proto__' });
  });

  it('plain data loads as checked, with no link to the caller object', () => {
    const mrTd = [MRTD.toUpperCase()];
    const p = loadPolicy({ ...base, mrTd, tcb: Object.assign(Object.create(null) as object, { acceptedStatuses: ['UpToDate'] }) }) as unknown as { mrTd: string[]; allowDebug: boolean };
    expect(p.mrTd).toEqual([MRTD]);
    expect(p.allowDebug).toBe(false);
    mrTd[0] = 'b'.repeat(96);
    expect(p.mrTd).toEqual([MRTD]);
  });
});
