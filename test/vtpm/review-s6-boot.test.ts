/**
 * Review s6, findings 2-4, on the real Ubuntu 24.04 GCE SEV-SNP boot log
 * (Secure Boot off, GRUB, Linux EFI stub LoadOptions), quoted by a software
 * TPM over exactly the extends the changed log records (what root on the
 * guest can do after boot: extend PCRs 0-15 and append to its log copy, or
 * choose which PCRs the quote covers):
 *
 * 2. A SecureBoot=1 measurement appended to PCR 7 after its separator does not
 *    turn Secure Boot on: only the firmware's measurement before the separator
 *    counts; a second one after it, or two values, leave it unverified.
 * 3. A rule over a PCR the quote leaves out fails instead of judging an empty
 *    list (PCR 4 dropped: bootApplications; 7: secureBoot; 9: kernels,
 *    initrds, otherFiles; 8, 9, 12: commandLines).
 * 4. An allowed command line appended to PCR 8 does not vouch for the EFI
 *    stub's LoadOptions (PCR 9), which must be an allowed line too.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import { loadReferenceList, type ReferenceList } from '../../src/vtpm/reference.js';
import { EventType } from '../../src/vtpm/tcg-events.js';
import { verifyVtpmEvidence, type VtpmAppraisal } from '../../src/vtpm/verify.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';
import { agileEvent, bundleForLog, logSpans } from './review-s6-bundle.js';

const POLICY: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' };
const ALL_BUT_10 = Array.from({ length: 24 }, (_, i) => i).filter((p) => p !== 10);
const EFI_GLOBAL_VARIABLE = Buffer.from([0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c]);

/** UEFI_VARIABLE_DATA of the global SecureBoot variable with one value byte. */
function secureBootData(value: number): Uint8Array {
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  return new Uint8Array(Buffer.concat([EFI_GLOBAL_VARIABLE, u64(10), u64(1), Buffer.from('SecureBoot', 'utf16le'), Buffer.from([value])]));
}

async function appraise(log: Uint8Array, pcrs: readonly number[]): Promise<VtpmAppraisal> {
  const { bundle, nonce, trustedAk } = bundleForLog(log, pcrs);
  const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk });
  expect(r.ok).toBe(true); // the integrity checks hold: the quote covers exactly these extends
  return r.appraisal;
}

function bootViolations(appraisal: VtpmAppraisal, boot: object): { path: string; message: string; actual: unknown }[] {
  const f = new Findings();
  const reference: ReferenceList = loadReferenceList({ version: 1, boot });
  checkVtpm(POLICY, { ...appraisal, reference }, f);
  return f.violations.filter((v) => v.path.startsWith('/vtpm/reference/boot'));
}

describe.skipIf(!HAVE_VECTORS)('review s6 on the real Ubuntu 24.04 SEV-SNP boot log', () => {
  const real = () => readEvidenceBytes(findEntry('go-tpm-tools/ubuntu-2404-amd-sevsnp')!);
  const join = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

  describe('finding 2: Secure Boot comes from the firmware measurement before PCR 7\'s separator', () => {
    it('genuine: disabled, verified; secureBoot false passes, true fails', async () => {
      const a = await appraise(real(), ALL_BUT_10);
      expect(a.boot!.secureBoot).toMatchObject({ enabled: false, verified: true });
      expect(bootViolations(a, { secureBoot: false })).toEqual([]);
      expect(bootViolations(a, { secureBoot: true }).map((v) => v.message)).toEqual([expect.stringMatching(/Secure Boot is disabled/)]);
    });

    it('SecureBoot=1 extended into PCR 7 after boot: unverified, so secureBoot true fails', async () => {
      const log = join([real(), agileEvent(real(), 7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, secureBootData(1))]);
      const a = await appraise(log, ALL_BUT_10);
      expect(a.boot!.secureBoot).toMatchObject({ enabled: false, verified: false, problem: expect.stringMatching(/after PCR 7's separator/) });
      const v = bootViolations(a, { secureBoot: true });
      expect(v.map((x) => [x.path, x.message])).toEqual([['/vtpm/reference/boot/secureBoot', expect.stringMatching(/not measured verifiably/)]]);
    });

    it('the same appended as another event type (the type is not covered by the digest): still unverified', async () => {
      const log = join([real(), agileEvent(real(), 7, EventType.EV_EFI_VARIABLE_AUTHORITY, secureBootData(1))]);
      expect((await appraise(log, ALL_BUT_10)).boot!.secureBoot).toMatchObject({ verified: false });
    });

    it('the separator relabelled and a forged one appended after SecureBoot=1: the separator is found by its digest', async () => {
      const spans = logSpans(real());
      const sep = spans.find((s) => s.pcr === 7 && s.type === EventType.EV_SEPARATOR)!;
      sep.bytes.writeUInt32LE(EventType.EV_EFI_ACTION, 4);
      const log = join([...spans.map((s) => s.bytes), agileEvent(real(), 7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, secureBootData(1)), agileEvent(real(), 7, EventType.EV_SEPARATOR, new Uint8Array(4))]);
      const a = await appraise(log, ALL_BUT_10);
      expect(a.boot!.secureBoot).toMatchObject({ verified: false });
      expect(bootViolations(a, { secureBoot: true })).toHaveLength(1);
    });

    it('two different values before the separator: unverified', async () => {
      const spans = logSpans(real());
      const at = spans.findIndex((s) => s.pcr === 7 && s.type === EventType.EV_SEPARATOR);
      spans.splice(at, 0, { pcr: 7, type: EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, bytes: agileEvent(real(), 7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, secureBootData(1)) });
      const a = await appraise(join(spans.map((s) => s.bytes)), ALL_BUT_10);
      expect(a.boot!.secureBoot).toMatchObject({ verified: false, problem: expect.stringMatching(/different SecureBoot values/) });
    });
  });

  describe('finding 3: a rule over a PCR the quote leaves out fails', () => {
    const APPS = ['sha256:724de6844dd0fe618ba5776c7bca0728be38a6544e24e44ef259b987b7abce80', 'sha256:5e8cb75acdf8e09e5fc14cc2d6ce0c2288af208976d97309851c661e91ec1e03'];

    it('genuine, all PCRs quoted: bootApplications judges the two applications and passes; a wrong list fails per application', async () => {
      const a = await appraise(real(), ALL_BUT_10);
      expect(a.boot!.bootApplications).toHaveLength(2);
      expect(bootViolations(a, { bootApplications: APPS })).toEqual([]);
      expect(bootViolations(a, { bootApplications: [`sha256:${'22'.repeat(32)}`] })).toHaveLength(2);
    });

    it('PCR 4 left out of the quote and its events dropped: bootApplications cannot be judged', async () => {
      const log = join(logSpans(real()).filter((s) => s.pcr !== 4).map((s) => s.bytes));
      const a = await appraise(log, ALL_BUT_10.filter((p) => p !== 4));
      expect([a.boot!.bootApplications, a.boot!.replayedPcrs.includes(4)]).toEqual([[], false]);
      const v = bootViolations(a, { bootApplications: [`sha256:${'22'.repeat(32)}`] });
      expect(v.map((x) => [x.path, x.message])).toEqual([['/vtpm/reference/boot/bootApplications', expect.stringMatching(/cannot be judged: PCR 4 is not quoted/)]]);
    });

    it('each rule names the PCRs it needs: 7 secureBoot; 9 kernels, initrds, otherFiles; 8, 9 and 12 commandLines', async () => {
      const cases: [number, object, string[]][] = [
        [7, { secureBoot: false }, ['secureBoot']],
        [9, { kernels: APPS, initrds: APPS, otherFiles: APPS }, ['kernels', 'initrds', 'otherFiles']],
        [8, { commandLines: ['x'] }, ['commandLines']],
        [12, { commandLines: ['x'] }, ['commandLines']],
      ];
      for (const [pcr, rules, keys] of cases) {
        const log = join(logSpans(real()).filter((s) => s.pcr !== pcr).map((s) => s.bytes));
        const v = bootViolations(await appraise(log, ALL_BUT_10.filter((p) => p !== pcr)), rules);
        expect(v.map((x) => [x.path, x.message]), `PCR ${pcr}`).toEqual(keys.map((k) => [`/vtpm/reference/boot/${k}`, expect.stringMatching(new RegExp(`cannot be judged: PCR ${pcr} is not quoted`))]));
      }
    });

    it('onlyTouched: a quoted PCR the log never extends counts only at its reset value (review s6c #2; other values: review-s6c-onlytouched)', async () => {
      const { bundle, nonce, trustedAk } = bundleForLog(real(), ALL_BUT_10);
      const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk, eventLog: { onlyTouched: true } });
      expect(r.appraisal.boot!.replayedPcrs).toEqual(ALL_BUT_10);
      expect(r.replay!.eventLog!.replayedPcrs).toEqual(ALL_BUT_10);
    });
  });

  describe('finding 4: the EFI stub\'s LoadOptions (PCR 9) must be an allowed command line', () => {
    const GENUINE = '/vmlinuz-6.8.0-1010-gcp root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro console=ttyS0,115200 panic=-1';
    const ALLOWED = '/vmlinuz-6.8.0-1010-gcp root=/dev/sda1 ro lockdown=confidentiality';
    // commandLines needs a PCR 9 file rule next to it (review s12, finding 1): the example's, which fit this log.
    const example = JSON.parse(readFileSync(new URL('../../docs/examples/vtpm-reference.json', import.meta.url), 'utf8'));
    const pcr9 = { kernels: example.boot.kernels, otherFiles: example.boot.otherFiles };

    it('genuine: the GRUB line and the LoadOptions (BOOT_IMAGE=<line>) both match the allowed line', async () => {
      const a = await appraise(real(), ALL_BUT_10);
      expect(a.boot!.efiStubLoadOptions).toHaveLength(1);
      expect(bootViolations(a, { ...pcr9, commandLines: [GENUINE] })).toEqual([]);
    });

    it('GRUB\'s line gone (a boot that measures only LoadOptions) and an allowed line appended to PCR 8 by root: the LoadOptions is judged', async () => {
      const spans = logSpans(real()).filter((s) => !s.bytes.includes(Buffer.from('kernel_cmdline: ')));
      // As GRUB logs it: the digest covers the line after the prefix, with its NUL.
      const forged = agileEvent(real(), 8, EventType.EV_IPL, new Uint8Array(Buffer.from(`kernel_cmdline: ${ALLOWED}\0`)), new Uint8Array(Buffer.from(`${ALLOWED}\0`)));
      const a = await appraise(join([...spans.map((s) => s.bytes), forged]), ALL_BUT_10);
      expect(a.boot!.commandLines.map((c) => [c.value, c.verified])).toEqual([[ALLOWED, true]]);
      const stub = a.boot!.efiStubLoadOptions[0]!;
      const v = bootViolations(a, { ...pcr9, commandLines: [ALLOWED] });
      expect(v.map((x) => [x.path, (x.actual as { eventIndex: number }).eventIndex, x.message])).toEqual([
        ['/vtpm/reference/boot/commandLines', stub.eventIndex, expect.stringMatching(/load options .* are none of the allowed command lines/)],
      ]);
    });
  });
});
