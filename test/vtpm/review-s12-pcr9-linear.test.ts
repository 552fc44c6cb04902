/**
 * Review s12 (vTPM), finding 5: the PCR 9 rule called boot.otherFiles.includes(c)
 * for every EFI-stub LoadOptions event that matched no allowed digest, which is
 * quadratic in the number of PCR 9 events (root can extend PCR 9 as often as
 * it likes; the parser takes 100,000 events). The rule now looks components up
 * in Sets. Measured without a clock: the reads of otherFiles' elements are
 * counted through a Proxy and must grow linearly.
 */
import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { BootComponents, MeasuredComponent } from '../../src/vtpm/boot-components.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';

const ALL = Array.from({ length: 24 }, (_, i) => i);

/** n LoadOptions events in PCR 9 (none allowed), otherFiles wrapped to count element reads. */
function judge(n: number): { reads: number; violations: number } {
  const stub: MeasuredComponent[] = Array.from({ length: n }, (_, i) => ({ eventIndex: i + 1, pcr: 9, source: 'linux-efi-stub', digests: { sha256: i.toString(16).padStart(64, '0') } }));
  let reads = 0;
  const otherFiles = new Proxy([...stub], {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const boot: BootComponents = { bootApplications: [], kernels: [], initrds: [], otherFiles, commandLines: [{ eventIndex: 0, pcr: 8, source: 'grub', value: 'x', verified: true }], efiStubLoadOptions: stub, unrecognisedCommandEvents: [], secureBoot: undefined, replayedPcrs: ALL };
  const reference = loadReferenceList({ version: 1, boot: { otherFiles: [`sha256:${'ff'.repeat(32)}`], commandLines: ['x'] } });
  const f = new Findings();
  checkVtpm({ pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' }, { pcrs: new Map(), boot, reference }, f);
  return { reads, violations: f.violations.length };
}

describe('review s12 finding 5: the PCR 9 rule is linear in the PCR 9 events', () => {
  it('every event is still reported (otherFiles and commandLines), with a bounded number of reads per event', () => {
    const small = judge(200);
    const large = judge(2000);
    expect(small.violations).toBe(400);
    expect(large.violations).toBe(4000);
    // Quadratic: ~n²/2 reads (2,000,000 for n = 2000). Linear: a few per event.
    expect(large.reads).toBeLessThanOrEqual(4 * 2000);
    expect(large.reads / small.reads).toBeLessThanOrEqual(11);
  });
});
