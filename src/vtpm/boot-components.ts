/**
 * The boot components a reference list can match, read from a boot event
 * log (docs/vtpm-reference.md, "What is extracted"). Only digests are
 * covered by the PCRs; event data is not. So:
 *
 * - Components identified by their digest (boot applications, kernel and
 *   initrd files) are matched by digest; the paths in their event data are
 *   informational only.
 * - Values read from event data (command lines, GRUB commands, the
 *   SecureBoot variable) count only when the event's digest in every bank is
 *   the hash of that data (`verified`). An unverified value is reported but
 *   never matched.
 *
 * Extraction never throws: malformed event data yields fewer components.
 */
import { BANK_DIGEST_SIZE, bankOfAlg, bytesEqual, digestOf, toHex, type ReplayBank } from './pcrs.js';
import { EventType, LINUX_INITRD_TAG_ID, LINUX_LOAD_OPTIONS_TAG_ID } from './tcg-events.js';
import type { TcgEvent, TcgEventLog } from './types.js';

/** Hex digest per bank, as the event carries it. */
export type ComponentDigests = Partial<Record<ReplayBank, string>>;

export interface MeasuredComponent {
  /** Event index in the log. */
  eventIndex: number;
  pcr: number;
  /**
   * Which mechanism measured it (see docs/vtpm-reference.md). `unrecognised`:
   * an event of another type in PCR 4 or 9 whose data does not account for its
   * digest; the type is not covered by the digest, so it is judged like a file.
   */
  source: 'efi-boot-application' | 'grub' | 'linux-efi-stub' | 'unrecognised';
  digests: ComponentDigests;
  /** From the event data: informational, not covered by the digest. */
  path?: string;
}

export interface MeasuredCommandLine {
  eventIndex: number;
  pcr: number;
  source: 'grub' | 'systemd-boot';
  /** The command line without a trailing NUL. */
  value: string;
  /** True when every digest of the event is the hash of this text: only then is it matched. */
  verified: boolean;
}

/**
 * A PCR 8 or PCR 12 event that is none of: a GRUB command, a GRUB command
 * line or a systemd-boot command line whose digest is the hash of its text
 * (review s12, finding 1). Its type and data are not covered by its digest,
 * so it may be a command line with its data edited: with a `commandLines`
 * rule, each is a violation.
 */
export interface UnrecognisedCommandEvent {
  eventIndex: number;
  pcr: number;
  eventType: number;
  digests: ComponentDigests;
  problem: string;
}

export interface SecureBootState {
  /** SecureBoot variable = 1. A zero-length variable (not set) counts as disabled. */
  enabled: boolean;
  /**
   * The firmware's measurement, and only it: exactly one value of the
   * variable, measured before PCR 7's separator, with digests that are the
   * hash of its data. Anything else (a second measurement after the
   * separator, two different values, no separator) leaves it unverified.
   */
  verified: boolean;
  /** The measurement `enabled` is read from (the first). */
  eventIndex: number;
  /** Why it is not verified. */
  problem?: string;
}

export interface BootComponents {
  /** PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION events (shim, GRUB, systemd-boot, an EFI-stub kernel or UKI), in log order. */
  bootApplications: MeasuredComponent[];
  /**
   * Kernel files: GRUB's PCR 9 measurement after a verified `linux` command.
   * Informational: the quote proves the order within a PCR, not between PCR 8
   * and PCR 9, so a forged log can move any PCR 9 file into or out of this
   * list. A policy judges every PCR 9 file (kernels, initrds, otherFiles) alike.
   */
  kernels: MeasuredComponent[];
  /** Initrd files: GRUB's PCR 9 measurement after a verified `initrd` command, or the Linux EFI stub's initrd tag. */
  initrds: MeasuredComponent[];
  /** Every other event extended into PCR 9: files GRUB measured (grub.cfg, modules, ...), the EFI stub's load options, any other type. */
  otherFiles: MeasuredComponent[];
  /** Kernel command lines: GRUB `kernel_cmdline:` / `grub_kernel_cmdline`, systemd-boot UTF-16 load options. */
  commandLines: MeasuredCommandLine[];
  /** The EFI stub's LOADED_IMAGE::LoadOptions events (the command line as UTF-16; digest only), also in otherFiles. */
  efiStubLoadOptions: MeasuredComponent[];
  /** PCR 8 / PCR 12 events that are neither a GRUB command nor a command line, both verified. */
  unrecognisedCommandEvents: UnrecognisedCommandEvent[];
  /** From the SecureBoot variable (PCR 7); undefined when the log does not measure it. */
  secureBoot: SecureBootState | undefined;
  /**
   * The PCRs whose events were compared with a quote (extractBootComponents'
   * `replayedPcrs`), ascending. A reference-list rule over a PCR not listed
   * here cannot be judged and fails (review s6, finding 3).
   */
  replayedPcrs: number[];
}

export interface ExtractOptions {
  /**
   * The PCRs a quote verified the log's events of (verifyVtpmEvidence: the
   * quoted PCRs the replay was compared over). When given, only their events
   * name components. Default: none established, so every boot rule fails.
   */
  replayedPcrs?: readonly number[];
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');
const utf16 = new TextDecoder('utf-16le');

function digestsOf(event: TcgEvent): ComponentDigests {
  const out: ComponentDigests = {};
  for (const d of event.digests) {
    const bank = bankOfAlg(d.alg);
    if (bank !== undefined && d.digest.length === BANK_DIGEST_SIZE[bank]) out[bank] = toHex(d.digest);
  }
  return out;
}

/** True when every replayable digest of the event is the hash of one of the candidates. */
function measuresOneOf(event: TcgEvent, candidates: readonly Uint8Array[]): boolean {
  let checked = 0;
  for (const d of event.digests) {
    const bank = bankOfAlg(d.alg);
    if (bank === undefined) continue;
    if (!candidates.some((c) => bytesEqual(digestOf(bank, c), d.digest))) return false;
    checked++;
  }
  return checked > 0;
}

/**
 * `bytes` without its trailing all-zero units (1 byte, or 2 for UTF-16LE), as one view. Event data
 * is not covered by the digests, so anyone relaying a genuine log can pad it with NULs (up to 1 MiB
 * an event): the scan is a plain index loop, linear with no allocation per byte, and one
 * `subarray` in all (review s14, vTPM finding 5: a subarray and an every() per NUL byte cost about
 * 120 ms per MiB, seconds per log).
 */
function withoutTrailingNuls(bytes: Uint8Array, unit = 1): Uint8Array {
  let end = bytes.length - (bytes.length % unit);
  scan: while (end >= unit) {
    for (let i = end - unit; i < end; i++) if (bytes[i] !== 0) break scan;
    end -= unit;
  }
  return bytes.subarray(0, end);
}

/** The text and the byte forms GRUB may have hashed (with or without its NUL), from the already trimmed text. */
function textForms(bare: Uint8Array): Uint8Array[] {
  const withNul = new Uint8Array(bare.length + 1);
  withNul.set(bare);
  return [bare, withNul];
}

interface GrubString {
  kind: 'cmd' | 'cmdline';
  text: string;
  verified: boolean;
}

const GRUB_PREFIXES: readonly { prefix: string; kind: GrubString['kind'] }[] = [
  { prefix: 'grub_cmd: ', kind: 'cmd' }, // upstream GRUB 2.04+
  { prefix: 'kernel_cmdline: ', kind: 'cmdline' },
  { prefix: 'grub_cmd ', kind: 'cmd' }, // Red Hat's GRUB patches
  { prefix: 'grub_kernel_cmdline ', kind: 'cmdline' },
];

/** A GRUB PCR 8 string event: the digest covers the text after the prefix, with or without its NUL. */
function grubString(event: TcgEvent): GrubString | undefined {
  const head = latin1.decode(event.data.subarray(0, 24));
  for (const { prefix, kind } of GRUB_PREFIXES) {
    if (!head.startsWith(prefix)) continue;
    // Trimmed once: the text shown and the forms whose digests are compared are the same span.
    const bare = withoutTrailingNuls(event.data.subarray(prefix.length));
    return { kind, text: utf8.decode(bare), verified: measuresOneOf(event, textForms(bare)) };
  }
  return undefined;
}

/** systemd-boot (PCR 8 before v250, PCR 12 since) logs the kernel load options as UTF-16LE text. */
function systemdBootCmdline(event: TcgEvent): MeasuredCommandLine | undefined {
  const d = event.data;
  if (d.length < 4 || d[1] !== 0 || d[0] === 0) return undefined;
  const text = withoutTrailingNuls(d.subarray(0, d.length - (d.length % 2)), 2);
  const withNul = new Uint8Array(text.length + 2);
  withNul.set(text);
  return {
    eventIndex: event.index,
    pcr: event.pcr,
    source: 'systemd-boot',
    value: utf16.decode(text),
    verified: measuresOneOf(event, [text, withNul]),
  };
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** A u64 that must fit a safe integer, else undefined. */
function u64le(b: Uint8Array, at: number): number | undefined {
  const hi = u32le(b, at + 4);
  if (hi > 0x1fffff) return undefined;
  return hi * 0x100000000 + u32le(b, at);
}

/**
 * UEFI_IMAGE_LOAD_EVENT: four UINT64 (location, length, link-time address,
 * device-path length), then the device path. Returns the text of its
 * file-path nodes (type 4, subtype 4), e.g. "\EFI\ubuntu\shimx64.efi".
 */
function imageLoadPath(data: Uint8Array): string | undefined {
  if (data.length < 32) return undefined;
  const len = u64le(data, 24);
  if (len === undefined || 32 + len > data.length) return undefined;
  const path = data.subarray(32, 32 + len);
  const parts: string[] = [];
  for (let at = 0; at + 4 <= path.length; ) {
    const type = path[at]!;
    const subtype = path[at + 1]!;
    const nodeLen = path[at + 2]! | (path[at + 3]! << 8);
    if (nodeLen < 4 || at + nodeLen > path.length) return undefined;
    if (type === 0x7f) break; // end of the device path
    if (type === 4 && subtype === 4) parts.push(utf16.decode(withoutTrailingNuls(path.subarray(at + 4, at + nodeLen), 2)));
    at += nodeLen;
  }
  return parts.length > 0 ? parts.join('') : undefined;
}

/**
 * PCR 7's separator, found by digest: the hash of a 4-byte separator value
 * (0: normal; 1 or 0xFFFFFFFF: error) in every bank. The event type is not
 * covered by the digest, so a relabelled separator still counts as one.
 */
const SEPARATOR_VALUES = [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(1, 0, 0, 0), Uint8Array.of(0xff, 0xff, 0xff, 0xff)];
function isSeparator(event: TcgEvent): boolean {
  return SEPARATOR_VALUES.some((v) => measuresOneOf(event, [v]));
}

interface SecureBootMeasurement {
  eventIndex: number;
  enabled: boolean;
  verified: boolean;
  afterSeparator: boolean;
}

/**
 * Review s6, finding 2: root can extend PCR 7 after boot (locality 0) and log
 * SecureBoot=1. Only the firmware's measurement, before PCR 7's separator,
 * counts; a second one after it, or two different values, leave the state
 * unverified. No separator in PCR 7: nothing shows where the firmware stopped.
 */
function secureBootState(measured: readonly SecureBootMeasurement[], separatorSeen: boolean): SecureBootState | undefined {
  const first = measured[0];
  if (first === undefined) return undefined;
  const state: SecureBootState = { enabled: first.enabled, verified: false, eventIndex: first.eventIndex };
  const late = measured.find((m) => m.afterSeparator);
  const differs = measured.find((m) => m.enabled !== first.enabled);
  const unverified = measured.find((m) => !m.verified);
  if (!separatorSeen) state.problem = 'PCR 7 has no separator: the firmware\'s measurements cannot be told from later ones';
  else if (late !== undefined) state.problem = `event ${late.eventIndex} measures SecureBoot after PCR 7's separator`;
  else if (differs !== undefined) state.problem = `events ${first.eventIndex} and ${differs.eventIndex} measure different SecureBoot values`;
  else if (unverified !== undefined) state.problem = `the digest of event ${unverified.eventIndex} is not the hash of its data`;
  else state.verified = true;
  return state;
}

/** EFI_GLOBAL_VARIABLE (8BE4DF61-93CA-11D2-AA0D-00E098032B8C) in its in-memory byte order. */
const EFI_GLOBAL_VARIABLE = Uint8Array.from([0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c]);

/** UEFI_VARIABLE_DATA: GUID, UINT64 name length (characters), UINT64 data length, UTF-16 name, data. */
function efiVariable(data: Uint8Array): { global: boolean; name: string; value: Uint8Array } | undefined {
  if (data.length < 32) return undefined;
  const nameChars = u64le(data, 16);
  const valueLen = u64le(data, 24);
  if (nameChars === undefined || valueLen === undefined) return undefined;
  const nameEnd = 32 + nameChars * 2;
  if (nameEnd + valueLen > data.length) return undefined;
  return {
    global: bytesEqual(data.subarray(0, 16), EFI_GLOBAL_VARIABLE),
    name: utf16.decode(data.subarray(32, nameEnd)),
    value: data.subarray(nameEnd, nameEnd + valueLen),
  };
}

/** The NUL-terminated path in a GRUB PCR 9 file event (informational). */
function filePath(data: Uint8Array): string {
  return utf8.decode(withoutTrailingNuls(data));
}

/**
 * PCR 4 events that cannot stand for a binary: a separator or an EFI action
 * string whose digest is the hash of at most 256 bytes of data. An EFI
 * application's Authenticode digest covers far more (the PE headers alone),
 * so no relabelled application passes as one of these.
 */
function isPlainPcr4Event(event: TcgEvent): boolean {
  if (event.eventType !== EventType.EV_SEPARATOR && event.eventType !== EventType.EV_EFI_ACTION) return false;
  return event.data.length <= 256 && measuresOneOf(event, [event.data]);
}

/**
 * The first word of a GRUB command as GRUB measures it: a command name
 * (`insmod`, `search.fs_uuid`, `[`) or a variable assignment
 * (`menuentry_id_option=--id`). A kernel command line starts with the
 * kernel's path (`/vmlinuz…`, `(hd0,gpt2)/boot/…`: GRUB opens no other file
 * names), so a command line relabelled as `grub_cmd` is not taken for one.
 */
const GRUB_COMMAND_WORD = /^(?:\[|[A-Za-z_][A-Za-z0-9_.-]*(?:=.*)?)$/s;
function isGrubCommandText(text: string): boolean {
  return !text.includes('\0') && GRUB_COMMAND_WORD.test(text.split(' ', 1)[0] ?? '');
}

const KERNEL_VERBS = new Set(['linux', 'linuxefi', 'linux16']);
const INITRD_VERBS = new Set(['initrd', 'initrdefi', 'initrd16']);

/**
 * A PCR 8 / PCR 12 event: a GRUB command (sets what GRUB loads next), a GRUB
 * command line or a systemd-boot command line. Returns why it is none of
 * these, verified, or undefined. A command line whose digest does not match
 * its text is still listed (unverified) and judged by the commandLines rule.
 */
function commandEvent(event: TcgEvent, out: BootComponents, setLoading: (next: 'kernel' | 'initrd' | 'other') => void): string | undefined {
  const base = { eventIndex: event.index, pcr: event.pcr };
  const ipl = event.eventType === EventType.EV_IPL;
  const grub = grubString(event);
  if (grub !== undefined && (ipl || grub.verified)) {
    setLoading('other');
    if (grub.kind === 'cmdline') {
      out.commandLines.push({ ...base, source: 'grub', value: grub.text, verified: grub.verified });
      return undefined;
    }
    if (!grub.verified) return 'a GRUB command whose digest is not the hash of its text';
    if (!isGrubCommandText(grub.text)) return 'a "GRUB command" that is not a GRUB command (a command line relabelled?)';
    const verb = grub.text.split(' ', 1)[0] ?? '';
    if (KERNEL_VERBS.has(verb)) setLoading('kernel');
    else if (INITRD_VERBS.has(verb)) setLoading('initrd');
    return undefined;
  }
  const sdboot = systemdBootCmdline(event);
  if (sdboot !== undefined && (ipl || sdboot.verified)) {
    out.commandLines.push(sdboot);
    return undefined;
  }
  return grub === undefined ? 'neither a GRUB command nor a command line' : 'a GRUB string whose digest is not the hash of its text';
}

/**
 * Reads the components of docs/vtpm-reference.md from a (replayed) boot
 * event log. Pass `replayedPcrs`, the PCRs compared with the quote
 * (verifyVtpmEvidence does): an event in an excluded or unquoted PCR is not
 * verified and names no component, and rules over other PCRs then fail.
 */
export function extractBootComponents(log: TcgEventLog, options: ExtractOptions = {}): BootComponents {
  const replayed = options.replayedPcrs === undefined ? undefined : new Set(options.replayedPcrs);
  const out: BootComponents = {
    bootApplications: [],
    kernels: [],
    initrds: [],
    otherFiles: [],
    commandLines: [],
    efiStubLoadOptions: [],
    unrecognisedCommandEvents: [],
    secureBoot: undefined,
    replayedPcrs: replayed === undefined ? [] : [...replayed].sort((a, b) => a - b),
  };
  // What the last verified GRUB command loads into PCR 9 next.
  let loading = 'other' as 'kernel' | 'initrd' | 'other'; // (set by commandEvent too)
  const secureBoot: SecureBootMeasurement[] = [];
  let pcr7Separated = false;

  for (const event of log.events) {
    if (event.eventType === EventType.EV_NO_ACTION) continue; // never extended
    if (replayed !== undefined && !replayed.has(event.pcr)) continue; // not verified by the quote
    if (event.pcr === 7) {
      // Any type: the type is not covered by the digest, the variable's name is.
      const v = efiVariable(event.data);
      if (v !== undefined && v.global && v.name === 'SecureBoot') {
        secureBoot.push({ eventIndex: event.index, enabled: v.value.length >= 1 && v.value[0] === 1, verified: measuresOneOf(event, [event.data]), afterSeparator: pcr7Separated });
      } else if (!pcr7Separated && isSeparator(event)) pcr7Separated = true;
      continue;
    }
    const base = { eventIndex: event.index, pcr: event.pcr };
    // The event type and data are not covered by the digest: in PCRs 4 and 9, whose binaries a
    // reference list judges, an event the cases below do not take is judged as a binary too.
    const unrecognised: MeasuredComponent = { ...base, source: 'unrecognised', digests: digestsOf(event) };
    if (event.pcr === 4 && event.eventType !== EventType.EV_EFI_BOOT_SERVICES_APPLICATION && !isPlainPcr4Event(event)) {
      out.bootApplications.push(unrecognised);
      continue;
    }
    if (event.pcr === 9 && event.eventType !== EventType.EV_IPL && event.eventType !== EventType.EV_EVENT_TAG) {
      out.otherFiles.push(unrecognised);
      continue;
    }
    if (event.pcr === 8 || event.pcr === 12) {
      // Review s12, finding 1: any type (it is not covered by the digest); an event that is not a
      // verified GRUB command or command line may be a command line whose data was edited.
      const problem = commandEvent(event, out, (next) => (loading = next));
      if (problem !== undefined) out.unrecognisedCommandEvents.push({ ...base, eventType: event.eventType, digests: digestsOf(event), problem });
      continue;
    }
    switch (event.eventType) {
      case EventType.EV_EFI_BOOT_SERVICES_APPLICATION: {
        // The boot manager's applications are PCR 4's (TCG PC Client PFP); the same event type in
        // another PCR (option ROMs in PCR 2, or any PCR the OS extends) is not a boot application.
        if (event.pcr !== 4) break;
        const path = imageLoadPath(event.data);
        out.bootApplications.push({ ...base, source: 'efi-boot-application', digests: digestsOf(event), ...(path === undefined ? {} : { path }) });
        break;
      }
      case EventType.EV_IPL: {
        if (event.pcr === 9) {
          const component: MeasuredComponent = { ...base, source: 'grub', digests: digestsOf(event), path: filePath(event.data) };
          if (loading === 'kernel') {
            out.kernels.push(component);
            loading = 'other'; // `linux` loads exactly one file
          } else if (loading === 'initrd') out.initrds.push(component);
          else out.otherFiles.push(component);
          break;
        }
        break;
      }
      case EventType.EV_EVENT_TAG: {
        if (event.pcr !== 9) break;
        const tag = event.data.length < 8 ? undefined : u32le(event.data, 0);
        if (tag === LINUX_INITRD_TAG_ID) out.initrds.push({ ...base, source: 'linux-efi-stub', digests: digestsOf(event) });
        else if (tag === LINUX_LOAD_OPTIONS_TAG_ID) {
          const options: MeasuredComponent = { ...base, source: 'linux-efi-stub', digests: digestsOf(event) };
          out.efiStubLoadOptions.push(options);
          out.otherFiles.push(options); // still a PCR 9 digest to judge
        } else out.otherFiles.push(unrecognised);
        break;
      }
      default:
        break;
    }
  }
  out.secureBoot = secureBootState(secureBoot, pcr7Separated);
  return out;
}
