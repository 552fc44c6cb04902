/**
 * The ASCII IMA list parser (src/vtpm/ima-ascii.ts): the shared real lists
 * parse and their template digests recompute; every syntax and bound error
 * is typed with its line; a property-based fuzz run never sees another error.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TeeVerifyError } from '../../src/errors.js';
import { parseImaAsciiList } from '../../src/vtpm/ima-ascii.js';
import { buildTemplateData } from '../../src/vtpm/ima-template.js';
import { replayImaAscii, replayImaList } from '../../src/vtpm/ima-replay.js';
import { generateImaList } from '../../src/testing/vtpm-logs.js';
import { pcrValuesToHex, toHex } from '../../src/vtpm/pcrs.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, readVectorFile } from '../helpers/vectors.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

describe.skipIf(!HAVE_VECTORS)('shared ASCII IMA lists', () => {
  it('rust-keylime ascii_runtime_measurements: 826 ima-ng entries whose template digests recompute; PCR 10 regression values', () => {
    const entry = findEntry('rust-keylime/ascii_runtime_measurements')!;
    const checks = entry.checks as { entries: number; 'pcr10_replay(per-bank template digests)': Record<string, string>; 'pcr10_replay(SHA-1 template digest zero-padded, pre-5.x kernels)': Record<string, string> };
    const entries = parseImaAsciiList(readVectorFile(entry.file));
    expect(entries).toHaveLength(checks.entries);
    expect(new Set(entries.map((e) => e.templateName))).toEqual(new Set(['ima-ng']));
    expect(entries[0]!.path).toBe('boot_aggregate');
    expect(entries[0]!.offset).toBe(1);
    expect(entries.every((e) => e.fileDigestAlg === 'sha1' && e.fileDigest!.length === 20 && e.pcr === 10)).toBe(true);
    // Independent recomputation of one template: u32 len ‖ "sha1:\0" ‖ digest ‖ u32 len ‖ path ‖ NUL.
    const e1 = entries[1]!;
    const path = Buffer.from(e1.path!);
    const manual = Buffer.concat([Buffer.from([26, 0, 0, 0]), Buffer.from('sha1:\0'), e1.fileDigest!, Buffer.from([path.length + 1, 0, 0, 0]), path, Buffer.from([0])]);
    expect(sha1(manual)).toBe(toHex(e1.templateDigest));

    const replay = replayImaList(entries, { banks: ['sha1', 'sha256'] });
    expect(replay.templateMismatches).toEqual([]);
    expect(replay.violations).toEqual([]);
    expect(toHex(replay.pcrs.sha1![10]!)).toBe(checks['pcr10_replay(per-bank template digests)']['sha1']);
    expect(toHex(replay.pcrs.sha256![10]!)).toBe(checks['pcr10_replay(per-bank template digests)']['sha256']);
    const padded = replayImaList(entries, { banks: ['sha256'], bankRule: 'sha1-padded' });
    expect(toHex(padded.pcrs.sha256![10]!)).toBe(checks['pcr10_replay(SHA-1 template digest zero-padded, pre-5.x kernels)']['sha256']);
  });

  it('ima-evm-utils lists (boot_aggregate with sha256 file digests) parse and recompute', () => {
    for (const file of ['ima-evm-utils/tests/sample-ascii_runtime_measurements-pcrs-8-9', 'ima-evm-utils/tests/test_ascii_runtime_measurements']) {
      const entries = parseImaAsciiList(readVectorFile(file));
      expect(entries[0]!.path).toBe('boot_aggregate');
      expect(entries[0]!.fileDigestAlg).toBe('sha256');
      expect(replayImaList(entries, { banks: ['sha1'] }).templateMismatches).toEqual([]);
    }
  });
});

const D1 = 'a'.repeat(40);
const FD = '0123456789abcdef'.repeat(4);

/** A valid ima-ng line for `path` (template digest computed the kernel's way). */
function ngLine(path: string, pcr = 10): string {
  const data = buildTemplateData('ima-ng', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path });
  return `${pcr < 10 ? ' ' : ''}${pcr} ${sha1(data)} ima-ng sha256:${FD} ${path}`;
}

describe('ASCII IMA list forms', () => {
  it('ima-sig with and without a signature, a name with spaces, a single-digit PCR, no final newline', () => {
    const sig = '030204aabbccdd0002cafe';
    const withSig = buildTemplateData('ima-sig', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path: '/usr/bin/a b', extra: Buffer.from(sig, 'hex') });
    const noSig = buildTemplateData('ima-sig', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path: '/etc/x' });
    const text = `10 ${sha1(withSig)} ima-sig sha256:${FD} /usr/bin/a b ${sig}\n 9 ${sha1(noSig)} ima-sig sha256:${FD} /etc/x `;
    const entries = parseImaAsciiList(text);
    expect(entries.map((e) => [e.pcr, e.path, e.offset])).toEqual([
      [10, '/usr/bin/a b', 1],
      [9, '/etc/x', 2],
    ]);
    expect(toHex(entries[0]!.signature!)).toBe(sig);
    expect(entries[1]!.signature!.length).toBe(0);
    expect(Buffer.from(entries[0]!.templateData).equals(Buffer.from(withSig))).toBe(true);
    expect(replayImaList(entries, { banks: ['sha1'] }).templateMismatches).toEqual([]);
  });

  it('the ima template: digest ‖ name padded to 256 bytes', () => {
    const data = buildTemplateData('ima', { fileDigestAlg: 'sha1', fileDigest: Buffer.from(D1, 'hex'), path: '/init' });
    expect(data.length).toBe(276);
    const entries = parseImaAsciiList(`10 ${sha1(data)} ima ${D1} /init\n`);
    expect(entries[0]!.templateData).toEqual(data);
    expect(replayImaList(entries, { banks: ['sha1'] }).templateMismatches).toEqual([]);
  });

  it('ima-buf keeps its buffer in the template data', () => {
    const data = buildTemplateData('ima-buf', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path: 'kexec-cmdline', extra: Buffer.from('root=/dev/sda') });
    const entries = parseImaAsciiList(`10 ${sha1(data)} ima-buf sha256:${FD} kexec-cmdline ${Buffer.from('root=/dev/sda').toString('hex')}\n`);
    expect(entries[0]!.templateData).toEqual(data);
  });

  it('SHA-256 template digests (ascii_runtime_measurements_sha256) are recognised by length', () => {
    const data = buildTemplateData('ima-ng', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path: '/bin/sh' });
    const line = `10 ${createHash('sha256').update(data).digest('hex')} ima-ng sha256:${FD} /bin/sh\n`;
    const replay = replayImaList(parseImaAsciiList(line), { banks: ['sha256'] });
    expect(replay.templateDigestAlg).toBe('sha256');
    expect(replay.templateMismatches).toEqual([]);
  });

  it('an empty list is no entries', () => {
    expect(parseImaAsciiList('')).toEqual([]);
  });
});

describe('replayImaAscii (no entry objects) equals replayImaList(parseImaAsciiList(...))', () => {
  const ALL = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
  const same = (text: string, opts: Parameters<typeof replayImaList>[1] = {}) => {
    const streamed = replayImaAscii(text, opts);
    const listed = replayImaList(parseImaAsciiList(text), opts);
    expect({ ...streamed, pcrs: pcrValuesToHex(streamed.pcrs) }).toEqual({ ...listed, pcrs: pcrValuesToHex(listed.pcrs) });
    return streamed;
  };

  for (const template of ['ima-ng', 'ima-sig', 'ima', 'ima-buf'] as const) {
    for (const templateDigestAlg of ['sha1', 'sha256'] as const) {
      if (template === 'ima' && templateDigestAlg === 'sha256') continue;
      it(`${template}, ${templateDigestAlg} template digests, violations: PCR 10 in four banks by both rules`, () => {
        if (template === 'ima-buf') {
          const data = buildTemplateData('ima-buf', { fileDigestAlg: 'sha256', fileDigest: Buffer.from(FD, 'hex'), path: 'kexec-cmdline', extra: Buffer.from('root=/dev/sda') });
          same(`10 ${createHash(templateDigestAlg).update(data).digest('hex')} ima-buf sha256:${FD} kexec-cmdline ${Buffer.from('root=/dev/sda').toString('hex')}\n`, { banks: ALL });
          return;
        }
        const gen = generateImaList({ seed: `stream-${template}-${templateDigestAlg}`, count: 60, template, banks: ALL, templateDigestAlg, violations: [7, 30] });
        const replay = same(gen.ascii, { banks: ALL });
        expect(pcrValuesToHex(replay.pcrs)).toEqual(pcrValuesToHex(gen.pcrs));
        expect(replay.violations).toEqual([7, 30]);
        if (templateDigestAlg === 'sha1') same(gen.ascii, { banks: ALL, bankRule: 'sha1-padded' });
      });
    }
  }

  it('an edited line is a template mismatch with its line number and path, as in the list form', () => {
    const gen = generateImaList({ seed: 'stream-edit', count: 20, template: 'ima-sig', banks: ['sha256'], templateDigestAlg: 'sha256' });
    const lines = gen.ascii.split('\n');
    lines[5] = lines[5]!.replace('/file-5', '/file-X');
    const replay = same(lines.join('\n'), { banks: ['sha1', 'sha256'] });
    expect(replay.templateMismatches.map((m) => [m.index, m.offset, m.path])).toEqual([[5, 6, gen.entries[5]!.path!.replace('/file-5', '/file-X')]]);
  });

  it('an empty list', () => {
    same('', { banks: ['sha256'] });
  });

  it.skipIf(!HAVE_VECTORS)('the shared real lists', () => {
    for (const file of ['rust-keylime/keylime-agent/test-data/ima/ascii_runtime_measurements', 'ima-evm-utils/tests/sample-ascii_runtime_measurements-pcrs-8-9', 'ima-evm-utils/tests/test_ascii_runtime_measurements']) {
      same(readVectorFile(file).toString('latin1'), { banks: ALL });
    }
  });
});

describe('ASCII IMA list errors carry their line', () => {
  const good = ngLine('/bin/ok');
  const cases: [string, string, string, number][] = [
    ['PCR not "%2d"', `${good}\n010 ${D1} ima-ng sha256:${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['PCR above 23', `${good}\n24 ${D1} ima-ng sha256:${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['uppercase template digest', `${good}\n10 ${D1.toUpperCase()} ima-ng sha256:${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['template digest length changes', `${good}\n10 ${'a'.repeat(64)} ima-ng sha256:${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['digest of an unknown size', `10 ${'a'.repeat(42)} ima-ng sha256:${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 1],
    ['blank line inside', `${good}\n\n${good}\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['file digest without algorithm', `${good}\n10 ${D1} ima-ng ${FD} /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['odd file digest', `${good}\n10 ${D1} ima-ng sha256:abc /x\n`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['no name', `10 ${D1} ima-ng sha256:${FD}\n`, 'ERR_VTPM_IMA_SYNTAX', 1],
    ['ima-sig signature not hex', `10 ${D1} ima-sig sha256:${FD} /x 03zz\n`, 'ERR_VTPM_IMA_SYNTAX', 1],
    ['truncated mid-entry', `${good}\n10 ${D1.slice(0, 17)}`, 'ERR_VTPM_IMA_SYNTAX', 2],
    ['unknown template', `${good}\n${good}\n10 ${D1} ima-modsig sha256:${FD} /x  \n`, 'ERR_VTPM_IMA_TEMPLATE', 3],
  ];
  for (const [name, text, code, line] of cases) {
    it(name, () => {
      const err = expectError(() => parseImaAsciiList(text), { code });
      expect(err.details['line']).toBe(line);
      // The streaming replay parses with the same code: the same error and line.
      expect(expectError(() => replayImaAscii(text, { banks: ['sha1'] }), { code }).details['line']).toBe(line);
    });
  }

  it('bounds: input size, line length, entry count', () => {
    const two = `${good}\n${good}\n`;
    expectError(() => parseImaAsciiList(two, { maxBytes: two.length - 1 }), { code: 'ERR_VTPM_IMA_LIMIT', errorClass: 'PARSE' });
    expect(expectError(() => parseImaAsciiList(two, { maxLineBytes: good.length - 1 }), { code: 'ERR_VTPM_IMA_LIMIT' }).details['line']).toBe(1);
    expect(expectError(() => parseImaAsciiList(two, { maxEntries: 1 }), { code: 'ERR_VTPM_IMA_LIMIT' }).details['line']).toBe(2);
    expect(parseImaAsciiList(two, { maxEntries: 2, maxBytes: two.length, maxLineBytes: good.length })).toHaveLength(2);
  });
});

describe('fuzz: the parser throws nothing but its typed errors', () => {
  const allowed = new Set(['ERR_VTPM_IMA_SYNTAX', 'ERR_VTPM_IMA_LIMIT', 'ERR_VTPM_IMA_TEMPLATE']);
  const check = (input: Uint8Array | string) => {
    try {
      parseImaAsciiList(input, { maxLineBytes: 4096, maxEntries: 64 });
    } catch (err) {
      if (!(err instanceof TeeVerifyError) || !allowed.has(err.code)) throw err;
    }
  };
  const valid = Buffer.from([ngLine('/a'), ngLine('/b c', 9), `10 ${D1} ima ${D1} /init`, `10 ${D1} ima-sig sha256:${FD} /x 0302`].join('\n') + '\n');

  it('random bytes and strings', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => check(b)), { numRuns: 1500 });
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => check(s)), { numRuns: 1000 });
  });

  it('valid lists with bytes flipped, inserted and cut', () => {
    const mutation = fc.record({ at: fc.nat(valid.length - 1), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('flip', 'insert', 'cut') });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        let b = Buffer.from(valid);
        for (const m of mutations) {
          const at = Math.min(m.at, b.length);
          if (m.kind === 'flip' && at < b.length) b[at] = m.byte;
          else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
          else b = b.subarray(0, at);
        }
        check(b);
      }),
      { numRuns: 3000 },
    );
  });
});
