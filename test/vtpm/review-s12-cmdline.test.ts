/**
 * Review s12 (vTPM), finding 1: a measured kernel command line could be hidden.
 * The digest covers neither an event's type nor its data, so root edited the
 * genuine `kernel_cmdline: <evil>` event (one byte of its prefix, its type, or
 * its prefix rewritten to `grub_cmd: `), so that no command line was read from
 * it, then extended PCR 8 with an allowed line. With `commandLines` set, every
 * PCR 8 / PCR 12 event must now be a recognised text whose digest is its hash
 * (a GRUB command, a GRUB or systemd-boot command line); anything else is a
 * violation. And `commandLines` needs a PCR 9 file rule: the EFI stub's
 * LoadOptions event can be retagged as any PCR 9 event, and only a rule that
 * judges every PCR 9 event still finds it.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import { generateBootEventLog, type GeneratedBootLog } from '../../src/testing/vtpm-logs.js';
import { extractBootComponents } from '../../src/vtpm/boot-components.js';
import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';
import { EventType, LINUX_LOAD_OPTIONS_TAG_ID } from '../../src/vtpm/tcg-events.js';
import { verifyVtpmEvidence, type VtpmAppraisal } from '../../src/vtpm/verify.js';
import { HAVE_VECTORS, findEntry, loadManifest, readEvidenceBytes } from '../helpers/vectors.js';
import { agileEvent, bundleForLog, logSpans } from './review-s6-bundle.js';

const POLICY: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' };
const ALL_BUT_10 = Array.from({ length: 24 }, (_, i) => i).filter((p) => p !== 10);
const ALL = Array.from({ length: 24 }, (_, i) => i);
const join = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

async function appraise(log: Uint8Array): Promise<VtpmAppraisal> {
  const { bundle, nonce, trustedAk } = bundleForLog(log, ALL_BUT_10);
  const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk });
  expect(r.ok).toBe(true); // the quote covers exactly these extends
  return r.appraisal;
}

function violations(appraisal: VtpmAppraisal, boot: object): { path: string; message: string; actual: unknown }[] {
  const f = new Findings();
  checkVtpm(POLICY, { ...appraisal, reference: loadReferenceList({ version: 1, boot }) }, f);
  return f.violations.filter((v) => v.path.startsWith('/vtpm/reference/boot')).map((v) => ({ path: v.path, message: v.message, actual: v.actual }));
}

/** Every PCR 9 file of a generated log, as a reference list names them. */
function pcr9Rules(gen: GeneratedBootLog): object {
  const d = (x: Partial<Record<string, string>>) => Object.entries(x).map(([b, h]) => `${b}:${h}`);
  return { kernels: d(gen.components.kernel.digests), initrds: d(gen.components.initrd.digests), otherFiles: gen.components.otherFiles.flatMap((o) => d(o.digests)) };
}

const EVIL_ARGS = 'root=/dev/sda1 ro init=/bin/sh';
function generated() {
  const gen = generateBootEventLog({ seed: 's12-f1', banks: ['sha256'], kernelCmdline: EVIL_ARGS });
  const allowed = gen.components.kernelCmdline.replace(' init=/bin/sh', '');
  return { gen, allowed, rules: { ...pcr9Rules(gen), commandLines: [allowed] } };
}

/** The spans with the genuine kernel_cmdline event changed by `edit` (its digest untouched). */
function editCmdline(spans: { bytes: Buffer }[], edit: (b: Buffer, at: number) => Buffer): Buffer[] {
  return spans.map((s) => {
    const at = s.bytes.indexOf('kernel_cmdline: ');
    return at < 0 ? s.bytes : edit(Buffer.from(s.bytes), at);
  });
}

/** The allowed line, extended into PCR 8 by root after boot. */
const appended = (log: Uint8Array, line: string) => agileEvent(log, 8, EventType.EV_IPL, new Uint8Array(Buffer.from(`kernel_cmdline: ${line}\0`)), new Uint8Array(Buffer.from(`${line}\0`)));

describe('review s12 finding 1: every PCR 8/12 event is judged under commandLines', () => {
  it('genuine generated GRUB log: the allowed line passes, the evil one as logged is refused', async () => {
    const { gen, rules } = generated();
    const a = await appraise(gen.bytes);
    expect(a.boot!.unrecognisedCommandEvents).toEqual([]);
    expect(violations(a, rules).map((v) => v.message)).toEqual([expect.stringMatching(/init=\/bin\/sh" is not allowed/)]);
    expect(violations(a, { ...rules, commandLines: [gen.components.kernelCmdline] })).toEqual([]);
  });

  it('kernel_cmdline prefix edited (one byte) + allowed line appended by root: the hidden event is a violation', async () => {
    const { gen, allowed, rules } = generated();
    const spans = editCmdline(logSpans(gen.bytes), (b, at) => ((b[at + 13] = 0x58), b)); // "kernel_cmdlinX: "
    const a = await appraise(join([...spans, appended(gen.bytes, allowed)]));
    expect(a.boot!.commandLines.map((c) => [c.value, c.verified])).toEqual([[allowed, true]]);
    expect(a.boot!.unrecognisedCommandEvents).toHaveLength(1);
    const v = violations(a, rules);
    expect(v.map((x) => [x.path, x.message])).toEqual([['/vtpm/reference/boot/commandLines', expect.stringMatching(/event \d+ in PCR 8 is not a recognised/)]]);
    expect(v[0]!.actual).toMatchObject({ eventIndex: a.boot!.unrecognisedCommandEvents[0]!.eventIndex, pcr: 8 });
  });

  it('kernel_cmdline relabelled as another event type: still read as the command line and refused', async () => {
    const { gen, allowed, rules } = generated();
    const spans = editCmdline(logSpans(gen.bytes), (b) => (b.writeUInt32LE(EventType.EV_EVENT_TAG, 4), b));
    const a = await appraise(join([...spans, appended(gen.bytes, allowed)]));
    expect(a.boot!.commandLines.map((c) => [c.value, c.verified])).toEqual([[gen.components.kernelCmdline, true], [allowed, true]]);
    expect(violations(a, rules).map((x) => x.message)).toEqual([expect.stringMatching(/init=\/bin\/sh" is not allowed/)]);
  });

  it('kernel_cmdline rewritten as a "grub_cmd: <line>" (same digest): a path is no GRUB command, a violation', async () => {
    const { gen, allowed, rules } = generated();
    const spans = editCmdline(logSpans(gen.bytes), (b, at) => {
      // Same digest (the text after the prefix), other prefix: the event's data length changes.
      const line = b.subarray(at + 'kernel_cmdline: '.length);
      const data = Buffer.concat([Buffer.from('grub_cmd: '), line]);
      const head = Buffer.from(b.subarray(0, at - 4));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(data.length);
      return Buffer.concat([head, len, data]);
    });
    const a = await appraise(join([...spans, appended(gen.bytes, allowed)]));
    expect(a.boot!.commandLines.map((c) => c.value)).toEqual([allowed]);
    expect(violations(a, rules).map((x) => x.message)).toEqual([expect.stringMatching(/event \d+ in PCR 8 is not a recognised.*GRUB command/)]);
  });

  it('an unverified grub_cmd (data edited) is a violation; an event of another kind in PCR 12 too', async () => {
    const { gen, rules } = generated();
    const spans = logSpans(gen.bytes).map((s) => {
      const at = s.bytes.indexOf('grub_cmd: linux');
      if (at < 0) return s.bytes;
      const b = Buffer.from(s.bytes);
      b[b.length - 2]! ^= 1; // last character of the command
      return b;
    });
    const other = agileEvent(gen.bytes, 12, EventType.EV_IPL, Uint8Array.of(1, 2, 3, 4, 5));
    const a = await appraise(join([...spans, other]));
    expect(violations(a, { ...rules, commandLines: [gen.components.kernelCmdline] }).map((x) => x.message)).toEqual([
      expect.stringMatching(/event \d+ in PCR 8 is not a recognised/),
      expect.stringMatching(/event \d+ in PCR 12 is not a recognised/),
    ]);
  });

  it('without commandLines, PCR 8/12 events are not judged (a rule left out is not constrained)', async () => {
    const { gen, allowed } = generated();
    const spans = editCmdline(logSpans(gen.bytes), (b, at) => ((b[at + 13] = 0x58), b));
    const a = await appraise(join([...spans, appended(gen.bytes, allowed)]));
    expect(violations(a, pcr9Rules(gen))).toEqual([]);
  });

  it('commandLines without a PCR 9 file rule cannot be judged (a retagged LoadOptions event would go unseen)', async () => {
    const { gen } = generated();
    const a = await appraise(gen.bytes);
    expect(violations(a, { commandLines: [gen.components.kernelCmdline] }).map((x) => [x.path, x.message])).toEqual([
      ['/vtpm/reference/boot/commandLines', expect.stringMatching(/needs a PCR 9 file rule/)],
    ]);
  });
});

describe.skipIf(!HAVE_VECTORS)('review s12 finding 1 on the real logs', () => {
  const real = () => readEvidenceBytes(findEntry('go-tpm-tools/ubuntu-2404-amd-sevsnp')!);
  const doc = JSON.parse(readFileSync(new URL('../../docs/examples/vtpm-reference.json', import.meta.url), 'utf8'));
  const GENUINE = doc.boot.commandLines[0] as string;
  const ALLOWED = '/vmlinuz-6.8.0-1010-gcp root=/dev/sda1 ro lockdown=confidentiality';
  const pcr9 = { kernels: doc.boot.kernels, otherFiles: doc.boot.otherFiles };

  it('every PCR 8/12 event of the real Linux logs is recognised (GRUB commands, GRUB and systemd-boot lines); Windows\' PCR 12 events are not', () => {
    const ids = loadManifest().filter((e) => e.kind === 'tcg-event-log').map((e) => e.id);
    const unrecognised = Object.fromEntries(ids.map((id) => {
      const boot = extractBootComponents(parseTcgEventLog(readEvidenceBytes(findEntry(id)!)), { replayedPcrs: ALL });
      return [id, boot.unrecognisedCommandEvents.map((e) => e.pcr)];
    }));
    expect(unrecognised).toEqual({
      'go-tpm-tools/ubuntu-2404-amd-sevsnp': [],
      'go-tpm-tools/rhel8-uefi': [],
      'go-tpm-tools/arch-linux-workstation': [],
      'go-tpm-tools/debian-10': [],
      'go-tpm-tools/gce-cos-85-nonce9009-event-log': [],
      // Windows' boot configuration (EV_EVENT_TAG) and separator; its other PCR 12 event is UTF-16-like
      // data hashed as is, so it reads as a (verified, never allowed) systemd-boot line.
      'go-attestation/windows_gcp_shielded_vm-event-log': [12, 12],
      'ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9': [],
      'ima-evm-utils/test_binary_bios_measurements': [],
    });
  });

  it('genuine Ubuntu 24.04 log: its line and the example\'s PCR 9 rules pass', async () => {
    expect(violations(await appraise(real()), { ...pcr9, commandLines: [GENUINE] })).toEqual([]);
  });

  it('the reviewer\'s forgery (kernel_cmdline hidden, LoadOptions retagged, allowed line appended) is refused', async () => {
    const tag = Buffer.alloc(4);
    tag.writeUInt32LE(LINUX_LOAD_OPTIONS_TAG_ID);
    const spans = editCmdline(logSpans(real()), (b, at) => ((b[at + 13] = 0x58), b)).map((b) => {
      const at = b.indexOf(tag);
      if (at < 0) return b;
      const c = Buffer.from(b);
      c[at]! ^= 1;
      return c;
    });
    const a = await appraise(join([...spans, appended(real(), ALLOWED)]));
    expect(a.boot!.commandLines.map((c) => [c.value, c.verified])).toEqual([[ALLOWED, true]]);
    const v = violations(a, { ...pcr9, commandLines: [ALLOWED] });
    // (The example lists the LoadOptions digest in otherFiles, so the retagged event passes the PCR 9 rule.)
    expect(v.map((x) => [x.path, x.message])).toEqual([['/vtpm/reference/boot/commandLines', expect.stringMatching(/event \d+ in PCR 8 is not a recognised/)]]);
    // With commandLines alone the rule cannot be judged at all.
    expect(violations(a, { commandLines: [ALLOWED] }).map((x) => x.message)).toContainEqual(expect.stringMatching(/needs a PCR 9 file rule/));
  });
});
