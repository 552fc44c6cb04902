/**
 * Generated vTPM logs for tests and benchmarks, deterministic from a seed:
 *
 * - generateBootEventLog: a crypto-agile TCG PC Client boot event log (Spec ID
 *   header, optional StartupLocality, firmware, Secure Boot variables,
 *   separators, shim and GRUB as EFI applications, GRUB's PCR 8 commands and
 *   PCR 9 kernel / initrd files, ExitBootServices) with the PCR values it
 *   replays to.
 * - generateImaList: an IMA measurement list in the binary and ASCII forms
 *   (ima-ng, ima-sig or ima; a boot_aggregate entry first; violation entries
 *   where asked) with its PCR 10 value per bank.
 *
 * The expected PCR values are computed here with node:crypto directly, not
 * with the replay code under test. swtpm tests extend a software TPM with
 * `extends` (the digests in order) and compare its PCRs.
 */
import { createHash } from 'node:crypto';

import { buildTemplateData } from '../vtpm/ima-template.js';
import { BANK_ALG_ID, BANK_DIGEST_SIZE, type PcrValues, type ReplayBank } from '../vtpm/pcrs.js';
import { EventType } from '../vtpm/tcg-events.js';
import type { ImaEntry, TcgEvent, TcgEventLog } from '../vtpm/types.js';

const enc = new TextEncoder();

function h(bank: ReplayBank, ...parts: Uint8Array[]): Uint8Array {
  const hash = createHash(bank);
  for (const p of parts) hash.update(p);
  return new Uint8Array(hash.digest());
}

/** Deterministic bytes: SHA-256(seed ‖ label ‖ counter) blocks. */
function seeded(seed: string, label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let block = 0, at = 0; at < length; block++) {
    const d = createHash('sha256').update(seed).update('\0').update(label).update(String(block)).digest();
    out.set(d.subarray(0, Math.min(32, length - at)), at);
    at += 32;
  }
  return out;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, v >>> 8);
}

function u32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

function u64(v: number): Uint8Array {
  const out = new Uint8Array(8);
  out.set(u32(v % 0x100000000), 0);
  out.set(u32(Math.floor(v / 0x100000000)), 4);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function utf16z(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(`${s}\0`, 'utf16le'));
}

/** A PCR extend chain computed with node:crypto, per bank. */
class ReferenceTpm {
  readonly pcrs: PcrValues = {};

  constructor(private readonly banks: readonly ReplayBank[]) {
    for (const b of banks) this.pcrs[b] = {};
  }

  init(pcr: number, value: (bank: ReplayBank) => Uint8Array): void {
    for (const b of this.banks) this.pcrs[b]![pcr] = value(b);
  }

  extend(pcr: number, digest: (bank: ReplayBank) => Uint8Array): void {
    for (const b of this.banks) {
      const values = this.pcrs[b]!;
      const current = values[pcr] ?? new Uint8Array(BANK_DIGEST_SIZE[b]).fill(pcr >= 17 && pcr <= 22 ? 0xff : 0);
      values[pcr] = h(b, current, digest(b));
    }
  }
}

export interface BootLogOptions {
  seed: string;
  /** Banks of the log and of the result. Default ['sha1', 'sha256']. */
  banks?: readonly ReplayBank[];
  /** A StartupLocality event (PCR 0 then starts at this locality). Default none. */
  startupLocality?: number;
  /** Value of the SecureBoot variable. Default true. */
  secureBoot?: boolean;
  /** GRUB's kernel command line (without the kernel path). */
  kernelCmdline?: string;
}

/** One extend, for replaying into a real (software) TPM: PCR index and digest per bank. */
export interface GeneratedExtend {
  pcr: number;
  digests: Partial<Record<ReplayBank, Uint8Array>>;
}

export interface GeneratedBootLog {
  /** The log as /sys/kernel/security/tpm0/binary_bios_measurements holds it. */
  bytes: Uint8Array;
  /** What parseTcgEventLog returns for `bytes`. */
  log: TcgEventLog;
  /** Final values of every PCR the log touches, per bank. */
  pcrs: PcrValues;
  /** The extends in order (StartupLocality excluded: a software TPM cannot start at another locality this way). */
  extends: GeneratedExtend[];
  /** What extractBootComponents must find. */
  components: {
    bootApplications: Partial<Record<ReplayBank, string>>[];
    kernel: { path: string; digests: Partial<Record<ReplayBank, string>> };
    initrd: { path: string; digests: Partial<Record<ReplayBank, string>> };
    /** The other files GRUB measures into PCR 9 (grub.cfg). */
    otherFiles: { path: string; digests: Partial<Record<ReplayBank, string>> }[];
    kernelCmdline: string;
    secureBoot: boolean;
  };
}

interface PlannedEvent {
  pcr: number;
  type: number;
  data: Uint8Array;
  /** Digest per bank; undefined = the bank's hash of `data`. */
  digest?: (bank: ReplayBank) => Uint8Array;
}

function specIdEvent(banks: readonly ReplayBank[]): Uint8Array {
  return concat([
    enc.encode('Spec ID Event03\0'),
    u32(0), // platformClass: client
    Uint8Array.of(0, 2, 0, 2), // specVersionMinor, specVersionMajor, errata, uintnSize (UINT64)
    u32(banks.length),
    ...banks.flatMap((b) => [u16(BANK_ALG_ID[b]), u16(BANK_DIGEST_SIZE[b])]),
    Uint8Array.of(0), // vendorInfoSize
  ]);
}

/** UEFI_VARIABLE_DATA with the EFI global variable GUID (or the image-security database GUID for db / dbx). */
function efiVariable(name: string, value: Uint8Array): Uint8Array {
  const global = [0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c];
  const imageSecurity = [0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f];
  const guid = Uint8Array.from(name === 'db' || name === 'dbx' ? imageSecurity : global);
  const nameBytes = new Uint8Array(Buffer.from(name, 'utf16le'));
  return concat([guid, u64(name.length), u64(value.length), nameBytes, value]);
}

/** UEFI_IMAGE_LOAD_EVENT with a file-path device-path node and an end node. */
function imageLoadEvent(path: string): Uint8Array {
  const file = utf16z(path);
  const devicePath = concat([Uint8Array.of(4, 4), u16(4 + file.length), file, Uint8Array.of(0x7f, 0xff, 4, 0)]);
  return concat([u64(0x7e000000), u64(0x100000), u64(0), u64(devicePath.length), devicePath]);
}

/** GRUB's PCR 8 string event: data = prefix + text + NUL, digest = H(text). */
function grubString(prefix: string, text: string): PlannedEvent {
  const textBytes = enc.encode(text);
  return { pcr: 8, type: EventType.EV_IPL, data: concat([enc.encode(prefix), textBytes, Uint8Array.of(0)]), digest: (b) => h(b, textBytes) };
}

/** A PCR 9 file event: data = path + NUL, digest = H(file contents). */
function grubFile(path: string, contents: Uint8Array): PlannedEvent {
  return { pcr: 9, type: EventType.EV_IPL, data: concat([enc.encode(path), Uint8Array.of(0)]), digest: (b) => h(b, contents) };
}

function hexDigests(banks: readonly ReplayBank[], digest: (bank: ReplayBank) => Uint8Array): Partial<Record<ReplayBank, string>> {
  return Object.fromEntries(banks.map((b) => [b, Buffer.from(digest(b)).toString('hex')]));
}

export function generateBootEventLog(options: BootLogOptions): GeneratedBootLog {
  const { seed } = options;
  const banks = [...(options.banks ?? ['sha1', 'sha256'])];
  const secureBoot = options.secureBoot ?? true;
  const cmdlineArgs = options.kernelCmdline ?? `root=UUID=${Buffer.from(seeded(seed, 'root', 16)).toString('hex')} ro console=ttyS0`;
  const kernelPath = '/vmlinuz-6.8.0-generated';
  const initrdPath = '/initrd.img-6.8.0-generated';
  const kernelCmdline = `${kernelPath} ${cmdlineArgs}`;
  const shimImage = seeded(seed, 'shim', 4096);
  const grubImage = seeded(seed, 'grub', 4096);
  const kernelImage = seeded(seed, 'kernel', 8192);
  const initrdImage = seeded(seed, 'initrd', 8192);
  const grubCfgPath = '(hd0,gpt1)/boot/grub/grub.cfg';
  const grubCfg = enc.encode(`linux ${kernelCmdline}\ninitrd ${initrdPath}\n`);
  const separator = new Uint8Array(4);

  const planned: PlannedEvent[] = [];
  if (options.startupLocality !== undefined) {
    planned.push({ pcr: 0, type: EventType.EV_NO_ACTION, data: concat([enc.encode('StartupLocality\0'), Uint8Array.of(options.startupLocality)]), digest: (b) => new Uint8Array(BANK_DIGEST_SIZE[b]) });
  }
  planned.push({ pcr: 0, type: EventType.EV_S_CRTM_VERSION, data: utf16z('1.0') });
  const firmware = seeded(seed, 'firmware', 1024);
  planned.push({ pcr: 0, type: EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB, data: concat([u64(0xffc00000), u64(firmware.length)]), digest: (b) => h(b, firmware) });
  planned.push({ pcr: 7, type: EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, data: efiVariable('SecureBoot', Uint8Array.of(secureBoot ? 1 : 0)) });
  for (const name of ['PK', 'KEK', 'db', 'dbx']) {
    planned.push({ pcr: 7, type: EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, data: efiVariable(name, seeded(seed, `var:${name}`, 64)) });
  }
  planned.push({ pcr: 7, type: EventType.EV_SEPARATOR, data: separator });
  planned.push({ pcr: 1, type: EventType.EV_EFI_VARIABLE_BOOT, data: efiVariable('BootOrder', Uint8Array.of(1, 0)) });
  planned.push({ pcr: 4, type: EventType.EV_EFI_ACTION, data: enc.encode('Calling EFI Application from Boot Option') });
  for (let pcr = 0; pcr <= 6; pcr++) planned.push({ pcr, type: EventType.EV_SEPARATOR, data: separator });
  planned.push({ pcr: 5, type: EventType.EV_EFI_GPT_EVENT, data: seeded(seed, 'gpt', 92) });
  planned.push({ pcr: 4, type: EventType.EV_EFI_BOOT_SERVICES_APPLICATION, data: imageLoadEvent('\\EFI\\BOOT\\BOOTX64.EFI'), digest: (b) => h(b, shimImage) });
  planned.push({ pcr: 4, type: EventType.EV_EFI_BOOT_SERVICES_APPLICATION, data: imageLoadEvent('\\EFI\\ubuntu\\grubx64.efi'), digest: (b) => h(b, grubImage) });
  planned.push(grubFile(grubCfgPath, grubCfg));
  planned.push(grubString('grub_cmd: ', 'set root=hd0,gpt1'));
  planned.push(grubString('grub_cmd: ', `linux ${kernelCmdline}`));
  planned.push(grubFile(kernelPath, kernelImage));
  planned.push(grubString('kernel_cmdline: ', kernelCmdline));
  planned.push(grubString('grub_cmd: ', `initrd ${initrdPath}`));
  planned.push(grubFile(initrdPath, initrdImage));
  planned.push({ pcr: 5, type: EventType.EV_EFI_ACTION, data: enc.encode('Exit Boot Services Invocation') });
  planned.push({ pcr: 5, type: EventType.EV_EFI_ACTION, data: enc.encode('Exit Boot Services Returned with Success') });

  // Serialise: the SHA-1-format header, then TCG_PCR_EVENT2 records.
  const header = specIdEvent(banks);
  const parts: Uint8Array[] = [u32(0), u32(EventType.EV_NO_ACTION), new Uint8Array(20), u32(header.length), header];
  const layout: { offset: number; digestOffsets: number[]; dataOffset: number; digests: Uint8Array[] }[] = [];
  let offset = 32 + header.length;
  for (const e of planned) {
    const digests = banks.map((b) => (e.digest ? e.digest(b) : h(b, e.data)));
    const record: Uint8Array[] = [u32(e.pcr), u32(e.type), u32(banks.length)];
    const digestOffsets: number[] = [];
    let at = offset + 12;
    banks.forEach((b, i) => {
      record.push(u16(BANK_ALG_ID[b]), digests[i]!);
      digestOffsets.push(at + 2);
      at += 2 + BANK_DIGEST_SIZE[b];
    });
    record.push(u32(e.data.length), e.data);
    layout.push({ offset, digestOffsets, dataOffset: at + 4, digests });
    const size = at + 4 + e.data.length - offset;
    parts.push(...record);
    offset += size;
  }
  const bytes = concat(parts);

  const events: TcgEvent[] = [
    { index: 0, offset: 0, pcr: 0, eventType: EventType.EV_NO_ACTION, digests: [{ alg: BANK_ALG_ID.sha1, hash: 'sha1', digest: bytes.subarray(8, 28) }], data: bytes.subarray(32, 32 + header.length) },
  ];
  planned.forEach((e, i) => {
    const l = layout[i]!;
    events.push({
      index: i + 1,
      offset: l.offset,
      pcr: e.pcr,
      eventType: e.type,
      digests: banks.map((b, j) => ({ alg: BANK_ALG_ID[b], hash: b, digest: bytes.subarray(l.digestOffsets[j]!, l.digestOffsets[j]! + BANK_DIGEST_SIZE[b]) })),
      data: bytes.subarray(l.dataOffset, l.dataOffset + e.data.length),
    });
  });

  const tpm = new ReferenceTpm(banks);
  const extendsList: GeneratedExtend[] = [];
  planned.forEach((e, i) => {
    const digests = layout[i]!.digests;
    if (e.type === EventType.EV_NO_ACTION) {
      tpm.init(0, (b) => {
        const v = new Uint8Array(BANK_DIGEST_SIZE[b]);
        v[v.length - 1] = options.startupLocality ?? 0;
        return v;
      });
      return;
    }
    tpm.extend(e.pcr, (b) => digests[banks.indexOf(b)]!);
    extendsList.push({ pcr: e.pcr, digests: Object.fromEntries(banks.map((b, j) => [b, digests[j]!])) });
  });

  return {
    bytes,
    log: { format: 'crypto-agile', algorithms: banks.map((b) => ({ alg: BANK_ALG_ID[b], hash: b, digestSize: BANK_DIGEST_SIZE[b] })), events },
    pcrs: tpm.pcrs,
    extends: extendsList,
    components: {
      bootApplications: [hexDigests(banks, (b) => h(b, shimImage)), hexDigests(banks, (b) => h(b, grubImage))],
      kernel: { path: kernelPath, digests: hexDigests(banks, (b) => h(b, kernelImage)) },
      initrd: { path: initrdPath, digests: hexDigests(banks, (b) => h(b, initrdImage)) },
      otherFiles: [{ path: grubCfgPath, digests: hexDigests(banks, (b) => h(b, grubCfg)) }],
      kernelCmdline,
      secureBoot,
    },
  };
}

export type GeneratedImaTemplate = 'ima-ng' | 'ima-sig' | 'ima';

export interface ImaListOptions {
  seed: string;
  /** Entries after boot_aggregate. */
  count: number;
  /** Default 'ima-ng'. */
  template?: GeneratedImaTemplate;
  /** File digest algorithm of ima-ng / ima-sig entries. Default 'sha256' (the `ima` template is always SHA-1). */
  fileDigestAlg?: ReplayBank;
  /** Algorithm of the recorded template digests: 'sha1' (the classic list, default) or a per-bank list's. */
  templateDigestAlg?: ReplayBank;
  /** Indexes (1 … count) of violation entries. */
  violations?: readonly number[];
  /** Boot PCRs for boot_aggregate (its bank's PCRs 0–9, or 0–7 for SHA-1). Absent: an all-zero boot_aggregate (no TPM). */
  bootPcrs?: PcrValues;
  /** Banks of the resulting PCR 10 values. Default ['sha1', 'sha256']. */
  banks?: readonly ReplayBank[];
}

export interface GeneratedImaFile {
  index: number;
  path: string;
  alg: string;
  /** File digest, hex. */
  digest: string;
}

export interface GeneratedImaList {
  /** binary_runtime_measurements (little-endian). */
  binary: Uint8Array;
  /** ascii_runtime_measurements. */
  ascii: string;
  /** The entries as the parsers return them (template data in the form the template digest covers). */
  entries: ImaEntry[];
  /** PCR 10 after the list, per bank, by the per-bank rule (Linux 5.8+). */
  pcrs: PcrValues;
  /** PCR 10 by the older rule (SHA-1 template digest zero-padded into every bank). */
  pcrsSha1Padded: PcrValues;
  /** The extends in order, per bank (per-bank rule), for a software TPM. */
  extends: GeneratedExtend[];
  /** Every measured file (not boot_aggregate, not violations): reference-list material. */
  files: GeneratedImaFile[];
}

function filePath(i: number): string {
  const dirs = ['/usr/bin', '/usr/lib/x86_64-linux-gnu', '/usr/sbin', '/etc', '/usr/lib/systemd', '/opt/app bin'];
  return `${dirs[i % dirs.length]}/file-${i}${i % 7 === 0 ? '.so.1' : ''}`;
}

/** An IMA signature v2 header (type 3, version 2, hash algo, key id, big-endian size) and a seeded "signature". */
function imaSignature(seed: string, i: number): Uint8Array {
  const sig = seeded(seed, `sig:${i}`, 64);
  return concat([Uint8Array.of(3, 2, 4), seeded(seed, 'keyid', 4), Uint8Array.of(0, sig.length), sig]);
}

function bootAggregate(bank: ReplayBank, pcrs: PcrValues | undefined): Uint8Array {
  const values = pcrs?.[bank];
  if (values === undefined) return new Uint8Array(BANK_DIGEST_SIZE[bank]);
  const last = bank === 'sha1' ? 7 : 9;
  const parts: Uint8Array[] = [];
  for (let pcr = 0; pcr <= last; pcr++) parts.push(values[pcr] ?? new Uint8Array(BANK_DIGEST_SIZE[bank]));
  return h(bank, ...parts);
}

export function generateImaList(options: ImaListOptions): GeneratedImaList {
  const { seed, count } = options;
  const template = options.template ?? 'ima-ng';
  const fileAlg: ReplayBank = template === 'ima' ? 'sha1' : (options.fileDigestAlg ?? 'sha256');
  const recordedAlg = options.templateDigestAlg ?? 'sha1';
  const banks = [...(options.banks ?? ['sha1', 'sha256'])];
  const violations = new Set(options.violations ?? []);

  const entries: ImaEntry[] = [];
  const files: GeneratedImaFile[] = [];
  const binaryParts: Uint8Array[] = [];
  const asciiLines: string[] = [];
  const perBank = new ReferenceTpm(banks);
  const padded = new ReferenceTpm(banks);
  const extendsList: GeneratedExtend[] = [];
  let offset = 0;
  const templateName = enc.encode(template);

  for (let i = 0; i <= count; i++) {
    const isViolation = i > 0 && violations.has(i);
    const path = i === 0 ? 'boot_aggregate' : filePath(i);
    const fileDigest = i === 0 ? bootAggregate(fileAlg, options.bootPcrs) : isViolation ? new Uint8Array(BANK_DIGEST_SIZE[fileAlg]) : seeded(seed, `file:${i}`, BANK_DIGEST_SIZE[fileAlg]);
    const signature = template === 'ima-sig' && i > 0 && !isViolation && i % 3 !== 0 ? imaSignature(seed, i) : new Uint8Array(0);
    const templateData = buildTemplateData(template, { fileDigestAlg: fileAlg, fileDigest, path, extra: signature });
    const templateDigest = isViolation ? new Uint8Array(BANK_DIGEST_SIZE[recordedAlg]) : h(recordedAlg, templateData);
    const sha1Digest = isViolation ? new Uint8Array(20) : h('sha1', templateData);

    // binary_runtime_measurements: pcr, digest, name length, name, then the template data.
    const wire =
      template === 'ima'
        ? concat([templateData.subarray(0, 20), u32(enc.encode(path).length), enc.encode(path)]) // digest, then the name in the old string format
        : concat([u32(templateData.length), templateData]);
    const record = concat([u32(10), templateDigest, u32(templateName.length), templateName, wire]);
    binaryParts.push(record);

    const fileDigestHex = Buffer.from(fileDigest).toString('hex');
    const digestText = template === 'ima' ? fileDigestHex : `${fileAlg}:${fileDigestHex}`;
    const sigText = template === 'ima-sig' ? ` ${Buffer.from(signature).toString('hex')}` : '';
    asciiLines.push(`10 ${Buffer.from(templateDigest).toString('hex')} ${template} ${digestText} ${path}${sigText}`);

    const fdAt = template === 'ima' ? 0 : 4 + fileAlg.length + 2;
    const entry: ImaEntry = {
      index: i,
      offset,
      pcr: 10,
      templateDigest,
      templateName: template,
      templateData,
      fileDigestAlg: fileAlg,
      fileDigest: templateData.subarray(fdAt, fdAt + fileDigest.length),
      path,
    };
    if (template === 'ima-sig') {
      const sigAt = templateData.length - signature.length;
      entry.signature = templateData.subarray(sigAt);
    }
    entries.push(entry);
    offset += record.length;
    if (i > 0 && !isViolation) files.push({ index: i, path, alg: fileAlg, digest: fileDigestHex });

    const bankDigest = (b: ReplayBank) => (isViolation ? new Uint8Array(BANK_DIGEST_SIZE[b]).fill(0xff) : h(b, templateData));
    perBank.extend(10, bankDigest);
    padded.extend(10, (b) => {
      const v = new Uint8Array(BANK_DIGEST_SIZE[b]);
      v.set(isViolation ? new Uint8Array(20).fill(0xff) : sha1Digest);
      return v;
    });
    extendsList.push({ pcr: 10, digests: Object.fromEntries(banks.map((b) => [b, bankDigest(b)])) });
  }

  return {
    binary: concat(binaryParts),
    ascii: asciiLines.map((l) => `${l}\n`).join(''),
    entries,
    pcrs: perBank.pcrs,
    pcrsSha1Padded: padded.pcrs,
    extends: extendsList,
    files,
  };
}
