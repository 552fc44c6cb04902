/**
 * Review 3 of vTPM verification: what reaches the policy must be what the
 * quote proves.
 *
 * - The quote proves the order of events within one PCR, not across PCRs: a
 *   log that moves GRUB's `linux` command (PCR 8) after the kernel file (PCR 9)
 *   still replays, so "which PCR 9 file is the kernel" cannot decide whether a
 *   kernel is judged. Every file measured into PCR 9 is judged instead.
 * - Events of PCRs that were not compared with the quote (PCR 10 by default)
 *   name no boot component; boot applications come from PCR 4 only.
 * - IMA entries for a PCR other than the compared PCR 10 are refused.
 * - Quotes of one bundle come from one boot (resetCount / restartCount).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import { SimulatedVtpmProvider } from '../../src/tee/simulated-vtpm.js';
import { buildTemplateData } from '../../src/vtpm/ima-template.js';
import { extractBootComponents } from '../../src/vtpm/boot-components.js';
import { parseTcgEventLog, parseTpmPublic } from '../../src/vtpm/parse.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';
import { EventType } from '../../src/vtpm/tcg-events.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { verifyVtpmEvidence, type VtpmVerificationResult } from '../../src/vtpm/verify.js';

const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i);
const provider = new SimulatedVtpmProvider({ banks: ['sha256'] });
const nonce = new Uint8Array([3, 1, 4, 1, 5]);
const trustedAk = keyFromTpmPublic(parseTpmPublic(provider.tpm.akPublic)).key;
const quote = provider.tpm.quote([{ bank: 'sha256', pcrs: ALL_PCRS }], nonce);
const genuine = provider.bundleOf(quote, nonce);
const { ima: _ima, ...bootOnly } = genuine;

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const APPROVED_KERNEL = `sha256:${sha256('the only approved kernel')}` as const;
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** The genuine log's events as byte spans, so tests can reorder and append records. */
function spans(bytes: Uint8Array): { pcr: number; type: number; text: string; bytes: Buffer }[] {
  const log = parseTcgEventLog(bytes);
  return log.events.map((e, i) => ({
    pcr: e.pcr,
    type: e.eventType,
    text: Buffer.from(e.data).toString('latin1'),
    bytes: Buffer.from(bytes.subarray(e.offset, i + 1 < log.events.length ? log.events[i + 1]!.offset : bytes.length)),
  }));
}

/** Moves the first event matching `which` to just after the first later event matching `after`. */
function moveAfter(bytes: Uint8Array, which: (e: ReturnType<typeof spans>[number]) => boolean, after: (e: ReturnType<typeof spans>[number]) => boolean): Uint8Array {
  const events = spans(bytes);
  const from = events.findIndex(which);
  expect(from).toBeGreaterThan(0);
  const [moved] = events.splice(from, 1);
  const to = events.findIndex((e, i) => i >= from && after(e));
  expect(to).toBeGreaterThanOrEqual(from);
  events.splice(to + 1, 0, moved!);
  return new Uint8Array(Buffer.concat(events.map((e) => e.bytes)));
}

/** A crypto-agile TCG_PCR_EVENT2 with one SHA-256 digest. */
function event2(pcr: number, type: number, digestHex: string, data: Uint8Array = new Uint8Array(32)): Buffer {
  return Buffer.concat([u32(pcr), u32(type), u32(1), Buffer.from([0x0b, 0x00]), Buffer.from(digestHex, 'hex'), u32(data.length), Buffer.from(data)]);
}

const isLinuxCmd = (e: { pcr: number; text: string }) => e.pcr === 8 && e.text.startsWith('grub_cmd: linux');
const isInitrdCmd = (e: { pcr: number; text: string }) => e.pcr === 8 && e.text.startsWith('grub_cmd: initrd');
const isKernelFile = (e: { pcr: number; text: string }) => e.pcr === 9 && e.text.startsWith('/vmlinuz');

const verify = (bundle: typeof genuine | typeof bootOnly) => verifyVtpmEvidence(bundle, { nonce, trustedAk });

const policy: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'violation' };

function bootViolations(r: VtpmVerificationResult, boot: Record<string, unknown>) {
  const reference = loadReferenceList({ version: 1, boot });
  const f = new Findings();
  checkVtpm(policy, { ...r.appraisal, reference }, f);
  return f.violations.filter((v) => v.check === 'VTPM-BOOT');
}

/** The genuine image's reference list, with the kernel replaced by one that did not boot. */
function referenceWithApprovedKernel(): Record<string, unknown> {
  const boot = (provider.referenceList() as { boot: Record<string, unknown> }).boot;
  return { ...boot, kernels: [APPROVED_KERNEL] };
}

const measuredKernel = `sha256:${provider.bootLog.components.kernel.digests.sha256}`;
const actualDigest = (v: { actual: unknown }) => (v.actual as { digests?: { sha256?: string } } | null)?.digests?.sha256;

describe('review 3: the kernel is judged whatever the cross-PCR order of the log', () => {
  it('control: the genuine image passes its own reference list (every PCR 9 file listed)', async () => {
    const r = await verify(bootOnly);
    expect(bootViolations(r, (provider.referenceList() as { boot: Record<string, unknown> }).boot)).toEqual([]);
    // The booted kernel is not the approved one: reported once, as that file.
    const v = bootViolations(r, referenceWithApprovedKernel());
    expect(v.map((x) => [x.path, actualDigest(x) ?? null])).toEqual([['/vtpm/reference/boot/kernels', measuredKernel.slice(7)]]);
  });

  it('a PCR 9 file that no list names (grub.cfg left out of otherFiles) is a violation', async () => {
    const r = await verify(bootOnly);
    const { otherFiles: _o, ...boot } = (provider.referenceList() as { boot: Record<string, unknown> }).boot;
    const v = bootViolations(r, boot);
    expect(v.map((x) => [x.path, (x.actual as { path?: string }).path])).toEqual([['/vtpm/reference/boot/otherFiles', provider.bootLog.components.otherFiles[0]!.path]]);
  });

  it("GRUB's linux command moved after the kernel file still replays; the unlisted kernel is a violation", async () => {
    const eventLog = moveAfter(bootOnly.eventLog!, isLinuxCmd, isKernelFile);
    const r = await verify({ ...bootOnly, eventLog });
    expect(r.appraisal.boot!.kernels).toEqual([]); // classification by order is lost...
    const v = bootViolations(r, referenceWithApprovedKernel());
    // ...but the file is still judged, as a PCR 9 file that no list names.
    expect(v.map((x) => [x.path, actualDigest(x) ?? null])).toEqual([
      ['/vtpm/reference/boot/kernels', null],
      ['/vtpm/reference/boot/otherFiles', measuredKernel.slice(7)],
    ]);
  });

  it('the kernel file moved after the initrd command (kernel counted as an initrd) with no initrd rule: the kernel is judged', async () => {
    const eventLog = moveAfter(bootOnly.eventLog!, isKernelFile, isInitrdCmd);
    const r = await verify({ ...bootOnly, eventLog });
    expect(r.appraisal.boot!.initrds.map((i) => i.path)).toContain(provider.bootLog.components.kernel.path);
    const { initrds: _i, ...boot } = referenceWithApprovedKernel();
    const v = bootViolations(r, boot);
    expect(v.map((x) => actualDigest(x))).toContain(measuredKernel.slice(7));
  });

  it('an EFI application event in the excluded PCR 10 names no boot component and does not satisfy the kernel rule', async () => {
    const reorder = moveAfter(bootOnly.eventLog!, isLinuxCmd, isKernelFile);
    const fake = event2(10, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, APPROVED_KERNEL.slice(7));
    const eventLog = new Uint8Array(Buffer.concat([reorder, fake]));
    const r = await verify({ ...bootOnly, eventLog });
    const boot = r.appraisal.boot!;
    expect(boot.bootApplications.map((a) => a.pcr)).toEqual([4, 4]);
    const v = bootViolations(r, { kernels: [APPROVED_KERNEL] });
    expect(v.length).toBeGreaterThan(0);
    expect(v.map((x) => actualDigest(x))).toContain(measuredKernel.slice(7));
  });

  it('the event type is not covered by the digest: the kernel file relabelled as an EV_EFI_ACTION is still a PCR 9 file', async () => {
    const events = spans(bootOnly.eventLog!);
    const kernel = events.find(isKernelFile)!;
    kernel.bytes.writeUInt32LE(EventType.EV_EFI_ACTION, 4); // type sits after the PCR index
    const eventLog = new Uint8Array(Buffer.concat(events.map((e) => e.bytes)));
    const r = await verify({ ...bootOnly, eventLog });
    expect(r.appraisal.boot!.kernels).toEqual([]);
    const v = bootViolations(r, referenceWithApprovedKernel());
    expect(v.map((x) => actualDigest(x))).toContain(measuredKernel.slice(7));
  });

  it('a PCR 4 application relabelled as an EV_EFI_ACTION is still judged as a boot application', async () => {
    const events = spans(bootOnly.eventLog!);
    const grub = events.filter((e) => e.pcr === 4 && e.type === EventType.EV_EFI_BOOT_SERVICES_APPLICATION)[1]!;
    grub.bytes.writeUInt32LE(EventType.EV_EFI_ACTION, 4);
    const eventLog = new Uint8Array(Buffer.concat(events.map((e) => e.bytes)));
    const r = await verify({ ...bootOnly, eventLog });
    const [shim] = provider.bootLog.components.bootApplications;
    const v = bootViolations(r, { bootApplications: [`sha256:${shim!.sha256}`] });
    expect(v.map((x) => actualDigest(x))).toEqual([provider.bootLog.components.bootApplications[1]!.sha256]);
  });

  it('PCRs excluded from the comparison name no component: with PCR 9 excluded, no kernel is measured (and the rule cannot be judged)', async () => {
    const r = await verifyVtpmEvidence(bootOnly, { nonce, trustedAk, eventLog: { exclude: [9, 10] } });
    const boot = r.appraisal.boot!;
    expect([...boot.kernels, ...boot.initrds, ...boot.otherFiles]).toEqual([]);
    expect(boot.replayedPcrs).not.toContain(9);
    const v = bootViolations(r, { kernels: [measuredKernel] });
    expect(v.map((x) => x.message)).toEqual([expect.stringMatching(/kernels cannot be judged: PCR 9 is not quoted/)]);
  });

  it('extraction: EV_EFI_BOOT_SERVICES_APPLICATION outside PCR 4 is not a boot application', () => {
    const digest = { alg: 0x0b, hash: 'sha256' as const, digest: new Uint8Array(32).fill(7) };
    const events = [2, 4, 10, 14].map((pcr, index) => ({ index, offset: 0, pcr, eventType: EventType.EV_EFI_BOOT_SERVICES_APPLICATION, digests: [digest], data: new Uint8Array(0) }));
    const c = extractBootComponents({ format: 'crypto-agile', algorithms: [{ alg: 0x0b, hash: 'sha256', digestSize: 32 }], events });
    expect(c.bootApplications.map((a) => a.pcr)).toEqual([4]);
  });

  it('policy: an application outside PCR 4 handed in directly does not satisfy the kernel fallback', () => {
    const app = { eventIndex: 1, pcr: 10, source: 'efi-boot-application' as const, digests: { sha256: APPROVED_KERNEL.slice(7) } };
    const boot = { bootApplications: [app], kernels: [], initrds: [], otherFiles: [], commandLines: [], efiStubLoadOptions: [], unrecognisedCommandEvents: [], secureBoot: undefined, replayedPcrs: [4, 9] };
    const f = new Findings();
    checkVtpm(policy, { pcrs: new Map(), boot, reference: loadReferenceList({ version: 1, boot: { kernels: [APPROVED_KERNEL] } }) }, f);
    expect(f.violations.map((v) => v.message)).toEqual([expect.stringMatching(/no measured kernel/)]);
  });
});

describe('review 3: IMA entries for a PCR other than 10 are refused', () => {
  /** An ima-ng record for `pcr` (template digest SHA-1 over its data). */
  function imaRecord(pcr: number, path: string): Buffer {
    const data = buildTemplateData('ima-ng', { fileDigestAlg: 'sha256', fileDigest: createHash('sha256').update(path).digest(), path });
    const name = Buffer.from('ima-ng');
    return Buffer.concat([u32(pcr), createHash('sha1').update(data).digest(), u32(name.length), name, u32(data.length), Buffer.from(data)]);
  }

  it('control: the genuine list verifies and every entry is PCR 10', async () => {
    const r = await verify(genuine);
    expect(r.appraisal.ima!.entries.every((e) => e.pcr === 10)).toBe(true);
  });

  for (const pcr of [11, 0, 23]) {
    it(`an entry recorded for PCR ${pcr} (never compared with the quote): ERR_VTPM_IMA_MISMATCH naming the entry`, async () => {
      const ima = genuine.ima;
      if (!ima || !('binary' in ima)) throw new Error('the provider sends its IMA list in binary form');
      const binary = new Uint8Array(Buffer.concat([Buffer.from(ima.binary), imaRecord(pcr, '/usr/bin/edr-agent')]));
      const err = await verify({ ...genuine, ima: { binary } }).then(
        () => undefined,
        (e: unknown) => e as { code: string; details: Record<string, unknown>; check?: string },
      );
      expect(err?.code).toBe('ERR_VTPM_IMA_MISMATCH');
      expect(err?.check).toBe('VT16');
      expect(err?.details).toMatchObject({ pcr, index: provider.imaList.entries.length });
    });
  }

  it('the ASCII form too', async () => {
    const path = '/usr/bin/edr-agent';
    const fileDigest = createHash('sha256').update(path).digest();
    const digest = createHash('sha1').update(buildTemplateData('ima-ng', { fileDigestAlg: 'sha256', fileDigest, path })).digest('hex');
    const line = `11 ${digest} ima-ng sha256:${fileDigest.toString('hex')} ${path}\n`;
    const err = await verify({ ...genuine, ima: { ascii: provider.imaList.ascii + line } }).then(
      () => undefined,
      (e: unknown) => e as { code: string; details: Record<string, unknown> },
    );
    expect(err?.code).toBe('ERR_VTPM_IMA_MISMATCH');
    expect(err?.details).toMatchObject({ pcr: 11, index: provider.imaList.entries.length });
  });
});

describe('review 3: the quotes of one bundle come from one boot', () => {
  const selections = [{ bank: 'sha256' as const, pcrs: ALL_PCRS.filter((p) => p < 12) }];
  const rest = [{ bank: 'sha256' as const, pcrs: ALL_PCRS.filter((p) => p >= 12) }];

  function twoQuotes(second: { resetCount?: number; restartCount?: number }) {
    const a = provider.tpm.quote(selections, nonce, { resetCount: 4, restartCount: 2 });
    const b = provider.tpm.quote(rest, nonce, { resetCount: 4, restartCount: 2, ...second });
    return {
      ...genuine,
      tpm: { ...genuine.tpm, quotes: [a, b].map((q) => ({ attest: q.attest, signature: q.signature })), pcrs: { sha256: { ...a.pcrs.sha256, ...b.pcrs.sha256 } } },
    };
  }

  it('control: two quotes with equal resetCount and restartCount verify', async () => {
    const r = await verify(twoQuotes({}));
    expect(r.tpm.quotes.map((q) => [q.resetCount, q.restartCount])).toEqual([[4, 2], [4, 2]]);
    expect(r.checks.map((c) => c.id)).toContain('VT19');
  });

  for (const [what, second] of [['resetCount', { resetCount: 5 }], ['restartCount', { restartCount: 3 }]] as const) {
    it(`a second quote with another ${what}: ERR_VTPM_QUOTE (VT19)`, async () => {
      const err = await verify(twoQuotes(second)).then(
        () => undefined,
        (e: unknown) => e as { code: string; check?: string; details: Record<string, unknown> },
      );
      expect(err?.code).toBe('ERR_VTPM_QUOTE');
      expect(err?.check).toBe('VT19');
      expect(err?.details).toMatchObject({ quote: 1 });
    });
  }
});
