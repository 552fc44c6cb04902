/**
 * The policy's vtpm section and the reference list (issue 9,
 * docs/vtpm-reference.md) against what the vTPM verification established:
 * quoted PCR values, the verified IMA list and the verified boot components.
 * Every mismatch is a violation (entry index, path, digest, reason); nothing
 * stops at the first. The integrity checks (replays reproduce the quote,
 * template digests, boot_aggregate) belong to verification and have already
 * passed when this runs.
 *
 * Violation paths: `/vtpm/...` for a policy field; `/vtpm/reference/...`
 * followed by the JSON pointer into the reference list for its rules.
 * Check ids (no checklist id covers vTPM): VTPM-PCR, VTPM-IMA, VTPM-BOOT.
 */
import { createHash } from 'node:crypto';

import { pointerToken } from '../json-schema.js';
import type { BootComponents, ComponentDigests, MeasuredComponent } from '../../vtpm/boot-components.js';
import { isIgnoredPath, type PcrExpectations, type ReferenceBoot, type ReferenceDigest, type ReferenceList } from '../../vtpm/reference.js';
import { isReplayBank, toHex, toPcrValues, type PcrValues } from '../../vtpm/pcrs.js';
import type { VtpmAppraisalInput, VtpmPolicy } from '../types.js';
import type { Findings } from './findings.js';

function checkPcrs(expected: PcrExpectations, quoted: PcrValues, base: string, f: Findings): void {
  for (const [bank, values] of Object.entries(expected)) {
    if (!isReplayBank(bank) || values === undefined) continue;
    for (const [pcr, allowed] of Object.entries(values)) {
      const actual = quoted[bank]?.[Number(pcr)];
      const path = `${base}/${bank}/${pcr}`;
      if (actual === undefined) f.fail(path, 'VTPM-PCR', 'POLICY', allowed, null, `PCR ${pcr} (${bank}) is not in the quote`);
      else if (!allowed.includes(toHex(actual))) f.fail(path, 'VTPM-PCR', 'POLICY', allowed, toHex(actual), `PCR ${pcr} (${bank}) ${toHex(actual)} is not an expected value`);
    }
  }
}

function checkIma(policy: VtpmPolicy, input: VtpmAppraisalInput, reference: ReferenceList | undefined, f: Findings): void {
  const ima = input.ima;
  const referenceNamesFiles = reference !== undefined && reference.ima.files.size > 0;
  if (ima === undefined) {
    if (referenceNamesFiles || policy.requiredImaEntries !== undefined) {
      const path = referenceNamesFiles ? '/vtpm/reference/ima/files' : '/vtpm/requiredImaEntries';
      f.fail(path, 'VTPM-IMA', 'POLICY', 'an IMA measurement list', null, 'the evidence has no IMA list to judge');
    }
    return;
  }
  const violations = new Set(ima.violations);
  const seen = new Set<string>();
  const files = reference?.ima.files;
  const ignore = reference?.ima.ignore ?? [];
  const allowedUnknown: string[] = [];
  ima.entries.forEach((entry, index) => {
    const path = entry.path;
    if (violations.has(index) || entry.violation === true) {
      // Review s15, vTPM finding 2: a violation entry's data is hashed by nothing, so the name it
      // claims is reported only as unverified (quoted), never as the path of a measured file.
      const claimed = entry.unverifiedPath ?? path;
      const name = claimed === undefined ? 'no file name' : `claimed file name ${JSON.stringify(claimed)}, unverified: a violation entry's data is covered by no digest`;
      if (policy.imaViolations === 'violation') {
        f.fail('/vtpm/imaViolations', 'VTPM-IMA', 'POLICY', 'no IMA violation entries', { index, path: null, unverifiedPath: claimed ?? null }, `IMA entry ${index} (${name}) is a violation entry: a file was measured inconsistently`);
      } else f.warn('VTPM-IMA', `IMA violation entry ${index} (${name}) allowed by the policy`);
      return;
    }
    // The first entry's boot_aggregate is checked against the boot PCRs by verification.
    if (index === 0 && path === 'boot_aggregate') return;
    const digest = entry.fileDigest === undefined ? null : `${entry.fileDigestAlg ?? 'unknown'}:${toHex(entry.fileDigest)}`;
    // VT16 / review s6 finding 1: an entry without a decoded path cannot be judged, whatever
    // unknownImaEntries says (a template name outside the digest could otherwise hide a listed file).
    if (path === undefined) {
      f.fail('/vtpm/unknownImaEntries', 'VTPM-IMA', 'POLICY', 'an entry with a file name', { index, path: null, digest, template: entry.templateName }, `IMA entry ${index} (template ${entry.templateName}) has no file name to judge`);
      return;
    }
    seen.add(path);
    if (isIgnoredPath(path, ignore)) return;
    const allowed = files?.get(path);
    if (allowed === undefined) {
      if (policy.unknownImaEntries === 'violation') {
        f.fail('/vtpm/unknownImaEntries', 'VTPM-IMA', 'POLICY', 'a path of the reference list', { index, path, digest }, `IMA entry ${index}: ${path} is not in the reference list`);
      } else allowedUnknown.push(path);
      return;
    }
    if (digest === null || !allowed.has(digest as ReferenceDigest)) {
      f.fail(`/vtpm/reference/ima/files/${pointerToken(path)}`, 'VTPM-IMA', 'POLICY', [...allowed], { index, path, digest }, `IMA entry ${index}: ${path} has digest ${digest ?? 'none'}, not one the reference list allows`);
    }
  });
  // The relaxation, visible: one warning for all the entries it let through (a real list has hundreds).
  if (allowedUnknown.length > 0) {
    f.warn('VTPM-IMA', `${allowedUnknown.length} IMA ${allowedUnknown.length === 1 ? 'entry' : 'entries'} not named by the reference list allowed by the policy (unknownImaEntries "allow"), first ${allowedUnknown[0]}`);
  }
  (policy.requiredImaEntries ?? []).forEach((path, i) => {
    if (!seen.has(path)) f.fail(`/vtpm/requiredImaEntries/${i}`, 'VTPM-IMA', 'POLICY', path, null, `required IMA entry ${path} is not in the list`);
  });
}

function matches(digests: ComponentDigests, allowed: readonly ReferenceDigest[]): boolean {
  return allowed.some((d) => {
    const colon = d.indexOf(':');
    const bank = d.slice(0, colon);
    return isReplayBank(bank) && digests[bank] === d.slice(colon + 1);
  });
}

/**
 * `matches` over a Set of the allowed digests: one lookup per bank of the
 * component instead of a scan of the list (review s12, finding 5: the PCR 9
 * rule runs once per PCR 9 event, and root chooses how many there are).
 */
function digestMatcher(allowed: readonly ReferenceDigest[]): (digests: ComponentDigests) => boolean {
  const set = new Set<string>(allowed);
  return (digests) => Object.entries(digests).some(([bank, hex]) => hex !== undefined && set.has(`${bank}:${hex}`));
}

function describe(c: MeasuredComponent): Record<string, unknown> {
  return { eventIndex: c.eventIndex, pcr: c.pcr, source: c.source, digests: c.digests, ...(c.path === undefined ? {} : { path: c.path }) };
}

/**
 * The digests the Linux EFI stub's LOADED_IMAGE::LoadOptions event (PCR 9)
 * has when the kernel was started with an allowed command line: the load
 * options as UTF-16LE, as GRUB passes them ("BOOT_IMAGE=" before the command
 * line it logs in PCR 8; checked against the shared Ubuntu 24.04 SEV-SNP log)
 * or as given. The reference list's command lines then vouch for it, and it
 * need not be listed in otherFiles.
 */
function loadOptionDigests(commandLines: readonly string[]): ReferenceDigest[] {
  const out: ReferenceDigest[] = [];
  for (const line of commandLines) {
    for (const options of [`BOOT_IMAGE=${line}`, line]) {
      const bytes = Buffer.from(options, 'utf16le');
      for (const bank of ['sha1', 'sha256', 'sha384', 'sha512'] as const) out.push(`${bank}:${createHash(bank).update(bytes).digest('hex')}` as ReferenceDigest);
    }
  }
  return out;
}

/**
 * Every file measured into PCR 9 is a listed kernel, initrd or other file,
 * whenever the reference list names any of them. The kernel cannot be picked
 * out by the log's order: the quote proves the order within PCR 8 and within
 * PCR 9, not between them, so a log that moves GRUB's `linux` command after
 * the kernel file replays just as well and turns the kernel into an "other
 * file". Judging all of PCR 9 leaves an unlisted kernel nowhere to hide.
 */
function checkPcr9Files(rules: ReferenceBoot, boot: BootComponents, reported: ReadonlySet<number>, f: Findings): void {
  if (rules.kernels === undefined && rules.initrds === undefined && rules.otherFiles === undefined) return;
  const allowed = [...(rules.kernels ?? []), ...(rules.initrds ?? []), ...(rules.otherFiles ?? [])];
  const files = [...boot.kernels, ...boot.initrds, ...boot.otherFiles].filter((c) => c.pcr === 9).sort((a, b) => a.eventIndex - b.eventIndex);
  const isAllowed = digestMatcher(allowed);
  const isLoadOptions = digestMatcher(loadOptionDigests(rules.commandLines ?? []));
  // Only the stub's LoadOptions event (an "other file"), not its initrd tag: a Set, not
  // otherFiles.includes per event (quadratic, review s12 finding 5).
  const other = new Set(boot.otherFiles);
  for (const c of files) {
    if (reported.has(c.eventIndex) || isAllowed(c.digests)) continue;
    if (c.source === 'linux-efi-stub' && other.has(c) && isLoadOptions(c.digests)) continue;
    f.fail('/vtpm/reference/boot/otherFiles', 'VTPM-BOOT', 'POLICY', allowed, describe(c), `file ${c.path ?? ''} (event ${c.eventIndex}) measured into PCR 9 is none of the reference list's kernels, initrds or otherFiles`);
  }
}

/**
 * The PCRs each boot rule reads (docs/vtpm-reference.md, "What is extracted"):
 * command lines come from GRUB (8), systemd-boot (8 or 12) and the EFI stub's
 * LoadOptions (9). kernels needs PCR 9; a PCR 4 application counts as the
 * measured kernel only when PCR 4 was compared too (else it is not there).
 */
const RULE_PCRS: Readonly<Record<keyof ReferenceBoot, readonly number[]>> = {
  bootApplications: [4],
  kernels: [9],
  initrds: [9],
  otherFiles: [9],
  commandLines: [8, 9, 12],
  secureBoot: [7],
};

/**
 * Review s6, finding 3: a rule over a PCR the quote left out would judge only
 * the events the attester chose to keep (none, say) and pass. Such a rule
 * cannot be judged and fails; returns the rules that can be.
 */
function judgeableRules(rules: ReferenceBoot, boot: BootComponents, f: Findings): ReferenceBoot {
  const replayed = new Set(boot.replayedPcrs);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rules) as [keyof ReferenceBoot, unknown][]) {
    if (value === undefined) continue;
    const missing = RULE_PCRS[key].filter((p) => !replayed.has(p));
    if (missing.length === 0) out[key] = value;
    else f.fail(`/vtpm/reference/boot/${key}`, 'VTPM-BOOT', 'POLICY', { replayedPcrs: RULE_PCRS[key] }, { replayedPcrs: boot.replayedPcrs }, `boot.${key} cannot be judged: PCR ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not quoted and compared with the boot event log`);
  }
  return out as ReferenceBoot;
}

function checkBoot(allRules: ReferenceBoot, boot: BootComponents | undefined, f: Findings): void {
  const fail = (key: string, expected: unknown, actual: unknown, message: string) => f.fail(`/vtpm/reference/boot/${key}`, 'VTPM-BOOT', 'POLICY', expected, actual, message);
  if (Object.keys(allRules).length === 0) return;
  if (boot === undefined) {
    f.fail('/vtpm/reference/boot', 'VTPM-BOOT', 'POLICY', 'a boot event log', null, 'the evidence has no boot event log to judge');
    return;
  }
  const rules = judgeableRules(allRules, boot, f);
  const kernels = rules.kernels;
  // Components already reported by their own rule are not reported again by the PCR 9 rule.
  const reported = new Set<number>();
  if (kernels !== undefined) {
    for (const k of boot.kernels) {
      if (matches(k.digests, kernels)) continue;
      reported.add(k.eventIndex);
      fail('kernels', kernels, describe(k), `kernel ${k.path ?? ''} (event ${k.eventIndex}) is not an allowed kernel`);
    }
    // Some allowed kernel must have been measured: a PCR 9 file (GRUB), or a PCR 4 EFI application
    // (EFI stub, UKI). Which PCR 9 file GRUB booted as the kernel is not provable (checkPcr9Files).
    const pcr9 = [...boot.kernels, ...boot.initrds, ...boot.otherFiles].filter((c) => c.pcr === 9);
    const apps = boot.bootApplications.filter((a) => a.pcr === 4);
    if (reported.size === 0 && ![...pcr9, ...apps].some((c) => matches(c.digests, kernels))) fail('kernels', kernels, null, 'no measured kernel is an allowed kernel');
  }
  if (rules.bootApplications !== undefined) {
    const allowed = [...rules.bootApplications, ...(kernels ?? [])];
    for (const a of boot.bootApplications) {
      if (!matches(a.digests, allowed)) fail('bootApplications', rules.bootApplications, describe(a), `EFI application ${a.path ?? ''} (event ${a.eventIndex}) is not allowed`);
    }
  }
  if (rules.initrds !== undefined) {
    for (const i of boot.initrds) {
      if (matches(i.digests, rules.initrds)) continue;
      reported.add(i.eventIndex);
      fail('initrds', rules.initrds, describe(i), `initrd ${i.path ?? ''} (event ${i.eventIndex}) is not allowed`);
    }
    if (boot.initrds.length === 0) fail('initrds', rules.initrds, null, 'no initrd was measured');
  }
  checkPcr9Files(rules, boot, reported, f);
  if (rules.commandLines !== undefined) {
    // Review s12, finding 1: the EFI stub's LoadOptions event can be retagged as any PCR 9 event
    // (its type and data are not covered by its digest); only a rule judging every PCR 9 event
    // still finds it. Without one, commandLines cannot be judged.
    if (rules.kernels === undefined && rules.initrds === undefined && rules.otherFiles === undefined) {
      fail('commandLines', { with: ['kernels', 'initrds', 'otherFiles'] }, null, 'boot.commandLines needs a PCR 9 file rule (kernels, initrds or otherFiles) next to it: the EFI stub\'s LoadOptions event could be retagged and go unjudged');
    }
    // Every PCR 8/12 event must be a verified GRUB command or a command line: one that is neither
    // may be a command line whose data was edited so that it is not read as one.
    for (const e of boot.unrecognisedCommandEvents) {
      fail('commandLines', rules.commandLines, { eventIndex: e.eventIndex, pcr: e.pcr, eventType: e.eventType, digests: e.digests }, `event ${e.eventIndex} in PCR ${e.pcr} is not a recognised command line or GRUB command whose digest is the hash of its data: ${e.problem}`);
    }
    for (const c of boot.commandLines) {
      const actual = { eventIndex: c.eventIndex, source: c.source, value: c.value, verified: c.verified };
      if (!c.verified) fail('commandLines', rules.commandLines, actual, `the command line of event ${c.eventIndex} is not covered by its digest`);
      else if (!rules.commandLines.includes(c.value)) fail('commandLines', rules.commandLines, actual, `kernel command line "${c.value}" is not allowed`);
    }
    // Review s6, finding 4: the EFI stub's LoadOptions (PCR 9) is the command line the kernel
    // actually got; a PCR 8 line root appended after boot must not stand in for it.
    const isLoadOptions = digestMatcher(loadOptionDigests(rules.commandLines));
    for (const o of boot.efiStubLoadOptions) {
      if (!isLoadOptions(o.digests)) fail('commandLines', rules.commandLines, describe(o), `the EFI stub's load options (event ${o.eventIndex}) are none of the allowed command lines`);
    }
    if (boot.commandLines.length === 0) fail('commandLines', rules.commandLines, null, 'no kernel command line was measured');
  }
  if (rules.secureBoot !== undefined) {
    const sb = boot.secureBoot;
    if (sb === undefined || !sb.verified) fail('secureBoot', rules.secureBoot, sb ?? null, `the Secure Boot state is not measured verifiably${sb?.problem === undefined ? '' : ` (${sb.problem})`}`);
    else if (sb.enabled !== rules.secureBoot) fail('secureBoot', rules.secureBoot, sb.enabled, `Secure Boot is ${sb.enabled ? 'enabled' : 'disabled'}`);
  }
}

/** Judges vTPM evidence when the policy has a vtpm section; without one, vTPM claims are not judged. */
export function checkVtpm(policy: VtpmPolicy | undefined, input: VtpmAppraisalInput | undefined, f: Findings): void {
  if (policy === undefined) return;
  if (input === undefined) {
    f.fail('/vtpm', 'VTPM-PCR', 'POLICY', 'vTPM evidence', null, 'the policy has a vtpm section, but no vTPM evidence was appraised');
    return;
  }
  const quoted = toPcrValues(input.pcrs);
  const reference = input.reference;
  checkPcrs(policy.pcrs, quoted, '/vtpm/pcrs', f);
  if (reference !== undefined) checkPcrs(reference.pcrs, quoted, '/vtpm/reference/pcrs', f);
  checkIma(policy, input, reference, f);
  if (reference !== undefined) checkBoot(reference.boot, input.boot, f);
}
