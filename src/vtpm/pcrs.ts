/**
 * PCR banks as the replays see them: the hash of each bank, reset values,
 * extend, and the comparison of replayed against quoted values that names
 * the first PCR that differs (issue 9: "a replay that does not reproduce the
 * quoted PCRs is a failure that names the first PCR that differs").
 */
import { hash } from 'node:crypto';

import { TpmAlg, type TpmHashName } from './types.js';

/** The banks the replays compute (SM3 has no node:crypto hash everywhere: not replayed). */
export type ReplayBank = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const REPLAY_BANKS: readonly ReplayBank[] = ['sha1', 'sha256', 'sha384', 'sha512'];

export const BANK_DIGEST_SIZE: Readonly<Record<ReplayBank, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export const BANK_ALG_ID: Readonly<Record<ReplayBank, number>> = {
  sha1: TpmAlg.SHA1,
  sha256: TpmAlg.SHA256,
  sha384: TpmAlg.SHA384,
  sha512: TpmAlg.SHA512,
};

/** PCR index → value, per bank. Sparse: only the PCRs a log touched or a quote selected. */
export type PcrValues = Partial<Record<ReplayBank, Record<number, Uint8Array>>>;

/** PcrValues, or the Map form of the quote module (bank name → PCR → value). */
export type PcrInput = PcrValues | ReadonlyMap<string, ReadonlyMap<number, Uint8Array>>;

/** The plain-object form of either input (banks we do not replay are dropped). */
export function toPcrValues(input: PcrInput): PcrValues {
  if (!(input instanceof Map)) return input as PcrValues;
  const out: PcrValues = {};
  for (const [bank, values] of input as ReadonlyMap<string, ReadonlyMap<number, Uint8Array>>) {
    if (isReplayBank(bank)) out[bank] = Object.fromEntries(values);
  }
  return out;
}

export const PCR_COUNT = 24;

export function isReplayBank(name: unknown): name is ReplayBank {
  return name === 'sha1' || name === 'sha256' || name === 'sha384' || name === 'sha512';
}

export function bankOfAlg(alg: number): ReplayBank | undefined {
  return REPLAY_BANKS.find((b) => BANK_ALG_ID[b] === alg);
}

export function bankOfName(name: TpmHashName | string | undefined): ReplayBank | undefined {
  return isReplayBank(name) ? name : undefined;
}

/** The bank whose digests have this size (sizes are distinct among the four). */
export function bankOfDigestSize(size: number): ReplayBank | undefined {
  return REPLAY_BANKS.find((b) => BANK_DIGEST_SIZE[b] === size);
}

/**
 * Value after TPM2_Startup(CLEAR): PCRs 17–22 (the locality-4 DRTM PCRs of the
 * PC Client profile) reset to all ones, every other PCR to zeros.
 */
export function resetValue(bank: ReplayBank, pcr: number): Uint8Array {
  return new Uint8Array(BANK_DIGEST_SIZE[bank]).fill(pcr >= 17 && pcr <= 22 ? 0xff : 0);
}

export function digestOf(bank: ReplayBank, data: Uint8Array): Uint8Array {
  return hash(bank, data, 'buffer');
}

/** TPM2_PCR_Extend: H(current ‖ digest). */
export function extend(bank: ReplayBank, current: Uint8Array, digest: Uint8Array): Uint8Array {
  const joined = new Uint8Array(current.length + digest.length);
  joined.set(current, 0);
  joined.set(digest, current.length);
  return hash(bank, joined, 'buffer');
}

/**
 * %TypedArray%.prototype's own getters: they read the internal slots, never an own property or a
 * subclass's override (review s14, vTPM #1): the hex a result or policy shows is of the bytes the
 * array really holds, the ones a hash.update over it read.
 */
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
const slotGetter = (name: 'buffer' | 'byteOffset' | 'byteLength'): ((this: unknown) => unknown) => Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, name)!.get!;
const bufferSlot = slotGetter('buffer') as (this: Uint8Array) => ArrayBuffer;
const byteOffsetSlot = slotGetter('byteOffset') as (this: Uint8Array) => number;
const byteLengthSlot = slotGetter('byteLength') as (this: Uint8Array) => number;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bufferSlot.call(bytes), byteOffsetSlot.call(bytes), byteLengthSlot.call(bytes)).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface PcrMismatch {
  bank: ReplayBank;
  pcr: number;
  /** The quoted (or expected) value, hex. */
  expected: string;
  /** The replayed value, hex. */
  replayed: string;
}

export interface ComparePcrsOptions {
  /** Compare only these PCRs (default: every PCR `expected` holds). */
  pcrs?: readonly number[];
  /** Never compare these (e.g. 10, which IMA extends and the boot log does not explain). */
  exclude?: readonly number[];
  /** Compare only these banks (default: every bank of `expected` that `replayed` has). */
  banks?: readonly ReplayBank[];
}

/**
 * Every difference between replayed and expected values, lowest PCR first
 * and, within a PCR, in the order sha1, sha256, sha384, sha512: the first
 * element is "the first PCR that differs". A PCR the replay did not touch is
 * compared as its reset value.
 */
export function comparePcrs(replayed: PcrValues, expectedInput: PcrInput, options: ComparePcrsOptions = {}): PcrMismatch[] {
  const expected = toPcrValues(expectedInput);
  const banks = options.banks ?? REPLAY_BANKS.filter((b) => expected[b] !== undefined && replayed[b] !== undefined);
  const exclude = new Set(options.exclude ?? []);
  const out: PcrMismatch[] = [];
  for (let pcr = 0; pcr < PCR_COUNT; pcr++) {
    if (exclude.has(pcr) || (options.pcrs !== undefined && !options.pcrs.includes(pcr))) continue;
    for (const bank of REPLAY_BANKS) {
      if (!banks.includes(bank)) continue;
      const want = expected[bank]?.[pcr];
      if (want === undefined) continue;
      const got = replayed[bank]?.[pcr] ?? resetValue(bank, pcr);
      if (!bytesEqual(want, got)) out.push({ bank, pcr, expected: toHex(want), replayed: toHex(got) });
    }
  }
  return out;
}

/** PCR values from hex strings ({ sha256: { "0": "ab…" } }), e.g. from a manifest or a reference list. */
export function pcrValuesFromHex(doc: Partial<Record<string, Record<string, string>>>): PcrValues {
  const out: PcrValues = {};
  for (const [bank, values] of Object.entries(doc)) {
    if (!isReplayBank(bank) || values === undefined) continue;
    const bankValues: Record<number, Uint8Array> = {};
    for (const [pcr, hex] of Object.entries(values)) bankValues[Number(pcr)] = new Uint8Array(Buffer.from(hex, 'hex'));
    out[bank] = bankValues;
  }
  return out;
}

/** The inverse: hex strings per bank and PCR, for reports and JSON. */
export function pcrValuesToHex(values: PcrValues): Partial<Record<ReplayBank, Record<string, string>>> {
  const out: Partial<Record<ReplayBank, Record<string, string>>> = {};
  for (const bank of REPLAY_BANKS) {
    const v = values[bank];
    if (v === undefined) continue;
    out[bank] = Object.fromEntries(Object.entries(v).map(([pcr, bytes]) => [pcr, toHex(bytes)]));
  }
  return out;
}
