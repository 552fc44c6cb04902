/**
 * Review s8 (native), finding 2 (T49): the vTPM parsers take a private copy of
 * the caller's bytes. Before, requireBytes passed the caller's Uint8Array
 * through: the native parser read its real storage while the fields were
 * views built through its (overridable) subarray / buffer / byteOffset, and a
 * SharedArrayBuffer-backed input kept changing under the returned fields.
 * Each parser must give the fields of the true bytes, or a typed error.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { parseImaBinaryFrame } from '../../src/vtpm/index.js';
import { parseHclReport, parseImaBinaryList, parseTcgEventLog, parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { HAVE_VECTORS, loadManifest, readEvidenceBytes, vectorPath } from '../helpers/vectors.js';

interface Case {
  name: string;
  bytes: Uint8Array;
  parse: (input: Uint8Array) => unknown;
}

/** A crypto-agile log (SHA-256 only) of three events, built here so one case runs without the shared vectors. */
function syntheticLog(): Uint8Array {
  const header = Buffer.alloc(32 + 33);
  header.writeUInt32LE(3, 4); // EV_NO_ACTION
  header.writeUInt32LE(33, 28);
  header.write('Spec ID Event03\0', 32, 'latin1');
  header.writeUInt8(2, 32 + 23); // uintnSize
  header.writeUInt32LE(1, 32 + 24); // numberOfAlgorithms
  header.writeUInt16LE(0x000b, 32 + 28);
  header.writeUInt16LE(32, 32 + 30);
  const events = [0, 1, 2].map((i) => {
    const data = Buffer.from(`event ${i}`, 'latin1');
    const e = Buffer.alloc(12 + 2 + 32 + 4 + data.length);
    e.writeUInt32LE(i, 0);
    e.writeUInt32LE(0x0d, 4); // EV_IPL
    e.writeUInt32LE(1, 8);
    e.writeUInt16LE(0x000b, 12);
    e.fill(0x10 + i, 14, 46);
    e.writeUInt32LE(data.length, 46);
    data.copy(e, 50);
    return e;
  });
  return new Uint8Array(Buffer.concat([header, ...events]));
}

function cases(): Case[] {
  const list: Case[] = [{ name: 'synthetic event log', bytes: syntheticLog(), parse: parseTcgEventLog }];
  if (!HAVE_VECTORS) return list;
  const manifest = loadManifest();
  const file = (rel: string) => new Uint8Array(readFileSync(vectorPath(rel)));
  const quote = manifest.find((e) => e.kind === 'tpm-quote')!;
  const ak = file(quote.collateral['ak_public']!);
  const sizedAk = new Uint8Array(2 + ak.length);
  new DataView(sizedAk.buffer).setUint16(0, ak.length);
  sizedAk.set(ak, 2);
  const ima = manifest.find((e) => e.kind === 'ima-log' && e.file_encoding.includes('binary') && e.id === 'ibmtss/sha256-ima-log')!;
  const imaChecks = ima.checks as { template_hash_length: number; trailing_bytes_after_last_complete_entry?: number };
  const imaBytes = readEvidenceBytes(ima);
  const imaList = imaBytes.slice(0, imaBytes.length - (imaChecks.trailing_bytes_after_last_complete_entry ?? 0));
  const templateDigestSize = imaChecks.template_hash_length;
  return [
    ...list,
    { name: 'TPM quote', bytes: readEvidenceBytes(quote), parse: parseTpmQuote },
    { name: 'TPM signature', bytes: file(quote.collateral['signature']!), parse: parseTpmSignature },
    { name: 'TPMT_PUBLIC', bytes: ak, parse: (b) => parseTpmPublic(b) },
    { name: 'TPM2B_PUBLIC', bytes: sizedAk, parse: (b) => parseTpmPublic(b, { sized: true }) },
    { name: 'event log', bytes: readEvidenceBytes(manifest.find((e) => e.kind === 'tcg-event-log')!), parse: parseTcgEventLog },
    { name: 'IMA list', bytes: imaList, parse: (b) => parseImaBinaryList(b, { templateDigestSize }) },
    { name: 'IMA frame', bytes: imaList, parse: (b) => parseImaBinaryFrame(b, { templateDigestSize }) },
    { name: 'HCL report', bytes: file('trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin'), parse: parseHclReport },
  ];
}

/** The result as plain data: byte fields as hex, so two results compare by content. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (ArrayBuffer.isView(value)) return Array.from(value as Uint32Array);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Every byte view a result holds. */
function views(value: unknown, out: ArrayBufferView[] = []): ArrayBufferView[] {
  if (ArrayBuffer.isView(value)) out.push(value);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) views(v, out);
  return out;
}

/** The true bytes, with an own subarray / buffer / byteOffset / byteLength / length pointing at 0x42s. */
function lyingProperties(real: Uint8Array): Uint8Array {
  const fake = new Uint8Array(real);
  const other = new Uint8Array(real.length + 16).fill(0x42);
  Object.defineProperty(fake, 'subarray', { value: (a?: number, b?: number) => other.subarray(a, b) });
  Object.defineProperty(fake, 'buffer', { get: () => other.buffer });
  Object.defineProperty(fake, 'byteOffset', { get: () => 16 });
  Object.defineProperty(fake, 'byteLength', { get: () => real.length });
  Object.defineProperty(fake, 'length', { get: () => real.length });
  return fake;
}

class LyingSubclass extends Uint8Array {
  override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.length).fill(0x42).subarray(begin, end);
  }
}

describe('vTPM parsers work on a private copy of their input (review s8, finding 2)', () => {
  for (const c of cases()) {
    describe(c.name, () => {
      const honest = () => plain(c.parse(c.bytes));

      it('an input whose own properties lie gives the fields of its true bytes', () => {
        expect(plain(c.parse(lyingProperties(c.bytes)))).toEqual(honest());
      });

      it('a subclass overriding subarray gives the fields of its true bytes', () => {
        expect(plain(c.parse(new LyingSubclass(c.bytes)))).toEqual(honest());
      });

      it('a SharedArrayBuffer-backed input parses into a result not backed by it', () => {
        const shared = new Uint8Array(new SharedArrayBuffer(c.bytes.length));
        shared.set(c.bytes);
        const result = c.parse(shared);
        const before = plain(result);
        expect(before).toEqual(honest());
        const held = views(result);
        expect(held.length).toBeGreaterThan(0);
        for (const v of held) expect(v.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        shared.fill(0xee); // what another thread could do after the call
        expect(plain(result)).toEqual(before);
      });

      it('no field is a view of the caller\'s own buffer', () => {
        const input = new Uint8Array(c.bytes);
        for (const v of views(c.parse(input))) expect(v.buffer).not.toBe(input.buffer);
      });

      it('a detached input is ERR_INVALID_ARGUMENT', () => {
        const detached = new Uint8Array(c.bytes);
        structuredClone(detached.buffer, { transfer: [detached.buffer] });
        expect(detached.length).toBe(0);
        let thrown: unknown;
        try {
          c.parse(detached);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InvalidArgumentError);
        expect((thrown as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
      });
    });
  }
});
