/**
 * Binary IMA measurement lists through the bounded native parser: every
 * binary ima-log vector of the shared manifest parses to the entry counts,
 * templates, file digest algorithms, signatures and template hashes its
 * entry states; extending PCR 10 with each bank's hash of the parsed template
 * data reproduces the manifest's per-bank values (so every templateData view
 * is exact). Malformed lists give the exact typed code.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { IMA_FRAME, parseImaBinaryFrame } from '../../src/vtpm/parse-ima.js';
import { parseImaBinaryList } from '../../src/vtpm/parse.js';
import type { ImaEntry } from '../../src/vtpm/types.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readEvidenceBytes, type ManifestEntry } from '../helpers/vectors.js';

interface ImaChecks {
  entries: number;
  templates: Record<string, number>;
  file_digest_algorithms: Record<string, number>;
  template_hash_length: number;
  'template_hash==H(template data)': string;
  template_hash_mismatch_indices: number[];
  'pcr10_replay(per-bank template digests)': Record<string, string>;
  entries_with_signature?: number;
  first_entry?: string;
  decoded_bytes?: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const DIGEST_HASH: Record<number, string> = { 20: 'sha1', 32: 'sha256', 48: 'sha384', 64: 'sha512' };
const BANK_SIZE: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

const binaryEntries = (): ManifestEntry[] => loadManifest().filter((e) => e.kind === 'ima-log' && e.file_encoding.includes('binary'));

/** The complete entries of a list whose last entry may be cut (the manifest says how many bytes are extra). */
function listBytes(entry: ManifestEntry): Uint8Array {
  const b = readEvidenceBytes(entry);
  const tail = (entry.checks as { trailing_bytes_after_last_complete_entry?: number }).trailing_bytes_after_last_complete_entry ?? 0;
  return b.subarray(0, b.length - tail);
}

function pcr10(entries: ImaEntry[], bank: string): string {
  let pcr = Buffer.alloc(BANK_SIZE[bank]!);
  for (const e of entries) pcr = createHash(bank).update(pcr).update(createHash(bank).update(e.templateData).digest()).digest();
  return pcr.toString('hex');
}

describe.skipIf(!HAVE_VECTORS)('shared binary ima-log vectors', () => {
  it('the manifest lists four binary lists (the ASCII ones belong to the ASCII parser)', () => {
    expect(binaryEntries().map((e) => e.id).sort()).toEqual(['ibm-acs/imasig', 'ibmtss/sha1-ima-log', 'ibmtss/sha256-ima-log', 'tpm2-tss/sml-ima-sha1']);
  });

  for (const entry of binaryEntries()) {
    const c = entry.checks as unknown as ImaChecks;
    it(`${entry.id}: counts, templates, digests and template hashes equal the manifest`, () => {
      const digestSize = c.template_hash_length;
      const list = parseImaBinaryList(listBytes(entry), { templateDigestSize: digestSize });
      expect(list.length).toBe(c.entries);
      const count = (key: (e: ImaEntry) => string) => {
        const out: Record<string, number> = {};
        for (const e of list) out[key(e)] = (out[key(e)] ?? 0) + 1;
        return out;
      };
      expect(count((e) => e.templateName)).toEqual(c.templates);
      expect(count((e) => (e.templateName === 'ima' ? 'sha1 (ima template)' : e.fileDigestAlg!))).toEqual(c.file_digest_algorithms);
      const mismatches = list.filter((e) => createHash(DIGEST_HASH[digestSize]!).update(e.templateData).digest('hex') !== hex(e.templateDigest)).map((e) => e.index);
      expect(mismatches).toEqual(c.template_hash_mismatch_indices);
      expect(`${list.length - mismatches.length}/${list.length}`).toBe(c['template_hash==H(template data)']);
      for (const [bank, value] of Object.entries(c['pcr10_replay(per-bank template digests)'])) expect(pcr10(list, bank)).toBe(value);
      list.forEach((e, i) => {
        expect(e.index).toBe(i);
        expect(e.pcr).toBe(10);
        expect(e.templateDigest.length).toBe(digestSize);
        expect(e.fileDigest!.length).toBe(BANK_SIZE[e.fileDigestAlg!]);
        expect(e.path!.length).toBeGreaterThan(0);
      });
      if (c.entries_with_signature !== undefined) expect(list.filter((e) => e.signature!.length > 0).length).toBe(c.entries_with_signature);
      if (c.first_entry) expect(`${list[0]!.path} ${list[0]!.fileDigestAlg}:${hex(list[0]!.fileDigest!)}`).toBe(c.first_entry);
    });
  }

  it('ibm-acs/imasig: the planted anomalies are where the manifest says, signatures as counted', () => {
    const entry = binaryEntries().find((e) => e.id === 'ibm-acs/imasig')!;
    const list = parseImaBinaryList(listBytes(entry));
    const anomalies = entry.expected.anomalies!;
    expect(anomalies.length).toBeGreaterThan(0);
    for (const a of anomalies) expect(list[a.index]!.path).toBe(a.path);
    const detail = (entry.checks as { template_hash_mismatch_detail: { index: number; logged: string; computed: string } }).template_hash_mismatch_detail;
    expect(hex(list[detail.index]!.templateDigest)).toBe(detail.logged);
    expect(createHash('sha1').update(list[detail.index]!.templateData).digest('hex')).toBe(detail.computed);
    const sigs = (entry.checks as { ima_signatures: { signed: number; unsigned: number } }).ima_signatures;
    expect(list.filter((e) => e.signature!.length > 0).length).toBe(sigs.signed);
    expect(list.filter((e) => e.signature!.length === 0).length).toBe(sigs.unsigned);
    // Signature v2 header: type 3, version 2.
    expect([...list.find((e) => e.signature!.length > 0)!.signature!.subarray(0, 2)]).toEqual([3, 2]);
  });

  it('tpm2-tss/sml-ima-sha1 ("ima" template): the cut 13th entry is ERR_IMA_TRUNCATED at its start; the 12 complete ones equal the source', () => {
    const entry = binaryEntries().find((e) => e.id === 'tpm2-tss/sml-ima-sha1')!;
    const full = readEvidenceBytes(entry);
    expect(full.length).toBe(917);
    const complete = listBytes(entry);
    expectError(() => parseImaBinaryList(full), { code: 'ERR_IMA_TRUNCATED', errorClass: 'PARSE', check: 'IMA', offset: complete.length });
    const list = parseImaBinaryList(complete);
    expect(list.map((e) => hex(e.templateDigest))).toEqual(entry.expected.template_hashes);
    expect(list[0]!.path).toBe('boot_aggregate');
    // The "ima" template digest covers file digest || name padded to 256 bytes.
    expect(list[0]!.templateData.length).toBe(276);
    expect(list.every((e) => e.signature === undefined && e.fileDigestAlg === 'sha1')).toBe(true);
  });

  it('the same boot as SHA-1 and SHA-256 lists: identical template data, only the template digest size differs', () => {
    const a = parseImaBinaryList(listBytes(binaryEntries().find((e) => e.id === 'ibmtss/sha1-ima-log')!));
    const b = parseImaBinaryList(listBytes(binaryEntries().find((e) => e.id === 'ibmtss/sha256-ima-log')!), { templateDigestSize: 32 });
    expect(b.map((e) => hex(e.templateData))).toEqual(a.map((e) => hex(e.templateData)));
  });

  it('the SHA-256 list read with the default 20-byte digest is a typed error, never a crash', () => {
    const sha256 = listBytes(binaryEntries().find((e) => e.id === 'ibmtss/sha256-ima-log')!);
    expect(catchError(() => parseImaBinaryList(sha256)).errorClass).toBe('PARSE');
  });

  it('every cut inside a real list is ERR_IMA_TRUNCATED; a cut between entries is a shorter list', () => {
    const bytes = listBytes(binaryEntries().find((e) => e.id === 'ibmtss/sha1-ima-log')!);
    const list = parseImaBinaryList(bytes);
    const starts = new Map(list.map((e) => [e.offset, e.index]));
    for (let cut = 1; cut < 4000; cut++) {
      const prefix = bytes.subarray(0, cut);
      if (starts.has(cut)) expect(parseImaBinaryList(prefix).length).toBe(starts.get(cut));
      else expect({ cut, code: catchError(() => parseImaBinaryList(prefix)).code }).toEqual({ cut, code: 'ERR_IMA_TRUNCATED' });
    }
  });
});

// --- synthetic lists -------------------------------------------------------

const le32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const field = (b: Buffer) => Buffer.concat([le32(b.length), b]);
const dng = (alg: string, digest: Buffer) => field(Buffer.concat([Buffer.from(`${alg}:\0`, 'latin1'), digest]));
const nng = (path: string) => field(Buffer.from(`${path}\0`));

function entry(name: string, data: Buffer, o: { pcr?: number; digestSize?: number; nameLen?: number; dataLen?: number } = {}): Buffer {
  const n = Buffer.from(name, 'latin1');
  return Buffer.concat([le32(o.pcr ?? 10), Buffer.alloc(o.digestSize ?? 20, 0x77), le32(o.nameLen ?? n.length), n, le32(o.dataLen ?? data.length), data]);
}
const ng = (path = '/usr/bin/true', digest = Buffer.alloc(32, 0xab)) => Buffer.concat([dng('sha256', digest), nng(path)]);
const list = (...parts: Buffer[]) => new Uint8Array(Buffer.concat(parts));

describe('binary IMA list (synthetic)', () => {
  it('ima-ng, ima-sig and ima-buf are decoded', () => {
    const sig = Buffer.from([3, 2, 4, 1, 2, 3, 4, 0, 1, 9]);
    const entries = parseImaBinaryList(
      list(
        entry('ima-ng', ng('/bin/sh')),
        entry('ima-sig', Buffer.concat([ng('/etc/ä'), field(sig)]), { pcr: 11 }),
        entry('ima-sig', Buffer.concat([ng('/x'), field(Buffer.alloc(0))])),
        entry('ima-buf', Buffer.concat([dng('sha256', Buffer.alloc(32)), nng('kexec-cmdline'), field(Buffer.from('ro quiet'))])),
      ),
    );
    expect(entries.map((e) => [e.templateName, e.pcr, e.fileDigestAlg, e.path, e.signature && hex(e.signature)])).toEqual([
      ['ima-ng', 10, 'sha256', '/bin/sh', undefined],
      ['ima-sig', 11, 'sha256', '/etc/ä', hex(sig)],
      ['ima-sig', 10, 'sha256', '/x', ''],
      ['ima-buf', 10, 'sha256', 'kexec-cmdline', undefined], // the buffer stays in templateData, as in the ASCII parser
    ]);
    expect(entries[3]!.templateData.length).toBe(4 + 8 + 32 + 4 + 14 + 4 + 8);
    expect(entries[0]!.fileDigest!.length).toBe(32);
  });

  it('an unknown template is refused (VT16): its name is not covered by the template digest', () => {
    const bytes = list(entry('ima-ng', ng('/bin/sh')), entry('d-ng|n-ng|my', Buffer.from('opaque')));
    const err = expectError(() => parseImaBinaryList(bytes), { code: 'ERR_VTPM_IMA_TEMPLATE', errorClass: 'UNSUPPORTED', check: 'VT16' });
    expect(err.details).toMatchObject({ index: 1, template: 'd-ng|n-ng|my' });
  });

  it('per-bank lists: 32-, 48- and 64-byte template digests', () => {
    for (const digestSize of [32, 48, 64]) {
      const e = parseImaBinaryList(list(entry('ima-ng', ng(), { digestSize })), { templateDigestSize: digestSize });
      expect(e[0]!.templateDigest.length).toBe(digestSize);
      expect(e[0]!.path).toBe('/usr/bin/true');
    }
  });

  it('templateDigestSize other than 20/32/48/64: ERR_INVALID_ARGUMENT', () => {
    for (const templateDigestSize of [0, 16, 21, 65]) {
      expectError(() => parseImaBinaryList(list(entry('ima-ng', ng())), { templateDigestSize }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    }
  });

  it('an empty list parses to no entries', () => {
    expect(parseImaBinaryList(new Uint8Array(0))).toEqual([]);
  });

  it('template name length 0 or above 255, data above 1 MiB: ERR_IMA_BAD_SIZE at the length field', () => {
    expectError(() => parseImaBinaryList(list(entry('', Buffer.alloc(0)))), { code: 'ERR_IMA_BAD_SIZE', offset: 24 });
    expectError(() => parseImaBinaryList(list(entry('ima-ng', ng(), { nameLen: 256 }))), { code: 'ERR_IMA_BAD_SIZE', offset: 24 });
    expectError(() => parseImaBinaryList(list(entry('ima-ng', ng(), { nameLen: 0xffffffff }))), { code: 'ERR_IMA_BAD_SIZE', offset: 24 });
    expectError(() => parseImaBinaryList(list(entry('ima-ng', ng(), { dataLen: 1024 * 1024 + 1 }))), { code: 'ERR_IMA_BAD_SIZE', offset: 34 });
  });

  it('a data length past the end is ERR_IMA_TRUNCATED at the data', () => {
    expectError(() => parseImaBinaryList(list(entry('ima-ng', ng(), { dataLen: 1000 }))), { code: 'ERR_IMA_TRUNCATED', offset: 38 });
  });

  it('template data that breaks ima-ng / ima-sig: ERR_IMA_BAD_FIELD', () => {
    const bad = (name: string, data: Buffer, offset: number) => expectError(() => parseImaBinaryList(list(entry(name, data))), { code: 'ERR_IMA_BAD_FIELD', errorClass: 'PARSE', offset });
    const at = 38; // template data of a 6-byte name
    bad('ima-ng', Buffer.concat([ng(), Buffer.from([0])]), at + ng().length); // a byte after the fields
    bad('ima-ng', Buffer.concat([field(Buffer.from('sha256\0' + 'x'.repeat(32))), nng('/a')]), at + 4); // no ':'
    bad('ima-ng', Buffer.concat([field(Buffer.from(`sha256:x${'y'.repeat(32)}`)), nng('/a')]), at + 4); // no NUL after ':'
    bad('ima-ng', Buffer.concat([field(Buffer.from(':\0abc')), nng('/a')]), at + 4); // empty algorithm name
    bad('ima-ng', Buffer.concat([dng('a'.repeat(65), Buffer.alloc(4)), nng('/a')]), at + 4); // algorithm name too long
    bad('ima-ng', Buffer.concat([dng('sha256', Buffer.alloc(20)), nng('/a')]), at + 4); // wrong size for sha256
    bad('ima-ng', Buffer.concat([dng('sha1', Buffer.alloc(20)), field(Buffer.from('/a'))]), at + 30 + 4); // n-ng without NUL
    bad('ima-ng', Buffer.concat([dng('sha1', Buffer.alloc(20)), field(Buffer.alloc(0))]), at + 30 + 4); // empty n-ng
    bad('ima-ng', dng('sha1', Buffer.alloc(20)), at + 30); // n-ng missing
    bad('ima-sig', ng(), at + 1 + ng().length); // sig field missing (7-byte name)
    const overlong = Buffer.concat([le32(1000), Buffer.from('sha1:\0')]);
    bad('ima-ng', overlong, at); // field length past the template data
  });

  it('an unknown algorithm name keeps whatever digest length it has', () => {
    const e = parseImaBinaryList(list(entry('ima-ng', Buffer.concat([dng('wp512', Buffer.alloc(64, 1)), nng('/w')]))));
    expect([e[0]!.fileDigestAlg, e[0]!.fileDigest!.length]).toEqual(['wp512', 64]);
  });

  it('a violation entry (zero template digest, zero file digest) parses like any other', () => {
    const v = Buffer.concat([le32(10), Buffer.alloc(20), le32(6), Buffer.from('ima-ng'), le32(ng('/tmp/f', Buffer.alloc(32)).length), ng('/tmp/f', Buffer.alloc(32))]);
    const e = parseImaBinaryList(new Uint8Array(v))[0]!;
    expect([hex(e.templateDigest), hex(e.fileDigest!), e.path]).toEqual(['00'.repeat(20), '00'.repeat(32), '/tmp/f']);
  });

  it('"ima" template: name above 255 bytes is ERR_IMA_BAD_SIZE; templateData is digest || name padded to 256', () => {
    const ima = (name: Buffer, len = name.length) => Buffer.concat([le32(10), Buffer.alloc(20, 1), le32(3), Buffer.from('ima'), Buffer.alloc(20, 2), le32(len), name]);
    const e = parseImaBinaryList(new Uint8Array(ima(Buffer.from('/init'))))[0]!;
    expect(e.templateData.length).toBe(276);
    expect(hex(e.templateData.subarray(0, 25))).toBe('02'.repeat(20) + Buffer.from('/init').toString('hex'));
    expect(e.templateData.subarray(25).every((b) => b === 0)).toBe(true);
    expectError(() => parseImaBinaryList(new Uint8Array(ima(Buffer.alloc(256, 0x61)))), { code: 'ERR_IMA_BAD_SIZE', offset: 31 + 20 });
    expectError(() => parseImaBinaryList(new Uint8Array(ima(Buffer.from('/init'), 6))), { code: 'ERR_IMA_TRUNCATED', offset: 31 + 24 });
  });

  it('more than 1,000,000 entries: ERR_IMA_TOO_MANY_ENTRIES', () => {
    const one = entry('x', Buffer.alloc(0)); // 33 bytes
    const big = Buffer.alloc(one.length * 1000001);
    for (let i = 0; i <= 1000000; i++) one.copy(big, i * one.length);
    expectError(() => parseImaBinaryList(new Uint8Array(big)), { code: 'ERR_IMA_TOO_MANY_ENTRIES', offset: 1000000 * one.length });
  });
});

describe('parseImaBinaryFrame', () => {
  it('describes the same entries as parseImaBinaryList', () => {
    const bytes = list(entry('ima-ng', ng('/a')), entry('ima-sig', Buffer.concat([ng('/b'), field(Buffer.from([1, 2]))]), { pcr: 11 }));
    const { frame, count, templateDigestSize } = parseImaBinaryFrame(bytes);
    const entries = parseImaBinaryList(bytes);
    expect([count, templateDigestSize, frame.length]).toEqual([2, 20, 2 * IMA_FRAME.words]);
    entries.forEach((e, i) => {
      const w = i * IMA_FRAME.words;
      expect(frame[w + IMA_FRAME.offset]).toBe(e.offset);
      expect(frame[w + IMA_FRAME.pcr]).toBe(e.pcr);
      expect(hex(bytes.subarray(frame[w + IMA_FRAME.dataOffset]!, frame[w + IMA_FRAME.dataOffset]! + frame[w + IMA_FRAME.dataSize]!))).toBe(hex(e.templateData));
      expect(frame[w + IMA_FRAME.template]).toBe(i + 2);
      expect(frame[w + IMA_FRAME.sigSize]).toBe(e.signature?.length ?? 0);
    });
  });

  it('fails exactly like parseImaBinaryList', () => {
    expectError(() => parseImaBinaryFrame(list(entry('ima-ng', ng(), { dataLen: 1000 }))), { code: 'ERR_IMA_TRUNCATED', offset: 38 });
  });
});
