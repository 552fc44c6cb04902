/**
 * Replay of an IMA measurement list (binary or ASCII, parsed) into the PCR
 * it extends (10), with every entry's template digest recomputed from its
 * template data, IMA violation entries, and the boot_aggregate check.
 *
 * Which digest goes into which bank (security/integrity/ima/ima_queue.c,
 * ima_api.c):
 * - "per-bank" (Linux 5.8 and later, the default): each bank is extended
 *   with that bank's hash of the template data. The ibmtss lists' known PCR
 *   10 values for the SHA-1, SHA-256, SHA-384 and SHA-512 banks are
 *   reproduced only this way (test/vtpm/ima-replay.test.ts).
 * - "sha1-padded" (older kernels): every bank is extended with the SHA-1
 *   template digest, zero-padded to the bank's size.
 * - A violation entry (IMA could not measure a file consistently: ToMToU,
 *   open writers) records an all-zero template digest and extends all ones:
 *   0xFF in every byte of the bank ("per-bank"), or 20 bytes of 0xFF
 *   zero-padded ("sha1-padded"). Its template data is not checked.
 *
 * boot_aggregate (ima_crypto.c, ima_calc_boot_aggregate): the hash, in the
 * bank named by its d-ng algorithm (SHA-1 for the `ima` template), of the
 * concatenated PCR 0–7 values; since Linux 5.8 PCRs 8 and 9 are included
 * for every bank but SHA-1. All zeros when IMA found no TPM.
 */
import { hash } from 'node:crypto';

import { InvalidArgumentError } from '../errors.js';
import { VtpmVerificationError } from './errors.js';
import { IMA_LEGACY_DATA_SIZE, IMA_NAME_FIELD_SIZE, IMA_TEMPLATE_DIGEST_SIZE } from './ima-template.js';
import { BANK_DIGEST_SIZE, bankOfDigestSize, bytesEqual, comparePcrs, isReplayBank, resetValue, toHex, toPcrValues, type PcrInput, type PcrMismatch, type PcrValues, type ReplayBank } from './pcrs.js';
import { Sha1Chain, sha1Words, wordsEqualBytes, wordsToBytes } from './sha1-chain.js';
import { Sha256Chain, sha256Words, sha256WordsEqualBytes, sha256WordsToBytes } from './sha256-chain.js';

/** ImaTemplate value of the original `ima` template in the native frame (cpp/core/ima_list.h). */
const IMA_FRAME_TEMPLATE_IMA = 1;
import { scanImaAsciiList, type ImaAsciiOptions } from './ima-ascii.js';
import { IMA_FRAME, type ImaListFrame } from './parse-ima.js';
import type { ImaEntry } from './types.js';

export type ImaBankRule = 'per-bank' | 'sha1-padded';

export interface ImaReplayOptions {
  /** Banks to compute. Default ['sha256']. */
  banks?: readonly ReplayBank[];
  /** How non-recorded banks are extended (module comment). Default 'per-bank'. */
  bankRule?: ImaBankRule;
  /** Algorithm of the recorded template digests. Default: from the first entry's digest length. */
  templateDigestAlg?: ReplayBank;
  /** Starting PCR values (default: reset values). */
  initial?: PcrValues;
}

export interface ImaTemplateMismatch {
  index: number;
  /** Byte offset (binary list) or line number (ASCII list). */
  offset: number;
  path: string | undefined;
  recorded: string;
  computed: string;
}

export interface ImaReplay {
  banks: ReplayBank[];
  bankRule: ImaBankRule;
  templateDigestAlg: ReplayBank;
  /** Final values of every PCR the list extends (normally only 10), per bank. */
  pcrs: PcrValues;
  entries: number;
  /** Indexes of violation entries (all-zero template digest). */
  violations: number[];
  /**
   * Entries whose recorded template digest is not the hash of their template
   * data. The recorded digest is what was extended into its own bank; the
   * replay extends it there (as the kernel did), so a list edited after the
   * fact shows up here, and a forged digest shows up as a PCR mismatch.
   */
  templateMismatches: ImaTemplateMismatch[];
}

function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * The bytes the template digest covers. For `ima` that is the 276-byte
 * digest ‖ padded-name form; an entry that carries the binary list's wire
 * form instead (digest, u32 name length, name) is converted.
 */
export function templateHashInput(entry: ImaEntry): Uint8Array {
  const data = entry.templateData;
  if (entry.templateName !== 'ima' || data.length === IMA_LEGACY_DATA_SIZE) return data;
  const nameLen = data.length >= 24 ? readU32(data, 20) : -1;
  if (nameLen < 0 || 24 + nameLen !== data.length || nameLen >= IMA_NAME_FIELD_SIZE) {
    throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `IMA entry ${entry.index}: template data does not have the ima template's layout`, {
      index: entry.index,
      offset: entry.offset,
    });
  }
  const out = new Uint8Array(IMA_LEGACY_DATA_SIZE);
  out.set(data.subarray(0, IMA_TEMPLATE_DIGEST_SIZE), 0);
  out.set(data.subarray(24), IMA_TEMPLATE_DIGEST_SIZE);
  return out;
}

/**
 * An extend chain per bank. SHA-1 and SHA-256 extends run in JavaScript
 * (sha1-chain.ts, sha256-chain.ts: no node:crypto call and no allocation per
 * extend); SHA-384 and SHA-512 use node:crypto.
 */
interface Chain {
  /** value = H(value ‖ bytes[at, at + size)). */
  extend(bytes: Uint8Array, at: number): void;
  /** value = H(value ‖ H(bytes[start, end))): this bank's template hash, then the extend. */
  extendHashOf(bytes: Uint8Array, start: number, end: number): void;
  value(): Uint8Array;
}

const sha1Scratch = new Int32Array(5);
const sha256Scratch = new Int32Array(8);

class JsSha1Chain extends Sha1Chain implements Chain {
  extendHashOf(bytes: Uint8Array, start: number, end: number): void {
    sha1Words(bytes, sha1Scratch, start, end);
    this.extendWords(sha1Scratch);
  }
}

class JsSha256Chain extends Sha256Chain implements Chain {
  extendHashOf(bytes: Uint8Array, start: number, end: number): void {
    sha256Words(bytes, sha256Scratch, start, end);
    this.extendWords(sha256Scratch);
  }
}

class HashChain implements Chain {
  private readonly buf: Uint8Array;
  private readonly size: number;

  constructor(
    private readonly bank: ReplayBank,
    initial: Uint8Array,
  ) {
    this.size = BANK_DIGEST_SIZE[bank];
    this.buf = new Uint8Array(this.size * 2);
    this.buf.set(initial, 0);
  }

  extend(bytes: Uint8Array, at: number): void {
    for (let i = 0; i < this.size; i++) this.buf[this.size + i] = bytes[at + i]!;
    this.buf.set(hash(this.bank, this.buf, 'buffer'), 0);
  }

  extendHashOf(bytes: Uint8Array, start: number, end: number): void {
    this.extend(hash(this.bank, bytes.subarray(start, end), 'buffer'), 0);
  }

  value(): Uint8Array {
    return this.buf.slice(0, this.size);
  }
}

function newChain(bank: ReplayBank, initial: Uint8Array): Chain {
  if (bank === 'sha1') return new JsSha1Chain(initial);
  if (bank === 'sha256') return new JsSha256Chain(initial);
  return new HashChain(bank, initial);
}

function padded(sha1: Uint8Array, bank: ReplayBank): Uint8Array {
  const out = new Uint8Array(BANK_DIGEST_SIZE[bank]);
  out.set(sha1.subarray(0, Math.min(20, out.length)));
  return out;
}

/**
 * The replay state shared by the entry-array and the native-frame forms:
 * one call per entry with the recorded digest and the hashed bytes given as
 * spans, so the frame form creates no object per entry.
 */
class Replayer {
  readonly violations: number[] = [];
  readonly mismatches: ImaTemplateMismatch[] = [];
  private readonly chains = new Map<number, Chain[]>();
  private readonly size: number;
  private readonly recordedBank: number;
  private readonly allOnes: Uint8Array[];
  private readonly padBuffers: Uint8Array[];

  constructor(
    readonly banks: readonly ReplayBank[],
    readonly rule: ImaBankRule,
    readonly recordedAlg: ReplayBank,
    private readonly initial: PcrValues | undefined,
  ) {
    this.size = BANK_DIGEST_SIZE[recordedAlg];
    this.recordedBank = banks.indexOf(recordedAlg);
    // Constant extends: violations, and the zero-padded forms of the sha1-padded rule.
    this.allOnes = banks.map((bank) => (rule === 'per-bank' ? new Uint8Array(BANK_DIGEST_SIZE[bank]).fill(0xff) : padded(new Uint8Array(20).fill(0xff), bank)));
    this.padBuffers = banks.map((bank) => new Uint8Array(BANK_DIGEST_SIZE[bank]));
  }

  private chainsFor(pcr: number): Chain[] {
    let c = this.chains.get(pcr);
    if (c === undefined) {
      c = this.banks.map((bank) => newChain(bank, this.initial?.[bank]?.[pcr] ?? resetValue(bank, pcr)));
      this.chains.set(pcr, c);
    }
    return c;
  }

  /** One entry: recorded digest rec[recAt, recAt + size), template data input[start, end). */
  entry(index: number, offset: number, pcr: number, rec: Uint8Array, recAt: number, input: Uint8Array, start: number, end: number): void {
    if (!Number.isInteger(pcr) || pcr < 0 || pcr > 23) {
      throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `IMA entry ${index}: PCR ${pcr} is not a TPM PCR`, { index, offset });
    }
    const chain = this.chainsFor(pcr);
    const banks = this.banks.length;
    let zero = true;
    for (let i = recAt; i < recAt + this.size && zero; i++) zero = rec[i] === 0;
    if (zero) {
      this.violations.push(index);
      for (let b = 0; b < banks; b++) chain[b]!.extend(this.allOnes[b]!, 0);
      return;
    }
    // The template digest check: one hash in the recorded algorithm.
    let ok: boolean;
    let computed: Uint8Array | undefined;
    if (this.recordedAlg === 'sha1') {
      sha1Words(input, sha1Scratch, start, end);
      ok = wordsEqualBytes(sha1Scratch, rec, recAt);
    } else if (this.recordedAlg === 'sha256') {
      sha256Words(input, sha256Scratch, start, end);
      ok = sha256WordsEqualBytes(sha256Scratch, rec, recAt);
      if (!ok) computed = sha256WordsToBytes(sha256Scratch);
    } else {
      computed = hash(this.recordedAlg, input.subarray(start, end), 'buffer');
      ok = bytesEqual(computed, rec.subarray(recAt, recAt + this.size));
    }
    if (!ok) {
      const recorded = toHex(rec.subarray(recAt, recAt + this.size));
      this.mismatches.push({ index, offset, path: undefined, recorded, computed: toHex(computed ?? wordsToBytes(sha1Scratch)) });
    }
    for (let b = 0; b < banks; b++) {
      const c = chain[b]!;
      if (this.rule === 'sha1-padded') {
        const buf = this.padBuffers[b]!;
        for (let i = 0; i < 20; i++) buf[i] = rec[recAt + i]!;
        c.extend(buf, 0);
      } else if (b === this.recordedBank) c.extend(rec, recAt); // what the kernel extended, already hashed
      else c.extendHashOf(input, start, end);
    }
  }

  result(entries: number): ImaReplay {
    const pcrs: PcrValues = {};
    this.banks.forEach((bank, b) => {
      const values: Record<number, Uint8Array> = {};
      for (const [pcr, c] of this.chains) values[pcr] = c[b]!.value();
      pcrs[bank] = values;
    });
    return { banks: [...this.banks], bankRule: this.rule, templateDigestAlg: this.recordedAlg, pcrs, entries, violations: this.violations, templateMismatches: this.mismatches };
  }
}

function resolveOptions(firstDigestSize: number | undefined, options: ImaReplayOptions): { banks: ReplayBank[]; rule: ImaBankRule; recordedAlg: ReplayBank } {
  const banks = [...(options.banks ?? ['sha256'])];
  if (banks.length === 0 || !banks.every(isReplayBank) || new Set(banks).size !== banks.length) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'IMA replay: banks must be distinct names of sha1, sha256, sha384, sha512');
  }
  const rule = options.bankRule ?? 'per-bank';
  if (rule !== 'per-bank' && rule !== 'sha1-padded') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `IMA replay: unknown bank rule ${String(rule)}`);
  let recordedAlg = options.templateDigestAlg;
  if (recordedAlg === undefined) {
    const size = firstDigestSize ?? 20;
    recordedAlg = bankOfDigestSize(size);
    if (recordedAlg === undefined) {
      throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `a ${size}-byte template digest is not SHA-1/256/384/512`, { index: 0 });
    }
  }
  if (rule === 'sha1-padded' && recordedAlg !== 'sha1') {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'IMA replay: the sha1-padded rule needs a list with SHA-1 template digests');
  }
  return { banks, rule, recordedAlg };
}

/** Replays the list; never throws for a bad entry digest (see templateMismatches), only for malformed input. */
export function replayImaList(entries: readonly ImaEntry[], options: ImaReplayOptions = {}): ImaReplay {
  const { banks, rule, recordedAlg } = resolveOptions(entries[0]?.templateDigest.length, options);
  const size = BANK_DIGEST_SIZE[recordedAlg];
  const replayer = new Replayer(banks, rule, recordedAlg, options.initial);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.templateDigest.length !== size) {
      throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `IMA entry ${i}: a ${entry.templateDigest.length}-byte template digest in a list of ${recordedAlg} digests`, {
        index: i,
        offset: entry.offset,
      });
    }
    const zero = entry.templateDigest.every((b) => b === 0);
    // A violation's template data is not hashed (and may not have its template's layout).
    const input = zero ? entry.templateData : templateHashInput(entry);
    replayer.entry(i, entry.offset, entry.pcr, entry.templateDigest, 0, input, 0, input.length);
  }
  for (const m of replayer.mismatches) m.path = entries[m.index]!.path;
  return replayer.result(entries.length);
}

/**
 * The same replay straight from the native parser's frame (parseImaBinaryFrame):
 * no object per entry, for long lists. Same rules and result.
 */
export function replayImaFrame(list: ImaListFrame, options: ImaReplayOptions = {}): ImaReplay {
  const { bytes, frame, count } = list;
  const { banks, rule, recordedAlg } = resolveOptions(list.templateDigestSize, options);
  if (BANK_DIGEST_SIZE[recordedAlg] !== list.templateDigestSize) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `IMA replay: templateDigestAlg ${recordedAlg} does not match the list's ${list.templateDigestSize}-byte digests`);
  }
  const replayer = new Replayer(banks, rule, recordedAlg, options.initial);
  const W = IMA_FRAME.words;
  const legacy = new Uint8Array(IMA_LEGACY_DATA_SIZE);
  for (let i = 0, w = 0; i < count; i++, w += W) {
    const offset = frame[w + IMA_FRAME.offset]!;
    let input = bytes;
    let start = frame[w + IMA_FRAME.dataOffset]!;
    let end = start + frame[w + IMA_FRAME.dataSize]!;
    if (frame[w + IMA_FRAME.template] === IMA_FRAME_TEMPLATE_IMA) {
      // The ima template's digest covers file digest ‖ name padded to 256 bytes, not its wire form.
      const digestAt = frame[w + IMA_FRAME.digestOffset]!;
      const pathAt = frame[w + IMA_FRAME.pathOffset]!;
      const pathSize = frame[w + IMA_FRAME.pathSize]!;
      if (frame[w + IMA_FRAME.digestSize] !== IMA_TEMPLATE_DIGEST_SIZE || pathSize >= IMA_NAME_FIELD_SIZE) {
        throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `IMA entry ${i}: template data does not have the ima template's layout`, { index: i, offset });
      }
      legacy.fill(0);
      for (let k = 0; k < IMA_TEMPLATE_DIGEST_SIZE; k++) legacy[k] = bytes[digestAt + k]!;
      for (let k = 0; k < pathSize; k++) legacy[IMA_TEMPLATE_DIGEST_SIZE + k] = bytes[pathAt + k]!;
      input = legacy;
      start = 0;
      end = IMA_LEGACY_DATA_SIZE;
    }
    replayer.entry(i, offset, frame[w + IMA_FRAME.pcr]!, bytes, offset + 4, input, start, end);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const m of replayer.mismatches) {
    const w = m.index * W;
    const size = frame[w + IMA_FRAME.pathSize]!;
    if (frame[w + IMA_FRAME.template] !== 0) m.path = text.toString('utf8', frame[w + IMA_FRAME.pathOffset]!, frame[w + IMA_FRAME.pathOffset]! + size);
  }
  return replayer.result(count);
}

/**
 * The same replay straight from an ASCII list (ascii_runtime_measurements):
 * each line is parsed and its template data rebuilt into a buffer reused from
 * line to line, then checked and extended, with no entry object. Same rules,
 * limits and result as replayImaList(parseImaAsciiList(text)); a mismatch's
 * offset is its line number.
 */
export function replayImaAscii(input: Uint8Array | string, options: ImaReplayOptions & ImaAsciiOptions = {}): ImaReplay {
  let replayer: Replayer | undefined;
  let size = 0;
  const { entries } = scanImaAsciiList(input, options, false, (line, reader) => {
    if (replayer === undefined) {
      const resolved = resolveOptions(line.digestEnd - line.digestAt, options);
      replayer = new Replayer(resolved.banks, resolved.rule, resolved.recordedAlg, options.initial);
      size = BANK_DIGEST_SIZE[resolved.recordedAlg];
    }
    if (line.digestEnd - line.digestAt !== size) {
      throw new VtpmVerificationError('ERR_VTPM_IMA_TEMPLATE', `IMA entry ${line.index}: a ${line.digestEnd - line.digestAt}-byte template digest in a list of ${replayer.recordedAlg} digests`, {
        index: line.index,
        offset: line.line,
      });
    }
    const before = replayer.mismatches.length;
    replayer.entry(line.index, line.line, line.pcr, line.store, line.digestAt, line.store, line.dataAt, line.dataEnd);
    if (replayer.mismatches.length !== before) replayer.mismatches[before]!.path = reader.path();
  });
  if (replayer === undefined) {
    const resolved = resolveOptions(undefined, options);
    replayer = new Replayer(resolved.banks, resolved.rule, resolved.recordedAlg, options.initial);
  }
  return replayer.result(entries);
}

/** Throws ERR_VTPM_IMA_TEMPLATE_DIGEST for the first entry whose template digest does not match its data. */
export function checkImaTemplateDigests(replay: ImaReplay): void {
  const first = replay.templateMismatches[0];
  if (first === undefined) return;
  throw new VtpmVerificationError(
    'ERR_VTPM_IMA_TEMPLATE_DIGEST',
    `IMA entry ${first.index} (${first.path ?? 'no path'}): the template digest ${first.recorded} is not the hash of its template data (${first.computed})` +
      (replay.templateMismatches.length > 1 ? ` (${replay.templateMismatches.length} entries)` : ''),
    { index: first.index, offset: first.offset, path: first.path, recorded: first.recorded, computed: first.computed, mismatches: replay.templateMismatches },
  );
}

/** Differences between the replayed IMA PCRs (default PCR 10) and quoted values, in the replay's banks. */
export function imaMismatches(replay: ImaReplay, quotedInput: PcrInput, pcrs: readonly number[] = [10]): PcrMismatch[] {
  const quoted = toPcrValues(quotedInput);
  const banks = replay.banks.filter((b) => quoted[b] !== undefined);
  if (banks.length === 0) {
    throw new VtpmVerificationError('ERR_VTPM_IMA_MISMATCH', `no replayed bank (${replay.banks.join(', ')}) is quoted`, { banks: replay.banks });
  }
  return comparePcrs(replay.pcrs, quoted, { banks, pcrs });
}

/**
 * The whole IMA check against quoted PCRs: every template digest matches its
 * data, then the replayed PCR 10 equals the quoted one in every replayed bank
 * that is quoted. ERR_VTPM_IMA_TEMPLATE_DIGEST or ERR_VTPM_IMA_MISMATCH.
 */
export function checkImaAgainstPcrs(replay: ImaReplay, quoted: PcrInput, pcrs: readonly number[] = [10]): void {
  checkImaTemplateDigests(replay);
  const mismatches = imaMismatches(replay, quoted, pcrs);
  const first = mismatches[0];
  if (first === undefined) return;
  throw new VtpmVerificationError(
    'ERR_VTPM_IMA_MISMATCH',
    `the IMA list does not reproduce PCR ${first.pcr} (${first.bank}): quoted ${first.expected}, replayed ${first.replayed} (${replay.bankRule} rule)`,
    { bank: first.bank, pcr: first.pcr, expected: first.expected, replayed: first.replayed, bankRule: replay.bankRule, mismatches },
  );
}

/**
 * `unavailable`: the PCRs 0-7 of its bank are not given (a warning in verifyVtpmEvidence).
 * `unsupported-algorithm`: its algorithm is none of the replay banks (sha1/256/384/512), so it
 * cannot be computed; refused (review s12, finding 3).
 * `violation`: the first entry has an all-zero template digest (a violation entry): the replay
 * extends 0xFF for it and never hashes its data, so its d-ng value and name are covered by
 * nothing. A kernel never records boot_aggregate as a violation; refused whatever the PCRs are
 * (review s15, vTPM finding 1).
 */
export type BootAggregateStatus = 'match' | 'mismatch' | 'no-tpm' | 'absent' | 'unavailable' | 'unsupported-algorithm' | 'violation';

export interface BootAggregateCheck {
  status: BootAggregateStatus;
  /** The bank the entry names (its d-ng algorithm; SHA-1 for the ima template). */
  bank?: ReplayBank;
  /** The entry's algorithm when it is not a replay bank (`unsupported-algorithm`). */
  algorithm?: string;
  recorded?: string;
  /** Which PCR range matched. */
  pcrRange?: '0-7' | '0-9';
  /** What was computed, per range, when the PCR values were available. */
  computed?: Partial<Record<'0-7' | '0-9', string>>;
}

const BOOT_AGGREGATE = 'boot_aggregate';

/**
 * Compares the list's first entry, boot_aggregate, with the hash of PCRs
 * 0–7 (and 0–9 for banks other than SHA-1) taken from `pcrs` (quoted or
 * replayed boot PCRs). Never throws: see assertBootAggregate.
 */
export function checkBootAggregate(entries: readonly ImaEntry[], pcrInput: PcrInput): BootAggregateCheck {
  const pcrs = toPcrValues(pcrInput);
  const entry = entries[0];
  // Before anything reads the entry's data: a violation's data is verified by nothing.
  if (entry !== undefined && isAllZero(entry.templateDigest)) return { status: 'violation' };
  if (entry === undefined || entry.path !== BOOT_AGGREGATE || entry.fileDigest === undefined) return { status: 'absent' };
  const alg = entry.templateName === 'ima' ? 'sha1' : entry.fileDigestAlg;
  if (!isReplayBank(alg)) return { status: 'unsupported-algorithm', algorithm: alg ?? 'unknown', recorded: toHex(entry.fileDigest) };
  const bank = alg;
  const recorded = entry.fileDigest;
  const base = { bank, recorded: toHex(recorded) };
  if (isAllZero(recorded)) return { status: 'no-tpm', ...base };
  const values = pcrs[bank];
  const ranges: ('0-7' | '0-9')[] = bank === 'sha1' ? ['0-7'] : ['0-9', '0-7'];
  const computed: Partial<Record<'0-7' | '0-9', string>> = {};
  for (const range of ranges) {
    const last = range === '0-7' ? 7 : 9;
    const parts: Uint8Array[] = [];
    for (let pcr = 0; pcr <= last; pcr++) {
      const v = values?.[pcr];
      if (v === undefined) break;
      parts.push(v);
    }
    if (parts.length !== last + 1) continue;
    const digest = hash(bank, Buffer.concat(parts), 'buffer');
    computed[range] = toHex(digest);
    if (bytesEqual(digest, recorded)) return { status: 'match', ...base, pcrRange: range, computed };
  }
  if (Object.keys(computed).length === 0) return { status: 'unavailable', ...base };
  return { status: 'mismatch', ...base, computed };
}

/** Throws ERR_VTPM_BOOT_AGGREGATE unless the boot_aggregate matches the PCRs. */
export function assertBootAggregate(entries: readonly ImaEntry[], pcrs: PcrInput): BootAggregateCheck {
  const result = checkBootAggregate(entries, pcrs);
  if (result.status === 'match') return result;
  const why: Record<Exclude<BootAggregateStatus, 'match'>, string> = {
    mismatch: 'is not the hash of the boot PCRs',
    'no-tpm': 'is all zeros (IMA found no TPM) while the PCRs come from a TPM',
    absent: 'is missing: the first entry of an IMA list is boot_aggregate',
    unavailable: `cannot be checked: PCRs 0-7 of its bank${result.bank === undefined ? '' : ` (${result.bank})`} are not available`,
    'unsupported-algorithm': `uses algorithm ${result.algorithm ?? 'unknown'}, which is not a PCR bank this verifier hashes (sha1, sha256, sha384, sha512): it cannot be checked`,
    violation: 'entry is a violation entry (all-zero template digest): its data is not covered by any digest, so it cannot be checked',
  };
  throw new VtpmVerificationError('ERR_VTPM_BOOT_AGGREGATE', `the IMA boot_aggregate ${why[result.status]}`, { ...result });
}

