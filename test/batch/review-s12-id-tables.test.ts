/**
 * Review s12 (batch) finding 3 (and 7): the main thread's id tables
 * (DuplicateIds, StatusTable for --previous) took their slots from the
 * unkeyed fnv1a / murmurish, so record ids chosen offline could all fall into
 * one cluster of slots: O(n²) probing on every run, resume and --previous,
 * and chosen 64-bit collisions could hide a change in --previous. The tables
 * now key ids with a keyed hash (SHA-256 under a random per-process key).
 * Counted probe steps, not time, are asserted.
 */
import { describe, expect, it } from 'vitest';

import { DuplicateIds } from '../../src/batch/duplicates.js';
import { fnv1a, murmurish, StatusTable } from '../../src/batch/previous.js';

/** Ids whose old slot has bits 10..15 clear: under the unkeyed hash they share 1/64 of every table. */
function craftedIds(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `rec-${i}`;
    if ((((fnv1a(id) ^ Math.imul(murmurish(id), 0x9e3779b1)) >>> 0) & 0xfc00) === 0) out.push(id);
  }
  return out;
}

const N = 4000;
const ids = craftedIds(N);

describe('review s12 #3: id tables resist chosen ids', () => {
  it('DuplicateIds: crafted ids cost about one probe each, and duplicates are still counted', () => {
    const d = new DuplicateIds();
    for (const id of ids) d.add(id);
    for (const id of ids.slice(0, 10)) d.add(id);
    expect(d.duplicates).toBe(10);
    // Under the unkeyed slot function these ids walk clusters of thousands (~N²/128 steps in all).
    expect(d.probes).toBeLessThan(N * 4);
  });

  it('StatusTable: crafted ids cost about one probe each; statuses kept per id', () => {
    const t = new StatusTable();
    ids.forEach((id, i) => t.set(id, i % 2 === 0 ? 'UpToDate' : 'ERR_REVOKED', i % 2 === 0));
    expect(t.size).toBe(N);
    expect(t.take(ids[0]!)).toEqual({ status: 'UpToDate', ok: true });
    expect(t.take(ids[1]!)).toEqual({ status: 'ERR_REVOKED', ok: false });
    expect(t.take('absent')).toBeUndefined();
    expect(t.probes).toBeLessThan(N * 4 + 100);
  });

  it('the key of an id is keyed: not the unkeyed (fnv1a, murmurish) pair, and stable within the process', async () => {
    const { idKey } = await import('../../src/batch/id-key.js');
    const [hi, lo] = idKey('rec-1');
    expect([hi, lo]).not.toEqual([fnv1a('rec-1'), murmurish('rec-1')]);
    expect(idKey('rec-1')).toEqual([hi, lo]);
    expect(idKey('rec-2')).not.toEqual([hi, lo]);
  });
});
