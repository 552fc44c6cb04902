/**
 * Review s6c, #2: under eventLog.onlyTouched a PCR the log never extends was
 * not counted as replayed, so a GRUB boot (nothing logged in PCR 12) always
 * failed boot.commandLines (it needs PCRs 8, 9 and 12). A quoted PCR holding
 * its reset value proves nothing was extended there and now counts; a quoted
 * PCR with another value and no events stays unverifiable.
 * On the real Ubuntu 24.04 GCE SEV-SNP boot log (GRUB, shared vectors).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { resetValue } from '../../src/vtpm/pcrs.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';
import { replayEventLog } from '../../src/vtpm/replay-eventlog.js';
import { verifyVtpmEvidence, type VtpmAppraisal } from '../../src/vtpm/verify.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';
import { quotedBundle, type QuotedBundle } from './review-s6-bundle.js';

const POLICY: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' };
const ALL_BUT_10 = Array.from({ length: 24 }, (_, i) => i).filter((p) => p !== 10);
const GENUINE = '/vmlinuz-6.8.0-1010-gcp root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro console=ttyS0,115200 panic=-1';
/** commandLines needs a PCR 9 file rule next to it (review s12, finding 1): the example's, which fit this log. */
const EXAMPLE = JSON.parse(readFileSync(new URL('../../docs/examples/vtpm-reference.json', import.meta.url), 'utf8'));
const PCR9_RULES = { kernels: EXAMPLE.boot.kernels, otherFiles: EXAMPLE.boot.otherFiles };

/** A quote over all PCRs but 10 with the log's replayed values, untouched PCRs at reset unless `override` says otherwise. */
function bundle(log: Uint8Array, override: Record<number, Uint8Array> = {}): QuotedBundle {
  const replay = replayEventLog(parseTcgEventLog(log), { banks: ['sha256'] });
  const values: Record<number, Uint8Array> = {};
  for (const p of ALL_BUT_10) values[p] = override[p] ?? replay.pcrs.sha256![p] ?? resetValue('sha256', p);
  return quotedBundle(values, { eventLog: log });
}

async function appraiseOnlyTouched(q: QuotedBundle): Promise<VtpmAppraisal> {
  const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk, eventLog: { onlyTouched: true } });
  expect(r.ok).toBe(true);
  return r.appraisal;
}

function commandLineViolations(appraisal: VtpmAppraisal, allowed: string[]): { path: string; message: string }[] {
  const f = new Findings();
  checkVtpm(POLICY, { ...appraisal, reference: loadReferenceList({ version: 1, boot: { ...PCR9_RULES, commandLines: allowed } }) }, f);
  return f.violations.filter((v) => v.path.startsWith('/vtpm/reference/boot')).map((v) => ({ path: v.path, message: v.message }));
}

describe.skipIf(!HAVE_VECTORS)('onlyTouched counts quoted PCRs at their reset value (review s6c #2)', () => {
  const real = () => readEvidenceBytes(findEntry('go-tpm-tools/ubuntu-2404-amd-sevsnp')!);

  it('GRUB boot, PCR 12 quoted at reset: commandLines is judged; the genuine line passes, another line fails', async () => {
    const a = await appraiseOnlyTouched(bundle(real()));
    expect(a.boot!.replayedPcrs).toEqual(ALL_BUT_10);
    expect(commandLineViolations(a, [GENUINE])).toEqual([]);
    const wrong = commandLineViolations(a, ['/vmlinuz root=/dev/sda1 ro']);
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.every((v) => !/cannot be judged/.test(v.message))).toBe(true);
  });

  it('PCR 12 quoted with a non-reset value and no events in the log: not replayed, commandLines cannot be judged', async () => {
    const extendedOnce = createHash('sha256').update(Buffer.concat([resetValue('sha256', 12), createHash('sha256').update('systemd').digest()])).digest();
    const a = await appraiseOnlyTouched(bundle(real(), { 12: new Uint8Array(extendedOnce) }));
    expect(a.boot!.replayedPcrs).toEqual(ALL_BUT_10.filter((p) => p !== 12));
    expect(commandLineViolations(a, [GENUINE])).toEqual([{ path: '/vtpm/reference/boot/commandLines', message: expect.stringMatching(/cannot be judged: PCR 12 is not quoted/) }]);
  });

  it('PCRs 17-22 count at their own reset value (all ones), not at zeros', async () => {
    const a = await appraiseOnlyTouched(bundle(real(), { 17: new Uint8Array(32) }));
    expect(a.boot!.replayedPcrs).toEqual(ALL_BUT_10.filter((p) => p !== 17));
  });
});
