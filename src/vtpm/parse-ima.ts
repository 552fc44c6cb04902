/**
 * Binary IMA measurement list from the native frame. Built for long lists:
 * one flat Uint32Array from the addon, then objects with subarray views of
 * the input; template names of the decoded templates are constants.
 */
import { InvalidArgumentError } from '../errors.js';
import { native, isNativeFailure, NATIVE_IMA_FRAME_FIELDS as W } from '../native/index.js';
import { VtpmVerificationError } from './errors.js';
import { requireBytes, vtpmError } from './parse-common.js';
import type { ImaEntry } from './types.js';

/** ImaTemplate of cpp/core/ima_list.h. */
const TEMPLATE_OTHER = 0;
const TEMPLATE_IMA = 1;
const TEMPLATE_IMA_SIG = 3;
const DECODED_NAMES = ['', 'ima', 'ima-ng', 'ima-sig', 'ima-buf'];

/** The "ima" template hashes the file name zero-padded to IMA_EVENT_NAME_LEN_MAX + 1 bytes. */
const IMA_NAME_FIELD = 256;
const IMA_DIGEST = 20;

const DIGEST_SIZES = new Set([20, 32, 48, 64]);

/**
 * Word indexes of one entry in ImaListFrame.frame (cpp/core/ima_list.h,
 * ImaFrameField). Offsets are into `bytes`; the template digest of entry i
 * is at frame[i * words + offset] + 4.
 */
export const IMA_FRAME = {
  words: W,
  offset: 0,
  pcr: 1,
  nameOffset: 2,
  nameSize: 3,
  /** Template data; for the "ima" template the raw span (file digest, name length, name): use imaTemplateData. */
  dataOffset: 4,
  dataSize: 5,
  /** 1 = "ima", 2 = "ima-ng", 3 = "ima-sig", 4 = "ima-buf" (0 = other never leaves parseImaBinaryFrame). */
  template: 6,
  algOffset: 7,
  algSize: 8,
  digestOffset: 9,
  digestSize: 10,
  pathOffset: 11,
  pathSize: 12,
  /** ima-sig: the signature; ima-buf: the buffer. */
  sigOffset: 13,
  sigSize: 14,
} as const;

/** The validated list as the addon returns it: no per-entry objects. */
export interface ImaListFrame {
  bytes: Uint8Array;
  templateDigestSize: number;
  count: number;
  frame: Uint32Array;
}

/**
 * What the "ima" template digest covers: file digest || file name zero-padded
 * to 256 bytes (not a span of the list, which stores the name length-prefixed).
 */
export function imaTemplateData(digest: Uint8Array, name: Uint8Array): Uint8Array {
  const out = new Uint8Array(IMA_DIGEST + IMA_NAME_FIELD);
  out.set(digest, 0);
  out.set(name, IMA_DIGEST);
  return out;
}

/**
 * The same validation as parseImaBinaryList, returning the flat frame (see
 * IMA_FRAME) for loops over very long lists, such as a replay that only
 * hashes template data: building 100,000 entry objects with their views
 * costs a large part of what hashing them does.
 */
export function parseImaBinaryFrame(input: Uint8Array, opts: { templateDigestSize?: number } = {}): ImaListFrame {
  const bytes = requireBytes(input, 'IMA measurement list');
  const digestSize = opts.templateDigestSize ?? 20;
  if (!DIGEST_SIZES.has(digestSize)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'templateDigestSize must be 20, 32, 48 or 64');
  }
  const frame = native().parseImaList(bytes, digestSize);
  if (isNativeFailure(frame)) throw vtpmError(frame, 'IMA measurement list');
  refuseUnknownTemplates(bytes, frame);
  return { bytes, templateDigestSize: digestSize, count: frame.length / W, frame };
}

/**
 * VT16 (review s6, finding 1): the template digest covers the template data,
 * not the template name, so renaming "ima-sig" to anything else replays the
 * same PCR 10 while the entry's path and file digest vanish from the policy's
 * view. Only the templates whose fields are decoded are accepted, as the
 * ASCII parser does (same code, ERR_VTPM_IMA_TEMPLATE).
 */
function refuseUnknownTemplates(bytes: Uint8Array, frame: Uint32Array): void {
  for (let i = 0, w = 0; w < frame.length; i++, w += W) {
    if (frame[w + IMA_FRAME.template] !== TEMPLATE_OTHER) continue;
    const offset = frame[w + IMA_FRAME.offset]!;
    const nameAt = frame[w + IMA_FRAME.nameOffset]!;
    const template = Buffer.from(bytes.buffer, bytes.byteOffset + nameAt, frame[w + IMA_FRAME.nameSize]!).toString('latin1');
    throw new VtpmVerificationError(
      'ERR_VTPM_IMA_TEMPLATE',
      `IMA entry ${i} (byte ${offset}): template "${template}" is not one whose fields are known (ima, ima-ng, ima-sig, ima-buf); its name is not covered by the template digest, so the entry cannot be judged`,
      { index: i, offset, template },
      { check: 'VT16', offset: nameAt },
    );
  }
}

export function parseImaBinaryList(input: Uint8Array, opts: { templateDigestSize?: number } = {}): ImaEntry[] {
  return imaEntriesFromFrame(parseImaBinaryFrame(input, opts));
}

/**
 * The entries of a parsed frame (the first `limit`, default all), as views of `frame.bytes`: the
 * private copy the frame was parsed and replayed from (review s14, vTPM #1: boot_aggregate and the
 * entries a policy judges are read from the bytes that were replayed, not from the caller's object).
 */
export function imaEntriesFromFrame(parsed: ImaListFrame, limit?: number): ImaEntry[] {
  const { bytes, templateDigestSize: digestSize, frame: f } = parsed;
  // latin1 / utf8 slices of the same memory, without copying it.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Lists use one or two digest algorithms: reuse the previous name when the bytes match.
  let algAt = -1;
  let algLen = 0;
  let algName = '';
  const algorithm = (at: number, len: number): string => {
    if (len !== algLen || text.compare(text, at, at + len, algAt, algAt + len) !== 0) {
      algAt = at;
      algLen = len;
      algName = text.toString('latin1', at, at + len);
    }
    return algName;
  };
  const count = Math.min(f.length / W, limit ?? Infinity);
  const entries = new Array<ImaEntry>(count);
  for (let i = 0, w = 0; i < count; i++, w += W) {
    const offset = f[w]!;
    const kind = f[w + 6]!;
    const templateDigest = bytes.subarray(offset + 4, offset + 4 + digestSize);
    const templateName = DECODED_NAMES[kind]!; // parseImaBinaryFrame refused any other
    const dataAt = f[w + 4]!;
    const digestAt = f[w + 9]!;
    const fileDigest = bytes.subarray(digestAt, digestAt + f[w + 10]!);
    const pathAt = f[w + 11]!;
    const pathEnd = pathAt + f[w + 12]!;
    const sigAt = f[w + 13]!;
    entries[i] = {
      index: i, offset, pcr: f[w + 1]!, templateDigest, templateName,
      templateData: kind === TEMPLATE_IMA
        ? imaTemplateData(fileDigest, bytes.subarray(pathAt, pathEnd))
        : bytes.subarray(dataAt, dataAt + f[w + 5]!),
      fileDigestAlg: kind === TEMPLATE_IMA ? 'sha1' : algorithm(f[w + 7]!, f[w + 8]!),
      fileDigest,
      path: text.toString('utf8', pathAt, pathEnd),
      signature: kind === TEMPLATE_IMA_SIG ? bytes.subarray(sigAt, sigAt + f[w + 14]!) : undefined,
    };
  }
  return entries;
}
