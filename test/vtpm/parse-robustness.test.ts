/**
 * Robustness of the vTPM parsers as seen from JavaScript: random mutations of
 * the real vectors (fast-check, fixed seed) give either a result or a typed
 * error of the parser's own family, never a crash or a plain Error; the
 * addon's raw functions reject wrong argument types with TypeError.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { native } from '../../src/native/index.js';
import { parseHclReport, parseImaBinaryList, parseTcgEventLog, parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { TeeVerifyError } from '../../src/errors.js';
import { HAVE_VECTORS, loadManifest, readEvidenceBytes, vectorPath } from '../helpers/vectors.js';

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'set') out[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= out.length) {
      // TPM structures are big-endian, the logs and HCL little-endian: flip a coin by position.
      const b = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      if (at % 2) b.writeUInt32BE(m.value >>> 0, at);
      else b.writeUInt32LE(m.value >>> 0, at);
    } else if (m.kind === 'cut') out = out.slice(0, at);
    else if (m.kind === 'insert') out = new Uint8Array([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
  }
  return out;
}

function resultOrTypedError(parse: () => unknown, prefix: string, alsoCodes: readonly string[] = []): void {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(TeeVerifyError);
    const e = err as TeeVerifyError;
    expect(e.code === 'ERR_INPUT_TOO_LARGE' || e.code.startsWith(prefix) || alsoCodes.includes(e.code), e.code).toBe(true);
    expect(e.errorClass).toMatch(/^(PARSE|UNSUPPORTED)$/);
    expect(typeof e.offset).toBe('number');
  }
}

const file = (rel: string) => new Uint8Array(readFileSync(vectorPath(rel)));

describe.skipIf(!HAVE_VECTORS)('random mutations of the real vTPM vectors', () => {
  const manifest = loadManifest();
  const quotes = manifest.filter((e) => e.kind === 'tpm-quote');
  const logs = manifest.filter((e) => e.kind === 'tcg-event-log');
  const imaLists = manifest.filter((e) => e.kind === 'ima-log' && e.file_encoding.includes('binary'));
  const params = { seed: 0x7f4a7c15, numRuns: 300 };

  it('TPM quotes, signatures and keys', () => {
    const inputs = quotes.flatMap((e) => [
      [readEvidenceBytes(e), 0],
      [file(e.collateral['signature']!), 1],
      [file(e.collateral['ak_public']!), 2],
    ] as [Uint8Array, number][]);
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, ms) => {
        const [bytes, kind] = inputs[pick % inputs.length]!;
        const m = apply(bytes, ms);
        const parse = [() => parseTpmQuote(m), () => parseTpmSignature(m), () => parseTpmPublic(m)][kind]!;
        resultOrTypedError(parse, 'ERR_TPM_');
        resultOrTypedError(() => parseTpmPublic(m, { sized: true }), 'ERR_TPM_');
      }),
      params,
    );
  });

  it('boot event logs', () => {
    const inputs = logs.map(readEvidenceBytes);
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, ms) => {
        resultOrTypedError(() => parseTcgEventLog(apply(inputs[pick % inputs.length]!, ms)), 'ERR_EVENTLOG_');
      }),
      params,
    );
  });

  it('binary IMA lists', () => {
    const inputs = imaLists.map((e) => [readEvidenceBytes(e), (e.checks as { template_hash_length: number }).template_hash_length] as const);
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, ms) => {
        const [bytes, templateDigestSize] = inputs[pick % inputs.length]!;
        // A mutated template name is an unknown template: refused at VT16 (review s6).
        resultOrTypedError(() => parseImaBinaryList(apply(bytes, ms), { templateDigestSize }), 'ERR_IMA_', ['ERR_VTPM_IMA_TEMPLATE']);
      }),
      params,
    );
  });

  it('HCL reports', () => {
    const inputs = [file('trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin'), file('openpcc/extracted/azure_hcl_report.bin')];
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, ms) => {
        resultOrTypedError(() => parseHclReport(apply(inputs[pick % inputs.length]!, ms)), 'ERR_HCL_');
      }),
      params,
    );
  });
});

describe('addon argument checks of the vTPM functions', () => {
  const raw = native().raw as unknown as Record<string, (...args: unknown[]) => unknown>;
  it('wrong argument types are TypeError, never a crash', () => {
    const bytes = new Uint8Array(8);
    expect(() => raw['parseTpm']!(bytes, 0, new Uint32Array(10))).toThrow(TypeError); // frame too small
    expect(() => raw['parseTpm']!(bytes, 9, new Uint32Array(44))).toThrow(TypeError); // unknown kind
    expect(() => raw['parseTpm']!('x', 0, new Uint32Array(44))).toThrow(TypeError);
    expect(() => raw['parseHclReport']!(bytes, new Int32Array(10))).toThrow(TypeError);
    expect(() => raw['parseTcgEventLog']!(null)).toThrow(TypeError);
    expect(() => raw['parseImaList']!(bytes)).toThrow(TypeError);
    expect(() => raw['parseImaList']!(new Uint16Array(4), 20)).toThrow(TypeError);
  });

  it('an unsupported template digest size reaching the addon is a typed failure, not a crash', () => {
    const failure = native().parseImaList(new Uint8Array(0), 21) as { code: string };
    expect(failure.code).toBe('ERR_IMA_BAD_SIZE');
  });
});
